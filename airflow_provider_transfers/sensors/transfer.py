"""``TransferStatusSensor``: wait until transfers on any supported platform reach a success status.

The platform comes from the connection's type. Poke mode waits in the worker, reschedule mode checks once
per try, deferrable mode checks once and hands the wait to ``TransferStatusTrigger``; all three drive the
same ``waiting.TransferWait`` and make the last check at the deadline (the sensor's ``timeout``).
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

from airflow_provider_transfers.hooks.base import check_for_any_platform, get_transfer_hook
from airflow_provider_transfers.validation import ConnId, check_if_literal, validate, validator
from airflow_provider_transfers.waiting import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS_STATUSES,
    Policy,
    TransferWaiting,
    WaitArgs,
    WaitEvent,
    parse_transfers,
)

_FINAL_CHECK_SLACK = 0.05


class TransferStatusSensor(TransferWaiting, BaseSensorOperator):
    """Wait until one or more transfers reach a success status; fail at once on a failure status.

    :param conn_id: a transfer-platform connection (templated); its type picks the platform.
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
    :param until_answered: also succeed once a transferee has answered: for a VoIPbin attended transfer, the
        moment the agent is consulting and may complete it (``VoipbinCompleteTransferOperator``). Twilio
        reports no answer: there the wait goes on to a success status.

    Numbers are finite and positive (numeric text is accepted); literal arguments are checked when the
    DAG is parsed, templated ones after rendering, before any request.

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
        poke_interval: timedelta | float | str = 10.0,
        timeout: timedelta | float | str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        policy: Mapping[str, Any] | None = None,
        until_answered: bool = False,
        **kwargs: Any,
    ) -> None:
        args = WaitArgs.build(
            until_answered=until_answered,
            success_statuses=success_statuses,
            failure_statuses=failure_statuses,
            poll_interval=poke_interval,
            timeout=timeout,
            max_consecutive_errors=max_consecutive_errors,
            aliases={"poll_interval": "poke_interval"},
        )
        check_if_literal(conn_id, validator(ConnId, "conn_id"))
        policy = validate(Policy, policy, "policy")
        if args.timeout is not None:  # else the sensor default ([sensors] default_timeout); 3.2 refuses None
            kwargs["timeout"] = args.timeout
        super().__init__(poke_interval=args.poll_interval, **kwargs)
        self.wait_args = args.model_copy(update={"timeout": self.timeout})
        self.conn_id = conn_id
        self.transfer = transfer
        self.success_statuses, self.failure_statuses = args.success_statuses, args.failure_statuses
        self.max_consecutive_errors = args.max_consecutive_errors
        self.deferrable = deferrable
        self.policy = dict(policy or {})
        check_if_literal(transfer, lambda value: check_for_any_platform(parse_transfers(value)[0]))

    def execute(self, context: Context) -> Any:
        if self.reschedule and not self.deferrable:
            return super().execute(context)  # one poke per try; Airflow reschedules in between
        try:
            return self.wait_for(
                context,
                conn_id=self.conn_id,
                transfers=self.transfer,
                args=self.wait_args,
                deferrable=self.deferrable,
                policy=self.policy,
                interval=None if self.deferrable else self._backoff(),
            )
        except (AirflowFailException, AirflowSensorTimeout) as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping (soft_fail/never_fail): {exc}") from exc
            raise

    def poke(self, context: Context) -> PokeReturnValue:
        """Reschedule mode: check every transfer not yet terminal, and again at once when the deadline passed
        during the check (the final check starts at or after it). State is kept across pokes of one instance."""
        if self._wait is None:
            args = self.wait_args.started(self._first_try_start(context))
            hook, self._wait = self.start_wait(self.conn_id, self.policy, self.transfer, args)
        else:
            hook = get_transfer_hook(self.conn_id, policy=self.policy)
        with hook:
            event = self._wait.run(hook, log=self.log, once=True)
        if event is None:
            return PokeReturnValue(False)
        return PokeReturnValue(True, self.finish_wait(context, event))

    def finish_wait(self, context: Context, event: WaitEvent, **resume: Any) -> Any:
        """The XCom value of a success, else the exception the event calls for."""
        if event.status == "success":
            self.log.info("%s", event.message)
            return event.checks[0] if event.single and event.checks else list(event.checks)
        if event.status == "failure" or (event.status == "error" and event.fatal):
            raise AirflowFailException(event.message)
        if event.status == "timeout":
            raise AirflowSensorTimeout(event.message)
        raise AirflowException(event.message)

    def _get_next_poke_interval(self, started_at: Any, run_duration: Callable[[], float], poke_count: int) -> float:
        """Reschedule mode: never reschedule past the timeout, so the last poke lands at the deadline."""
        interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)
        remaining = self.timeout - run_duration()
        return max(0.0, min(interval, remaining + _FINAL_CHECK_SLACK))

    def _first_try_start(self, context: Context) -> float | None:
        """When reschedule mode's first try began (the deadline counts from it); ``None`` outside a task run."""
        ti = context.get("ti")
        if ti is None:
            return None
        first = ti.get_first_reschedule_date(context)
        return first.timestamp() if first is not None else time.time()

    def _backoff(self) -> Callable[[int], float] | None:
        """Poke mode with ``exponential_backoff``: Airflow's growing interval (the deadline still caps it)."""
        if not self.exponential_backoff:
            return None
        started = time.monotonic()

        def interval(polls: int) -> float:
            return BaseSensorOperator._get_next_poke_interval(self, started, lambda: time.monotonic() - started, polls)

        return interval
