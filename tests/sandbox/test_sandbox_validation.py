"""Response validation against the OpenAPI files: on in this repository, and provably not a no-op."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from airflow_provider_transfers.sandbox.server import TransferSandbox
from airflow_provider_transfers.sandbox.spec_validation import (
    ALLOWED_DEVIATIONS,
    LEGACY_DEVIATIONS,
    NO_BODY,
    SpecValidator,
)

from .conftest import start_voipbin_transfer, transfers_path

SPEC_DIR = Path(__file__).resolve().parents[1] / "contract" / "specs"


@pytest.fixture(scope="module")
def validator() -> SpecValidator:
    return SpecValidator(SPEC_DIR)


def test_fixture_validates_in_this_repository(sandbox: TransferSandbox) -> None:
    config = sandbox.control.config()
    assert config["validate_responses"] is True
    assert Path(config["spec_dir"]) == SPEC_DIR


@pytest.mark.parametrize(
    ("wire", "style"), [("current", "sentinel"), ("legacy", "null"), ("legacy", "sentinel"), ("legacy", "absent")]
)
def test_every_endpoint_conforms(
    twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox, wire: str, style: str
) -> None:
    sandbox.control.configure(voipbin_wire=wire, deleted_style=style)
    interaction = sandbox.control.create_twilio_interaction()
    created = twilio.post(transfers_path(interaction), json={"type": "warm"}).json()
    path = created["url"].removeprefix(sandbox.twilio_url)
    twilio.get(path)
    twilio.post(path, json={})
    twilio.get(f"/v1/Interactions/{interaction['interaction_sid']}")
    twilio.get(f"/v1/Interactions/{interaction['interaction_sid']}/Channels/{interaction['channel_sid']}")
    twilio.get(path.replace("/UX", "/UXff"))
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "attended")
    voipbin.get(f"/groupcalls/{transfer['groupcall_id']}")
    sandbox.control.set_outcome(transfer["id"], "completed")
    voipbin.get("/calls", params={"page_size": 3})
    voipbin.get("/groupcalls")
    voipbin.post(f"/groupcalls/{transfer['groupcall_id']}/hangup")
    voipbin.post(f"/calls/{call['id']}/hangup")
    voipbin.get(f"/calls/{call['id']}")
    voipbin.post("/transfers", json={"transfer_type": "blind"})
    voipbin.post("/transfers", json={"transfer_type": "warm", "transferer_call_id": call["id"]})
    voipbin.post("/transfers", content=b"{nope", headers={"Content-Type": "application/json"})
    voipbin.get("/calls/not-a-uuid")
    httpx.get(f"{sandbox.voipbin_url}/calls")
    httpx.get(f"{sandbox.voipbin_url}/calls", cookies={"accesskey": "wrong"})
    blind = start_voipbin_transfer(voipbin, sandbox.control.create_voipbin_call()["id"], "blind")
    sandbox.control.voipbin_event(blind["id"], "no_answer")
    voipbin.get(f"/calls/{sandbox.control.transfer(blind['id'])['transferer_call']['master_call_id']}")
    assert sandbox.control.stats()["total"] >= 21
    assert sandbox.control.violations() == []


def test_drift_is_flagged(twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    (transfer,) = sandbox.control.seed("twilio_flex", 1)
    sandbox.control.drift("twilio_flex", set_fields={"status": "paused", "sid": "XX1"})
    drifted = twilio.get(transfer["url"].removeprefix(sandbox.twilio_url)).json()
    assert drifted["status"] == "paused"
    sandbox.control.drift("voipbin", set_fields={"answer_call_id": 42})
    voipbin.get("/groupcalls")  # an empty list: nothing to drift
    call = sandbox.control.create_voipbin_call()
    voipbin.get(f"/calls/{call['id']}")  # answer_call_id is not a Call field: extra fields are allowed
    found = sandbox.control.violations()
    assert {(v["platform"], v["json_path"], v["keyword"]) for v in found} == {
        ("twilio_flex", "$.status", "enum"),
        ("twilio_flex", "$.sid", "pattern"),
        ("twilio_flex", "$.sid", "minLength"),
    }
    assert sandbox.control.clear_violations() == 3
    sandbox.control.drift()


def test_validator_flags_wrong_bodies(validator: SpecValidator) -> None:
    transfer = "/v1/Interactions/{InteractionSid}/Channels/{ChannelSid}/Transfers/{Sid}"
    found = validator.violations("twilio_flex", "GET", transfer, "/x", 200, {"status": "paused", "type": "cold"})
    assert [(f.json_path, f.keyword) for f in found] == [("$.status", "enum")]
    found = validator.violations("voipbin", "GET", "/v1.0/groupcalls/{id}", "/x", 200, {"call_ids": "nope"})
    assert [f.json_path for f in found] == ["$.call_ids"]
    found = validator.violations("voipbin", "POST", "/v1.0/transfers", "/x", 404, {"error": {"status": "NOT_FOUND"}})
    assert found and found[0].kind == "schema"
    found = validator.violations("voipbin", "POST", "/v1.0/transfers", "/x", 418, {})
    assert [f.kind for f in found] == ["undeclared_status"]
    found = validator.violations("voipbin", "POST", "/v1.0/transfers", "/x", 200, NO_BODY)
    assert [f.kind for f in found] == ["not_json"]


def test_allowed_deviations_are_explicit(validator: SpecValidator) -> None:
    """Only what the current server really does is excused; the pre-2026 forms only on the legacy wire."""
    assert {d.key for d in ALLOWED_DEVIATIONS} == {
        "twilio-undeclared-errors",
        "voipbin-transfer-null-timestamps",
        "voipbin-undeclared-429",
        "voipbin-undeclared-binding-400",
        "voipbin-undeclared-list-403",
        "voipbin-deleted-call-409",
    }
    assert {d.key for d in LEGACY_DEVIATIONS} == {
        "voipbin-legacy-timestamp-format",
        "voipbin-legacy-null-timestamps",
        "voipbin-legacy-empty-401",
        "voipbin-legacy-bare-errors",
    }
    transfer = {"id": "7f0c2f4e-0000-4000-8000-000000000000", "tm_create": "2026-03-01T10:00:15.5Z", "tm_delete": None}
    raw = validator.check("voipbin", "POST", "/v1.0/transfers", "/x", 200, transfer)
    assert {f.field for f in raw} == {"tm_delete"}  # a real finding...
    assert validator.violations("voipbin", "POST", "/v1.0/transfers", "/x", 200, transfer) == []  # ...excused
    legacy = {**transfer, "tm_create": "2026-03-01 10:00:15.000000"}
    assert [f.field for f in validator.violations("voipbin", "POST", "/v1.0/transfers", "/x", 200, legacy)] == [
        "tm_create"
    ]
    legacy_validator = SpecValidator(SPEC_DIR, ALLOWED_DEVIATIONS + LEGACY_DEVIATIONS)
    assert legacy_validator.violations("voipbin", "POST", "/v1.0/transfers", "/x", 200, legacy) == []
    # A call's unset timestamps are omitted today, never null (call/webhook.go:47-53, omitempty).
    call = {"id": "7f0c2f4e-0000-4000-8000-000000000000", "tm_hangup": None}
    assert validator.violations("voipbin", "GET", "/v1.0/calls/{id}", "/x", 200, call) != []
    assert validator.violations("voipbin", "GET", "/v1.0/calls", "/x", 400, NO_BODY) != []  # no bare 400 today
    assert legacy_validator.violations("voipbin", "GET", "/v1.0/calls/{id}", "/x", 400, NO_BODY) == []
    binding = {"error": {"status": "INVALID_ARGUMENT", "reason": "INVALID_REQUEST_PARAMETER"}}
    assert validator.violations("voipbin", "GET", "/v1.0/calls", "/x", 400, binding) == []
    assert validator.violations("voipbin", "GET", "/v1.0/calls/{id}", "/x", 409, NO_BODY) != []
    assert validator.violations("voipbin", "GET", "/v1.0/calls", "/x", 401, NO_BODY) != []
    assert legacy_validator.violations("voipbin", "GET", "/v1.0/calls", "/x", 401, NO_BODY) == []
    assert validator.violations("twilio_flex", "GET", "/v1/Interactions/{Sid}", "/x", 404, {"code": 20404}) == []
    assert validator.check("twilio_flex", "GET", "/v1/Configuration", "/x", 200, {}) == []  # not in the spec


def test_fixture_fails_a_test_at_teardown_on_violations(tmp_path: Path) -> None:
    (tmp_path / "test_drift.py").write_text(
        textwrap.dedent(
            """
            import httpx

            def test_bad(transfer_sandbox):
                (transfer,) = transfer_sandbox.control.seed("twilio_flex", 1)
                transfer_sandbox.control.drift("twilio_flex", set_fields={"status": "paused"})
                creds = transfer_sandbox.credentials
                httpx.get(transfer["url"], auth=(creds.twilio_account_sid, creds.twilio_auth_token))

            def test_good(transfer_sandbox):
                assert transfer_sandbox.control.health()["status"] == "ok"
            """
        )
    )
    env = {"TRANSFER_SANDBOX_SPEC_DIR": str(SPEC_DIR), "TRANSFER_SANDBOX_VALIDATE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "ERROR test_drift.py::test_bad" in result.stdout
    assert "violating the API contract" in result.stdout
