"""Shared helpers of the reconciliation tests: a fast fake hook and record builders (Twilio shapes)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_transfers.exceptions import TransferNotFoundError, TransferServerError
from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
from airflow_provider_transfers.models import TransferCheck, TransferStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def twilio_transfer(i: int, status: str = "completed", created: str = "2026-03-01T11:30:00Z") -> dict[str, Any]:
    return {
        "sid": f"UX{i:032x}",
        "interaction_sid": f"KD{i:032x}",
        "channel_sid": f"UO{i:032x}",
        "type": "cold",
        "status": status,
        "date_created": created,
    }


def record(i: int, recorded: str = "completed", **transfer: Any) -> dict[str, Any]:
    return {"transfer": twilio_transfer(i, **transfer), "recorded_status": recorded}


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> Path:
    with path.open("w") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    return path


class Crash(BaseException):
    """Stands for the worker dying: not an ``Exception``, so no row swallows it."""


class FakeHook:
    """``acheck_ref`` answers from ``truth`` (sid -> status, or an exception to raise).

    References, creation times and the stale action are Twilio Flex's (its hook's class methods).
    """

    platform = "twilio_flex"
    transfer_ref = TwilioFlexHook.transfer_ref
    created_value = TwilioFlexHook.created_value
    check_stale_action = TwilioFlexHook.check_stale_action

    def __init__(
        self,
        truth: Mapping[str, str | BaseException] | None = None,
        *,
        default: str = "completed",
        jitter: float = 0.0,
        crash_after: int | None = None,
        seed: int = 0,
    ) -> None:
        self.truth = dict(truth or {})
        self.default = default
        self.jitter = jitter
        self.crash_after = crash_after
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._rng = random.Random(seed)

    async def acheck_ref(self, ref: Any) -> TransferCheck:
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise Crash(f"crashed at call {self.calls}")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.jitter:
                await asyncio.sleep(self._rng.uniform(0, self.jitter))
            else:
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        answer = self.truth.get(ref.sid, self.default)
        if isinstance(answer, BaseException):
            raise answer
        return TransferCheck(
            platform=self.platform,
            transfer_id=ref.sid,
            status=TransferStatus(answer),
            detail=f"fake says {answer}",
            checked_at=NOW,
        )


def not_found(sid: str) -> TransferNotFoundError:
    return TransferNotFoundError(platform="twilio_flex", status_code=404, message=f"no transfer {sid}")


def server_error(message: str) -> TransferServerError:
    return TransferServerError(platform="twilio_flex", status_code=503, message=message)


def rows_without_time(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        row.pop("checked_at")
    return rows
