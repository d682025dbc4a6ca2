"""``TransferStatusTrigger``: wait in the triggerer until transfers reach a success or failure status.

Platform-neutral: the hook comes from the connection's type (loaded with ``aget_connection``). The wait
itself is ``waiting.TransferWait``, the same state machine the sensor and the operators use; this
module adds only the async loop, the shared hook (one per connection per event loop, ``_hook_pool``)
and ``serialize()``, which returns the whole live state, so a trigger re-created from it (after a
triggerer restart) carries on: same deadline, same finished results, same error counts.

Exactly one event per run: ``TriggerEvent(WaitEvent.payload())`` (``status`` = ``success`` |
``failure`` | ``timeout`` | ``error``, ``message``, ``transfer_ids``, ``checks``, ``single``, ``fatal``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_transfers.triggers._hook_pool import HOOKS, SharedHook
from airflow_provider_transfers.validation import validate, validate_model
from airflow_provider_transfers.waiting.budget import PollBudget
from airflow_provider_transfers.waiting.events import WaitEvent
from airflow_provider_transfers.waiting.inputs import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS_STATUSES,
    Policy,
    SavedState,
    WaitArgs,
    parse_transfers,
)
from airflow_provider_transfers.waiting.state import TransferWait, WaitState, is_fatal

_CLASSPATH = f"{__name__}.TransferStatusTrigger"


class TransferStatusTrigger(BaseTrigger):
    """Poll transfers until each is in ``success_statuses``, one is in a failure status, or the deadline.

    :param conn_id: a transfer-platform connection (``twilio_flex``, ``voipbin``...); its type picks the hook.
    :param transfers: the transfers' JSON objects (as the create/update operators return them).
    :param success_statuses: statuses that end the wait successfully (default ``completed``).
    :param failure_statuses: statuses that fail it at once (default ``failed``). A terminal status in
        neither set fails too: it can never change into a success status.
    :param poll_interval: seconds between polls (a finite number > 0).
    :param deadline: epoch seconds (a finite number) or ISO-8601 text; one last check happens at the
        deadline (a transient error there is retried for a few seconds), then a ``timeout`` event.
        ``None``: no deadline.
    :param max_consecutive_errors: transient errors (429, 5xx, timeouts, resets; each already retried
        by the HTTP client) tolerated in a row for one transfer before an ``error`` event.
    :param single: the caller was given one transfer (not a list): reported back in the event.
    :param policy: HTTP policy overrides for the hook (``timeout``, ``max_attempts``, ``rate_limit``...).
    :param attempts, finished, errors: state so far; set by ``serialize()``, leave them out.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        transfers: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str,
        success_statuses: Sequence[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        poll_interval: float = 10.0,
        deadline: float | str | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        single: bool | None = None,
        policy: Mapping[str, Any] | None = None,
        attempts: int = 0,
        finished: Mapping[str, Mapping[str, Any]] | None = None,
        errors: Mapping[str, int] | None = None,
        return_transfers: bool = False,
    ) -> None:
        """``return_transfers`` is ignored: triggers serialised by 0.x releases still carry it."""
        super().__init__()
        self.conn_id = conn_id
        self.transfers, parsed_single = parse_transfers(transfers, "transfers")
        self.single = parsed_single if single is None else bool(single)
        self.args = WaitArgs.build(
            success_statuses=success_statuses,
            failure_statuses=failure_statuses,
            poll_interval=poll_interval,
            deadline=deadline,
            max_consecutive_errors=max_consecutive_errors,
        )
        self.policy = dict(validate(Policy, policy, "policy") or {})
        saved = validate_model(SavedState, {"attempts": attempts, "finished": finished or {}, "errors": errors or {}})
        self.state = WaitState(
            finished={k: dict(v) for k, v in (finished or {}).items()},
            errors=dict(saved.errors),
            attempts=saved.attempts,
        )
        self.transfer_ids: list[str] = []
        self._shown_interval: float | None = None
        """The transfers' ids, known once the hook has validated them (at the start of ``run``)."""

    @classmethod
    def resume(
        cls, conn_id: str, transfers: Sequence[Mapping[str, Any]], wait: TransferWait, **kwargs: Any
    ) -> TransferStatusTrigger:
        """The trigger that carries on ``wait`` (its arguments, deadline and state so far)."""
        args = wait.args
        return cls(
            conn_id=conn_id,
            transfers=list(transfers),
            success_statuses=args.success_statuses,
            failure_statuses=args.failure_statuses,
            poll_interval=args.poll_interval,
            deadline=args.deadline,
            max_consecutive_errors=args.max_consecutive_errors,
            single=wait.single,
            attempts=wait.state.attempts,
            finished=wait.state.finished,
            errors=wait.state.errors,
            **kwargs,
        )

    @property
    def deadline(self) -> float | None:
        return self.args.deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the whole live state, as JSON-safe values."""
        return (
            _CLASSPATH,
            {
                "conn_id": self.conn_id,
                "transfers": [dict(t) for t in self.transfers],
                **self.args.model_dump(mode="json", exclude={"timeout"}),
                "single": self.single,
                "policy": dict(self.policy),
                "attempts": self.state.attempts,
                "finished": {k: dict(v) for k, v in self.state.finished.items()},
                "errors": dict(self.state.errors),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The event is built before yielding, so the shared hook is released even when the consumer
        # (``dag.test()`` takes only the first event) never resumes the generator.
        event = await self._wait()
        self.log.info("Transfer wait ended: %s: %s", event.status, event.message)
        yield TriggerEvent(event.payload())

    async def _wait(self) -> WaitEvent:
        wait = TransferWait([], self.args, self.state, self.single)
        try:
            async with HOOKS.lease(self.conn_id, self.policy) as shared:
                wait.refs = [shared.hook.transfer_ref(t) for t in self.transfers]
                self.transfer_ids = wait.ids
                members = {ref.transfer_id: shared.hook.check_cost(ref) for ref in wait.pending()}
                for tid, cost in members.items():
                    shared.budget.join((id(self), tid), cost)
                try:
                    return await self._poll(wait, shared)
                finally:
                    for tid in members:
                        shared.budget.leave((id(self), tid))
        except AirflowNotFoundException as exc:
            return self._error(wait, f"connection {self.conn_id!r} not found: {exc}", fatal=True)
        except Exception as exc:
            # Bad connection, invalid transfer JSON or a bug: still one event, never a bare trigger crash.
            self.log.exception("Transfer wait failed")
            return self._error(wait, f"{type(exc).__name__}: {exc}", fatal=is_fatal(exc))

    async def _poll(self, wait: TransferWait, shared: SharedHook) -> WaitEvent:
        while True:
            failures = await wait.acheck(shared.hook, shared.semaphore, shared.budget)
            if failures:
                self.log.warning(
                    "%d status check(s) failed in poll %d; first: %s", len(failures), self.state.attempts, failures[0]
                )
            event = wait.outcome()
            if event is not None:
                return event
            for tid in wait.state.finished:
                shared.budget.leave((id(self), tid))
            self._log_interval(shared.budget)
            await asyncio.sleep(wait.delay())

    def _log_interval(self, budget: PollBudget) -> None:
        """Say so in the task log when the connection's budget, not ``poll_interval``, sets the pace."""
        effective = budget.effective_interval(self.args.poll_interval)
        shown = self._shown_interval
        if effective > self.args.poll_interval * 1.05 and (shown is None or abs(effective - shown) > 0.1 * shown):
            self._shown_interval = effective
            self.log.info(
                "Connection %r: %.0f request(s) per round of checks share its rate budget, so each transfer is "
                "checked about every %.1f s (poll_interval %.1f s), round-robin, oldest check first",
                self.conn_id, budget.account_demand, effective, self.args.poll_interval,
            )  # fmt: skip

    def _error(self, wait: TransferWait, message: str, *, fatal: bool) -> WaitEvent:
        if wait.refs:
            return wait.event("error", message, fatal=fatal)
        ids = [f"#{i}" for i in range(len(self.transfers))]  # not validated: positions stand in for ids
        return WaitEvent(
            status="error", message=message, transfer_ids=ids, checks=[None] * len(ids), single=self.single, fatal=fatal
        )
