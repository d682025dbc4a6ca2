"""What to do about a stale transfer (off by default): Twilio, update it with a user-given body;
VoIPbin, cancel it by hanging up its groupcall (stops ringing the transferees).

The report's ``action`` cell starts with the outcome: ``planned:`` (dry run), ``done:`` or ``failed:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_provider_transfers.exceptions import TransferAuthError, TransferConfigError
from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook, normalize_body
from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.reconcile.classify import redact
from airflow_provider_transfers.reconcile.validate import Prepared


class ActionMode(StrEnum):
    OFF = "off"
    DRY_RUN = "dry_run"
    APPLY = "apply"


@dataclass(frozen=True)
class StaleAction:
    mode: ActionMode = ActionMode.OFF
    body: dict[str, Any] = field(default_factory=dict)
    """Twilio only: the JSON object sent with the update (e.g. ``{"status": "failed"}``)."""

    @classmethod
    def build(cls, act_on_stale: bool, dry_run: bool, body: Any) -> StaleAction:
        if not act_on_stale:
            return cls()
        mode = ActionMode.DRY_RUN if dry_run else ActionMode.APPLY
        return cls(mode, normalize_body(body, "stale_action_body"))

    def check(self, platform: str) -> None:
        """Refuse, before any request, an action the platform cannot take."""
        if self.mode is ActionMode.OFF:
            return
        if platform == TwilioFlexHook.platform and not self.body:
            raise TransferConfigError(
                "act_on_stale on Twilio Flex needs stale_action_body: the JSON object to update stale "
                'transfers with (e.g. {"status": "failed"})'
            )
        if platform not in (TwilioFlexHook.platform, VoipbinHook.platform):
            raise TransferConfigError(f"act_on_stale is not supported for platform {platform!r}")

    def fingerprint(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "body": self.body}

    async def __call__(self, hook: Any, rec: Prepared, secrets: tuple[str, ...] = ()) -> str:
        ref = rec.reference
        if isinstance(hook, TwilioFlexHook):
            what = f"update {ref['sid']} with {self.body}"
            if self.mode is ActionMode.DRY_RUN:
                return f"planned: would {what}"
            try:
                updated = await hook.aupdate_transfer(ref["interaction_sid"], ref["channel_sid"], ref["sid"], self.body)
            except TransferAuthError:
                raise
            except Exception as exc:
                return redact(f"failed: {what}: {exc}", secrets)
            return f"done: updated {ref['sid']}; status now {updated.status.value}"
        if isinstance(hook, VoipbinHook):
            what = f"cancel: hang up groupcall {ref['groupcall_id']}"
            if self.mode is ActionMode.DRY_RUN:
                return f"planned: would {what}"
            try:
                groupcall = await hook.ahangup_groupcall(ref["groupcall_id"])
            except TransferAuthError:
                raise
            except Exception as exc:
                return redact(f"failed: {what}: {exc}", secrets)
            status = groupcall.status.value if groupcall.status else "unknown"
            return f"done: cancelled; groupcall {groupcall.id} {status}"
        return f"failed: no stale action for {type(hook).__name__}"
