"""What the demo runs: each example DAG, the sandbox set-up it needs, and its one-line summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts.demo import Run


def _twilio(sandbox: Any) -> Run:
    channel = sandbox.control.create_twilio_interaction()

    def summarize(xcom: Any) -> str:
        created, final = xcom("create_transfer"), xcom("wait_for_transfer")
        return f"transfer {created['sid']} created, updated, waited (deferrable): {final['status']}"

    conf = {"interaction_sid": channel["interaction_sid"], "channel_sid": channel["channel_sid"]}
    return Run("twilio_flex_transfer", conf, summarize)


def _voipbin(sandbox: Any) -> Run:
    call = sandbox.control.create_voipbin_call()

    def summarize(xcom: Any) -> str:
        started, done = xcom("start_transfer"), xcom("complete_transfer")
        return f"attended transfer {started['id']} answered, completed: {done['status']}"

    return Run("voipbin_transfer", {"transferer_call_id": call["id"]}, summarize)


def plan(sandbox: Any, out: Path) -> list[Run]:
    return [_twilio(sandbox), _voipbin(sandbox)]
