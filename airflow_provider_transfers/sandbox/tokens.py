"""HS256 JWTs shaped as VoIPbin's ``POST /auth/login`` issues them (stdlib only; the sandbox signs and checks).

VoIPbin's claims are ``type`` (``"agent"``), ``agent`` (the agent, with its ``customer_id`` and
``permission``) and ``expire``, a *string*; there is no ``exp`` (bin-api-manager/pkg/servicehandler/
auth.go:14-49, boot.go:165-183 at voipbin/monorepo 2bf22fa4). ``expire`` is ``2006-01-02T15:04:05.000000Z``
(bin-common-handler/pkg/utilhandler/time.go:10, 52-55); before February 2026 there was no ``type`` and
``expire`` was Go's ``Time.String()`` without the zone, e.g. ``2026-01-23 11:48:05.123456789``
(time.go at commit 43fbfc62). The server compares ``expire`` with the current time as text (auth.go:71-74).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_transfers.sandbox.clock import parse_voipbin_time, seconds_to_us

PERMISSION_CUSTOMER_AGENT = 0x0010
PERMISSION_CUSTOMER_ADMIN = 0x0020
"""bin-agent-manager/models/agent/permission.go: the admin (or manager) permission the call APIs require."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TokenError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], secret: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def expire_text(us: int, legacy: bool) -> str:
    """``expire`` as VoIPbin writes it (see the module docstring)."""
    when = _EPOCH + timedelta(microseconds=us)
    if not legacy:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fraction = f"{when.microsecond:06d}".rstrip("0")
    return when.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "")


def _expire_us(text: str) -> int | None:
    """Either form of ``expire`` as sandbox microseconds (a fraction of up to 9 digits, cut to 6)."""
    head, dot, fraction = text.removesuffix("Z").partition(".")
    if dot and not (fraction.isdigit() and len(fraction) <= 9):
        return None
    digits = (fraction + "000000")[:6] if dot else "000000"
    stamp = f"{head.replace('T', ' ')}.{digits}"
    return parse_voipbin_time(stamp)


def agent_claim(username: str, customer_id: str, permitted: bool) -> dict[str, Any]:
    """The ``agent`` claim: the agent as bin-agent-manager marshals it (models/agent/agent.go:14-35)."""
    return {
        "id": "a9e1c0de-0000-4000-8000-000000000001",
        "customer_id": customer_id,
        "username": username,
        "name": username,
        "detail": "",
        "ring_method": "ringall",
        "status": "available",
        "permission": PERMISSION_CUSTOMER_ADMIN if permitted else PERMISSION_CUSTOMER_AGENT,
        "tag_ids": [],
        "addresses": [],
    }


def login_token(agent: dict[str, Any], now_us: int, lifetime_s: float, secret: str, *, legacy: bool) -> str:
    claims: dict[str, Any] = {} if legacy else {"type": "agent"}
    claims["agent"] = agent
    claims["expire"] = expire_text(now_us + seconds_to_us(lifetime_s), legacy)
    return encode(claims, secret)


def decode(token: str, secret: str, now_us: int) -> dict[str, Any]:
    """Verify the signature and ``expire``; raise ``TokenError("TOKEN_INVALID"|"TOKEN_EXPIRED")``."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(signature), expected):
            raise TokenError("TOKEN_INVALID")
        claims = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        raise TokenError("TOKEN_INVALID") from None
    expire = claims.get("expire") if isinstance(claims, dict) else None
    expire_us = _expire_us(expire) if isinstance(expire, str) else None
    if not isinstance(claims.get("agent"), dict) or expire_us is None:
        raise TokenError("TOKEN_INVALID")
    if expire_us < now_us:
        raise TokenError("TOKEN_EXPIRED")
    return claims


def customer_of(claims: dict[str, Any]) -> str:
    """The customer a (decoded) token acts for: its agent's ``customer_id``."""
    return str(claims["agent"].get("customer_id", ""))
