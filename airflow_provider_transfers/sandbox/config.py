"""Runtime settings of the sandbox, their parsing from CLI strings and their update from JSON.

Every knob lives in one flat dataclass so the CLI, the programmatic API and ``POST /_sandbox/config``
share one vocabulary (the field names).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TWILIO = "twilio_flex"
VOIPBIN = "voipbin"
PLATFORMS = (TWILIO, VOIPBIN)

FAULT_KINDS = ("429", "500", "502", "503", "reset", "slow", "malformed")
DELETED_STYLES = ("null", "sentinel", "absent")
VOIPBIN_WIRES = ("current", "legacy")
"""``current``: the server since February 2026 (RFC 3339, ``omitempty``, the April 2026 error envelope);
``legacy``: the wire form before (``2006-01-02 15:04:05.000000``, unset times per ``deleted_style``,
an empty-bodied 401 without credentials)."""

_PLATFORM_ALIASES = {"twilio": TWILIO, "twilio_flex": TWILIO, "flex": TWILIO, "voipbin": VOIPBIN}


@dataclass
class SandboxConfig:
    """All sandbox settings; defaults mimic the real platforms."""

    latency_ms: float = 0.0
    """Added to every platform API response (not to ``/_sandbox/``)."""
    rate_limits_enabled: bool = True
    twilio_rate: float = 20.0
    """Twilio: requests/s per endpoint (method + path template) per account."""
    twilio_burst: float = 20.0
    voipbin_rate: float = 16.7
    """VoIPbin: requests/s per customer."""
    voipbin_burst: float = 33.0
    retry_after: bool = True
    """Send ``Retry-After`` on 429 responses."""
    faults: dict[str, float] = field(default_factory=dict)
    """Probability per request of each fault kind (see ``FAULT_KINDS``); their sum must be <= 1."""
    slow_delay_s: float = 35.0
    """How long a ``slow`` fault holds the request (longer than a typical 30 s client timeout)."""
    seed: int = 0
    """Seeds the lifecycle, fault and id generators so that a run repeats."""
    transfer_delay_min_s: float = 1.0
    transfer_delay_max_s: float = 3.0
    success_rate: float = 0.8
    """Share of transfers that end ``completed`` (answered) rather than ``failed``."""
    ring_delay_s: float = 0.2
    """VoIPbin: transferee calls move dialing -> ringing after this (capped at half the outcome delay)."""
    groupcall_hangingup_s: float = 0.2
    """VoIPbin: how long a hung-up groupcall stays ``hangingup`` before ``hangup``."""
    call_hangup_delay_s: float = 0.0
    """VoIPbin: how long a hung-up call stays ``terminating``/``canceling`` before ``hangup``."""
    jwt_lifetime_s: float = 7 * 24 * 3600.0
    """VoIPbin: lifetime of tokens issued by ``POST /auth/login`` (their ``expire`` claim)."""
    voipbin_balance: bool = True
    """VoIPbin: the customer has balance. ``False``: every transferee call fails after ``POST /transfers``
    answered (``callhandler/outgoing_call.go:176-180``)."""
    voipbin_identity_verified: bool = True
    """VoIPbin: the customer's identity is verified. ``False``: transferee calls to ``tel`` addresses fail after
    the 200 (``callhandler/validate.go:137-151``)."""
    voipbin_permission: bool = True
    """VoIPbin: the credentials carry the customer admin/manager permission. ``False``: every call and groupcall
    endpoint answers 403, lists included (``servicehandler/etc.go:13-27``): a refusal of the credentials."""
    voipbin_wire: str = "current"
    """VoIPbin wire format: ``current`` or ``legacy`` (see ``VOIPBIN_WIRES``)."""
    deleted_style: str = "sentinel"
    """Legacy wire only: unset ``tm_*`` timestamps as ``sentinel`` (9999-01-01..., the database default),
    ``null`` or ``absent``. The current wire omits them (calls, groupcalls) or sends ``null`` (transfers)."""
    validate_responses: bool = False
    """Validate platform responses against the OpenAPI files in ``spec_dir`` (see ``spec_validation``)."""
    spec_dir: str | None = None

    def check(self) -> None:
        """Raise ``ValueError`` on inconsistent settings."""
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}")
        if any(rate < 0 for rate in self.faults.values()) or sum(self.faults.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates must be >= 0 and sum to at most 1")
        if self.voipbin_wire not in VOIPBIN_WIRES:
            raise ValueError(f"voipbin_wire must be one of {', '.join(VOIPBIN_WIRES)}")
        if self.deleted_style not in DELETED_STYLES:
            raise ValueError(f"deleted_style must be one of {', '.join(DELETED_STYLES)}")
        if not 0.0 <= self.success_rate <= 1.0:
            raise ValueError("success_rate must be within [0, 1]")
        if self.transfer_delay_min_s < 0 or self.transfer_delay_max_s < self.transfer_delay_min_s:
            raise ValueError("need 0 <= transfer_delay_min_s <= transfer_delay_max_s")
        for name in ("latency_ms", "twilio_rate", "voipbin_rate", "slow_delay_s", "jwt_lifetime_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.twilio_burst < 1 or self.voipbin_burst < 1:
            raise ValueError("bursts must be >= 1")
        if self.validate_responses and not self.spec_dir:
            raise ValueError("validate_responses needs spec_dir (the directory holding the OpenAPI files)")

    def copy(self) -> SandboxConfig:
        return dataclasses.replace(self, faults=dict(self.faults))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A checked copy with ``changes`` applied.

        Besides field names, accepts ``rate_limit`` (``"twilio=20,voipbin=16.7"``, a mapping, or
        ``"off"``/``false``) and ``faults`` as a string (``"429=0.05,reset=0.01"``) or mapping.
        """
        new = self.copy()
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key == "rate_limit":
                _apply_rate_limit(new, value)
            elif key == "faults":
                new.faults = parse_faults(value) if isinstance(value, str) else _float_map(value)
            elif key in fields:
                setattr(new, key, _coerce(key, getattr(self, key), value))
            else:
                raise ValueError(f"unknown setting {key!r}")
        new.check()
        return new

    @classmethod
    def from_env(cls, **overrides: Any) -> SandboxConfig:
        """Defaults plus ``TRANSFER_SANDBOX_VALIDATE`` / ``TRANSFER_SANDBOX_SPEC_DIR`` /
        ``TRANSFER_SANDBOX_VOIPBIN_WIRE`` from the environment."""
        env: dict[str, Any] = {}
        if os.environ.get("TRANSFER_SANDBOX_VOIPBIN_WIRE"):
            env["voipbin_wire"] = os.environ["TRANSFER_SANDBOX_VOIPBIN_WIRE"].strip().lower()
        if os.environ.get("TRANSFER_SANDBOX_VALIDATE", "").strip().lower() in ("1", "true", "yes", "on"):
            env["validate_responses"] = True
        if os.environ.get("TRANSFER_SANDBOX_SPEC_DIR"):
            env["spec_dir"] = os.environ["TRANSFER_SANDBOX_SPEC_DIR"]
        return cls().updated({**env, **overrides})


