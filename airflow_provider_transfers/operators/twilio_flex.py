"""Operators that create and update Twilio Flex Interaction Channel Transfers (docs: operators/twilio_flex.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook, normalize_body, validate_sid
from airflow_provider_transfers.validation import (
    MAX_BODY_BYTES,
    ConnId,
    PositiveInt,
    check_if_literal,
    one_conn_id,
    validate,
)
from airflow_provider_transfers.waiting import TransferWaitMixin


class _TwilioFlexTransferOperator(BaseOperator):
    """The arguments both operators take, checked at parse time when literal (templates after rendering)."""

    template_fields_renderers = {"body": "json"}
    ui_color = "#f22f46"

    def __init__(
        self,
        *,
        interaction_sid: str,
        channel_sid: str,
        body: dict[str, Any] | str | None = None,
        twilio_flex_conn_id: str = TwilioFlexHook.default_conn_name,
        conn_id: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.interaction_sid = interaction_sid
        self.channel_sid = channel_sid
        self.body = body
        self.twilio_flex_conn_id = one_conn_id(
            "twilio_flex_conn_id", twilio_flex_conn_id, conn_id, TwilioFlexHook.default_conn_name
        )
        self.max_body_bytes: int = validate(PositiveInt, max_body_bytes, "max_body_bytes")
        check_if_literal(interaction_sid, lambda v: validate_sid(v, "KD", "interaction_sid"))
        check_if_literal(channel_sid, lambda v: validate_sid(v, "UO", "channel_sid"))
        check_if_literal(body, lambda v: normalize_body(v, max_bytes=self.max_body_bytes))

    def _hook(self) -> TwilioFlexHook:
        conn_id = validate(ConnId, self.twilio_flex_conn_id, "twilio_flex_conn_id")
        return TwilioFlexHook(conn_id, max_body_bytes=self.max_body_bytes)


class TwilioFlexCreateTransferOperator(_TwilioFlexTransferOperator):
    """Create a transfer on an Interaction Channel; return the transfer's JSON (to XCom).

    The transfer's SID is also pushed under XCom key ``transfer_sid`` (``create.output["transfer_sid"]``).

    :param interaction_sid: ``KD...`` SID of the interaction (templated).
    :param channel_sid: ``UO...`` SID of the channel (templated).
    :param body: the JSON object to send (a dict or JSON text, templated); ``{}`` when omitted.
    :param twilio_flex_conn_id: connection of type ``twilio_flex`` (default ``twilio_flex_default``); ``conn_id``
        is accepted too, as in the sensor and the reconciliation.
    :param max_body_bytes: largest ``body`` sent, as UTF-8 JSON (default 1 MB); larger is refused.
    """

    template_fields: Sequence[str] = ("interaction_sid", "channel_sid", "body", "twilio_flex_conn_id")

    def execute(self, context: Context) -> dict[str, Any]:
        with self._hook() as hook:
            transfer = hook.create_transfer(self.interaction_sid, self.channel_sid, self.body)
        self.log.info("Created %s transfer %s: status %s", transfer.type.value, transfer.sid, transfer.status.value)
        context["ti"].xcom_push(key="transfer_sid", value=transfer.sid)
        return transfer.to_xcom()


class TwilioFlexUpdateTransferOperator(TransferWaitMixin, _TwilioFlexTransferOperator):
    """Update a transfer; return the transfer's JSON (to XCom), optionally after waiting for its outcome.

    Takes the create operator's arguments, and:

    :param transfer_sid: ``UX...`` SID of the transfer (templated; e.g. from the create operator's XCom).
    :param wait_for_completion: then wait until the transfer is ``completed`` (the XCom gains
        ``final_check``) or ``failed`` (the task fails without retries); see ``TransferWaitMixin``.
    """

    template_fields: Sequence[str] = ("interaction_sid", "channel_sid", "transfer_sid", "body", "twilio_flex_conn_id")

    def __init__(self, *, transfer_sid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transfer_sid = transfer_sid
        check_if_literal(transfer_sid, lambda v: validate_sid(v, "UX", "transfer_sid"))

    def execute(self, context: Context) -> dict[str, Any]:
        with self._hook() as hook:
            transfer = hook.update_transfer(self.interaction_sid, self.channel_sid, self.transfer_sid, self.body)
        self.log.info("Updated transfer %s: status %s", transfer.sid, transfer.status.value)
        return self.wait_for_transfer(context, transfer.to_xcom())

    def wait_conn_id(self) -> str:
        return self.twilio_flex_conn_id
