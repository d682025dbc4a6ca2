"""``TransferStatusTrigger``: wait in the triggerer until transfers reach a success or failure status.

Platform-neutral: the hook comes from the connection's type. All transfers of one trigger are polled
concurrently through one shared async hook (see ``_hook_pool``); only transfers not yet in a terminal
status are polled again. ``serialize()`` returns the whole live state, so a trigger re-created from it
(after a triggerer restart) carries on: same deadline, same finished results, same error counts.

Events (exactly one per run) always carry ``status`` (``success`` | ``failure`` | ``timeout`` |
``error``), ``message``, ``transfer_ids``, ``checks`` (one ``TransferCheck.to_xcom()`` or ``None`` per
transfer, input order), ``single`` and ``fatal`` (an error no task retry can fix).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_transfers.hooks.base import TransferHook
from airflow_provider_transfers.models import TransferCheck
from airflow_provider_transfers.triggers._hook_pool import HOOKS, SharedHook
from airflow_provider_transfers.triggers._wait import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS_STATUSES,
    StatusRule,
    WaitState,
    is_fatal,
    make_event,
    parse_statuses,
    parse_transfers,
)

_CLASSPATH = f"{__name__}.TransferStatusTrigger"
_DEADLINE_SLACK = 0.01


class TransferStatusTrigger(BaseTrigger):
    """Poll transfers until each is in ``success_statuses``, one is in a failure status, or the deadline.

    :param conn_id: a ``twilio_flex`` or ``voipbin`` connection; its type picks the platform.
    :param transfers: the transfers' JSON objects (as the create/update operators return them).
    :param success_statuses: statuses that end the wait successfully (default ``completed``).
    :param failure_statuses: statuses that fail it at once (default ``failed``). A terminal status in
        neither set fails too: it can never change into a success status.
    :param poll_interval: seconds between polls.
    :param deadline: epoch seconds (float) or ISO-8601 text; one last check happens at the deadline,
        then a ``timeout`` event. ``None``: no deadline.
    :param max_consecutive_errors: transient errors (429, 5xx, timeouts, resets; each already retried
        by the HTTP client) tolerated in a row for one transfer before an ``error`` event.
    :param single: the sensor was given one transfer (not a list): reported back in the event.
    :param return_transfers: echo ``transfers`` in the event (for operators that return them).
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
        return_transfers: bool = False,
        policy: Mapping[str, Any] | None = None,
        attempts: int = 0,
        finished: Mapping[str, Mapping[str, Any]] | None = None,
        errors: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.transfers, parsed_single = parse_transfers(transfers, "transfers")
        self.single = parsed_single if single is None else bool(single)
        self.success_statuses, self.failure_statuses = parse_statuses(success_statuses, failure_statuses)
        if not float(poll_interval) > 0:
            raise ValueError(f"poll_interval must be > 0 seconds; got {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        self.deadline = _epoch(deadline)
        if int(max_consecutive_errors) < 1:
            raise ValueError(f"max_consecutive_errors must be >= 1; got {max_consecutive_errors!r}")
        self.return_transfers = return_transfers
        self.policy = dict(policy or {})
        self.state = WaitState(
            rule=StatusRule.of(self.success_statuses, self.failure_statuses),
            max_consecutive_errors=int(max_consecutive_errors),
            finished={k: dict(v) for k, v in (finished or {}).items()},
            errors={k: int(v) for k, v in (errors or {}).items()},
            attempts=int(attempts),
        )
        self.transfer_ids: list[str] = []

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the whole live state, as JSON-safe values."""
        return (
            _CLASSPATH,
            {
                "conn_id": self.conn_id,
                "transfers": [dict(t) for t in self.transfers],
                "success_statuses": list(self.success_statuses),
                "failure_statuses": list(self.failure_statuses),
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "max_consecutive_errors": self.state.max_consecutive_errors,
                "single": self.single,
                "return_transfers": self.return_transfers,
                "policy": dict(self.policy),
                "attempts": self.state.attempts,
                "finished": {k: dict(v) for k, v in self.state.finished.items()},
                "errors": dict(self.state.errors),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The event is built before yielding, so the shared hook is released even when the consumer
        # (``dag.test()`` takes only the first event) never resumes the generator.
        payload = await self._wait()
        self.log.info("Transfer wait ended: %s: %s", payload["status"], payload["message"])
        yield TriggerEvent(payload)

    # ------------------------------------------------------------------ internals

    async def _wait(self) -> dict[str, Any]:
        try:
            async with HOOKS.lease(self.conn_id, self.policy) as shared:
                self.transfer_ids = [shared.hook.transfer_id(t) for t in self.transfers]
                return await self._poll_until_done(shared)
        except AirflowNotFoundException as exc:
            return self._event("error", f"connection {self.conn_id!r} not found: {exc}", fatal=True)
        except Exception as exc:
            # Bad connection, invalid transfer JSON or a bug: still one event, never a bare trigger crash.
            self.log.exception("Transfer wait failed")
            return self._event("error", f"{type(exc).__name__}: {exc}", fatal=is_fatal(exc))

    async def _poll_until_done(self, shared: SharedHook) -> dict[str, Any]:
        while True:
            await self._poll_once(shared)
            outcome = self.state.outcome(self.transfer_ids)
            if outcome.status is not None:
                return self._event(outcome.status, outcome.message, fatal=outcome.fatal)
            now = time.time()
            if self.deadline is not None and now >= self.deadline:
                when = datetime.fromtimestamp(self.deadline, UTC).isoformat(timespec="seconds")
                return self._event("timeout", self.state.timeout_message(self.transfer_ids, when))
            delay = self.poll_interval
            if self.deadline is not None:
                # Land the last poll just past the deadline: that poll is the final check.
                delay = min(delay, self.deadline - now + _DEADLINE_SLACK)
            self.log.debug("%d transfer(s) pending; next poll in %.2fs", len(self.pending), delay)
            await asyncio.sleep(delay)

    @property
    def pending(self) -> list[str]:
        return self.state.pending(self.transfer_ids)

    async def _poll_once(self, shared: SharedHook) -> None:
        """Check every transfer not yet terminal, concurrently, each at most once."""
        by_id = dict(zip(self.transfer_ids, self.transfers, strict=True))
        pending = self.pending
        results = await asyncio.gather(*(self._check(shared, by_id[tid]) for tid in pending))
        self.state.attempts += 1
        failures = [(tid, r) for tid, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
        if failures:
            tid, first = failures[0]
            self.log.warning(
                "%d of %d status check(s) failed in poll %d; first: %s: %s",
                len(failures), len(pending), self.state.attempts, tid, first,
            )  # fmt: skip
        for tid, result in zip(pending, results, strict=True):
            self.state.record(tid, result)

    @staticmethod
    async def _check(shared: SharedHook, transfer: Mapping[str, Any]) -> TransferCheck | BaseException:
        hook: TransferHook = shared.hook
        async with shared.semaphore:
            try:
                return await hook.acheck_transfer(transfer)
            except Exception as exc:
                return exc

    def _event(self, status: Any, message: str, *, fatal: bool = False) -> dict[str, Any]:
        ids = self.transfer_ids or [f"#{i}" for i in range(len(self.transfers))]
        return make_event(
            status,
            message,
            ids=ids,
            state=self.state,
            single=self.single,
            fatal=fatal,
            transfers=self.transfers if self.return_transfers else None,
        )


def _epoch(deadline: float | str | None) -> float | None:
    """A deadline as epoch seconds: a number, or ISO-8601 text (a naive time is taken as UTC)."""
    if deadline is None:
        return None
    if isinstance(deadline, int | float):
        return float(deadline)
    import pendulum

    parsed = pendulum.parse(str(deadline), tz="UTC")
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"deadline must be epoch seconds or an ISO-8601 date-time; got {deadline!r}")
    return parsed.timestamp()
