"""``WaitEvent``: how a wait ends, as one typed model.

The trigger yields ``TriggerEvent(event.payload())``; ``execute_complete`` parses it back with
``WaitEvent.from_payload``. The sensor's poke path and the operators' in-process wait build the same
model, so every path ends in the same result handling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EventStatus = Literal["success", "failure", "timeout", "error"]


class WaitEvent(BaseModel):
    """``status``, ``message``, the transfer ids and one check (or ``None``) per transfer, input order."""

    model_config = ConfigDict(frozen=True)

    status: EventStatus
    message: str = ""
    transfer_ids: list[str] = Field(default_factory=list)
    checks: list[dict[str, Any] | None] = Field(default_factory=list)
    """``TransferCheck.to_xcom()`` of each transfer's latest check, ``None`` when it was never checked."""
    single: bool = False
    """The wait was given one transfer (not a list): the result is one check."""
    fatal: bool = False
    """An error no task retry can fix (not found, invalid input, bad connection) or a failed transfer."""

    def payload(self) -> dict[str, Any]:
        """The JSON-safe dict a ``TriggerEvent`` carries."""
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any] | WaitEvent) -> WaitEvent:
        """Parse a trigger event's payload; ``ValueError`` naming it when it is not a wait event."""
        if isinstance(payload, WaitEvent):
            return payload
        try:
            return cls.model_validate(dict(payload))
        except (ValidationError, TypeError, ValueError):
            raise ValueError(f"Unexpected trigger event {payload!r}") from None

    def result(self) -> Any:
        """The XCom value of a success: one check (``single``) or the list of checks."""
        return self.checks[0] if self.single and self.checks else list(self.checks)
