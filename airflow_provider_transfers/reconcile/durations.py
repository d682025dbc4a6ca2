"""``stale_after`` as a user writes it: a ``timedelta``, seconds, or text like ``"90m"``, ``"2h"``, ``"1d"``."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from airflow_provider_transfers.exceptions import TransferValidationError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TEXT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", re.IGNORECASE)
MAX_SECONDS = 3650 * 86400.0
"""Ten years: beyond that a duration is a typo (and ``timedelta`` overflows soon after)."""
EXPECTED = "a timedelta, seconds, or text like '90m', '2h', '1d' (finite, >= 0, at most 10 years)"


def parse_duration(value: timedelta | float | str | None, field: str = "stale_after") -> timedelta | None:
    """``None`` (or ``""``/``"none"``/``"off"``) turns the check off; NaN, infinity, negative or anything
    else raises ``TransferValidationError`` naming ``field``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond float range
            seconds = math.inf
    elif isinstance(value, str) and (match := _TEXT.fullmatch(value)):
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    else:
        raise TransferValidationError(
            field, EXPECTED, value if isinstance(value, str | int | float) else type(value).__name__
        )
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS):
        raise TransferValidationError(field, EXPECTED, value)
    return timedelta(seconds=seconds)
