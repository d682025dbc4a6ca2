"""Minimal HS256 JWTs for VoIPbin's ``POST /auth/login`` (stdlib only; the sandbox signs and checks them)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


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


def decode(token: str, secret: str, now_s: float) -> dict[str, Any]:
    """Verify signature and ``exp``; raise ``TokenError("TOKEN_INVALID"|"TOKEN_EXPIRED")``."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(signature), expected):
            raise TokenError("TOKEN_INVALID")
        claims = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        raise TokenError("TOKEN_INVALID") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int | float):
        raise TokenError("TOKEN_INVALID")
    if claims["exp"] <= now_s:
        raise TokenError("TOKEN_EXPIRED")
    return claims
