"""Upgrades do not break waiting tasks: a trigger serialized by the release before the versioned state
(``tests/fixtures/triggers/v1_kwargs.json``, the kwargs Airflow stored for it) resumes with today's code to the
right event, carrying its finished checks, its error streaks and its attempts.

The fixture's transfers are swapped for freshly seeded sandbox transfers of the same kinds (ids are data; the
shape and every other value are the old release's own), and its deadline moved an hour back into the future.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "triggers" / "v1_kwargs.json"
CONN = {"twilio_flex": "twilio_flex_default", "voipbin": "voipbin_default"}


def _kinds(transfer: dict[str, Any]) -> str:
    return str(transfer.get("type") or "cold")


def revived_kwargs(sandbox: Any, platform: str, delay_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The old kwargs with each transfer replaced by a new one of the same kind: the finished one completed
    already, the others completing ``delay_s`` from now. Returns ``(kwargs, old kwargs)``."""
    old = json.loads(FIXTURE.read_text())[platform]["kwargs"]
    text = json.dumps(old)
    for transfer in old["transfers"]:
        finished = transfer.get("sid", transfer.get("id")) in old["finished"]
        kind = _kinds(transfer)
        extra = {"auto_complete_after": 0.2} if kind == "attended" else {}  # the agent hangs up after the answer
        [new] = sandbox.control.seed(
            platform, transfer_type=kind, outcome="completed", delay_s=0 if finished else delay_s, **extra
        )
        for key, value in transfer.items():
            if isinstance(value, str) and len(value) >= 32 and isinstance(new.get(key), str):
                text = text.replace(value, new[key])
    kwargs = json.loads(text)
    kwargs["deadline"] = time.time() + 3600
    return kwargs, old


@pytest.fixture
def sandbox(transfer_sandbox_env: Any) -> Any:
    return transfer_sandbox_env


def requests(sandbox: Any, platform: str) -> int:
    return int(sandbox.control.stats()["platforms"].get(platform, {}).get("total", 0))


@pytest.mark.parametrize("platform", ["twilio_flex", "voipbin"])
async def test_an_old_trigger_resumes_to_success_without_polling_what_had_finished(sandbox: Any, platform: str) -> None:
    kwargs, old = revived_kwargs(sandbox, platform, delay_s=0.5)
    assert "version" not in kwargs and kwargs["finished"] and kwargs["errors"]  # the old shape, mid-wait

    trigger = TransferStatusTrigger(**kwargs)
    async with asyncio.timeout(20):
        event = (await anext(trigger.run())).payload

    assert event["status"] == "success", event["message"]
    assert [c["status"] for c in event["checks"]] == ["completed"] * len(old["transfers"])
    assert trigger.state.attempts > old["attempts"] and trigger.state.errors == {}
    finished = next(iter(kwargs["finished"]))
    assert event["checks"][0]["transfer_id"] == finished
    assert event["checks"][0]["checked_at"] == kwargs["finished"][finished]["checked_at"]  # kept, not re-checked
    # And what it saves now is the versioned state, which resumes too.
    _, saved = trigger.serialize()
    assert saved["version"] == 2 and "transfers" not in saved and len(saved["refs"]) == len(old["transfers"])


@pytest.mark.parametrize("platform", ["twilio_flex", "voipbin"])
async def test_an_old_trigger_keeps_its_error_streaks(sandbox: Any, platform: str) -> None:
    kwargs, old = revived_kwargs(sandbox, platform, delay_s=3600)
    await asyncio.to_thread(sandbox.control.configure, faults={"503": 1.0})
    trigger = TransferStatusTrigger(**kwargs)
    async with asyncio.timeout(20):
        event = (await anext(trigger.run())).payload

    limit, streak = old["max_consecutive_errors"], max(old["errors"].values())
    assert event["status"] == "error" and f"gave up after {limit} consecutive" in event["message"]
    assert trigger.state.attempts - old["attempts"] == limit - streak  # the streak went on where it stood
