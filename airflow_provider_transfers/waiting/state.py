"""``TransferWait``: the one state machine behind every wait (sensor, trigger, operators).

A wait holds the transfers' references (validated once by the platform's hook), its ``WaitArgs`` and
a ``WaitState`` (what it has learnt, JSON-safe so a trigger can serialise it). Each path drives it the
same way::

    wait.check(hook)            # or: await wait.acheck(hook) in the triggerer
    event = wait.outcome()      # a WaitEvent when the wait is over, else None
    sleep(wait.delay())         # at most the poll interval; lands the last check at the deadline

``run`` is that loop for the synchronous paths (sensor poke mode, operators waiting in the worker).

Rules: terminal checks are kept and never polled again; transient errors (429, 5xx, timeouts, resets,
after the HTTP client's own retries) are counted per transfer and end the wait after
``max_consecutive_errors`` in a row; any other error ends it at once (``fatal`` when no task retry can
help: not found, invalid input, bad connection). At the deadline one last check is made; if it failed
with a transient error it is retried for up to ``FINAL_CHECK_GRACE`` seconds before ``timeout``, so a
transfer that completed is not reported as timed out because of a 429 or a 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_transfers.exceptions import (
    TransferAuthError,
    TransferConfigError,
    TransferNotFoundError,
    TransferProviderError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.base import TransferHook, TransferRef
from airflow_provider_transfers.models import TransferCheck
from airflow_provider_transfers.waiting.budget import PollBudget
from airflow_provider_transfers.waiting.events import EventStatus, WaitEvent
from airflow_provider_transfers.waiting.inputs import WaitArgs

FINAL_CHECK_GRACE = 5.0
"""Seconds past the deadline during which a final check that hit a transient error is retried."""
GRACE_STEP = 1.0
"""Longest pause between those retries."""
DEADLINE_SLACK = 0.01
"""The last regular poll lands this long after the deadline, so it counts as the final check."""


def is_transient(exc: BaseException) -> bool:
    """Worth another poll: 429, 5xx, malformed bodies, timeouts, resets (after the client's own retries)."""
    return isinstance(exc, TransferProviderError) and bool(getattr(exc, "retryable", False))


def is_fatal(exc: BaseException) -> bool:
    """Errors that no retry of the task can fix: fail at once, without task retries."""
    return isinstance(exc, TransferNotFoundError | TransferValidationError | TransferConfigError | TransferAuthError)


def describe_error(transfer_id: str, exc: BaseException) -> str:
    if isinstance(exc, TransferNotFoundError):
        # The platform's own error says how long it keeps transfers (its hook adds that hint).
        return (
            f"transfer {transfer_id} not found ({exc}); it may have expired or the connection points at another account"
        )
    return f"transfer {transfer_id}: {type(exc).__name__}: {exc}"


@dataclass
class WaitState:
    """Everything a wait has learnt so far; ``finished``, ``errors`` and ``attempts`` are JSON-safe.

    ``finished`` holds the checks of transfers in a terminal status (they can never change, so they
    are not polled again); ``errors`` counts consecutive transient errors per transfer.
    """

    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    latest: dict[str, TransferCheck] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    """A non-transient error: the wait ends at once."""
    error_is_final: bool = False
    exception: BaseException | None = None
    """The exception behind ``error`` (in-process only, never serialised)."""

    def __post_init__(self) -> None:
        for tid, raw in self.finished.items():
            self.latest[tid] = TransferCheck.model_validate(raw)

    def record(self, transfer_id: str, result: TransferCheck | BaseException) -> None:
        if isinstance(result, TransferCheck):
            self.latest[transfer_id] = result
            self.errors.pop(transfer_id, None)
            self.last_error.pop(transfer_id, None)
            if result.status.is_terminal:
                self.finished[transfer_id] = result.to_xcom()
        elif is_transient(result):
            self.errors[transfer_id] = self.errors.get(transfer_id, 0) + 1
            self.last_error[transfer_id] = describe_error(transfer_id, result)
        elif self.error is None:
            self.error = describe_error(transfer_id, result)
            self.error_is_final = is_fatal(result)
            self.exception = result


@dataclass
class TransferWait:
    """One wait over ``refs``: poll, decide, pause. See the module docstring."""

    refs: list[TransferRef]
    args: WaitArgs
    state: WaitState = field(default_factory=WaitState)
    single: bool = True
    clock: Callable[[], float] = time.time
    last_checked: dict[str, float] = field(default_factory=dict)
    """``time.monotonic()`` of each transfer's latest check, for the poll budget's oldest-first order."""

    @classmethod
    def start(
        cls,
        hook: TransferHook | type[TransferHook],
        transfers: Sequence[Any],
        args: WaitArgs,
        *,
        single: bool,
        state: WaitState | None = None,
    ) -> TransferWait:
        """Validate each transfer's reference once, with the platform's hook (raises before any request)."""
        refs = [hook.transfer_ref(t) for t in transfers]
        return cls(refs, args, state or WaitState(), single)

    @property
    def ids(self) -> list[str]:
        return [ref.transfer_id for ref in self.refs]

    def pending(self) -> list[TransferRef]:
        """References still worth polling, each once, in input order."""
        unique = {ref.transfer_id: ref for ref in self.refs}
        return [ref for tid, ref in unique.items() if tid not in self.state.finished]

    # ------------------------------------------------------------------ one poll

    def check(self, hook: TransferHook) -> None:
        """One synchronous poll of every pending transfer; stops at the first non-transient error."""
        for ref in self.pending():
            result: TransferCheck | BaseException
            try:
                result = hook.check_ref(ref)
            except Exception as exc:
                result = exc
            self.state.record(ref.transfer_id, result)
            if self.state.error is not None:
                break
        self.state.attempts += 1

    async def acheck(
        self, hook: TransferHook, limit: asyncio.Semaphore | None = None, budget: PollBudget | None = None
    ) -> list[BaseException]:
        """One asynchronous poll: every pending transfer concurrently (at most ``limit`` in flight), each
        check waiting for its turn in the connection's ``budget`` (oldest check first, within the rate).

        Returns the exceptions of the checks that failed (for the caller's log).
        """

        async def one(ref: TransferRef) -> TransferCheck | BaseException:
            if budget is not None:
                await budget.turn(self.last_checked.get(ref.transfer_id, 0.0), hook.check_cost(ref))
            self.last_checked[ref.transfer_id] = time.monotonic()
            async with limit or contextlib.nullcontext():
                try:
                    return await hook.acheck_ref(ref)
                except Exception as exc:
                    return exc

        pending = self.pending()
        results = await asyncio.gather(*(one(ref) for ref in pending))
        self.state.attempts += 1
        for ref, result in zip(pending, results, strict=True):
            self.state.record(ref.transfer_id, result)
        return [r for r in results if isinstance(r, BaseException)]

    # ------------------------------------------------------------------ decisions

    def outcome(self, now: float | None = None) -> WaitEvent | None:
        """The event that ends the wait after the latest poll, or ``None`` to poll again."""
        state, ids = self.state, list(dict.fromkeys(self.ids))
        if state.error is not None:
            return self.event("error", state.error, fatal=state.error_is_final)
        latest = {tid: state.latest[tid] for tid in ids if tid in state.latest}
        failed = [check for check in latest.values() if self.args.verdict(check.status) == "failure"]
        if failed:
            reasons = "; ".join(_describe(check) for check in failed)
            return self.event("failure", f"{len(failed)} of {len(ids)} transfer(s) failed: {reasons}", fatal=True)
        if all(tid in latest and self.args.verdict(latest[tid].status) == "success" for tid in ids):
            return self.event("success", f"all {len(ids)} transfer(s) reached {self._success_text()}")
        exhausted = [tid for tid in ids if state.errors.get(tid, 0) >= self.args.max_consecutive_errors]
        if exhausted:
            tid = exhausted[0]
            return self.event(
                "error",
                f"gave up after {state.errors[tid]} consecutive failed status checks; last error: "
                f"{state.last_error[tid]}",
            )
        deadline = self.args.deadline
        now = self.clock() if now is None else now
        if deadline is None or now < deadline or (now < deadline + FINAL_CHECK_GRACE and self._erring()):
            return None
        return self.event("timeout", self._timeout_message(ids, deadline))

    def delay(self, now: float | None = None, interval: float | None = None) -> float:
        """Seconds until the next poll: ``interval`` (default the poll interval), capped so the last
        poll lands at the deadline; past the deadline, the short pause of the final check's grace."""
        delay = self.args.poll_interval if interval is None else interval
        deadline = self.args.deadline
        if deadline is None:
            return delay
        now = self.clock() if now is None else now
        if now >= deadline:
            return max(0.0, min(delay, GRACE_STEP, deadline + FINAL_CHECK_GRACE - now))
        return min(delay, deadline - now + DEADLINE_SLACK)

    def first_check(
        self, hook: TransferHook, *, in_process: bool, log: Any = None, interval: Callable[[int], float] | None = None
    ) -> WaitEvent | None:
        """Check once (deferrable: ``None`` means "defer now") or wait here until the end (``run``)."""
        if in_process:
            return self.run(hook, log=log, interval=interval)
        self.check(hook)
        return self.outcome()

    def run(
        self,
        hook: TransferHook,
        *,
        sleep: Callable[[float], None] = time.sleep,
        log: Any = None,
        interval: Callable[[int], float] | None = None,
    ) -> WaitEvent:
        """The synchronous wait loop: poll, decide, pause, until an event. ``interval(polls)`` may vary
        the pause (a sensor's exponential backoff); the deadline caps it either way."""
        logger = log or logging.getLogger(__name__)
        while True:
            self.check(hook)
            event = self.outcome()
            if event is not None:
                return event
            pause = self.delay(interval=interval(self.state.attempts) if interval else None)
            logger.info(
                "Waiting for %d transfer(s) (%s); next check in %.1fs", len(self.pending()), self.progress(), pause
            )
            sleep(pause)

    # ------------------------------------------------------------------ events and messages

    def event(self, status: EventStatus, message: str, *, fatal: bool = False) -> WaitEvent:
        ids = self.ids
        checks = [self.state.latest[tid].to_xcom() if tid in self.state.latest else None for tid in ids]
        return WaitEvent(
            status=status, message=message, transfer_ids=ids, checks=checks, single=self.single, fatal=fatal
        )

    def progress(self, shown: int = 5) -> str:
        ids = self.ids
        parts = [f"{tid}={self.state.latest[tid].status.value}" for tid in ids[:shown] if tid in self.state.latest]
        return ", ".join(parts) + (" ..." if len(ids) > shown else "")

    def _erring(self) -> bool:
        """Some transfer still waited for has its latest check failing with a transient error."""
        return any(ref.transfer_id in self.state.last_error for ref in self.pending())

    def _success_text(self) -> str:
        return " or ".join(sorted(self.args.success_statuses))

    def _timeout_message(self, ids: list[str], deadline: float) -> str:
        when = datetime.fromtimestamp(deadline, UTC).isoformat(timespec="seconds")
        waiting = [
            tid
            for tid in ids
            if not (tid in self.state.latest and self.args.verdict(self.state.latest[tid].status) == "success")
        ]
        parts = []
        for tid in waiting:
            if tid in self.state.last_error:
                parts.append(f"{tid}: last check failed ({self.state.last_error[tid]})")
            elif tid in self.state.latest:
                parts.append(_describe(self.state.latest[tid]))
            else:
                parts.append(f"{tid}: never checked")
        return (
            f"Timed out at the deadline {when} waiting for {len(waiting)} of {len(ids)} transfer(s) "
            f"to reach {self._success_text()} (last check made at the deadline): {'; '.join(parts)}"
        )


def _describe(check: TransferCheck) -> str:
    detail = f" ({check.detail})" if check.detail else ""
    return f"{check.transfer_id}: {check.status.value}{detail}"
