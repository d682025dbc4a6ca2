"""What to do about a stale transfer (off by default); what acting means is the platform hook's
``check_stale_action``, ``describe_stale_action`` and ``aact_on_stale`` (docs: Stale transfers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_provider_transfers.exceptions import TransferAuthError
from airflow_provider_transfers.hooks.base import TransferHook
from airflow_provider_transfers.reconcile.classify import redact
from airflow_provider_transfers.reconcile.validate import Prepared
from airflow_provider_transfers.validation import json_object, validate


class ActionMode(StrEnum):
    OFF = "off"
    DRY_RUN = "dry_run"
    APPLY = "apply"


@dataclass(frozen=True)
class StaleAction:
    mode: ActionMode = ActionMode.OFF
    body: dict[str, Any] = field(default_factory=dict)
    """The JSON object the platform's action takes (Twilio: the update body, e.g. ``{"status": "failed"}``)."""

    @classmethod
    def build(cls, act_on_stale: bool, dry_run: bool, body: Any) -> StaleAction:
        if not act_on_stale:
            return cls()
        mode = ActionMode.DRY_RUN if dry_run else ActionMode.APPLY
        return cls(mode, validate(json_object(), body, "stale_action_body"))

    def check(self, hook: TransferHook) -> None:
        """Refuse, before any request, an action the platform cannot take (``TransferConfigError``)."""
        if self.mode is not ActionMode.OFF:
            hook.check_stale_action(self.body)

    def fingerprint(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "body": self.body}

    async def __call__(self, hook: TransferHook, rec: Prepared, secrets: tuple[str, ...] = ()) -> str:
        what = hook.describe_stale_action(rec.ref, self.body)
        if self.mode is ActionMode.DRY_RUN:
            return f"planned: would {what}"
        try:
            return f"done: {await hook.aact_on_stale(rec.ref, self.body)}"
        except TransferAuthError:
            raise  # a refused credential stops the run (ReconciliationStoppedError), not one row
        except Exception as exc:
            return redact(f"failed: {what}: {exc}", secrets)
