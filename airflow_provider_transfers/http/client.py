"""``ApiClient``: the one place every request of both hooks goes through.

It owns the httpx clients (one sync, one async per event loop; connections reused), authentication,
the retry policy, the client-side rate limit, the mapping of error bodies into the exception family
and log hygiene. Platform specifics arrive as two values: an ``httpx.Auth`` and an error parser.

Retry rules. Retried: 429 (never processed), 5xx, malformed success bodies, connection errors and
timeouts. Never retried: any other 4xx. A request that is not idempotent (creating a transfer) is
retried only when the platform cannot have acted on it: 429, 503, or a failure to connect; a timeout
or a 500 after sending could otherwise start a second transfer.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferConfigError,
    TransferServerError,
    TransferTransportError,
    api_error_class,
)
from airflow_provider_transfers.http.policy import HttpPolicy
from airflow_provider_transfers.http.ratelimit import Bucket, RateLimiter

log = logging.getLogger(__name__)

ErrorParser = Callable[[httpx.Response], dict[str, Any]]
"""Turns an error response into keyword arguments for ``TransferApiError`` (message, code, reason, ...)."""

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_USER_AGENT = "airflow-provider-transfers"


class MalformedResponseError(TransferServerError):
    """A success status whose body is not JSON (a proxy page, a truncated body): retried when safe."""

    @property
    def retryable(self) -> bool:
        return True


class _TransportFailure(TransferTransportError):
    def __init__(self, platform: str, method: str, path: str, cause: BaseException) -> None:
        super().__init__(platform, method, path, cause)
        self.sent = not isinstance(cause, _NOT_SENT)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
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
        self._auth = auth
        self._secrets = tuple(s for s in secrets if s)
        self._headers = {"User-Agent": _USER_AGENT, "Accept": "application/json", **(headers or {})}
        self._transport = transport
        self._async_transport = async_transport
        self._sleep = sleep
        self._asleep = asleep
        self._limiter = make_limiter(policy, rate_scope or f"{platform}|{self.base_url}")
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"ApiClient(platform={self.platform!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ clients

    def _client_options(self) -> dict[str, Any]:
        """What the sync and the async client share."""
        n = self.policy.max_connections
        return {
            "base_url": self.base_url,
            "timeout": self.policy.timeout,
            "headers": self._headers,
            "auth": self._auth,
            "limits": httpx.Limits(max_connections=n, max_keepalive_connections=n),
        }

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(**self._client_options(), transport=self._transport)
        return self._client

    @property
    def aclient(self) -> httpx.AsyncClient:
        """The async client of the running event loop (a new loop gets a new client)."""
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            self._aclient = httpx.AsyncClient(**self._client_options(), transport=self._async_transport)
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

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        call = Call(method.upper(), path, **kwargs)
        retrying = Retrying(**self._retry_kwargs(call), sleep=self._sleep)
        return retrying(self._send_once, call)

    async def arequest(self, method: str, path: str, **kwargs: Any) -> Any:
        call = Call(method.upper(), path, **kwargs)
        retrying = AsyncRetrying(**self._retry_kwargs(call), sleep=self._asleep)
        return await retrying(self._asend_once, call)

    @property
    def limiter(self) -> RateLimiter | None:
        return self._limiter

    def _send_once(self, call: Call) -> Any:
        bucket = self._limiter.bucket(call.bucket) if self._limiter is not None else None
        if bucket is not None:
            bucket.acquire()
        request = self._build(self.client, call)
        self.stats["requests"] += 1
        with _in_flight(bucket):
            try:
                response = self.client.send(request)
            except httpx.TransportError as exc:
                raise self._transport_failure(call, exc) from None
        return self._handle(call, response, bucket)

    async def _asend_once(self, call: Call) -> Any:
        bucket = self._limiter.bucket(call.bucket) if self._limiter is not None else None
        if bucket is not None:
            await bucket.aacquire()
        client = self.aclient
        request = self._build(client, call)
        self.stats["requests"] += 1
        with _in_flight(bucket):
            try:
                response = await client.send(request)
            except httpx.TransportError as exc:
                raise self._transport_failure(call, exc) from None
        return self._handle(call, response, bucket)

    def _build(self, client: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        request = client.build_request(call.method, call.path, json=call.json, params=call.params)
        url = str(request.url)
        if any(secret in url for secret in self._secrets):
            raise TransferConfigError(f"{self.platform}: refusing to send a request with a credential in its URL")
        return request

    def _transport_failure(self, call: Call, exc: httpx.TransportError) -> _TransportFailure:
        self.stats["transport_errors"] += 1
        return _TransportFailure(self.platform, call.method, call.path, exc)

    def _handle(self, call: Call, response: httpx.Response, bucket: Bucket | None = None) -> Any:
        self.stats[f"status_{response.status_code}"] += 1
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if bucket is not None:
            bucket.feedback(
                throttled=response.status_code == 429,
                retry_after=retry_after,
                concurrent=_int_header(response, CONCURRENT_HEADER),
            )
        if response.is_success:
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise MalformedResponseError(
                    platform=self.platform,
                    status_code=response.status_code,
                    method=call.method,
                    path=call.path,
                    message="the response body is not valid JSON",
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

    def _retry_kwargs(self, call: Call) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.policy.max_attempts),
            "retry": retry_if_exception(lambda exc: self._should_retry(call, exc)),
            "wait": self._wait,
            "before_sleep": self._log_retry,
            "reraise": True,
        }

    @staticmethod
    def _should_retry(call: Call, exc: BaseException) -> bool:
        if isinstance(exc, _TransportFailure):
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
            what = f"no response ({exc.cause_name})"
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
    if not policy.limiter_enabled:
        return None
    rate, burst = float(policy.rate_limit or 0), policy.effective_burst
    if policy.rate_limit_backend:
        from airflow_provider_transfers.http.shared import SharedRateLimiter

        return SharedRateLimiter(rate, burst, url=policy.rate_limit_backend, scope=scope, adaptive=policy.adaptive_rate)
    return RateLimiter(rate, burst, adaptive=policy.adaptive_rate)


class _in_flight:
    """Counts a bucket's requests waiting for an answer (the adaptive layer's own share of the account)."""

    def __init__(self, bucket: Bucket | None) -> None:
        self.bucket = bucket

    def __enter__(self) -> None:
        if self.bucket is not None:
            self.bucket.in_flight += 1

    def __exit__(self, *exc: object) -> None:
        if self.bucket is not None:
            self.bucket.in_flight -= 1


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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
