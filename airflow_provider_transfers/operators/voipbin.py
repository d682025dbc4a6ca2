"""Operators that start, complete and cancel VoIPbin transfers (docs: operators/voipbin.md).

VoIPbin has no transfer update: completing hangs up the transferer call, cancelling the groupcall.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context, XComArg

from airflow_provider_transfers.exceptions import TransferProviderError, TransferValidationError
from airflow_provider_transfers.hooks.voipbin import (
    VoipbinHook,
    VoipbinTransferRef,
    normalize_addresses,
    transfer_ref,
    validate_transfer_type,
    validate_uuid,
)
from airflow_provider_transfers.models import TransferCheck, TransferStatus, VoipbinTransferType
from airflow_provider_transfers.validation import (
    MAX_ADDRESSES,
    ConnId,
    NonNegativeSeconds,
    PositiveInt,
    check_if_literal,
    one_conn_id,
    validate,
)
from airflow_provider_transfers.waiting import TransferWait, TransferWaitMixin, WaitArgs

UI_COLOR = "#4a90d9"


class TransferStateError(TransferProviderError):
    """The transfer's derived status does not allow the requested action."""


class VoipbinCreateTransferOperator(TransferWaitMixin, BaseOperator):
    """Start a transfer; return the transfer's JSON (to XCom) for the sensor and the other operators.

    :param transfer_type: ``attended`` or ``blind`` (templated).
    :param transferer_call_id: UUID of the answered, bridged call that transfers (templated).
    :param transferee_addresses: list of ``{"type", "target", ...}`` (or JSON text of it, templated).
    :param voipbin_conn_id: connection of type ``voipbin`` (default ``voipbin_default``; ``conn_id=`` too).
    :param max_addresses: most transferee addresses allowed (default 100); more are refused before sending.
    :param wait_for_completion: see ``TransferWaitMixin``; an attended transfer completes only when the
        transferer call hangs up, so this waits until the agent ends the call.
    """

    template_fields: Sequence[str] = ("transfer_type", "transferer_call_id", "transferee_addresses", "voipbin_conn_id")
    template_fields_renderers = {"transferee_addresses": "json"}
    ui_color = UI_COLOR

    def __init__(
        self,
        *,
        transfer_type: str | XComArg,
        transferer_call_id: str | XComArg,
        transferee_addresses: list[dict[str, Any]] | str | XComArg,
        voipbin_conn_id: str = VoipbinHook.default_conn_name,
        conn_id: str | None = None,
        max_addresses: int = MAX_ADDRESSES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Typed Any: template rendering replaces these values (and XComArgs) before execute().
        self.transfer_type: Any = transfer_type
        self.transferer_call_id: Any = transferer_call_id
        self.transferee_addresses: Any = transferee_addresses
        self.voipbin_conn_id = one_conn_id("voipbin_conn_id", voipbin_conn_id, conn_id, VoipbinHook.default_conn_name)
        self.max_addresses: int = validate(PositiveInt, max_addresses, "max_addresses")
        check_if_literal(transfer_type, validate_transfer_type)
        check_if_literal(transferer_call_id, lambda v: validate_uuid(v, "transferer_call_id"))
        check_if_literal(transferee_addresses, lambda v: normalize_addresses(v, max_items=self.max_addresses))

    def execute(self, context: Context) -> dict[str, Any]:
        conn_id = validate(ConnId, self.voipbin_conn_id, "voipbin_conn_id")
        with VoipbinHook(conn_id, max_addresses=self.max_addresses) as hook:
            transfer = hook.create_transfer(self.transfer_type, self.transferer_call_id, self.transferee_addresses)
        self.log.info(
            "Started %s transfer %s of call %s (groupcall %s)",
            transfer.type.value,
            transfer.id,
            transfer.transferer_call_id,
            transfer.groupcall_id,
        )
        return self.wait_for_transfer(context, transfer.to_xcom())

    def wait_conn_id(self) -> str:
        return self.voipbin_conn_id


class _VoipbinTransferActionOperator(BaseOperator):
    """Complete or cancel: check first (a transfer already in the wanted state is left alone), act, then
    wait up to ``settle_timeout`` seconds (polling every ``poll_interval``) for a terminal status.

    :param transfer: the create operator's XCom (a dict, or JSON text when rendered from a template).
    :param voipbin_conn_id: connection of type ``voipbin`` (default ``voipbin_default``; ``conn_id=`` too).
    """

    template_fields: Sequence[str] = ("transfer", "voipbin_conn_id", "settle_timeout", "poll_interval")
    template_fields_renderers = {"transfer": "json"}
    ui_color = UI_COLOR
    expected: TransferStatus
    action: str

    def __init__(
        self,
        *,
        transfer: dict[str, Any] | str | XComArg,
        voipbin_conn_id: str = VoipbinHook.default_conn_name,
        conn_id: str | None = None,
        settle_timeout: float | str = 30.0,
        poll_interval: float | str = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.transfer: Any = transfer
        self.voipbin_conn_id = one_conn_id("voipbin_conn_id", voipbin_conn_id, conn_id, VoipbinHook.default_conn_name)
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        check_if_literal(transfer, self.check_ref)
        check_if_literal(settle_timeout, lambda v: _seconds(v, "settle_timeout", minimum=0.0))
        check_if_literal(poll_interval, lambda v: _seconds(v, "poll_interval", minimum=0.1))

    @classmethod
    def check_ref(cls, transfer: Any) -> VoipbinTransferRef:
        return transfer_ref(transfer)

    def execute(self, context: Context) -> dict[str, Any]:
        ref = self.check_ref(self.transfer)
        timeout = _seconds(self.settle_timeout, "settle_timeout", minimum=0.0)
        interval = _seconds(self.poll_interval, "poll_interval", minimum=0.1)
        with VoipbinHook(validate(ConnId, self.voipbin_conn_id, "voipbin_conn_id")) as hook:
            check = hook.check_ref(ref)
            if check.status is self.expected:
                self.log.info("Transfer %s is already %s (%s); nothing to do", ref.id, check.status, check.detail)
                return check.to_xcom()
            if check.status.is_terminal:
                raise TransferStateError(
                    f"Cannot {self.action} transfer {ref.id}: it is already {check.status.value} ({check.detail})"
                )
            self.act(hook, ref, check)
            check = self._settle(hook, ref, timeout, interval)
        if check.status.is_terminal and check.status is not self.expected:
            raise TransferStateError(
                f"Tried to {self.action} transfer {ref.id}, but it ended {check.status.value} ({check.detail})"
            )
        self.log.info("Transfer %s after %s: %s (%s)", ref.id, self.action, check.status.value, check.detail)
        return check.to_xcom()

    def act(self, hook: VoipbinHook, ref: VoipbinTransferRef, check: TransferCheck) -> None:
        raise NotImplementedError

    def _settle(self, hook: VoipbinHook, ref: VoipbinTransferRef, timeout: float, interval: float) -> TransferCheck:
        terminal = [s.value for s in TransferStatus if s.is_terminal]
        args = WaitArgs(success_statuses=tuple(terminal), failure_statuses=(), poll_interval=interval)
        wait = TransferWait([ref], args.model_copy(update={"deadline": time.time() + timeout}))
        event = wait.run(hook, log=self.log)
        check = wait.state.latest.get(ref.id)
        if event is None or event.status == "error" or check is None:
            raise wait.state.exception or TransferProviderError(event.message if event else "no answer")
        return check


class VoipbinCompleteTransferOperator(_VoipbinTransferActionOperator):
    """Complete an attended transfer: hang up its transferer call once the transferee has answered.

    Refuses a blind transfer and one nobody has answered yet. Returns the final ``TransferCheck``.
    """

    expected = TransferStatus.COMPLETED
    action = "complete"

    @classmethod
    def check_ref(cls, transfer: Any) -> VoipbinTransferRef:
        ref = transfer_ref(transfer)
        if ref.type is not VoipbinTransferType.ATTENDED:
            raise TransferValidationError(
                "transfer['type']",
                "an attended transfer (a blind transfer completes by itself when the transferee answers)",
                ref.type.value,
            )
        return ref

    def act(self, hook: VoipbinHook, ref: VoipbinTransferRef, check: TransferCheck) -> None:
        if not check.evidence.get("answered"):
            raise TransferStateError(
                f"Cannot complete transfer {ref.id} yet: no transferee has answered ({check.detail}). "
                "Hanging up the transferer now would abandon the transfer; wait for an answer first"
            )
        self.log.info("Hanging up transferer call %s to complete transfer %s", ref.transferer_call_id, ref.id)
        hook.hangup_call(ref.transferer_call_id)


class VoipbinCancelTransferOperator(_VoipbinTransferActionOperator):
    """Cancel a transfer: hang up its groupcall. Returns the final ``TransferCheck`` (``failed`` when cancelled)."""

    expected = TransferStatus.FAILED
    action = "cancel"

    def act(self, hook: VoipbinHook, ref: VoipbinTransferRef, check: TransferCheck) -> None:
        if check.evidence.get("groupcall_status") == "hangingup":
            self.log.info("Groupcall %s of transfer %s is already hanging up", ref.groupcall_id, ref.id)
            return
        self.log.info("Hanging up groupcall %s to cancel transfer %s", ref.groupcall_id, ref.id)
        hook.hangup_groupcall(ref.groupcall_id)


def _seconds(value: Any, field: str, *, minimum: float) -> float:
    seconds: float = validate(NonNegativeSeconds, value, field)
    if seconds < minimum:
        raise TransferValidationError(field, f"a finite number of seconds >= {minimum}", value)
    return seconds
