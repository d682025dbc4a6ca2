"""VoIPbin operators: parse-time validation, and execute() against respx (no Airflow run needed)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_transfers.exceptions import TransferValidationError
from airflow_provider_transfers.operators.voipbin import (
    TransferStateError,
    VoipbinCancelTransferOperator,
    VoipbinCompleteTransferOperator,
    VoipbinCreateTransferOperator,
)
from tests.voipbin_factories import (
    ACCESS_KEY,
    ADDRESSES,
    ANSWER_ID,
    GROUPCALL_ID,
    TRANSFER_ID,
    TRANSFERER_ID,
    VB_BASE,
    call_json,
    groupcall_json,
    transfer_json,
)

TRANSFERS = f"{VB_BASE}/transfers"
GROUPCALL = f"{VB_BASE}/groupcalls/{GROUPCALL_ID}"
CALL = f"{VB_BASE}/calls/{TRANSFERER_ID}"
ANSWER_CALL = f"{VB_BASE}/calls/{ANSWER_ID}"
ANSWERED = call_json("progressing", call_id=ANSWER_ID, tm_progressing="2026-01-15T09:30:01Z")
"""The answering call, read once the agent hung up: answered before the agent's tm_hangup below."""


@pytest.fixture(autouse=True)
def voipbin_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "voipbin", "password": ACCESS_KEY, "host": VB_BASE}
    monkeypatch.setenv("AIRFLOW_CONN_VOIPBIN_DEFAULT", json.dumps(conn))


def responses(*bodies: dict[str, Any]) -> list[httpx.Response]:
    return [httpx.Response(200, json=body) for body in bodies]


# ---------------------------------------------------------------------------------------- create


@respx.mock
def test_create_returns_the_transfer_json() -> None:
    route = respx.post(TRANSFERS).mock(return_value=httpx.Response(200, json=transfer_json("attended")))
    op = VoipbinCreateTransferOperator(
        task_id="t", transfer_type="attended", transferer_call_id=TRANSFERER_ID, transferee_addresses=ADDRESSES
    )
    xcom = op.execute({})
    assert xcom["id"] == TRANSFER_ID and xcom["type"] == "attended" and xcom["groupcall_id"] == GROUPCALL_ID
    json.dumps(xcom)  # JSON-safe for XCom
    assert json.loads(route.calls.last.request.content)["transfer_type"] == "attended"


def test_create_templates_every_parameter() -> None:
    assert set(VoipbinCreateTransferOperator.template_fields) == {
        "transfer_type",
        "transferer_call_id",
        "transferee_addresses",
        "voipbin_conn_id",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"transfer_type": "warm"}, "transfer_type"),
        ({"transferer_call_id": "call-1"}, "transferer_call_id"),
        ({"transferee_addresses": []}, "transferee_addresses"),
        ({"transferee_addresses": [{"type": "tel", "target": "555"}]}, "transferee_addresses[0].target"),
    ],
)
def test_create_checks_literal_arguments_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    args = {"transfer_type": "blind", "transferer_call_id": TRANSFERER_ID, "transferee_addresses": ADDRESSES}
    with pytest.raises(TransferValidationError) as info:
        VoipbinCreateTransferOperator(task_id="t", **{**args, **kwargs})
    assert info.value.field == field


def test_create_leaves_templates_for_render_time() -> None:
    VoipbinCreateTransferOperator(
        task_id="t",
        transfer_type="{{ params.kind }}",
        transferer_call_id="{{ dag_run.conf['call_id'] }}",
        transferee_addresses=[{"type": "tel", "target": "{{ params.target }}"}],
    )


# ---------------------------------------------------------------------------------------- complete


def test_complete_refuses_a_blind_transfer_at_parse_time() -> None:
    with pytest.raises(TransferValidationError, match="attended"):
        VoipbinCompleteTransferOperator(task_id="t", transfer=transfer_json("blind"))


def test_complete_refuses_a_rendered_blind_transfer_before_any_request() -> None:
    op = VoipbinCompleteTransferOperator(task_id="t", transfer="{{ ti.xcom_pull('start') }}")
    op.transfer = json.dumps(transfer_json("blind"))  # what rendering produces
    with respx.mock(assert_all_called=False) as router:
        route = router.route().mock(return_value=httpx.Response(500))
        with pytest.raises(TransferValidationError, match="blind transfer completes by itself"):
            op.execute({})
        assert not route.called


@respx.mock
@pytest.mark.parametrize("render", [json.dumps, str])
def test_complete_hangs_up_the_transferer_and_waits_for_completed(render: Any) -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("progressing", answered=True)))
    hung = call_json("hangup", reason="normal", tm_hangup="2026-01-15T09:31:00Z")
    respx.get(CALL).mock(side_effect=responses(call_json("progressing"), call_json("terminating"), hung))
    respx.get(ANSWER_CALL).mock(return_value=httpx.Response(200, json=ANSWERED))
    hangup = respx.post(f"{CALL}/hangup").mock(return_value=httpx.Response(200, json=call_json("terminating")))
    op = VoipbinCompleteTransferOperator(task_id="t", transfer=render(transfer_json()), poll_interval=0.1)
    xcom = op.execute({})
    assert hangup.call_count == 1
    assert xcom["status"] == "completed" and xcom["transfer_id"] == TRANSFER_ID and xcom["platform"] == "voipbin"


