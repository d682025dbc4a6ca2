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


def voipbin_legacy_time(us: int) -> str:
    """VoIPbin's form before February 2026, e.g. ``2026-03-01 10:00:15.000000`` (no ``T``, no zone)."""
    return _dt(us).strftime("%Y-%m-%d %H:%M:%S.%f")


def voipbin_rfc3339(us: int) -> str:
    """VoIPbin's form since February 2026: Go's ``time.Time`` JSON (RFC 3339 with the fraction's trailing
    zeros trimmed, UTC ``Z``), e.g. ``2020-09-20T03:23:21.995Z`` (bin-api-manager/server/calls_test.go:272).
    """
    dt = _dt(us)
    fraction = f"{dt.microsecond:06d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def voipbin_time(us: int, legacy: bool = False) -> str:
    """A VoIPbin timestamp in the current (RFC 3339) or the legacy wire form."""
    return voipbin_legacy_time(us) if legacy else voipbin_rfc3339(us)


def voipbin_page_token(us: int, legacy: bool = False) -> str:
    """``next_page_token``: today ``2020-09-20T03:23:21.995000Z`` (always six digits,
    bin-api-manager/server/calls_test.go:167), before February 2026 the legacy timestamp."""
    return voipbin_legacy_time(us) if legacy else _dt(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_time(us: int) -> str:
    """RFC 3339 with microseconds, used by the control API."""
    return _dt(us).isoformat().replace("+00:00", "Z")


def seconds_to_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def parse_voipbin_time(text: str) -> int | None:
    """Inverse of :func:`voipbin_time` and :func:`voipbin_page_token` (either wire form); ``None`` when
    ``text`` is in neither."""
    parsed: datetime | None = None
    for layout in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            parsed = datetime.strptime(text, layout).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    if parsed is None:
        return None
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
