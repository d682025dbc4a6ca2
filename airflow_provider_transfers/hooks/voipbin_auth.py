"""VoIPbin authentication as ``httpx.Auth`` flows: an access-key cookie (never in a URL, which logs show), or
a JWT from ``POST {root}/auth/login``, cached, renewed before its ``expire`` and once on a 401. Behaviour and
server sources: docs/connections/voipbin.md. No credential appears in a ``repr`` or an error.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import copy
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field

import httpx

from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferAuthError,
    TransferConfigError,
    TransferServerError,
    api_error_class,
)
from airflow_provider_transfers.http.client import fallback_message, json_error_fields

log = logging.getLogger(__name__)

PLATFORM = "voipbin"
TOKEN_LIFETIME_S = 7 * 24 * 3600.0
"""What VoIPbin documents for a login token, used when the token carries no readable ``expire``."""
_EXPIRE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$")
"""``2006-01-02T15:04:05.000000Z`` (today, bin-common-handler/pkg/utilhandler/time.go:10) or Go's
``Time.String()`` without its zone, ``2026-01-23 11:48:05.123456789`` (before February 2026); both UTC."""
REFUSED_LOGIN = (
    "VoIPbin refused the username or password (it answers a wrong username or password, like a malformed "
    "login, with a bare 400)"
)
LOGIN_HINT = (
    "Check the connection's login (VoIPbin username) and password, "
    "or leave login empty and put an access key in the password field"
)
RENEW_MARGIN_S = 3600.0
"""Renew this long before expiry (at most a tenth of the token's lifetime, for short-lived tokens)."""
_COOKIE_SAFE = re.compile(r"^[\x21-\x7e]+$")


def _mask(secret: str) -> None:
    """Register ``secret`` with Airflow's masker (sync paths only; harmless outside a task)."""
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


async def _amask(secret: str) -> None:
    """Register ``secret`` from an event loop. Airflow 3.2 (task SDK 1.2) has no ``amask_secret``: there the
    process's own masker learns it (what the triggerer logs through), without the sync call to a supervisor."""
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:
        from airflow.sdk._shared.secrets_masker import _secrets_masker

        _secrets_masker().add_mask(secret)
        return
    await amask_secret(secret)


class AccessKeyAuth(httpx.Auth):
    """Send the access key as the ``accesskey`` cookie (a ``Cookie`` header set per request)."""

    def __init__(self, access_key: str) -> None:
        if not access_key or not _COOKIE_SAFE.match(access_key) or ";" in access_key or "," in access_key:
            raise TransferConfigError(
                "The VoIPbin access key must be printable ASCII without spaces, ';' or ',' (check the password field)"
            )
        self._access_key = access_key

    def __repr__(self) -> str:
        return "AccessKeyAuth(access_key=<redacted>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Cookie"] = f"accesskey={self._access_key}"
        yield request


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires_at: float
    renew_at: float


def token_expiry(token: str) -> float | None:
    """The ``expire`` claim (epoch seconds) of a VoIPbin token, without verifying it; ``None`` when absent or
    unreadable."""
    try:
        _, payload, _ = token.split(".")
        expire = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["expire"]
    except (ValueError, KeyError, TypeError):  # not three parts, not JSON, no expire claim
        return None
    match = _EXPIRE.match(expire) if isinstance(expire, str) else None

    if match is None:
        return None
    *fields, fraction = match.groups()
    try:
        seconds = calendar.timegm(time.strptime(" ".join(fields), "%Y %m %d %H %M %S"))
    except ValueError:
        return None
    return seconds + float(f"0.{fraction or 0}")


