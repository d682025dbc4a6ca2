"""Arguments of the sensor/trigger checked without any network, and the platform-neutral hook registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk import BaseHook, Connection

from airflow_provider_transfers.exceptions import TransferConfigError, TransferValidationError
from airflow_provider_transfers.hooks.base import aget_transfer_hook, get_transfer_hook, hook_class_for
from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.models import TransferStatus
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor
from airflow_provider_transfers.waiting import WaitArgs, parse_transfers

TWILIO_TRANSFER = {
    "sid": "UX" + "a" * 32,
    "interaction_sid": "KD" + "b" * 32,
    "channel_sid": "UO" + "c" * 32,
    "type": "cold",
    "status": "active",
}
VOIPBIN_TRANSFER = {
    "id": "11111111-1111-4111-8111-111111111111",
    "type": "blind",
    "groupcall_id": "22222222-2222-4222-8222-222222222222",
    "transferer_call_id": "33333333-3333-4333-8333-333333333333",
}


# --------------------------------------------------------------------------------------------- transfers


@pytest.mark.parametrize(
    ("value", "single"),
    [
        (TWILIO_TRANSFER, True),
        ([TWILIO_TRANSFER, TWILIO_TRANSFER], False),
        (json.dumps(TWILIO_TRANSFER), True),
        (str({**TWILIO_TRANSFER, "note_sid": None}), True),  # what a plain {{ xcom_pull }} renders
        (json.dumps([VOIPBIN_TRANSFER]), False),
    ],
)
def test_parse_transfers_accepts_xcom_shapes(value: Any, single: bool) -> None:
    transfers, is_single = parse_transfers(value)
    assert is_single is single
    assert all(isinstance(t, dict) for t in transfers)
    json.dumps(transfers)


def test_an_empty_object_is_one_transfer_for_its_hook_to_refuse_not_an_empty_list() -> None:
    assert parse_transfers({}) == ([{}], True)


def test_parse_transfers_makes_values_json_safe() -> None:
    [transfer], _ = parse_transfers({**TWILIO_TRANSFER, "date_updated": datetime(2026, 1, 2, tzinfo=UTC)})
    assert transfer["date_updated"] == "2026-01-02T00:00:00+00:00"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([], "at least one transfer"),
        ("", "empty text"),
        ("not json at all {", r"Invalid transfer: expected JSON text of a transfer"),
        ([TWILIO_TRANSFER, "x"], r"transfer\[1\]"),
        (42, "int"),
    ],
)
def test_parse_transfers_rejects_bad_input(value: Any, match: str) -> None:
    with pytest.raises(TransferValidationError, match=match):
        parse_transfers(value)


# --------------------------------------------------------------------------------------------- statuses


def statuses(success: Any, failure: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    args = WaitArgs.build(success_statuses=success, failure_statuses=failure)
    return args.success_statuses, args.failure_statuses


def test_parse_statuses_normalises_and_deduplicates() -> None:
    assert statuses(["Completed", TransferStatus.COMPLETED], "failed") == (("completed",), ("failed",))
    assert statuses(("completed", "active"), ()) == (("completed", "active"), ())


@pytest.mark.parametrize(
    ("success", "failure", "match"),
    [
        (["done"], ["failed"], "success_statuses"),
        (["completed"], ["canceled"], "failure_statuses"),
        ([], ["failed"], "at least one"),
        (["completed", "failed"], ["failed"], "disjoint"),
    ],
)
def test_parse_statuses_rejects(success: Any, failure: Any, match: str) -> None:
    with pytest.raises(TransferValidationError, match=match):
        statuses(success, failure)


def test_rule_treats_an_unlisted_terminal_status_as_failure() -> None:
    rule = WaitArgs(success_statuses=("completed",), failure_statuses=())
    assert rule.verdict("failed") == "failure"
    assert rule.verdict("active") == "pending"
    assert WaitArgs(success_statuses=("active",), failure_statuses=("failed",)).verdict("active") == "success"


# --------------------------------------------------------------------------------------------- sensor at parse time


def test_sensor_validates_literal_arguments_when_the_dag_is_parsed() -> None:
    with pytest.raises(TransferValidationError, match="disjoint"):
        TransferStatusSensor(task_id="s", conn_id="c", transfer=TWILIO_TRANSFER, failure_statuses=["completed"])
    with pytest.raises(TransferValidationError, match=r"twilio_flex: .*voipbin: "):
        TransferStatusSensor(task_id="s", conn_id="c", transfer={"sid": "nope"})
    with pytest.raises(ValueError, match="max_consecutive_errors"):
        TransferStatusSensor(task_id="s", conn_id="c", transfer=VOIPBIN_TRANSFER, max_consecutive_errors=0)


def test_sensor_accepts_either_platform_and_leaves_templates_for_run_time() -> None:
    TransferStatusSensor(task_id="a", conn_id="c", transfer=TWILIO_TRANSFER)
    TransferStatusSensor(task_id="b", conn_id="c", transfer=[VOIPBIN_TRANSFER])
    templated = TransferStatusSensor(task_id="c", conn_id="c", transfer="{{ ti.xcom_pull('create') }}")
    assert templated.template_fields == ("conn_id", "transfer")


def test_sensor_default_deferrable_comes_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import airflow_provider_transfers.sensors.transfer as module

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        reloaded = importlib.reload(module)
        assert reloaded.TransferStatusSensor(task_id="s", conn_id="c", transfer=TWILIO_TRANSFER).deferrable is True
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)


# --------------------------------------------------------------------------------------------- registry


def _conn(conn_type: str) -> Connection:
    return Connection(conn_id="x", conn_type=conn_type, login="AC" + "0" * 32, password="secret-value")


@pytest.mark.parametrize(
    ("conn_type", "cls"),
    [("twilio_flex", TwilioFlexHook), ("twilio-flex", TwilioFlexHook), ("VoIPbin", VoipbinHook)],
)
def test_hook_class_for_connection_types(conn_type: str, cls: type) -> None:
    assert hook_class_for(conn_type) is cls


def test_unknown_connection_type_lists_the_supported_ones() -> None:
    with pytest.raises(TransferConfigError, match=r"'my_http'.*'http'.*twilio_flex, voipbin"):
        hook_class_for("http", conn_id="my_http")


def test_get_transfer_hook_passes_the_fetched_connection_on(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[str] = []

    def get_connection(conn_id: str) -> Connection:
        fetched.append(conn_id)
        return _conn("twilio_flex")

    monkeypatch.setattr(BaseHook, "get_connection", get_connection)
    hook = get_transfer_hook("x", policy={"max_attempts": 2})
    assert isinstance(hook, TwilioFlexHook)
    assert hook.api.policy.max_attempts == 2  # builds its client from the connection it was given
    assert fetched == ["x"]


async def test_aget_transfer_hook_uses_the_async_connection_api(monkeypatch: pytest.MonkeyPatch) -> None:
    async def aget_connection(conn_id: str) -> Connection:
        return _conn("voipbin")

    def forbidden(conn_id: str) -> Connection:
        raise AssertionError("sync get_connection called in the event loop")

    monkeypatch.setattr(BaseHook, "aget_connection", aget_connection)
    monkeypatch.setattr(BaseHook, "get_connection", forbidden)
    hook = await aget_transfer_hook("x")
    assert isinstance(hook, VoipbinHook)
    await hook.aget_conn()
