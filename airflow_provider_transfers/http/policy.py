"""The request policy both hooks share: timeouts, retries, the client-side rate budget.

Values come from the hook's keyword arguments, else the connection's extra, else the platform's
defaults. ``HttpPolicy`` is a pydantic model over the constrained types of ``validation.py``: a bad
value fails naming the field and the expected form. The connection's extra is checked as a whole by
:func:`check_extra`: it must be a JSON object whose keys are policy fields or keys the hook declares
(Twilio's ``account_sid``, ``region``, ``edge``); a misspelt key fails naming the closest valid one.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from airflow_provider_transfers.exceptions import TransferConfigError, TransferValidationError
from airflow_provider_transfers.validation import (
    NonNegativeSeconds,
    PositiveInt,
    PositiveSeconds,
    as_transfer_error,
    form_error,
)

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

    @property
    def limiter_enabled(self) -> bool:
        return bool(self.rate_limit)

    @property
    def effective_burst(self) -> int:
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, math.floor(self.rate_limit or 1))

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
