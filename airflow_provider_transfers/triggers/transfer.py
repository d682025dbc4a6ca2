"""``TransferStatusTrigger``: wait in the triggerer until transfers reach a success or failure status.

Runs ``waiting.TransferWait`` with the connection's hook, shared by every trigger on that connection in the
event loop (``HookPool``); ``serialize()`` returns the whole live state, trusted when rebuilt (older
releases' kwargs are validated). Exactly one event per run: a ``WaitEvent``'s JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_transfers.exceptions import describe, is_fatal
from airflow_provider_transfers.hooks.base import TransferHook, aget_transfer_hook
from airflow_provider_transfers.models import TransferCheck
from airflow_provider_transfers.triggers.budget import PollBudget
from airflow_provider_transfers.validation import NonNegativeInt, validate
from airflow_provider_transfers.waiting import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS_STATUSES,
    STATE_VERSION,
    Policy,
    TransferWait,
    WaitArgs,
    WaitEvent,
    WaitState,
    parse_transfers,
    resolve_refs,
)

MAX_CHECKS_IN_FLIGHT = 10
"""Checks in flight per connection and event loop (the platforms' 16.7-20 req/s need no more; see docs)."""
_CLASSPATH = f"{__name__}.TransferStatusTrigger"


class TransferStatusTrigger(BaseTrigger):
    """Poll transfers until each is in ``success_statuses``, one is in a failure status, or the deadline.

    :param conn_id: a transfer-platform connection (``twilio_flex``, ``voipbin``...); its type picks the hook.
    :param transfers: the transfers' JSON objects (as the create/update operators return them).
    :param success_statuses: statuses that end the wait successfully (default ``completed``).
    :param failure_statuses: statuses that fail it at once (default ``failed``). A terminal status in
        neither set fails too: it can never change into a success status.
    :param poll_interval: seconds between polls (a finite number > 0).
    :param deadline: epoch seconds or ISO-8601 text; the last check starts at or after it (a transient error
        there is retried for a few seconds), then a ``timeout`` event. ``None``: no deadline.
    :param max_consecutive_errors: transient errors (429, 5xx, timeouts, resets; each already retried by the
        HTTP client) tolerated in a row for one transfer before an ``error`` event.
    :param until_answered: also succeed once a transferee has answered (see ``TransferStatusSensor``).
    :param single: the caller was given one transfer (not a list): reported back in the event.
    :param policy: HTTP policy overrides for the hook (``timeout``, ``max_attempts``, ``rate_limit``...).

    ``version``, ``refs``, ``attempts``, ``finished`` and ``errors`` are the saved state ``serialize()`` writes.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        transfers: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | None = None,
        policy: Mapping[str, Any] | None = None,
        single: bool | None = None,
        version: int = 1,
        refs: Sequence[Mapping[str, Any]] | None = None,
        attempts: int = 0,
        finished: Mapping[str, Mapping[str, Any]] | None = None,
        errors: Mapping[str, int] | None = None,
        return_transfers: bool = False,
        **args: Any,
    ) -> None:
        """``return_transfers`` is ignored: triggers serialised by 0.x releases still carry it."""
        super().__init__()
        self.conn_id = conn_id
        self.policy = dict(policy or {})
        self._refs = [dict(r) for r in refs or ()]
        self._transfers: list[dict[str, Any]] = []
        if version >= STATE_VERSION:  # written by serialize(): validated when the wait started
            saved: Any = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
            self.args = WaitArgs.model_construct(**saved)
            self.single = bool(single)
            latest = {k: TransferCheck.model_validate(v) for k, v in (finished or {}).items()}
        else:  # built by hand, or saved by a release before the state was versioned: checked here
            self._transfers, parsed_single = parse_transfers(transfers, "transfers")
            self.single = parsed_single if single is None else bool(single)
            args.setdefault("success_statuses", DEFAULT_SUCCESS_STATUSES)
            args.setdefault("failure_statuses", DEFAULT_FAILURE_STATUSES)
            args.setdefault("max_consecutive_errors", DEFAULT_MAX_CONSECUTIVE_ERRORS)
            self.args = WaitArgs.build(**args)
            attempts = validate(NonNegativeInt, attempts, "attempts")
            errors = validate(dict[str, NonNegativeInt], errors or {}, "errors")
            latest = validate(dict[str, TransferCheck], finished or {}, "finished")
        done = {k: dict(v) for k, v in (finished or {}).items()}
        self.state = WaitState(finished=done, errors=dict(errors or {}), attempts=attempts, latest=latest)
        self.transfer_ids: list[str] = []
        self._shown_interval: float | None = None

    @property
    def deadline(self) -> float | None:
        return self.args.deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the whole live state, as JSON-safe values (the transfers as given until the
        connection's hook has resolved their references)."""
        saved = TransferWait([], self.args, self.state, self.single).saved()
        if self._refs:
            saved["refs"] = self._refs
        else:
            del saved["version"], saved["refs"]
            saved["transfers"] = self._transfers
        return _CLASSPATH, {"conn_id": self.conn_id, "policy": dict(self.policy), **saved}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The event is built before yielding, so the shared hook is released even when the consumer
        # (``dag.test()`` takes only the first event) never resumes the generator.
        event = await self._wait()
        self.log.info("Transfer wait ended: %s: %s", event.status, event.message)
        yield TriggerEvent(event.model_dump(mode="json"))

    async def _wait(self) -> WaitEvent:
        wait = TransferWait([], self.args, self.state, self.single)
        try:
            async with HOOKS.lease(self.conn_id, self.policy) as shared:
                hook = shared.hook
                if self._refs:
                    wait.refs = [hook.ref_model.model_construct(**fields) for fields in self._refs]
                else:
                    wait.refs = resolve_refs(hook, self._transfers, self.conn_id)
                    self._refs = [ref.fields() for ref in wait.refs]
                self.transfer_ids = wait.ids
                members = {ref.transfer_id: hook.check_cost(ref) for ref in wait.pending()}
                for tid, cost in members.items():
                    shared.budget.members[id(self), tid] = cost
                try:
                    return await self._poll(wait, shared)
                finally:
                    for tid in members:
                        shared.budget.members.pop((id(self), tid), None)
        except AirflowNotFoundException as exc:
            return self._error(wait, f"connection {self.conn_id!r} not found: {exc}", fatal=True)
        except Exception as exc:
            # Bad connection, invalid transfer JSON or a bug: still one event, never a bare trigger crash.
            self.log.exception("Transfer wait failed")
            return self._error(wait, describe(exc), fatal=is_fatal(exc))

    async def _poll(self, wait: TransferWait, shared: SharedHook) -> WaitEvent:
        while True:
            failures = await wait.acheck(shared.hook, shared.semaphore, shared.budget)
            if failures:
                self.log.warning(
                    "%d status check(s) failed in poll %d; first: %s",
                    len(failures), self.state.attempts, describe(failures[0]),
                )  # fmt: skip
            event = wait.outcome()
            if event is not None:
                return event
            for tid in wait.state.finished:
                shared.budget.members.pop((id(self), tid), None)
            # Say so in the task log when the connection's budget, not poll_interval, sets the pace.
            effective, shown = shared.budget.effective_interval(self.args.poll_interval), self._shown_interval
            if effective > self.args.poll_interval * 1.05 and (shown is None or abs(effective - shown) > 0.1 * shown):
                self._shown_interval = effective
                self.log.info(
                    "Connection %r: %.0f request(s) per round of checks share its rate budget, so each transfer is "
                    "checked about every %.1f s (poll_interval %.1f s), round-robin, oldest check first",
                    self.conn_id, shared.budget.account_demand, effective, self.args.poll_interval,
                )  # fmt: skip
            await asyncio.sleep(wait.delay())

    def _error(self, wait: TransferWait, message: str, *, fatal: bool) -> WaitEvent:
        if wait.refs:
            return wait.event("error", message, fatal=fatal)
        count = len(self._refs or self._transfers)
        ids = [f"#{i}" for i in range(count)]  # not resolved: positions stand in for ids
        return WaitEvent(
            status="error", message=message, transfer_ids=ids, checks=[None] * count, single=self.single, fatal=fatal
        )


# --------------------------------------------------------------------------------------------- the hook pool


@dataclass
class SharedHook:
    """One connection's hook in one event loop, shared by every trigger waiting there."""

    hook: TransferHook
    semaphore: asyncio.Semaphore
    """Bounds the checks in flight over all triggers using this hook."""
    created: float
    budget: PollBudget
    """Round-robin turns for the checks of every trigger on this connection, drawn from its bucket."""
    leases: int = 0
    retired: bool = False


class HookPool:
    """One hook per ``(event loop, conn_id, policy)``: one httpx client, one rate budget, one limit on checks in
    flight, however many triggers wait. Leases are counted; the hook closes when the last one ends. An entry
    older than ``max_age`` is not handed out again (a rotated password is picked up)."""

    def __init__(self, max_age: float = 300.0, max_in_flight: int = MAX_CHECKS_IN_FLIGHT) -> None:
        self.max_age = max_age
        self.max_in_flight = max_in_flight
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], SharedHook]] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def lease(self, conn_id: str, policy: Policy = None) -> AsyncIterator[SharedHook]:
        """The shared hook for ``conn_id``: connection loaded with ``aget_connection``, client ready."""
        loop = asyncio.get_running_loop()
        key = (conn_id, json.dumps(dict(policy or {}), sort_keys=True))
        entries = self._entries.setdefault(loop, {})
        async with self._locks.setdefault(loop, asyncio.Lock()):
            entry = entries.get(key)
            if entry is not None and time.monotonic() - entry.created > self.max_age:
                entry.retired = True
                del entries[key]
                if entry.leases == 0:
                    await entry.hook.aclose()
                entry = None
            if entry is None:
                hook = await aget_transfer_hook(conn_id, policy=dict(policy or {}))
                api = await hook.aget_conn()
                api.aclient  # noqa: B018 - built before the first turn: a first build takes ~0.1 s
                bucket = api.limiter.bucket(hook.check_bucket) if api.limiter is not None else None
                in_flight = min(api.policy.max_connections, self.max_in_flight)
                entry = entries[key] = SharedHook(
                    hook, asyncio.Semaphore(in_flight), time.monotonic(), PollBudget(bucket)
                )
            entry.leases += 1
        try:
            yield entry
        finally:
            entry.leases -= 1
            if entry.leases == 0:
                if not entry.retired and entries.get(key) is entry:
                    del entries[key]
                try:
                    await entry.budget.aclose()
                finally:
                    await entry.hook.aclose()

    def active(self) -> int:
        """Hooks currently leased in the running loop (for tests and benchmarks)."""
        return len(self._entries.get(asyncio.get_running_loop(), {}))


HOOKS = HookPool()
