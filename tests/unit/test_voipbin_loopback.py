"""VoipbinHook and operators over real HTTP on loopback, against the sandbox (``transfer_sandbox``)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_transfers.exceptions import TransferAuthError, TransferNotFoundError, TransferServerError
from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.hooks.voipbin_auth import JwtAuth
from airflow_provider_transfers.models import TransferStatus
from airflow_provider_transfers.operators.voipbin import (
    VoipbinCancelTransferOperator,
    VoipbinCompleteTransferOperator,
)

ADDRESSES = [{"type": "tel", "target": "+15550001111"}, {"type": "tel", "target": "+15550002222"}]


def hook_for(sandbox: Any, *, jwt: bool = False, policy: dict[str, Any] | None = None, **over: Any) -> VoipbinHook:
    creds = sandbox.credentials
    fields: dict[str, Any] = {"conn_id": "voipbin_loopback", "conn_type": "voipbin", "host": sandbox.voipbin_url}
    if jwt:
        fields.update(login=creds.voipbin_username, password=creds.voipbin_password)
    else:
        fields.update(password=creds.voipbin_access_key)
    fields.update(over)
    fast = {"backoff_initial": 0.0, "backoff_max": 0.01, **(policy or {})}
    return VoipbinHook(connection=Connection(**fields), policy=fast)


def voipbin_requests(sandbox: Any) -> int:
    total: int = sandbox.control.stats()["platforms"].get("voipbin", {}).get("total", 0)
    return total


def answer_after(sandbox: Any, seconds: float, success: bool = True) -> None:
    sandbox.control.configure(
        success_rate=1.0 if success else 0.0, transfer_delay_min_s=seconds, transfer_delay_max_s=seconds
    )


@pytest.mark.parametrize("jwt", [False, True])
def test_attended_transfer_lifecycle(transfer_sandbox: Any, jwt: bool) -> None:
    answer_after(transfer_sandbox, 1.0)
    call = transfer_sandbox.control.create_voipbin_call()
    hook = hook_for(transfer_sandbox, jwt=jwt)
    transfer = hook.create_transfer("attended", call["id"], ADDRESSES).to_xcom()
    assert transfer["type"] == "attended" and transfer["transferer_call_id"] == call["id"]

    ringing = hook.check_transfer(transfer)
    assert ringing.status is TransferStatus.ACTIVE and not ringing.evidence["answered"]

    transfer_sandbox.control.advance_clock(1.0)
    consulting = hook.check_transfer(transfer)
    assert consulting.status is TransferStatus.ACTIVE and consulting.evidence["answered"]
    assert "consulting" in consulting.detail

    hook.hangup_call(call["id"])
    done = hook.check_transfer(transfer)
    assert done.status is TransferStatus.COMPLETED
    assert transfer_sandbox.control.transfer(transfer["id"])["status"] == "completed"
    hook.close()


async def test_blind_transfer_checks_cost_one_request_each(transfer_sandbox: Any) -> None:
    answer_after(transfer_sandbox, 2.0)
    call = transfer_sandbox.control.create_voipbin_call()
    hook = hook_for(transfer_sandbox)
    transfer = (await hook.acreate_transfer("blind", call["id"], ADDRESSES)).to_xcom()
    before = voipbin_requests(transfer_sandbox)
    assert (await hook.acheck_transfer(transfer)).status is TransferStatus.ACTIVE
    transfer_sandbox.control.advance_clock(2.0)
    assert (await hook.acheck_transfer(transfer)).status is TransferStatus.COMPLETED
    assert voipbin_requests(transfer_sandbox) - before == 2
    await hook.aclose()


def test_unanswered_transfer_fails(transfer_sandbox: Any) -> None:
    answer_after(transfer_sandbox, 1.0, success=False)
    call = transfer_sandbox.control.create_voipbin_call()
    hook = hook_for(transfer_sandbox)
    transfer = hook.create_transfer("attended", call["id"], ADDRESSES).to_xcom()
    transfer_sandbox.control.advance_clock(1.0)
    check = hook.check_transfer(transfer)
    assert check.status is TransferStatus.FAILED
    assert "nobody answered" in check.detail


def test_cancel_and_complete_operators_against_the_sandbox(transfer_sandbox: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOIPBIN_DEFAULT", transfer_sandbox.connection_env()["AIRFLOW_CONN_VOIPBIN_DEFAULT"]
    )
    answer_after(transfer_sandbox, 60.0)
    hook = hook_for(transfer_sandbox)
    ringing = hook.create_transfer("blind", transfer_sandbox.control.create_voipbin_call()["id"], ADDRESSES)

    cancel = VoipbinCancelTransferOperator(task_id="cancel", transfer=json.dumps(ringing.to_xcom()), poll_interval=0.1)
    assert cancel.execute({})["status"] == "failed"
    assert cancel.execute({})["status"] == "failed"  # idempotent

    answer_after(transfer_sandbox, 1.0)
    call = transfer_sandbox.control.create_voipbin_call()
    attended = hook.create_transfer("attended", call["id"], ADDRESSES).to_xcom()
    transfer_sandbox.control.advance_clock(1.0)
    complete = VoipbinCompleteTransferOperator(task_id="complete", transfer=attended, poll_interval=0.1)
    assert complete.execute({})["status"] == "completed"
    assert complete.execute({})["status"] == "completed"  # idempotent
    assert transfer_sandbox.control.transfer(attended["id"])["transferer_call"]["status"] == "hangup"


def test_refused_transfer_is_a_500_not_retried_with_a_hint(transfer_sandbox: Any) -> None:
    """Every transfer-manager refusal is a 500 on today's server (bin-transfer-manager/pkg/listenhandler/
    v1_transfers.go:28-32); a create is never retried on it (a second POST could start a second transfer)."""
    call = transfer_sandbox.control.create_voipbin_call(status="ringing")
    hook = hook_for(transfer_sandbox)
    with pytest.raises(TransferServerError) as info:
        hook.create_transfer("attended", call["id"], ADDRESSES)
    assert info.value.status_code == 500 and info.value.request_id
    assert "must be answered" in str(info.value) and "conference" in str(info.value)
    stats = transfer_sandbox.control.stats()["platforms"]["voipbin"]["endpoints"]
    assert stats["POST /v1.0/transfers"] == {"500": 1}


def test_unknown_groupcall_is_not_found(transfer_sandbox: Any) -> None:
    transfer = {
        "id": "11111111-2222-4333-8444-555555555555",
        "type": "blind",
        "groupcall_id": "11111111-2222-4333-8444-666666666666",
        "transferer_call_id": "11111111-2222-4333-8444-777777777777",
    }
    with pytest.raises(TransferNotFoundError, match="24 hours"):
        hook_for(transfer_sandbox).check_transfer(transfer)


@pytest.mark.parametrize("wire", ["current", "legacy"])
def test_token_lifetime_is_the_servers_expire_claim(transfer_sandbox: Any, wire: str) -> None:
    """The sandbox issues VoIPbin's token shape (type, agent, a string expire, no exp; before 2026 no type and
    Go's Time.String()): the hook's token expires when the server says, not after the 7-day default."""
    transfer_sandbox.control.configure(jwt_lifetime_s=600, voipbin_wire=wire)
    hook = hook_for(transfer_sandbox, jwt=True)
    hook.get_call(transfer_sandbox.control.create_voipbin_call()["id"])
    auth = hook.settings.auth
    assert isinstance(auth, JwtAuth) and auth.expires_at is not None
    assert 590 < auth.expires_at - time.time() <= 600.5


def test_a_refused_login_over_http_says_wrong_username_or_password(transfer_sandbox: Any) -> None:
    hook = hook_for(transfer_sandbox, jwt=True, password="not-the-password")
    with pytest.raises(TransferAuthError, match="username or password") as info:
        hook.get_call(transfer_sandbox.control.create_voipbin_call()["id"])
    assert info.value.status_code == 400 and "not-the-password" not in str(info.value)


def test_expired_jwt_is_renewed_once_over_http(transfer_sandbox: Any) -> None:
    transfer_sandbox.control.configure(jwt_lifetime_s=600)
    hook = hook_for(transfer_sandbox, jwt=True)
    call = transfer_sandbox.control.create_voipbin_call()
    hook.get_call(call["id"])
    transfer_sandbox.control.advance_clock(601)  # the server's clock: our token is now expired there
    assert hook.get_call(call["id"]).id == call["id"]
    auth = hook.settings.auth
    assert getattr(auth, "logins", None) == 2


@pytest.mark.parametrize(
    ("over", "ok", "start"),
    [
        ({}, True, "Connected to VoIPbin"),
        ({"password": "wrong-access-key"}, False, "Bad credentials: VoIPbin rejected the access key"),
        ({"login": "sandbox", "password": "wrong-password"}, False, "Bad credentials: VoIPbin rejected the username"),
        ({"host": "http://127.0.0.1:9/v1.0"}, False, "Cannot reach http://127.0.0.1:9/v1.0"),
    ],
)
def test_test_connection_over_http(transfer_sandbox: Any, over: dict[str, Any], ok: bool, start: str) -> None:
    result, message = hook_for(transfer_sandbox, policy={"max_attempts": 1}, **over).test_connection()
    assert result is ok and message.startswith(start), message