@respx.mock
def test_complete_of_a_completed_transfer_succeeds_without_hanging_up(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("hangup", answered=True)))
    hung = call_json("hangup", reason="normal", tm_hangup="2026-01-15T09:31:00Z")
    respx.get(CALL).mock(return_value=httpx.Response(200, json=hung))
    respx.get(ANSWER_CALL).mock(return_value=httpx.Response(200, json=ANSWERED))
    xcom = VoipbinCompleteTransferOperator(task_id="t", transfer=transfer_json()).execute({})
    assert xcom["status"] == "completed"
    assert [c.request.method for c in respx.calls] == ["GET", "GET", "GET"]  # + the answering call
    assert "is already completed" in capsys.readouterr().out


@respx.mock
def test_complete_of_a_failed_transfer_fails_clearly() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("hangup")))
    respx.get(CALL).mock(return_value=httpx.Response(200, json=call_json("progressing")))
    hangup = respx.post(f"{CALL}/hangup").mock(return_value=httpx.Response(200, json=call_json("terminating")))
    with pytest.raises(TransferStateError, match="already failed"):
        VoipbinCompleteTransferOperator(task_id="t", transfer=transfer_json()).execute({})
    assert not hangup.called
    assert respx.calls.call_count == 2  # the check only


@respx.mock
def test_complete_before_anyone_answered_refuses_to_abandon_the_transfer() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("progressing")))
    respx.get(CALL).mock(return_value=httpx.Response(200, json=call_json("progressing")))
    with pytest.raises(TransferStateError, match="no transferee has answered"):
        VoipbinCompleteTransferOperator(task_id="t", transfer=transfer_json()).execute({})
    assert respx.calls.call_count == 2  # the check only


@respx.mock
def test_complete_returns_the_last_check_when_settling_times_out() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("progressing", answered=True)))
    respx.get(CALL).mock(return_value=httpx.Response(200, json=call_json("progressing")))
    respx.post(f"{CALL}/hangup").mock(return_value=httpx.Response(200, json=call_json("terminating")))
    op = VoipbinCompleteTransferOperator(task_id="t", transfer=transfer_json(), settle_timeout=0)
    xcom = op.execute({})
    assert xcom["status"] == "active"


# ---------------------------------------------------------------------------------------- cancel


@respx.mock
def test_cancel_hangs_up_the_ringing_groupcall_and_waits_for_failed() -> None:
    respx.get(GROUPCALL).mock(
        side_effect=responses(groupcall_json("progressing"), groupcall_json("hangingup"), groupcall_json("hangup"))
    )
    hangup = respx.post(f"{GROUPCALL}/hangup").mock(return_value=httpx.Response(200, json=groupcall_json("hangingup")))
    op = VoipbinCancelTransferOperator(task_id="t", transfer=transfer_json("blind"), poll_interval=0.1)
    xcom = op.execute({})
    assert hangup.call_count == 1
    assert xcom["status"] == "failed"


@respx.mock
def test_cancel_of_a_failed_transfer_succeeds_without_a_hangup(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("hangup")))
    xcom = VoipbinCancelTransferOperator(task_id="t", transfer=transfer_json("blind")).execute({})
    assert xcom["status"] == "failed"
    assert "is already failed" in capsys.readouterr().out
    respx.calls.assert_called_once()


@respx.mock
def test_cancel_of_a_completed_transfer_fails_clearly() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("progressing", answered=True)))
    with pytest.raises(TransferStateError, match="already completed"):
        VoipbinCancelTransferOperator(task_id="t", transfer=transfer_json("blind")).execute({})


@respx.mock
def test_cancel_that_loses_the_race_to_an_answer_fails() -> None:
    respx.get(GROUPCALL).mock(
        side_effect=responses(groupcall_json("progressing"), groupcall_json("progressing", answered=True))
    )
    respx.post(f"{GROUPCALL}/hangup").mock(return_value=httpx.Response(200, json=groupcall_json("progressing")))
    with pytest.raises(TransferStateError, match="ended completed"):
        VoipbinCancelTransferOperator(task_id="t", transfer=transfer_json("blind")).execute({})


@respx.mock
def test_cancel_of_a_groupcall_already_hanging_up_sends_no_second_hangup() -> None:
    respx.get(GROUPCALL).mock(side_effect=responses(groupcall_json("hangingup"), groupcall_json("hangup")))
    hangup = respx.post(f"{GROUPCALL}/hangup").mock(return_value=httpx.Response(200, json=groupcall_json("hangup")))
    xcom = VoipbinCancelTransferOperator(task_id="t", transfer=transfer_json("blind"), poll_interval=0.1).execute({})
    assert xcom["status"] == "failed" and not hangup.called


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"transfer": {"id": TRANSFER_ID}}, "transfer['type']"),
        ({"transfer": "not json at all"}, "transfer"),
        ({"settle_timeout": -1}, "settle_timeout"),
        ({"poll_interval": "soon"}, "poll_interval"),
    ],
)
def test_action_operators_check_literal_arguments_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(TransferValidationError) as info:
        VoipbinCancelTransferOperator(task_id="t", **{"transfer": transfer_json(), **kwargs})
    assert info.value.field == field


def test_action_operators_template_every_parameter() -> None:
    for cls in (VoipbinCompleteTransferOperator, VoipbinCancelTransferOperator):
        assert set(cls.template_fields) == {"transfer", "voipbin_conn_id", "settle_timeout", "poll_interval"}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "-1"])
def test_settle_arguments_refuse_non_finite_and_boolean_values(value: Any) -> None:
    for field in ("settle_timeout", "poll_interval"):
        with pytest.raises(TransferValidationError) as info:
            VoipbinCancelTransferOperator(task_id="t", transfer=transfer_json(), **{field: value})
        assert info.value.field == field
    assert (
        VoipbinCancelTransferOperator(task_id="t", transfer=transfer_json(), settle_timeout="5").settle_timeout == "5"
    )