def parse_faults(text: str) -> dict[str, float]:
    """``"429=0.05,500=0.02,reset=0.01"`` -> ``{"429": 0.05, ...}``; ``""``/``"off"`` -> ``{}``."""
    text = text.strip()
    if text.lower() in ("", "off", "none"):
        return {}
    return _float_map(dict(_pairs(text)))


def parse_rate_limit(text: str) -> dict[str, float] | None:
    """``"twilio=20,voipbin=16.7"`` -> per-platform rates; ``"off"`` -> ``None`` (disabled)."""
    text = text.strip()
    if text.lower() in ("off", "none", "0", "false"):
        return None
    rates: dict[str, float] = {}
    for key, value in _pairs(text):
        platform = _PLATFORM_ALIASES.get(key.lower())
        if platform is None:
            raise ValueError(f"unknown platform {key!r} in rate limit (use twilio=..., voipbin=...)")
        rates[platform] = float(value)
    return rates


def _pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _float_map(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of name -> number")
    return {str(k): float(v) for k, v in value.items()}


def _apply_rate_limit(config: SandboxConfig, value: Any) -> None:
    if value is False or value is None:
        config.rate_limits_enabled = False
        return
    if value is True:
        config.rate_limits_enabled = True
        return
    rates = parse_rate_limit(value) if isinstance(value, str) else _float_map(value)
    if rates is None:
        config.rate_limits_enabled = False
        return
    config.rate_limits_enabled = True
    for key, rate in rates.items():
        platform = _PLATFORM_ALIASES.get(key.lower())
        if platform == TWILIO:
            config.twilio_rate = rate
        elif platform == VOIPBIN:
            config.voipbin_rate = rate
        else:
            raise ValueError(f"unknown platform {key!r} in rate limit")


def _coerce(name: str, current: Any, value: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(current, int | float) and not isinstance(value, bool):
        try:
            return type(current)(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number") from None
    if name == "spec_dir":
        return None if value is None else str(value)
    if isinstance(current, str):
        return str(value)
    raise ValueError(f"invalid value for {name}")
