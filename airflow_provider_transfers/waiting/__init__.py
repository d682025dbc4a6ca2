"""The waiting core shared by ``TransferStatusSensor``, ``TransferStatusTrigger`` and the operators that wait.

* ``inputs``: the arguments of a wait (``WaitArgs``: statuses, poll interval, deadline, error budget)
  and of the transfers to wait for (``parse_transfers``), checked with pydantic at the edge;
* ``state``: ``TransferWait``, the state machine every path drives: one poll (sync ``check`` or async
  ``acheck``), the outcome (including the deadline and its final check), the next delay, and ``run``,
  the one synchronous wait loop (sensor poke mode, operators waiting in the worker);
* ``events``: ``WaitEvent``, the typed outcome (the trigger event's payload, the sensor's XCom).

Nothing here names a platform: the hook validates references and checks transfers.
"""

from __future__ import annotations

from airflow_provider_transfers.waiting.events import WaitEvent
from airflow_provider_transfers.waiting.inputs import WaitArgs, parse_transfers
from airflow_provider_transfers.waiting.state import TransferWait, WaitState

__all__ = ["TransferWait", "WaitArgs", "WaitEvent", "WaitState", "parse_transfers"]
