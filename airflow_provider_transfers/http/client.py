"""``ApiClient`` and ``HttpPolicy``: the one place every request of every hook goes through (docs/http_policy.md).

Retried: 429, 5xx, malformed success bodies, connection errors and timeouts; never another 4xx. A request
that is not idempotent is retried only when the platform cannot have acted on it (429, 503, no connection).
"""

from __future__ import annotations

import asyncio
import difflib
import email.utils
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferConfigError,
    TransferServerError,
    TransferTransportError,
    TransferValidationError,
    api_error_class,
)
from airflow_provider_transfers.http.ratelimit import Bucket, RateLimiter
from airflow_provider_transfers.validation import (
    NonNegativeSeconds,
    PositiveInt,
    PositiveSeconds,
    as_transfer_error,
    form_error,
)

log = logging.getLogger(__name__)

_RATE_EXPECTED = "a finite number of requests/second >= 0 (0 turns the limiter off)"
_BACKEND_EXPECTED = "a Redis URL like redis://host:6379/0 (or rediss:// for TLS)"


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise form_error(_RATE_EXPECTED)
    try:
        number = float(value)
    except ValueError:
        raise form_error(_RATE_EXPECTED) from None
    if not math.isfinite(number) or number < 0:
        raise form_error(_RATE_EXPECTED)
    return number


