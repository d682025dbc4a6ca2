"""The request policy both hooks share: timeouts, retries, client-side rate limit.

Values come from the hook's keyword arguments, else the connection's extra, else the platform's
defaults; every one is checked here, so a typo in a connection's extra fails with the field named.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_transfers.exceptions import TransferConfigError


@dataclass(frozen=True)
class HttpPolicy:
    """How requests are sent and retried.

    ``rate_limit`` is requests per second per bucket (the hook decides what a bucket is: Twilio limits
    per endpoint, VoIPbin per customer); ``None`` or ``0`` turns the client-side limiter off.
    """

    timeout: float = 30.0
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    rate_limit: float | None = None
    rate_burst: int | None = None
    max_connections: int = 100

    FIELDS = ("timeout", "max_attempts", "backoff_initial", "backoff_max", "retry_after_max",
              "rate_limit", "rate_burst", "max_connections")  # fmt: skip

    def __post_init__(self) -> None:
        positive = {"timeout": self.timeout, "backoff_max": self.backoff_max}
        for name, value in positive.items():
            if not value > 0:
                raise TransferConfigError(f"{name} must be a number > 0; got {value!r}")
        if self.max_attempts < 1:
            raise TransferConfigError(f"max_attempts must be an integer >= 1; got {self.max_attempts!r}")
        if self.backoff_initial < 0 or self.retry_after_max < 0:
            raise TransferConfigError("backoff_initial and retry_after_max must be >= 0")
        if self.rate_limit is not None and self.rate_limit < 0:
            raise TransferConfigError(f"rate_limit must be requests/second >= 0; got {self.rate_limit!r}")
        if self.rate_burst is not None and self.rate_burst < 1:
            raise TransferConfigError(f"rate_burst must be an integer >= 1; got {self.rate_burst!r}")
        if self.max_connections < 1:
            raise TransferConfigError(f"max_connections must be an integer >= 1; got {self.max_connections!r}")

    @property
    def limiter_enabled(self) -> bool:
        return bool(self.rate_limit)

    @property
    def effective_burst(self) -> int:
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, math.floor(self.rate_limit or 1))

    def merged(self, source: Mapping[str, Any], *, origin: str) -> HttpPolicy:
        """Return a copy with the policy fields found in ``source`` (unknown keys are ignored)."""
        changes: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            if field.name not in source or source[field.name] is None:
                continue
            changes[field.name] = _coerce(field.name, source[field.name], origin)
        return dataclasses.replace(self, **changes) if changes else self


_INT_FIELDS = {"max_attempts", "rate_burst", "max_connections"}


def _coerce(name: str, raw: Any, origin: str) -> float | int:
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError
        if name in _INT_FIELDS:
            if value != int(value):
                raise ValueError
            return int(value)
        return value
    except (TypeError, ValueError):
        kind = "an integer" if name in _INT_FIELDS else "a number"
        raise TransferConfigError(f"{origin} field {name!r} must be {kind}; got {raw!r}") from None
