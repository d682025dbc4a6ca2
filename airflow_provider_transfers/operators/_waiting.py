"""``TransferWaitMixin``: lets an operator that starts or changes a transfer wait for its outcome.

Adds ``wait_for_completion``, ``poll_interval``, ``timeout`` and ``deferrable``. After its action the
operator calls ``self.wait_for_transfer(context, transfer_json)``:

* not waiting: returns the transfer JSON unchanged;
* waiting in-process: ``waiting.TransferWait.run``, the same loop as the sensor's poke mode;
* deferrable: checks once, then defers to ``TransferStatusTrigger`` (same trigger, same events as
  ``TransferStatusSensor``) and resumes in ``execute_complete``, which gets the transfer back through
  the deferral's ``kwargs``. (``dag.test()`` in Airflow 3.3 drops those kwargs when the trigger fires,
  apache/airflow#69942, so the transfer is also kept under XCom key ``waited_transfer`` as a fallback.)

It returns the transfer JSON plus ``final_check`` (the last ``TransferCheck`` as a dict). Every
unsuccessful end of the wait raises ``AirflowFailException``: the action itself succeeded, and a
task retry would repeat it (a second transfer, for a create operator).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_transfers.exceptions import TransferValidationError
from airflow_provider_transfers.hooks.registry import get_transfer_hook
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger
from airflow_provider_transfers.waiting.events import WaitEvent
from airflow_provider_transfers.waiting.inputs import WaitArgs
from airflow_provider_transfers.waiting.state import TransferWait

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_WAIT_TIMEOUT = 3600.0
RESUME_XCOM_KEY = "waited_transfer"


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
        """Return ``transfer`` at once, or after waiting for its outcome (see the module docstring)."""
        result = dict(transfer)
        if not self.wait_for_completion:
            return result
        with get_transfer_hook(self.wait_conn_id()) as hook:
            try:
                wait = TransferWait.start(hook, [result], self.wait_args.started(), single=True)
            except TransferValidationError as exc:
                raise AirflowFailException(f"Cannot wait for the transfer: {exc}") from exc
            event = wait.first_check(hook, in_process=not self.deferrable, log=self.log)
        if event is not None:
            return self._finish(event, result)
        if (ti := context.get("ti")) is not None:
            ti.xcom_push(key=RESUME_XCOM_KEY, value=result)
        self.defer(
            trigger=TransferStatusTrigger.resume(self.wait_conn_id(), [result], wait),
            method_name="execute_complete",
            kwargs={"transfer": result},
        )

    def execute_complete(
        self, context: Context, event: Mapping[str, Any], transfer: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger; ``transfer`` comes back through the deferral's ``kwargs``."""
        try:
            done = WaitEvent.from_payload(event)
        except ValueError as exc:
            raise AirflowFailException(f"The request succeeded, but waiting for the transfer ended: {exc}") from None
        if transfer is None and (ti := context.get("ti")) is not None:
            transfer = ti.xcom_pull(task_ids=self.task_id, key=RESUME_XCOM_KEY)
        return self._finish(done, dict(transfer or {}))

    def _finish(self, event: WaitEvent, transfer: dict[str, Any]) -> dict[str, Any]:
        if event.status != "success":
            raise AirflowFailException(f"The request succeeded, but waiting for the transfer ended: {event.message}")
        self.log.info("%s", event.message)
        return {**transfer, "final_check": event.checks[0] if event.checks else None}
