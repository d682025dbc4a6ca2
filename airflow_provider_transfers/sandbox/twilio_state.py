"""Twilio Flex resources (interactions, channels, transfers) and the transfer lifecycle.

A transfer starts ``active`` and, at its planned time (or when the control API says), becomes
``completed`` or ``failed`` (terminal). The spec declares the create and update bodies as objects without
properties; the only thing it says about a transfer's ``type`` is the response's enum ``warm | cold |
external`` (``flex.v1.interaction.interaction_channel.interaction_transfer``), so a create must name one of
them (``twilio_api`` refuses it otherwise). Nothing is invented: ``to`` is echoed when the body gives a string,
``from``/``note_sid`` only when they are SIDs of the declared prefix, and are ``null`` otherwise. An update
stores its body and nothing else: the lifecycle is driven through ``/_sandbox/`` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_transfers.sandbox.clock import SandboxClock, seconds_to_us, twilio_time
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.ids import IdFactory
from airflow_provider_transfers.sandbox.lifecycle import COMPLETED, FAILED, OutcomePlanner, Plan
from airflow_provider_transfers.sandbox.scheduler import Scheduler

ACTIVE = "active"
TRANSFER_TYPES = ("warm", "cold", "external")
TERMINAL = (COMPLETED, FAILED)


@dataclass
class Interaction:
    sid: str
    account_sid: str
    channel_sids: list[str]
    created_us: int


@dataclass
class Channel:
    sid: str
    interaction_sid: str
    type: str
    created_us: int
    status: str = "active"


@dataclass
class TwilioTransfer:
    sid: str
    account_sid: str
    instance_sid: str
    interaction_sid: str
    channel_sid: str
    execution_sid: str
    type: str
    from_: str | None
    to: str | None
    note_sid: str | None
    created_us: int
    updated_us: int
    last_body: dict[str, Any]
    outcome_at_us: int
    planned_outcome: str
    status: str = ACTIVE
    generation: int = 0
    summary_sid: str | None = None


class TransferConflict(Exception):
    """The transfer is already terminal."""


@dataclass
class TwilioStore:
    config: SandboxConfig
    clock: SandboxClock
    scheduler: Scheduler
    ids: IdFactory
    planner: OutcomePlanner
    instance_sid: str = ""
    interactions: dict[str, Interaction] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    transfers: dict[str, TwilioTransfer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.instance_sid = self.ids.sid("GO")

    def create_interaction(self, account_sid: str, channel_type: str = "voice") -> tuple[Interaction, Channel]:
        now = self.clock.now_us()
        interaction = Interaction(self.ids.sid("KD"), account_sid, [], now)
        channel = Channel(self.ids.sid("UO"), interaction.sid, channel_type, now)
        interaction.channel_sids.append(channel.sid)
        self.interactions[interaction.sid] = interaction
        self.channels[channel.sid] = channel
        return interaction, channel

    def find_channel(self, account_sid: str, interaction_sid: str, channel_sid: str) -> Channel | None:
        interaction = self.interactions.get(interaction_sid)
        channel = self.channels.get(channel_sid)
        if interaction is None or channel is None or interaction.account_sid != account_sid:
            return None
        return channel if channel.interaction_sid == interaction_sid else None

    def find_transfer(
        self, account_sid: str, interaction_sid: str, channel_sid: str, sid: str
    ) -> TwilioTransfer | None:
        transfer = self.transfers.get(sid)
        if transfer is None or transfer.account_sid != account_sid:
            return None
        if transfer.interaction_sid != interaction_sid or transfer.channel_sid != channel_sid:
            return None
        return transfer

    def create_transfer(
        self, channel: Channel, account_sid: str, body: dict[str, Any], plan: Plan | None = None
    ) -> TwilioTransfer:
        """Create from a body whose ``type`` is one of :data:`TRANSFER_TYPES` (checked by the caller);
        ``from``/``to``/``note_sid`` are taken from it when present and valid, else ``null``."""
        now = self.clock.now_us()
        plan = plan or self.planner.plan(self.config)
        transfer = TwilioTransfer(
            sid=self.ids.sid("UX"),
            account_sid=account_sid,
            instance_sid=self.instance_sid,
            interaction_sid=channel.interaction_sid,
            channel_sid=channel.sid,
            execution_sid=self.ids.sid("QW"),
            type=body["type"],
            from_=_sid(body.get("from"), "UT"),
            to=body["to"] if isinstance(body.get("to"), str) and body["to"] else None,
            note_sid=_sid(body.get("note_sid"), "KQ"),
            created_us=now,
            updated_us=now,
            last_body=dict(body),
            outcome_at_us=now + plan.delay_us,
            planned_outcome=COMPLETED if plan.success else FAILED,
        )
        self.transfers[transfer.sid] = transfer
        self._schedule(transfer)
        return transfer

    def update_transfer(self, transfer: TwilioTransfer, body: dict[str, Any]) -> None:
        """Store the body (it has no declared fields: a ``status`` in it changes nothing)."""
        transfer.last_body = dict(body)
        transfer.updated_us = self.clock.now_us()

    def force_outcome(self, transfer: TwilioTransfer, outcome: str, delay_s: float) -> None:
        if transfer.status != ACTIVE:
            raise TransferConflict(f"transfer {transfer.sid} is already {transfer.status}")
        transfer.planned_outcome = outcome
        transfer.outcome_at_us = self.clock.now_us() + seconds_to_us(delay_s)
        transfer.generation += 1
        self._schedule(transfer)

    def _schedule(self, transfer: TwilioTransfer) -> None:
        generation = transfer.generation

        def resolve(at: int) -> None:
            if transfer.generation == generation and transfer.status == ACTIVE:
                transfer.status = transfer.planned_outcome
                transfer.updated_us = at

        self.scheduler.at(transfer.outcome_at_us, resolve)

    def render_transfer(self, transfer: TwilioTransfer, base_url: str) -> dict[str, Any]:
        return {
            "sid": transfer.sid,
            "instance_sid": transfer.instance_sid,
            "account_sid": transfer.account_sid,
            "interaction_sid": transfer.interaction_sid,
            "channel_sid": transfer.channel_sid,
            "execution_sid": transfer.execution_sid,
            "type": transfer.type,
            "status": transfer.status,
            "from": transfer.from_,
            "to": transfer.to,
            "note_sid": transfer.note_sid,
            "summary_sid": transfer.summary_sid,
            "date_created": twilio_time(transfer.created_us),
            "date_updated": twilio_time(transfer.updated_us),
            "url": f"{base_url}/v1/Interactions/{transfer.interaction_sid}/Channels/{transfer.channel_sid}"
            f"/Transfers/{transfer.sid}",
        }

    def render_interaction(self, interaction: Interaction, base_url: str) -> dict[str, Any]:
        url = f"{base_url}/v1/Interactions/{interaction.sid}"
        return {
            "sid": interaction.sid,
            "channel": {"type": "voice", "initiated_by": "api"},
            "routing": {"properties": {"task_channel_unique_name": "voice"}},
            "url": url,
            "links": {"channels": f"{url}/Channels"},
            "interaction_context_sid": None,
            "webhook_ttid": None,
        }

    def render_channel(self, channel: Channel, base_url: str) -> dict[str, Any]:
        url = f"{base_url}/v1/Interactions/{channel.interaction_sid}/Channels/{channel.sid}"
        return {
            "sid": channel.sid,
            "interaction_sid": channel.interaction_sid,
            "type": channel.type,
            "status": channel.status,
            "error_code": None,
            "error_message": None,
            "url": url,
            "links": {
                "participants": f"{url}/Participants",
                "invites": f"{url}/Invites",
                "transfers": f"{url}/Transfers",
            },
        }


def _sid(value: Any, prefix: str) -> str | None:
    """``value`` when it is a SID with ``prefix`` (the response field's pattern), else ``None``."""
    if isinstance(value, str) and re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
        return value
    return None
