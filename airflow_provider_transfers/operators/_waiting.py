"""``TransferWaitMixin``: lets an operator that starts or changes a transfer wait for its outcome.

Adds ``wait_for_completion``, ``poll_interval``, ``timeout`` and ``deferrable``. After its action the
operator calls ``self.wait_for_transfer(context, transfer_json)``:

* not waiting: returns the transfer JSON unchanged;
* waiting in-process: polls with the sync hook until ``completed`` or ``failed``;
* deferrable: checks once, then defers to ``TransferStatusTrigger`` (same trigger, same result
  handling as ``TransferStatusSensor``) and resumes in ``execute_complete``.

It returns the transfer JSON plus ``final_check`` (the last ``TransferCheck`` as a dict). Every
unsuccessful end of the wait raises ``AirflowFailException``: the action itself succeeded, and a
task retry would repeat it (a second transfer, for a create operator).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_transfers.exceptions import TransferValidationError
from airflow_provider_transfers.hooks.registry import get_transfer_hook
from airflow_provider_transfers.triggers._wait import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_SUCCESS_STATUSES,
    StatusRule,
    WaitState,
    check_all,
    make_event,
)
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_WAIT_TIMEOUT = 3600.0


class TransferWaitMixin(BaseOperator):
    """Mix in before ``BaseOperator``; the operator names its connection in ``wait_conn_id()``.

    :param wait_for_completion: after the action, wait until the transfer is ``completed`` (success)
        or ``failed`` (the task fails, without retries). Default ``False``.
    :param poll_interval: seconds between status checks while waiting (default 5).
    :param timeout: seconds to wait before failing (default 3600); the last check is made at the deadline.
    :param deferrable: wait in the triggerer instead of the worker (default
        ``[operators] default_deferrable``).
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = False,
        poll_interval: timedelta | float = DEFAULT_POLL_INTERVAL,
        timeout: timedelta | float = DEFAULT_WAIT_TIMEOUT,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = _seconds(poll_interval, "poll_interval", allow_zero=False)
        self.timeout = _seconds(timeout, "timeout", allow_zero=True)
        self.deferrable = deferrable

    def wait_conn_id(self) -> str:
        """The connection the operator used; its type picks the platform of the status checks."""
        raise NotImplementedError(f"{type(self).__name__} must implement wait_conn_id()")

    def wait_for_transfer(self, context: Context, transfer: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``transfer`` at once, or after waiting for its outcome (see the module docstring)."""
        result = dict(transfer)
        if not self.wait_for_completion:
            return result
        deadline = time.time() + self.timeout
        state = WaitState(StatusRule.of(DEFAULT_SUCCESS_STATUSES, DEFAULT_FAILURE_STATUSES))
        with get_transfer_hook(self.wait_conn_id()) as hook:
            try:
                transfer_id = hook.transfer_id(result)
            except TransferValidationError as exc:
                raise AirflowFailException(f"Cannot wait for the transfer: {exc}") from exc
            while True:
                check_all(hook, [result], [transfer_id], state)
                outcome = state.outcome([transfer_id])
                if outcome.status is not None:
                    event = make_event(outcome.status, outcome.message, ids=[transfer_id], state=state, single=True)
                    return self._finish(event, result)
                if self.deferrable:
                    break
                remaining = deadline - time.time()
                if remaining <= 0:
                    when = datetime.fromtimestamp(deadline, UTC).isoformat(timespec="seconds")
                    message = state.timeout_message([transfer_id], when)
                    return self._finish(make_event("timeout", message, ids=[transfer_id], state=state, single=True))
                self.log.info("Transfer %s still active; next check in %.1fs", transfer_id, self.poll_interval)
                time.sleep(min(self.poll_interval, remaining + 0.01))
        self.defer(
            trigger=TransferStatusTrigger(
                conn_id=self.wait_conn_id(),
                transfers=[result],
                poll_interval=self.poll_interval,
                deadline=deadline,
                max_consecutive_errors=DEFAULT_MAX_CONSECUTIVE_ERRORS,
                single=True,
                return_transfers=True,
                attempts=state.attempts,
                finished=state.finished,
                errors=state.errors,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the event carries the transfer back (``return_transfers``)."""
        transfers = event.get("transfers") or [{}]
        return self._finish(event, dict(transfers[0]))

    def _finish(self, event: Mapping[str, Any], transfer: dict[str, Any] | None = None) -> dict[str, Any]:
        message = str(event.get("message", ""))
        if event.get("status") != "success":
            raise AirflowFailException(f"The request succeeded, but waiting for the transfer ended: {message}")
        self.log.info("%s", message)
        checks = event.get("checks") or [None]
        return {**(transfer or {}), "final_check": checks[0]}


def _seconds(value: timedelta | float, name: str, *, allow_zero: bool) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds; got {value!r}")
    return seconds