def _flag(value: Any) -> bool:
    """JSON booleans, and the strings a form or an environment variable holds."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "on", "off", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "on", "1", "yes")
    raise form_error("true or false")


def _backend(value: Any) -> str:
    if not isinstance(value, str):
        raise form_error(_BACKEND_EXPECTED)
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if scheme not in ("redis", "rediss") or not sep or not rest.split("/")[0].rpartition("@")[2]:
        raise form_error(_BACKEND_EXPECTED)
    return text


RequestsPerSecond = Annotated[float, BeforeValidator(_rate)]
Flag = Annotated[bool, BeforeValidator(_flag)]
RedisUrl = Annotated[str, BeforeValidator(_backend), AfterValidator(str.strip)]


class HttpPolicy(BaseModel):
    """How requests are sent, retried and paced.

    ``rate_limit`` is requests per second per bucket (the hook decides what a bucket is: Twilio limits
    per endpoint, VoIPbin per customer); ``None`` or ``0`` turns the client-side limiter off.
    ``adaptive_rate`` (default on) lowers the rate on 429s and raises it back while requests succeed.
    ``rate_limit_backend`` (``redis://host:port/db``) shares one bucket per account and endpoint among
    every process that uses the same account; the local bucket is the fallback.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: PositiveSeconds = 30.0
    max_attempts: PositiveInt = 5
    backoff_initial: NonNegativeSeconds = 0.5
    backoff_max: PositiveSeconds = 30.0
    retry_after_max: NonNegativeSeconds = 120.0
    rate_limit: RequestsPerSecond | None = None
    rate_burst: PositiveInt | None = None
    max_connections: PositiveInt = 100
    adaptive_rate: Flag = True
    rate_limit_backend: RedisUrl | None = None

    FIELDS: ClassVar[tuple[str, ...]] = (
        "timeout", "max_attempts", "backoff_initial", "backoff_max", "retry_after_max",
        "rate_limit", "rate_burst", "max_connections", "adaptive_rate", "rate_limit_backend",
    )  # fmt: skip

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise as_transfer_error(exc) from None

    def merged(self, source: Mapping[str, Any], *, origin: str) -> HttpPolicy:
        """A copy with the policy fields found in ``source`` (other keys are left to :func:`check_extra`).

        ``None`` and empty strings (an empty form field) mean "not set". A bad value raises
        ``TransferConfigError`` starting with ``origin`` and naming the field.
        """
        changes = {k: v for k, v in source.items() if k in self.FIELDS and v is not None and v != ""}
        if not changes:
            return self
        try:
            return HttpPolicy(**{**self.model_dump(), **changes})
        except TransferValidationError as exc:
            raise TransferConfigError(f"{origin}: {exc}") from None


def check_extra(conn_id: str, raw: str | Mapping[str, Any] | None, hook_keys: Iterable[str] = ()) -> dict[str, Any]:
    """The connection's extra as a dict: JSON, an object, and only keys the hook knows.

    ``hook_keys`` are the hook's own (non-policy) extras. An unknown key fails naming the closest
    valid one, so ``"rate_limt": 5`` does not silently leave the default in place.
    """
    where = f"Connection {conn_id!r}"
    if isinstance(raw, Mapping):
        raw = json.dumps(dict(raw), default=str)
    if raw is None or not raw.strip():
        return {}
    try:
        extra = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TransferConfigError(f"{where}: extra is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(extra, dict):
        raise TransferConfigError(f"{where}: extra must be a JSON object; got {type(extra).__name__}")
    check_known_keys(extra, {*HttpPolicy.FIELDS, *hook_keys}, f"{where}: unknown extra")
    return extra


def check_known_keys(given: Iterable[Any], allowed: Iterable[str], what: str) -> None:
    """Refuse the first key not in ``allowed``, naming the closest valid one (a typo must not silently
    leave a default in place)."""
    known = sorted(allowed)
    for key in given:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TransferConfigError(f"{what} {key!r}{hint} Valid: {', '.join(known)}")


# --------------------------------------------------------------------------------------------- client

ErrorParser = Callable[[httpx.Response], dict[str, Any]]
"""Turns an error response into keyword arguments for ``TransferApiError`` (message, code, reason, ...)."""

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_USER_AGENT = "airflow-provider-transfers"


class MalformedResponseError(TransferServerError):
    """A success status whose body is not JSON (a proxy page, a truncated body): retried when safe."""

    @property
    def retryable(self) -> bool:
        return True


@dataclass(frozen=True)
class Request:
    """One request, described once and sent by ``ApiClient.request`` (sync) or ``arequest`` (async).

    ``model`` parses a successful answer (``None``: the JSON as it came); ``what`` names it in errors;
    ``bucket`` is the rate-limit bucket it draws from; a request that is not ``idempotent`` is retried only
    when the platform cannot have acted on it.
    """

    method: str
    path: str
    model: type[BaseModel] | None = None
    what: str = "response"
    json: Any = None
    params: Mapping[str, Any] | None = None
    bucket: str = "default"
    idempotent: bool = True


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date. ``None`` when absent/garbled."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class ApiClient:
    def __init__(
        self,
        *,
        platform: str,
        base_url: str,
        policy: HttpPolicy,
        error_parser: ErrorParser,
        auth: httpx.Auth | None = None,
        secrets: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        rate_scope: str | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._error_parser = error_parser
        self._secrets = tuple(s for s in secrets if s)
        n = policy.max_connections
        self._options: dict[str, Any] = {  # what the sync and the async client share
            "base_url": self.base_url,
            "timeout": policy.timeout,
            "headers": {"User-Agent": _USER_AGENT, "Accept": "application/json", **(headers or {})},
            "auth": auth,
            "limits": httpx.Limits(max_connections=n, max_keepalive_connections=n),
        }
        self._retrying: dict[str, Any] = {
            "stop": stop_after_attempt(policy.max_attempts),
            "wait": self._wait,
            "before_sleep": self._log_retry,
            "reraise": True,
        }
        self._transport = transport
        self._async_transport = async_transport
        self._sleep = sleep
        self._asleep = asleep
        self.limiter = make_limiter(policy, rate_scope or f"{platform}|{self.base_url}")
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"ApiClient(platform={self.platform!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ clients

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(**self._options, transport=self._transport)
        return self._client

    @property
    def aclient(self) -> httpx.AsyncClient:
        """The async client of the running event loop (a new loop gets a new client)."""
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            self._aclient = httpx.AsyncClient(**self._options, transport=self._async_transport)
            self._aloop = loop
        return self._aclient

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._aclient is not None and self._aloop is asyncio.get_running_loop():
            await self._aclient.aclose()
        self._aclient = None
        self._aloop = None

    # ------------------------------------------------------------------ requests

    def request(self, request: Request) -> Any:
        """Send ``request`` under the policy (rate limit, retries); its answer parsed as ``request.model``."""
        retry = retry_if_exception(lambda exc: self._should_retry(request, exc))
        return Retrying(**self._retrying, retry=retry, sleep=self._sleep)(self._send_once, request)

    async def arequest(self, request: Request) -> Any:
        retry = retry_if_exception(lambda exc: self._should_retry(request, exc))
        return await AsyncRetrying(**self._retrying, retry=retry, sleep=self._asleep)(self._asend_once, request)

    def _send_once(self, call: Request) -> Any:
        bucket = self.limiter.bucket(call.bucket) if self.limiter is not None else None
        if bucket is not None:
            bucket.acquire()
        request = self._build(self.client, call)
        try:
            response = self.client.send(request)
        except httpx.TransportError as exc:
            raise self._transport_failure(call, exc) from None
        finally:
            if bucket is not None:
                bucket.in_flight -= 1
        return self._handle(call, response, bucket)

    async def _asend_once(self, call: Request) -> Any:
        bucket = self.limiter.bucket(call.bucket) if self.limiter is not None else None
        if bucket is not None:
            await bucket.aacquire()
        client = self.aclient
        request = self._build(client, call)
        try:
            response = await client.send(request)
        except httpx.TransportError as exc:
            raise self._transport_failure(call, exc) from None
        finally:
            if bucket is not None:
                bucket.in_flight -= 1
        return self._handle(call, response, bucket)

    def _build(self, client: httpx.Client | httpx.AsyncClient, call: Request) -> httpx.Request:
        """The httpx request (refused if a credential would travel in its URL); counts it as in flight."""
        request = client.build_request(call.method, call.path, json=call.json, params=call.params)
        url = str(request.url)
        if any(secret in url for secret in self._secrets):
            raise TransferConfigError(f"{self.platform}: refusing to send a request with a credential in its URL")
        self.stats["requests"] += 1
        if self.limiter is not None:
            self.limiter.bucket(call.bucket).in_flight += 1
        return request

    def _transport_failure(self, call: Request, exc: httpx.TransportError) -> TransferTransportError:
        self.stats["transport_errors"] += 1
        return TransferTransportError(self.platform, call.method, call.path, exc, sent=not isinstance(exc, _NOT_SENT))

    def _handle(self, call: Request, response: httpx.Response, bucket: Bucket | None = None) -> Any:
        self.stats[f"status_{response.status_code}"] += 1
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if bucket is not None:
            concurrent = response.headers.get(CONCURRENT_HEADER, "")
            bucket.feedback(
                throttled=response.status_code == 429,
                retry_after=retry_after,
                concurrent=int(concurrent) if concurrent.isdigit() else None,
            )
        if response.is_success:
            try:
                data = response.json() if response.content else {}
            except ValueError:
                raise MalformedResponseError(
                    platform=self.platform,
                    status_code=response.status_code,
                    method=call.method,
                    path=call.path,
                    message="the response body is not valid JSON",
                ) from None
            if call.model is None:
                return data
            try:
                return call.model.model_validate(data)
            except ValidationError as exc:
                raise TransferServerError(
                    platform=self.platform,
                    status_code=response.status_code,
                    method=call.method,
                    path=call.path,
                    message=f"the {call.what} in the response does not match the documented shape: {exc}",
                ) from None
        fields = self._error_parser(response)
        cls = api_error_class(response.status_code)
        raise cls(
            platform=self.platform,
            status_code=response.status_code,
            method=call.method,
            path=call.path,
            retry_after=retry_after,
            **fields,
        )

    # ------------------------------------------------------------------ retry policy

    @staticmethod
    def _should_retry(call: Request, exc: BaseException) -> bool:
        if isinstance(exc, TransferTransportError):
            return call.idempotent or not exc.sent
        if isinstance(exc, TransferApiError) and exc.retryable:
            return call.idempotent or exc.status_code in (429, 503)
        return False

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random, capped at ``backoff_max``."""
        ceiling = min(self.policy.backoff_max, self.policy.backoff_initial * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            honoured = min(float(retry_after), self.policy.retry_after_max)
            return honoured + random.uniform(0, 0.1 * honoured)
        return self.backoff(state.attempt_number)

    def _log_retry(self, state: RetryCallState) -> None:
        self.stats["retries"] += 1
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransferTransportError):
            what = f"no answer ({exc.reason})"
        elif isinstance(exc, TransferApiError):
            what = str(exc.status_code)
        else:
            what = type(exc).__name__
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: request got %s; retry %d/%d in %.2fs",
            self.platform,
            what,
            state.attempt_number,
            self.policy.max_attempts - 1,
            delay,
        )


CONCURRENT_HEADER = "Twilio-Concurrent-Requests"
"""Twilio: how many requests the account has in flight; the adaptive limit uses it on a 429."""


def make_limiter(policy: HttpPolicy, scope: str) -> RateLimiter | None:
    """The policy's rate budget: none, a local (adaptive) bucket per key, or one shared through Redis."""
    if not policy.rate_limit:
        return None
    rate = float(policy.rate_limit)
    burst = policy.rate_burst if policy.rate_burst is not None else max(1, math.floor(rate))
    if policy.rate_limit_backend:
        from airflow_provider_transfers.http.ratelimit import SharedRateLimiter

        return SharedRateLimiter(rate, burst, url=policy.rate_limit_backend, scope=scope, adaptive=policy.adaptive_rate)
    return RateLimiter(rate, burst, adaptive=policy.adaptive_rate)


def json_error_fields(response: httpx.Response) -> Any:
    """The body as JSON, or ``None`` when empty or not JSON (proxies, 502 pages)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def fallback_message(response: httpx.Response) -> str:
    """A message for bodies that say nothing usable: the HTTP reason, and a hint of what came instead."""
    phrase = response.reason_phrase or "error"
    if not response.content:
        return f"{phrase} (empty body)"
    ctype = response.headers.get("content-type", "").split(";")[0] or "unknown content type"
    return f"{phrase} (non-JSON body, {ctype})"
