"""``stale_after`` as a user writes it: a ``timedelta``, seconds, or text like ``"90m"``, ``"2h"``, ``"1d"``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_duration(value: timedelta | float | str | None, field: str = "stale_after") -> timedelta | None:
    """``None`` (or ``""``/``"none"``/``"off"``) turns the check off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _TEXT.match(value)):
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    else:
        raise ValueError(f"{field} must be a timedelta, seconds, or text like '90m', '2h', '1d'; got {value!r}")
    if seconds < 0:
        raise ValueError(f"{field} must not be negative; got {value!r}")
    return timedelta(seconds=seconds)
