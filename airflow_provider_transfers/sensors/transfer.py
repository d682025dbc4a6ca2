"""``TransferStatusSensor``: wait until transfers on any supported platform reach a success status.

The platform comes from the connection's type. Poke and reschedule modes check synchronously;
deferrable mode checks once and, if not done, hands the wait to ``TransferStatusTrigger`` with a
deadline (the sensor's ``timeout``), so the timeout holds there too and ends with a final check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_transfers.exceptions import TransferProviderError, TransferValidationError
from airflow_provider_transfers.hooks.base import TransferHook
from airflow_provider_transfers.hooks.registry import get_transfer_hook
from airflow_provider_transfers.templating import check_if_literal
from airflow_provider_transfers.triggers._wait import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS_STATUSES,
    StatusRule,
    WaitState,
    check_all,
    make_event,
    parse_statuses,
    parse_transfers,
    result_from_event,
    validate_for_any_platform,
)
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

_FINAL_CHECK_SLACK = 0.05


class TransferStatusSensor(BaseSensorOperator):
    """Wait until one or more transfers reach a success status; fail at once on a failure status.

    :param conn_id: a ``twilio_flex`` or ``voipbin`` connection (templated); its type picks the platform.
    :param transfer: one transfer's JSON or a list of them (templated): the create/update operators'
        XCom output as a dict, a list, or text (JSON, or the ``str()`` of a dict that a plain
        ``{{ ti.xcom_pull(...) }}`` renders to).
    :param success_statuses: statuses that end the wait successfully (default ``("completed",)``).
    :param failure_statuses: statuses that fail the task at once, without retries (default
        ``("failed",)``). A terminal status in neither set fails as well: it can never change.
    :param poke_interval: seconds between checks (also the trigger's poll interval); default 10.
    :param timeout: seconds before giving up (``AirflowSensorTimeout``, or skipped with ``soft_fail``);
        holds in every mode, and the last check is made at the deadline.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param max_consecutive_errors: transient errors (429, 5xx, timeouts, after the HTTP client's own
        retries) tolerated in a row for one transfer before the wait fails.
    :param policy: HTTP policy overrides for the hook (``timeout``, ``max_attempts``, ``rate_limit``...).

    Returns (XCom) the final ``TransferCheck`` as a dict (``platform, transfer_id, status, detail,
    evidence, checked_at``) when ``transfer`` is one transfer, or the list of them (input order) for a list.
    """

    template_fields: Sequence[str] = ("conn_id", "transfer")
    template_fields_renderers = {"transfer": "json"}
    ui_color = "#b7e3e8"

    def __init__(
        self,
        *,
        conn_id: str,
        transfer: Any,
        success_statuses: Sequence[str] | str = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Sequence[str] | str = DEFAULT_FAILURE_STATUSES,
        poke_interval: timedelta | float = 10.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        policy: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.transfer = transfer
        self.success_statuses, self.failure_statuses = parse_statuses(success_statuses, failure_statuses)
        self.deferrable = deferrable
        if max_consecutive_errors < 1:
            raise ValueError(f"max_consecutive_errors must be >= 1; got {max_consecutive_errors!r}")
        self.max_consecutive_errors = max_consecutive_errors
        self.policy = dict(policy or {})
        check_if_literal(transfer, lambda value: validate_for_any_platform(parse_transfers(value)[0]))
        self._state: WaitState | None = None

    # ------------------------------------------------------------------ poke / reschedule

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        deadline = time.time() + self.timeout
        try:
            done = self.poke(context)
        except (AirflowFailException, AirflowSensorTimeout) as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping (soft_fail/never_fail): {exc}") from exc
            raise
        if done.is_done:
            return done.xcom_value
        state = self._wait_state()
        self.defer(
            trigger=TransferStatusTrigger(
                conn_id=self.conn_id,
                transfers=self._transfers()[0],
                success_statuses=self.success_statuses,
                failure_statuses=self.failure_statuses,
                poll_interval=self.poke_interval,
                deadline=deadline,
                max_consecutive_errors=self.max_consecutive_errors,
                single=self._transfers()[1],
                policy=self.policy,
                attempts=state.attempts,
                finished=state.finished,
                errors=state.errors,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """One check of every transfer not yet terminal; fails at once on a failure status.

        Terminal results and error counts are kept on the instance (poke mode, and deferrable's first
        check); reschedule mode starts each run afresh.
        """
        transfers, single = self._transfers()
        state = self._wait_state()
        with self._hook() as hook:
            ids = _transfer_ids(hook, transfers)
            check_all(hook, transfers, ids, state)
        outcome = state.outcome(ids)
        if outcome.status is None:
            self.log.info("Waiting for %d transfer(s): %s", len(state.pending(ids)), self._progress(state, ids))
            return PokeReturnValue(False)
        event = make_event(outcome.status, outcome.message, ids=ids, state=state, single=single, fatal=outcome.fatal)
        return PokeReturnValue(True, self.execute_complete(context, event))

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Turn a trigger event (or the poke path's equivalent) into the XCom value or an exception."""
        status, message = event.get("status"), str(event.get("message", ""))
        if status == "success":
            self.log.info("%s", message)
            return result_from_event(event)
        if status == "failure":
            raise AirflowFailException(message)
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        if status == "error" and event.get("fatal"):
            raise AirflowFailException(message)
        raise AirflowException(message or f"Unexpected trigger event {dict(event)!r}")

    def _get_next_poke_interval(self, started_at: Any, run_duration: Callable[[], float], poke_count: int) -> float:
        """Never sleep (or reschedule) past the timeout: the last poke lands just after it.

        ``BaseSensorOperator`` checks the timeout right after a poke, so that poke is the final check;
        capping the wait makes it happen at the deadline rather than up to one interval later.
        """
        interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)
        remaining = self.timeout - run_duration()
        return max(0.0, min(interval, remaining + _FINAL_CHECK_SLACK))

    # ------------------------------------------------------------------ helpers

    def _transfers(self) -> tuple[list[dict[str, Any]], bool]:
        try:
            return parse_transfers(self.transfer)
        except TransferValidationError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _wait_state(self) -> WaitState:
        if self._state is None:
            rule = StatusRule.of(self.success_statuses, self.failure_statuses)
            self._state = WaitState(rule=rule, max_consecutive_errors=self.max_consecutive_errors)
        return self._state

    def _hook(self) -> TransferHook:
        try:
            return get_transfer_hook(self.conn_id, policy=self.policy)
        except TransferProviderError as exc:
            raise AirflowFailException(str(exc)) from exc

    @staticmethod
    def _progress(state: WaitState, ids: Sequence[str]) -> str:
        shown = [f"{tid}={state.latest[tid].status.value}" for tid in ids[:5] if tid in state.latest]
        return ", ".join(shown) + (" ..." if len(ids) > 5 else "")


def _transfer_ids(hook: TransferHook, transfers: Sequence[Mapping[str, Any]]) -> list[str]:
    try:
        return [hook.transfer_id(t) for t in transfers]
    except TransferValidationError as exc:
        raise AirflowFailException(f"{hook.platform}: {exc}") from exc