class JwtAuth(httpx.Auth):
    """Username/password login for a JWT sent as ``Authorization: Bearer``; cached, renewed, retried on 401.

    One instance serves a hook's requests, which share one login (a lock per thread or event loop). A refused
    login is remembered: later requests fail without trying again, so as not to lock the account.
    """

    def __init__(self, login_url: str, username: str, password: str, *, clock: Callable[[], float] = time.time) -> None:
        if not username or not password:
            raise TransferConfigError("VoIPbin JWT login needs both a username (login) and a password")
        self.login_url = login_url
        self.username = username
        self._password = password
        self._clock = clock
        self._token: _Token | None = None
        self._refused: TransferAuthError | None = None
        self._lock = threading.Lock()
        self._alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self.logins = 0

    def __repr__(self) -> str:
        return f"JwtAuth(login_url={self.login_url!r}, username={self.username!r})"

    @property
    def expires_at(self) -> float | None:
        """When the cached token expires (epoch seconds; ``None`` before the first login)."""
        return None if self._token is None else self._token.expires_at

    # ------------------------------------------------------------------ token state

    def _valid_token(self, refused: _Token | None = None) -> _Token | None:
        """The cached token; ``None`` when a login is due: no token, one due for renewal, or the cached token is
        ``refused`` (by a 401: dropped). Raises the remembered refused login."""
        if self._refused is not None:
            raise copy.copy(self._refused)
        token = self._token
        if refused is not None and token is refused:
            log.info("VoIPbin: token refused (401); logging in again once")
            self._token = None
            return None
        if token is None or self._clock() >= token.renew_at:
            return None
        return token

    def _login_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.login_url,
            json={"username": self.username, "password": self._password},
            headers={"Accept": "application/json", "User-Agent": "airflow-provider-transfers"},
        )

    def _accept(self, response: httpx.Response) -> _Token:
        """Turn the login response into a cached token, or raise (never showing the password)."""
        self.logins += 1
        if not response.is_success:
            error = self._login_error(response)
            if isinstance(error, TransferAuthError):
                self._refused = error
            raise error
        body = json_error_fields(response)
        value = body.get("token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise TransferServerError(
                platform=PLATFORM,
                status_code=response.status_code,
                method="POST",
                path="/auth/login",
                message="the login response carries no token",
            )
        now = self._clock()
        expires_at = token_expiry(value) or now + TOKEN_LIFETIME_S
        margin = min(RENEW_MARGIN_S, max(0.0, expires_at - now) / 10)
        token = _Token(value, expires_at, expires_at - margin)
        self._token = token
        log.info("VoIPbin: logged in as %r; token valid until %s", self.username, time.ctime(expires_at))
        return token

    def _login_error(self, response: httpx.Response) -> TransferApiError:
        """A refused login (any 4xx but 429) is a ``TransferAuthError``; other failures keep their class."""
        status = response.status_code
        body = json_error_fields(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        said = REFUSED_LOGIN if status == 400 and not response.content else error.get("message")
        refused = 400 <= status < 500 and status != 429
        return (TransferAuthError if refused else api_error_class(status))(
            platform=PLATFORM,
            status_code=status,
            message=f"login as {self.username!r} failed: {said or fallback_message(response)}",
            method="POST",
            path="/auth/login",
            reason=error.get("reason") or None,
            request_id=error.get("request_id") or None,
            hint=LOGIN_HINT if refused else None,
        )

    def _authorize(self, request: httpx.Request, token: _Token) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token.value}"
        return request

    def _alock(self) -> asyncio.Lock:
        return self._alocks.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    # ------------------------------------------------------------------ flows
    # A request logs in when no token is valid; refused with a 401, it logs in again once (unless it had just
    # logged in, or another request already replaced the refused token) and is replayed once.

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        refused: _Token | None = None
        while True:
            with self._lock:
                token = self._valid_token(refused)
                fresh = token is None
                if token is None:
                    login = yield self._login_request()
                    login.read()
                    token = self._accept(login)
                    _mask(token.value)
            response = yield self._authorize(request, token)
            if response.status_code != 401 or fresh or refused is not None:
                return
            refused = token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        refused: _Token | None = None
        while True:
            async with self._alock():
                token = self._valid_token(refused)
                fresh = token is None
                if token is None:
                    login = yield self._login_request()
                    await login.aread()
                    token = self._accept(login)
                    await _amask(token.value)
            response = yield self._authorize(request, token)
            if response.status_code != 401 or fresh or refused is not None:
                return
            refused = token
