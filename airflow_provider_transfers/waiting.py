"""The wait for transfers' outcomes: arguments, state, event, the one loop (``TransferWait``), and the
defer/complete helper the sensor and every operator's ``wait_for_completion`` share (docs/design.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pendulum
from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from airflow_provider_transfers.exceptions import (
    TransferNotFoundError,
    TransferProviderError,
    TransferValidationError,
    describe,
    is_fatal,
    is_transient,
)
from airflow_provider_transfers.hooks.base import TransferHook, TransferRef, get_transfer_hook, platform_of
from airflow_provider_transfers.models import TransferCheck, TransferStatus
from airflow_provider_transfers.validation import (
    EPOCH_EXPECTED,
    MAX_DEPTH,
    EpochNumber,
    PositiveInt,
    PositiveSeconds,
    StrictBool,
    form_error,
    json_depth,
    parse_json_text,
    validate,
    validate_model,
)

if TYPE_CHECKING:
    from airflow_provider_transfers.triggers.budget import PollBudget

logger = logging.getLogger(__name__)

Verdict = Literal["success", "failure", "pending"]
EventStatus = Literal["success", "failure", "timeout", "error"]

DEFAULT_SUCCESS_STATUSES: tuple[str, ...] = (TransferStatus.COMPLETED.value,)
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = (TransferStatus.FAILED.value,)
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5
FINAL_CHECK_GRACE = 5.0
"""Seconds past the deadline during which a final check that hit a transient error is retried."""
GRACE_STEP = 1.0
"""Longest pause between those retries."""
DEADLINE_SLACK = 0.01
"""The last regular poll lands this long after the deadline, so it counts as the final check."""
STATE_VERSION = 2
"""Version of the state ``TransferWait.saved`` writes (a trigger's kwargs in Airflow's database)."""
_ALLOWED = [s.value for s in TransferStatus]


# --------------------------------------------------------------------------------------------- arguments


def _status_names(value: Any) -> tuple[str, ...]:
    """One status or several; ``TransferStatus`` members or text (any case); duplicates dropped."""
    items: Iterable[Any] = [value] if isinstance(value, str | TransferStatus) else (value or ())
    if not isinstance(items, Iterable):
        raise form_error(f"statuses among {_ALLOWED}")
    out: list[str] = []
    for item in items:
        text = item.value if isinstance(item, TransferStatus) else str(item).strip().lower()
        if text not in _ALLOWED:
            raise form_error(f"statuses among {_ALLOWED}; {item!r} is not one")
        if text not in out:
            out.append(text)
    return tuple(out)


def _epoch(value: Any) -> Any:
    """A deadline as epoch seconds: a number (or numeric text), an aware datetime, or ISO-8601 text."""
    if isinstance(value, datetime):
        return pendulum.instance(value, tz="UTC").timestamp()
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            try:
                parsed = pendulum.parse(value.strip(), tz="UTC")
            except (ValueError, TypeError):
                parsed = None
            if not isinstance(parsed, pendulum.DateTime):
                raise form_error(EPOCH_EXPECTED) from None
            return parsed.timestamp()
    return value


Statuses = Annotated[tuple[str, ...], BeforeValidator(_status_names)]
EpochSeconds = Annotated[EpochNumber, BeforeValidator(_epoch)]


class WaitArgs(BaseModel):
    """What to wait for and how long: shared by the sensor, the trigger and the waiting operators."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    success_statuses: Statuses = DEFAULT_SUCCESS_STATUSES
    failure_statuses: Statuses = DEFAULT_FAILURE_STATUSES
    poll_interval: PositiveSeconds = 10.0
    timeout: PositiveSeconds | None = None
    """Seconds from the start of the wait to its deadline (the operators' and sensor's ``timeout``)."""
    deadline: EpochSeconds | None = None
    """Epoch seconds; set from ``timeout`` when the wait starts (``started``), or given to the trigger."""
    max_consecutive_errors: PositiveInt = DEFAULT_MAX_CONSECUTIVE_ERRORS
    until_answered: StrictBool = False
    """Also succeed once a transferee has answered (a VoIPbin attended transfer's consultation began)."""

    @field_validator("success_statuses")
    @classmethod
    def _some_success(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise form_error(f"at least one of {_ALLOWED}")
        return value

    @field_validator("failure_statuses")
    @classmethod
    def _disjoint(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        overlap = sorted(set(value) & set(info.data.get("success_statuses", ())))
        if overlap:
            raise form_error(
                f"statuses disjoint from success_statuses; {overlap} in both "
                "(failure_statuses=[] waits for the success statuses alone)"
            )
        return value

    @classmethod
    def build(cls, *, aliases: Mapping[str, str] | None = None, **kwargs: Any) -> WaitArgs:
        """Validated arguments; ``TransferValidationError`` naming the field otherwise (also a ``ValueError``).

        ``timedelta`` values are taken as seconds; ``aliases`` names fields as the caller's arguments.
        """
        data = {k: v.total_seconds() if isinstance(v, timedelta) else v for k, v in kwargs.items()}
        return validate_model(cls, data, aliases=aliases)

    def started(self, now: float | None = None) -> WaitArgs:
        """These arguments with the deadline ``timeout`` seconds from ``now`` (unchanged without a timeout)."""
        if self.timeout is None:
            return self
        return self.model_copy(update={"deadline": (time.time() if now is None else now) + self.timeout})

    def verdict(self, check: TransferCheck | TransferStatus | str) -> Verdict:
        """A terminal status outside ``success_statuses`` can never turn into success: it counts as failure.
        With ``until_answered``, a check whose transferee answered is a success."""
        answered = isinstance(check, TransferCheck) and check.evidence.get("answered") is True
        value = TransferStatus(check.status if isinstance(check, TransferCheck) else check)
        if value.value in self.success_statuses:
            return "success"
        if value.value in self.failure_statuses or value.is_terminal:
            return "failure"
        return "success" if answered and self.until_answered else "pending"


Policy = dict[str, Any] | None
"""HTTP policy overrides for the hook (``timeout``, ``max_attempts``...); the hook checks the keys."""


def parse_transfers(value: Any, field: str = "transfer") -> tuple[list[dict[str, Any]], bool]:
    """``(transfers, single)`` from one transfer's JSON, a list of them, or text holding either.

    Text is JSON first, else a Python literal (``{{ ti.xcom_pull(...) }}`` renders a dict with ``str()``).
    ``single`` is true when one mapping was given. The transfers come back as JSON-safe plain dicts.
    """
    if isinstance(value, str | bytes):
        text = (value.decode() if isinstance(value, bytes) else value).strip()
        if not text:
            raise TransferValidationError(field, "a transfer's JSON (dict, list or JSON text)", "empty text")
        value = validate(_TransfersText, text, field, show_value=False)
    single = isinstance(value, Mapping)
    if not single and not (isinstance(value, Sequence) and not isinstance(value, str | bytes)):
        raise TransferValidationError(
            field, "a transfer's JSON object, a list of them, or JSON text of either", type(value).__name__
        )
    if not single and not value:
        raise TransferValidationError(field, "at least one transfer", "an empty list")
    items = []
    for i, item in enumerate([value] if single else value):
        where = field if single else f"{field}[{i}]"
        if not isinstance(item, Mapping):
            raise TransferValidationError(where, "a transfer's JSON object", type(item).__name__)
        if json_depth(item, MAX_DEPTH) > MAX_DEPTH:
            raise TransferValidationError(
                where, f"a transfer's JSON nested at most {MAX_DEPTH} levels deep", show_value=False
            )
        try:  # plain JSON, so the transfers can travel in a trigger's kwargs (dates become ISO text)
            items.append(json.loads(json.dumps(dict(item), default=lambda v: v.isoformat())))
        except (TypeError, ValueError, AttributeError) as exc:
            raise TransferValidationError(where, "a JSON-serialisable object", str(exc)) from None
    return items, single


_TransfersText = Annotated[
    Any,
    BeforeValidator(
        lambda v: parse_json_text(v, what="JSON text of a transfer or a list of transfers", python_literals=True)
    ),
]


def resolve_refs(hook: TransferHook, transfers: Sequence[Any], conn_id: str | None = None) -> list[TransferRef]:
    """Each transfer's reference, validated once by the connection's hook; a transfer of another platform
    is named as such (the usual mistake is the connection, not the transfer)."""
    refs = []
    for item in transfers:
        try:
            refs.append(hook.transfer_ref(item))
        except TransferValidationError as exc:
            other = platform_of(item)
            if other is None or other == hook.conn_type:
                raise
            where = f"connection {conn_id!r}" if conn_id else "the connection"
            raise TransferValidationError(
                "transfer",
                f"a {hook.conn_type} transfer, since {where} is a {hook.conn_type} connection; this one is a "
                f"{other} transfer (use a {other} connection for it; {hook.conn_type} says: {exc})",
                show_value=False,
            ) from exc
    return refs


# --------------------------------------------------------------------------------------------- event


class WaitEvent(BaseModel):
    """How a wait ends: ``status``, ``message``, the transfer ids and one check (or ``None``) per transfer.
    The trigger yields ``TriggerEvent(event.model_dump(mode="json"))``; ``execute_complete`` parses it back."""

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


# --------------------------------------------------------------------------------------------- state


def _describe_error(transfer_id: str, exc: BaseException) -> str:
    if isinstance(exc, TransferNotFoundError):
        return (
            f"transfer {transfer_id} not found ({exc}); it may have expired or the connection points at another account"
        )
    return f"transfer {transfer_id}: {describe(exc)}"


@dataclass
class WaitState:
    """What a wait has learnt. ``finished`` (checks of terminal transfers: never polled again), ``errors``
    (consecutive transient errors per transfer) and ``attempts`` are JSON-safe and saved by the trigger;
    ``latest`` holds every transfer's latest check (a restored state starts with the ``finished`` ones)."""

    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    latest: dict[str, TransferCheck] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    """Epoch seconds at which each transfer's latest check began (the deadline is judged by it)."""
    error: str | None = None
    """A non-transient error: the wait ends at once."""
    error_is_final: bool = False
    exception: BaseException | None = None
    """The exception behind ``error`` (in-process only, never saved)."""

    def record(self, transfer_id: str, result: TransferCheck | BaseException) -> None:
        if isinstance(result, TransferCheck):
            self.latest[transfer_id] = result
            self.errors.pop(transfer_id, None)
            self.last_error.pop(transfer_id, None)
            if result.status.is_terminal:
                self.finished[transfer_id] = result.to_xcom()
        elif is_transient(result):
            self.errors[transfer_id] = self.errors.get(transfer_id, 0) + 1
            self.last_error[transfer_id] = _describe_error(transfer_id, result)
        elif self.error is None:
            self.error = _describe_error(transfer_id, result)
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

    @property
    def ids(self) -> list[str]:
        return [ref.transfer_id for ref in self.refs]

    def pending(self) -> list[TransferRef]:
        """References still worth polling, each once, in input order."""
        unique = {ref.transfer_id: ref for ref in self.refs}
        return [ref for tid, ref in unique.items() if tid not in self.state.finished]

    def saved(self) -> dict[str, Any]:
        """The whole wait as JSON-safe values (a trigger's kwargs), read back by ``restored`` without checks."""
        return {
            "version": STATE_VERSION,
            "refs": [ref.fields() for ref in self.refs],
            "single": self.single,
            **self.args.model_dump(mode="json", exclude={"timeout"}),
            "attempts": self.state.attempts,
            "finished": dict(self.state.finished),
            "errors": dict(self.state.errors),
        }

    # ------------------------------------------------------------------ one poll

    def check(self, hook: TransferHook) -> None:
        """One synchronous poll of every pending transfer; stops at the first non-transient error."""
        for ref in self.pending():
            self.state.started[ref.transfer_id] = self.clock()
            try:
                result: TransferCheck | BaseException = hook.check_ref(ref)
            except Exception as exc:
                result = exc
            self.state.record(ref.transfer_id, result)
            if self.state.error is not None:
                break
        self.state.attempts += 1

    async def acheck(
        self, hook: TransferHook, limit: asyncio.Semaphore | None = None, budget: PollBudget | None = None
    ) -> list[BaseException]:
        """One asynchronous poll: every pending transfer concurrently (at most ``limit`` in flight), each check
        waiting for its turn in the connection's ``budget``. Returns the failed checks' exceptions."""

        async def one(ref: TransferRef) -> TransferCheck | BaseException:
            if budget is not None:
                await budget.turn(self.last_checked.get(ref.transfer_id, 0.0), hook.check_cost(ref))
            self.last_checked[ref.transfer_id] = time.monotonic()
            self.state.started[ref.transfer_id] = self.clock()
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
        failed = [check for check in latest.values() if self.args.verdict(check) == "failure"]
        if failed:
            reasons = "; ".join(_describe(check) for check in failed)
            return self.event("failure", f"{len(failed)} of {len(ids)} transfer(s) failed: {reasons}", fatal=True)
        goal = " or ".join(sorted(self.args.success_statuses)) + (" or an answer" if self.args.until_answered else "")
        if all(tid in latest and self.args.verdict(latest[tid]) == "success" for tid in ids):
            return self.event("success", f"all {len(ids)} transfer(s) reached {goal}")
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
        if deadline is None or now < deadline or self._final_check_due(deadline):
            return None
        if now < deadline + FINAL_CHECK_GRACE and self._erring():
            return None
        return self.event("timeout", self._timeout_message(ids, deadline, goal))

    def delay(self, now: float | None = None, interval: float | None = None) -> float:
        """Seconds until the next poll: ``interval`` (default the poll interval), capped so the last poll lands
        at the deadline; past it, none while the final check is due, then the short pauses of its grace."""
        delay = self.args.poll_interval if interval is None else interval
        deadline = self.args.deadline
        if deadline is None:
            return delay
        now = self.clock() if now is None else now
        if now < deadline:
            return min(delay, deadline - now + DEADLINE_SLACK)
        if self._final_check_due(deadline):
            return 0.0
        return max(0.0, min(delay, GRACE_STEP, deadline + FINAL_CHECK_GRACE - now))

    def run(
        self,
        hook: TransferHook,
        *,
        sleep: Callable[[float], None] = time.sleep,
        log: Any = None,
        interval: Callable[[int], float] | None = None,
        once: bool = False,
    ) -> WaitEvent | None:
        """The synchronous loop: poll, decide, pause, until an event. ``interval(polls)`` may vary the pause
        (a sensor's exponential backoff); the deadline caps it. ``once``: one poll, or past the deadline as
        many as its final check needs, else ``None`` (reschedule mode: Airflow waits in between)."""
        log = log or logger
        while True:
            self.check(hook)
            event = self.outcome()
            if event is not None:
                return event
            pause = self.delay(interval=interval(self.state.attempts) if interval else None)
            log.info(
                "Waiting for %d transfer(s) (%s); next check in %.1fs", len(self.pending()), self.progress(), pause
            )
            if once and (self.args.deadline is None or self.clock() < self.args.deadline):
                return None
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

    def _final_check_due(self, deadline: float) -> bool:
        """Some transfer still waited for has not had a check that began at or after the deadline."""
        return any(self.state.started.get(ref.transfer_id, -1.0) < deadline for ref in self.pending())

    def _erring(self) -> bool:
        """Some transfer still waited for has its latest check failing with a transient error."""
        return any(ref.transfer_id in self.state.last_error for ref in self.pending())

    def _timeout_message(self, ids: list[str], deadline: float, goal: str) -> str:
        when = datetime.fromtimestamp(deadline, UTC).isoformat(timespec="seconds")
        waiting = [
            tid
            for tid in ids
            if not (tid in self.state.latest and self.args.verdict(self.state.latest[tid]) == "success")
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
            f"to reach {goal} (last check made at the deadline): {'; '.join(parts)}"
        )


def _describe(check: TransferCheck) -> str:
    detail = f" ({check.detail})" if check.detail else ""
    return f"{check.transfer_id}: {check.status.value}{detail}"


# --------------------------------------------------------------------------------------------- defer/complete


class TransferWaiting(BaseOperator):
    """The wait every waiting task shares: check once, then wait in the worker or defer to
    ``TransferStatusTrigger``; ``execute_complete`` hands the event to ``finish_wait``.

    Mix in before ``BaseOperator``: ``class MySensor(TransferWaiting, BaseSensorOperator)``.
    """

    _wait: TransferWait | None = None
    """The latest wait (reschedule mode carries it from one poke to the next on one instance)."""

    def wait_for(
        self,
        context: Context,
        *,
        conn_id: str,
        transfers: Any,
        args: WaitArgs,
        deferrable: bool,
        policy: Policy = None,
        interval: Callable[[int], float] | None = None,
        resume: dict[str, Any] | None = None,
        on_defer: Callable[[], None] | None = None,
    ) -> Any:
        """Wait for ``transfers`` (one transfer's JSON or several, as ``parse_transfers`` reads them) on ``conn_id``;
        the result of ``finish_wait``.

        ``resume`` comes back to ``finish_wait`` as keyword arguments; ``on_defer`` runs just before deferring.
        """
        hook, wait = self.start_wait(conn_id, policy, transfers, args.started())
        self._wait = wait  # the latest wait, for logs and tests
        try:
            if deferrable:
                wait.check(hook)
                event = wait.outcome()
            else:
                event = wait.run(hook, log=self.log, interval=interval)
        finally:
            hook.close()
        if event is not None:
            return self.finish_wait(context, event, **(resume or {}))
        from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

        if on_defer is not None:
            on_defer()
        self.defer(
            trigger=TransferStatusTrigger(conn_id=conn_id, policy=policy, **wait.saved()),
            method_name="execute_complete",
            kwargs=resume,
        )

    def start_wait(
        self, conn_id: str, policy: Policy, transfers: Any, args: WaitArgs
    ) -> tuple[TransferHook, TransferWait]:
        """The connection's hook and a wait over ``transfers``, each reference validated once by that hook.

        Nothing a task retry could fix: bad input and a bad connection raise ``AirflowFailException``.
        """
        try:
            items, single = parse_transfers(transfers)
            hook = get_transfer_hook(conn_id, policy=dict(policy or {}))
        except TransferProviderError as exc:
            raise AirflowFailException(str(exc)) from exc
        try:
            return hook, TransferWait(resolve_refs(hook, items, conn_id), args, single=single)
        except TransferValidationError as exc:
            hook.close()
            raise AirflowFailException(f"{hook.platform}: {exc}") from exc

    def execute_complete(self, context: Context, event: Mapping[str, Any], **resume: Any) -> Any:
        """Resume after the trigger (``resume``: what ``wait_for`` was given to come back with)."""
        try:
            done = WaitEvent.model_validate(dict(event))
        except (ValidationError, TypeError, ValueError):
            done = WaitEvent(status="error", message=f"Unexpected trigger event {event!r}")
        return self.finish_wait(context, done, **resume)

    def finish_wait(self, context: Context, event: WaitEvent, **resume: Any) -> Any:
        """Turn the event into the task's result or exception."""
        raise NotImplementedError


DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_WAIT_TIMEOUT = 3600.0
RESUME_XCOM_KEY = "waited_transfer"


class TransferWaitMixin(TransferWaiting):
    """``wait_for_completion`` for an operator that starts or changes a transfer; it names its connection in
    ``wait_conn_id()`` and returns ``self.wait_for_transfer(context, transfer_json)``.

    The result is the transfer JSON plus ``final_check`` (the last ``TransferCheck``). Every unsuccessful end
    of the wait raises ``AirflowFailException``: the action succeeded, and a retry would repeat it.
    (``dag.test()`` in Airflow 3.3 drops a deferral's kwargs, apache/airflow#69942: the transfer is also kept
    under XCom key ``waited_transfer``.)

    :param wait_for_completion: after the action, wait until the transfer is ``completed`` (success) or
        ``failed`` (the task fails, without retries). Default ``False``.
    :param poll_interval: seconds between status checks while waiting (default 5).
    :param timeout: seconds to wait before failing (default 3600); the last check is made at the deadline.
    :param deferrable: wait in the triggerer instead of the worker (default ``[operators] default_deferrable``).
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = False,
        poll_interval: timedelta | float | str = DEFAULT_POLL_INTERVAL,
        timeout: timedelta | float | str = DEFAULT_WAIT_TIMEOUT,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_args = WaitArgs.build(poll_interval=poll_interval, timeout=timeout)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = self.wait_args.poll_interval
        self.timeout = self.wait_args.timeout
        self.deferrable = deferrable

    def wait_conn_id(self) -> str:
        """The connection the operator used; its type picks the platform of the status checks."""
        raise NotImplementedError(f"{type(self).__name__} must implement wait_conn_id()")

    def wait_for_transfer(self, context: Context, transfer: Mapping[str, Any]) -> dict[str, Any]:
        """``transfer`` at once, or after waiting for its outcome."""
        result = dict(transfer)
        if not self.wait_for_completion:
            return result

        def keep() -> None:
            if (ti := context.get("ti")) is not None:
                ti.xcom_push(key=RESUME_XCOM_KEY, value=result)

        outcome: dict[str, Any] = self.wait_for(
            context,
            conn_id=self.wait_conn_id(),
            transfers=result,
            args=self.wait_args,
            deferrable=self.deferrable,
            resume={"transfer": result},
            on_defer=keep,
        )
        return outcome

    def finish_wait(self, context: Context, event: WaitEvent, **resume: Any) -> dict[str, Any]:
        transfer = resume.get("transfer")
        if transfer is None and (ti := context.get("ti")) is not None:
            transfer = ti.xcom_pull(task_ids=self.task_id, key=RESUME_XCOM_KEY)
        if event.status != "success":
            raise AirflowFailException(f"The request succeeded, but waiting for the transfer ended: {event.message}")
        self.log.info("%s", event.message)
        return {**dict(transfer or {}), "final_check": event.checks[0] if event.checks else None}
