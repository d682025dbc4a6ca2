"""Validate sandbox responses against the platforms' OpenAPI documents.

The spec files are data of the repository (``tests/contract/specs``), not of the installed package, so
:class:`SpecValidator` takes the directory as a parameter; the pytest fixture points it at
``<rootdir>/tests/contract/specs`` when that exists (or at ``TRANSFER_SANDBOX_SPEC_DIR``).

Only operations the spec declares are checked (``/v1/Configuration`` and ``/auth/login`` are not in the
spec subsets). Fault-injected replies emulate infrastructure outside the contract and are not checked.
Known deviations of the real platforms as they are today are allowed explicitly in
:data:`ALLOWED_DEVIATIONS`, each with the server source line it comes from; those of VoIPbin's pre-2026
wire form (:data:`LEGACY_DEVIATIONS`) only while the sandbox speaks it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_transfers.sandbox.config import TWILIO, VOIPBIN

TWILIO_SPEC_FILE = "twilio_flex_v1_interactions.json"
VOIPBIN_SPEC_FILE = "voipbin_v1_transfers.yaml"
VOIPBIN_PREFIX = "/v1.0"

_NO_BODY: Any = object()


@dataclass(frozen=True)
class Finding:
    platform: str
    method: str
    path: str
    template: str
    status: int
    kind: str
    """``schema`` (body breaks the schema), ``undeclared_status`` or ``not_json`` (empty/invalid body)."""
    message: str
    json_path: str = ""
    keyword: str = ""
    instance: Any = None
    empty_body: bool = False

    @property
    def field(self) -> str:
        return self.json_path.rsplit(".", 1)[-1] if self.json_path else ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AllowedDeviation:
    key: str
    why: str
    matches: Callable[[Finding], bool]


def _is_time_field(f: Finding) -> bool:
    return f.field.startswith("tm_")


def _is_transfer_time(f: Finding) -> bool:
    return f.template.endswith("/transfers") and f.json_path in ("$.tm_update", "$.tm_delete", "$.tm_create")


ALLOWED_DEVIATIONS: tuple[AllowedDeviation, ...] = (
    # Twilio's published spec declares no error responses at all, yet every endpoint answers errors as
    # {"code", "message", "more_info", "status"} (401 20003, 404 20404, 429 20429, ...).
    AllowedDeviation(
        "twilio-undeclared-errors",
        "Twilio errors are not declared in the spec",
        lambda f: f.platform == TWILIO and f.kind == "undeclared_status" and f.status >= 400,
    ),
    # A transfer's unset timestamps are null: bin-transfer-manager/models/transfer/webhook.go:27-29 declares
    # them `*time.Time` without omitempty (commit 2bf22fa4), e.g. a new transfer's tm_update and tm_delete
    # (bin-api-manager/server/transfers_test.go:67). The spec declares non-nullable strings.
    AllowedDeviation(
        "voipbin-transfer-null-timestamps",
        "VoIPbin transfers send null for unset tm_* (webhook.go:27-29, no omitempty); spec: non-nullable string",
        lambda f: f.platform == VOIPBIN and f.kind == "schema" and _is_transfer_time(f) and f.instance is None,
    ),
    # VoIPbin rate-limits every authenticated path (bin-api-manager/lib/middleware/customer_ratelimit.go)
    # with 429 RATE_LIMIT_EXCEEDED, but most operations do not declare 429.
    AllowedDeviation(
        "voipbin-undeclared-429",
        "VoIPbin 429 RATE_LIMIT_EXCEEDED is not declared on most paths (customer_ratelimit.go)",
        lambda f: f.platform == VOIPBIN and f.kind == "undeclared_status" and f.status == 429,
    ),
    # A query parameter that does not bind (page_size=abc) is refused by the generated wrapper before any
    # handler (bin-api-manager gens/openapi_server/gen.go:11662-11668 -> server/error.go:117-139), on
    # operations that declare no 400.
    AllowedDeviation(
        "voipbin-undeclared-binding-400",
        "VoIPbin answers 400 for a query parameter that does not bind (server/error.go:117-139)",
        lambda f: f.platform == VOIPBIN and f.kind == "undeclared_status" and f.status == 400 and not f.empty_body,
    ),
    # The lists check the caller's own permission (bin-api-manager pkg/servicehandler/call.go:185-188,
    # groupcall.go:59-62) and answer 403 PERMISSION_DENIED without declaring it.
    AllowedDeviation(
        "voipbin-undeclared-list-403",
        "VoIPbin lists answer 403 without the customer admin/manager permission (servicehandler/call.go:185-188)",
        lambda f: f.platform == VOIPBIN and f.kind == "undeclared_status" and f.status == 403 and not f.empty_body,
    ),
    # Every call endpoint refuses a deleted call with 409 STATE_INVALID (bin-api-manager pkg/servicehandler/
    # call.go:36-38), GET /calls/{id} included, which declares no 409.
    AllowedDeviation(
        "voipbin-deleted-call-409",
        "VoIPbin answers 409 STATE_INVALID for a deleted call on every call endpoint (servicehandler/call.go:36-38)",
        lambda f: f.platform == VOIPBIN and f.kind == "undeclared_status" and f.status == 409 and not f.empty_body,
    ),
)
"""Deviations of the platforms as they are today, each with its source."""

_LEGACY_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6})?$")

LEGACY_DEVIATIONS: tuple[AllowedDeviation, ...] = (
    # Before February 2026 VoIPbin's timestamps were strings "2026-03-01 10:00:15.000000" and unset ones
    # the database default "9999-01-01 00:00:00.000000" (bin-common-handler/pkg/utilhandler/time.go:52,
    # bin-call-manager/pkg/dbhandler/call.go:54-58 at commit 43fbfc62): not RFC 3339.
    AllowedDeviation(
        "voipbin-legacy-timestamp-format",
        "legacy wire: 2006-01-02 15:04:05.000000 timestamps and the 9999-01-01 sentinel are not RFC 3339",
        lambda f: (
            f.platform == VOIPBIN
            and f.kind == "schema"
            and f.keyword == "format"
            and isinstance(f.instance, str)
            and bool(_LEGACY_TIME.match(f.instance))
        ),
    ),
    # deleted_style=null on the legacy wire: a null where the spec declares a string.
    AllowedDeviation(
        "voipbin-legacy-null-timestamps",
        "legacy wire with deleted_style=null: null for unset tm_*",
        lambda f: f.platform == VOIPBIN and f.kind == "schema" and _is_time_field(f) and f.instance is None,
    ),
    # Before the April 2026 error rework (bin-api-manager commit 1b3ed550 and its predecessors), a request
    # without any credential got a 401 with an empty body.
    AllowedDeviation(
        "voipbin-legacy-empty-401",
        "legacy wire: a request without credential gets a 401 with an empty body",
        lambda f: f.platform == VOIPBIN and f.status == 401 and f.empty_body and f.kind == "not_json",
    ),
    # Before that rework every handler error was a bare 400: not found, another customer's resource, a
    # deleted call, a refused transfer (bin-api-manager server/calls.go, server/transfers.go at commit 43fbfc62:
    # c.AbortWithStatus(400)); an unexpected failure was gin's recovery, a bare 500.
    AllowedDeviation(
        "voipbin-legacy-bare-errors",
        "legacy wire: every handler error is a 400 with an empty body, an unexpected failure a bare 500",
        lambda f: f.platform == VOIPBIN and f.status in (400, 500) and f.empty_body,
    ),
)
"""Deviations of the pre-2026 wire form, allowed only while the sandbox speaks it (``voipbin_wire=legacy``)."""


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not an OpenAPI document")
    return data


def _inline_refs(node: Any, root: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Replace local ``$ref``s by their targets (OpenAPI 3.0: siblings of ``$ref`` are ignored)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in seen:
                return {}
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _inline_refs(target, root, (*seen, ref))
        return {k: _inline_refs(v, root, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, root, seen) for item in node]
    return node


class SpecValidator:
    """Checks (platform, method, path template, status, body) against the spec of that platform."""

    def __init__(self, spec_dir: str | Path, allowed: tuple[AllowedDeviation, ...] = ALLOWED_DEVIATIONS) -> None:
        spec_path = Path(spec_dir)
        self.specs = {
            TWILIO: _load(spec_path / TWILIO_SPEC_FILE),
            VOIPBIN: _load(spec_path / VOIPBIN_SPEC_FILE),
        }
        self.allowed = allowed
        self._cache: dict[tuple[str, str, str, int], Any] = {}

    def _operation(self, platform: str, method: str, template: str) -> dict[str, Any] | None:
        spec_template = template
        if platform == VOIPBIN:
            if not template.startswith(VOIPBIN_PREFIX + "/"):
                return None
            spec_template = template[len(VOIPBIN_PREFIX) :]
        operation = self.specs[platform].get("paths", {}).get(spec_template, {}).get(method.lower())
        return operation if isinstance(operation, dict) else None

    def _validator(self, platform: str, operation: dict[str, Any], key: tuple[str, str, str, int]) -> Any:
        """``None`` if the status is undeclared, ``False`` if declared without a JSON body, else a validator."""
        if key in self._cache:
            return self._cache[key]
        from openapi_schema_validator import OAS30Validator, oas30_format_checker

        spec = self.specs[platform]
        response = operation.get("responses", {}).get(str(key[3]))
        result: Any = None
        if response is not None:
            response = _inline_refs(response, spec)
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            result = False if schema is None else OAS30Validator(schema, format_checker=oas30_format_checker)
        self._cache[key] = result
        return result

    def check(
        self, platform: str, method: str, template: str, path: str, status: int, body: Any = _NO_BODY
    ) -> list[Finding]:
        """Every finding for this response, including allowed ones (see :meth:`violations`)."""
        operation = self._operation(platform, method, template)
        if operation is None:
            return []
        validator = self._validator(platform, operation, (platform, method.upper(), template, status))
        base = functools.partial(
            Finding, platform=platform, method=method.upper(), path=path, template=template, status=status
        )
        if validator is None:
            return [
                base(
                    kind="undeclared_status",
                    message=f"status {status} is not declared",
                    empty_body=body is _NO_BODY,
                )
            ]
        if validator is False:
            return []
        if body is _NO_BODY:
            return [base(kind="not_json", message="declared JSON body is missing", empty_body=True)]
        findings = []
        for error in validator.iter_errors(body):
            json_path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            findings.append(
                base(
                    kind="schema",
                    message=error.message,
                    json_path=json_path,
                    keyword=str(error.validator),
                    instance=error.instance,
                )
            )
        return findings

    def violations(
        self, platform: str, method: str, template: str, path: str, status: int, body: Any = _NO_BODY
    ) -> list[Finding]:
        """Findings not covered by an allowed deviation."""
        return [
            f
            for f in self.check(platform, method, template, path, status, body)
            if not any(d.matches(f) for d in self.allowed)
        ]


NO_BODY = _NO_BODY
"""Pass as ``body`` for an empty response."""
