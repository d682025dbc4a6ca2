"""Sandbox time: wall-clock time plus an offset that tests can advance instantly.

Times are integer microseconds since the epoch so that VoIPbin's microsecond timestamps are exact and
can serve as unique, ordered pagination cursors.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SandboxClock:
    def __init__(self) -> None:
        self._offset_us = 0

    def now_us(self) -> int:
        return time.time_ns() // 1000 + self._offset_us

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward (never backwards: statuses only move forward)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset_us += round(seconds * 1_000_000)

    @property
    def offset_s(self) -> float:
        return self._offset_us / 1_000_000

    def reset(self) -> None:
        self._offset_us = 0


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def twilio_time(us: int) -> str:
    """Twilio's ISO 8601 form, e.g. ``2026-03-01T10:00:15Z``."""
    return _dt(us).strftime("%Y-%m-%dT%H:%M:%SZ")


def voipbin_time(us: int) -> str:
    """VoIPbin's form, e.g. ``2026-03-01 10:00:15.000000`` (no ``T``, no zone)."""
    return _dt(us).strftime("%Y-%m-%d %H:%M:%S.%f")


def iso_time(us: int) -> str:
    """RFC 3339 with microseconds, used by the control API."""
    return _dt(us).isoformat().replace("+00:00", "Z")


def seconds_to_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def parse_voipbin_time(text: str) -> int | None:
    """Inverse of :func:`voipbin_time`; ``None`` when ``text`` is not in that form."""
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
