"""VoIPbin emulation over real HTTP: lifecycles, auth, validation, pagination, timestamps."""

from __future__ import annotations

import re

import httpx
import pytest

from airflow_provider_transfers.sandbox.server import TransferSandbox

from .conftest import NIL_UUID, start_voipbin_transfer

TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def _get(client: httpx.Client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_transfer_shape_and_side_effects(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "blind", targets=2)
    assert transfer["type"] == "blind" and "transfer_type" not in transfer
    assert transfer["transferer_call_id"] == call["id"]
    assert TIME.match(transfer["tm_create"]) and transfer["tm_delete"] is None
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    assert groupcall["status"] == "progressing"
    assert groupcall["answer_call_id"] == NIL_UUID
    assert len(groupcall["call_ids"]) == 2
    calls = [_get(voipbin, f"/calls/{cid}") for cid in groupcall["call_ids"]]
    assert {c["status"] for c in calls} == {"dialing"}
    sandbox.control.advance_clock(0.21)
    assert {_get(voipbin, f"/calls/{cid}")["status"] for cid in groupcall["call_ids"]} == {"ringing"}


def test_blind_answered(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "blind", targets=3)
    sandbox.control.set_outcome(transfer["id"], "completed", delay_s=1)
    sandbox.control.advance_clock(1)
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    answered = groupcall["answer_call_id"]
    assert answered in groupcall["call_ids"]
    for cid in groupcall["call_ids"]:
        c = _get(voipbin, f"/calls/{cid}")
        if cid == answered:
            assert c["status"] == "progressing"
        else:
            assert (c["status"], c["hangup_reason"]) == ("hangup", "cancel")
    transferer = _get(voipbin, f"/calls/{call['id']}")
    assert (transferer["status"], transferer["hangup_reason"]) == ("hangup", "normal")
    assert sandbox.control.transfer(transfer["id"])["status"] == "completed"


def test_blind_unanswered(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "blind")
    sandbox.control.set_outcome(transfer["id"], "failed")
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    assert groupcall["status"] == "hangup"
    assert groupcall["answer_call_id"] == NIL_UUID
    for cid in groupcall["call_ids"]:
        c = _get(voipbin, f"/calls/{cid}")
        assert c["status"] == "hangup" and c["hangup_reason"] in ("noanswer", "busy")
    assert _get(voipbin, f"/calls/{call['id']}")["status"] == "progressing"
    assert sandbox.control.transfer(transfer["id"])["status"] == "failed"


def test_attended_answered_then_transferer_hangup(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(success_rate=1.0, transfer_delay_min_s=0.5, transfer_delay_max_s=0.5)
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "attended")
    sandbox.control.advance_clock(0.5)
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    assert groupcall["answer_call_id"] != NIL_UUID
    sandbox.control.advance_clock(3600)
    assert _get(voipbin, f"/calls/{call['id']}")["status"] == "progressing"  # consulting
    assert sandbox.control.transfer(transfer["id"])["status"] == "active"
    hung = voipbin.post(f"/calls/{call['id']}/hangup")
    assert hung.status_code == 200
    assert hung.json()["status"] == "terminating"
    transferer = _get(voipbin, f"/calls/{call['id']}")
    assert (transferer["status"], transferer["hangup_reason"]) == ("hangup", "normal")
    assert TIME.match(transferer["tm_hangup"])
    assert sandbox.control.transfer(transfer["id"])["status"] == "completed"
    assert voipbin.post(f"/calls/{call['id']}/hangup").json()["status"] == "hangup"  # idempotent


def test_attended_auto_complete_after(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    (transfer,) = sandbox.control.seed(
        "voipbin", 1, transfer_type="attended", outcome="completed", delay_s=1, auto_complete_after=2
    )
    sandbox.control.advance_clock(1.5)
    assert sandbox.control.transfer(transfer["id"])["status"] == "active"
    sandbox.control.advance_clock(2)
    assert sandbox.control.transfer(transfer["id"])["status"] == "completed"


def test_groupcall_cancel(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "blind")
    response = voipbin.post(f"/groupcalls/{transfer['groupcall_id']}/hangup")
    assert response.status_code == 200
    assert response.json()["status"] == "hangingup"
    sandbox.control.advance_clock(0.2)
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    assert groupcall["status"] == "hangup" and groupcall["answer_call_id"] == NIL_UUID
    for cid in groupcall["call_ids"]:
        c = _get(voipbin, f"/calls/{cid}")
        assert (c["status"], c["hangup_reason"]) == ("hangup", "cancel")
    sandbox.control.advance_clock(10)  # the planned outcome no longer applies
    assert _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")["answer_call_id"] == NIL_UUID
    assert sandbox.control.transfer(transfer["id"])["status"] == "failed"


def test_statuses_only_move_forward(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "blind")
    sandbox.control.set_outcome(transfer["id"], "failed")
    with pytest.raises(RuntimeError, match="409"):
        sandbox.control.set_outcome(transfer["id"], "completed")
    assert voipbin.post(f"/groupcalls/{transfer['groupcall_id']}/hangup").json()["status"] == "hangup"


def test_transfer_errors(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    ringing = sandbox.control.create_voipbin_call(status="ringing")
    good = {"transfer_type": "blind", "transferee_addresses": [{"type": "tel", "target": "+15550001111"}]}
    cases = [
        ({**good, "transferer_call_id": "7f0c2f4e-0000-4000-8000-000000000000"}, 404, "CALL_NOT_FOUND"),
        ({**good, "transferer_call_id": ringing["id"]}, 409, "CALL_STATE_INVALID"),
        ({**good, "transfer_type": "warm", "transferer_call_id": ringing["id"]}, 400, "INVALID_TRANSFER_TYPE"),
        ({**good, "transferer_call_id": "nope"}, 400, "INVALID_TRANSFERER_CALL_ID"),
        (
            {**good, "transferer_call_id": ringing["id"], "transferee_addresses": []},
            400,
            "INVALID_TRANSFEREE_ADDRESSES",
        ),
        (
            {**good, "transferer_call_id": ringing["id"], "transferee_addresses": [{"type": "pigeon"}]},
            400,
            "INVALID_TRANSFEREE_ADDRESSES",
        ),
    ]
    for body, status, reason in cases:
        response = voipbin.post("/transfers", json=body)
        assert response.status_code == status, body
        error = response.json()["error"]
        assert error["reason"] == reason
        assert re.fullmatch(r"req_[0-9A-F]{16}", error["request_id"])
        assert error["details"] == []
    assert voipbin.get(f"/calls/{NIL_UUID}").json()["error"]["status"] == "NOT_FOUND"
    assert voipbin.get("/groupcalls/x").json()["error"]["reason"] == "GROUPCALL_NOT_FOUND"
    assert sandbox.control.health()["resources"]["voipbin_transfers"] == 0


def test_auth_cookie_query_and_jwt(sandbox: TransferSandbox) -> None:
    creds = sandbox.credentials
    url = sandbox.voipbin_url
    call = sandbox.control.create_voipbin_call()
    path = f"{url}/calls/{call['id']}"
    assert httpx.get(path, cookies={"accesskey": creds.voipbin_access_key}).status_code == 200
    assert httpx.get(path, params={"accesskey": creds.voipbin_access_key}).status_code == 200
    login = httpx.post(
        f"{sandbox.url}/auth/login", json={"username": creds.voipbin_username, "password": creds.voipbin_password}
    )
    assert login.status_code == 200
    assert login.json()["username"] == creds.voipbin_username
    token = login.json()["token"]
    assert token.count(".") == 2
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(path, headers=bearer).status_code == 200
    wrong = httpx.post(f"{sandbox.url}/auth/login", json={"username": creds.voipbin_username, "password": "x"})
    assert wrong.status_code == 401


def test_jwt_expires(sandbox: TransferSandbox) -> None:
    creds = sandbox.credentials
    call = sandbox.control.create_voipbin_call()
    path = f"{sandbox.voipbin_url}/calls/{call['id']}"

    def login() -> dict[str, str]:
        body = {"username": creds.voipbin_username, "password": creds.voipbin_password}
        return {"Authorization": f"Bearer {httpx.post(f'{sandbox.url}/auth/login', json=body).json()['token']}"}

    week = login()
    sandbox.control.advance_clock(7 * 24 * 3600 - 60)
    assert httpx.get(path, headers=week).status_code == 200
    sandbox.control.advance_clock(61)
    expired = httpx.get(path, headers=week)
    assert expired.status_code == 401
    assert expired.json()["error"]["status"] == "UNAUTHENTICATED"
    sandbox.control.configure(jwt_lifetime_s=30)
    short = login()
    sandbox.control.advance_clock(31)
    assert httpx.get(path, headers=short).status_code == 401


def test_missing_credentials_bare_400_wrong_ones_401(sandbox: TransferSandbox) -> None:
    url = f"{sandbox.voipbin_url}/calls"
    missing = httpx.get(url)
    assert missing.status_code == 400
    assert missing.content == b""
    for kwargs in (
        {"cookies": {"accesskey": "nope"}},
        {"params": {"accesskey": "nope"}},
        {"headers": {"Authorization": "Bearer a.b.c"}},
        {"headers": {"Authorization": "Basic c2FuZGJveDp4"}},
    ):
        response = httpx.get(url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_pagination_stops_on_empty_result(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(rate_limit=False)
    sandbox.control.seed("voipbin", 120, delay_s=0)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        response = voipbin.get("/calls", params={"page_size": 1000, "page_token": token})
        page = response.json()
        pages += 1
        if not page["result"]:
            assert page["next_page_token"] == ""
            break
        assert len(page["result"]) <= 100
        assert page["next_page_token"]
        seen.extend(c["id"] for c in page["result"])
        token = page["next_page_token"]
    assert len(seen) == len(set(seen)) == 120 * 3  # transferer + customer leg + one transferee each
    assert pages == 5
    groupcalls = voipbin.get("/groupcalls", params={"page_size": 50}).json()
    assert len(groupcalls["result"]) == 50
    stamps = [g["tm_create"] for g in groupcalls["result"]]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("style", ["null", "sentinel", "absent"])
def test_deleted_style(voipbin: httpx.Client, sandbox: TransferSandbox, style: str) -> None:
    sandbox.control.configure(deleted_style=style)
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"])
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    fetched = _get(voipbin, f"/calls/{call['id']}")
    for obj in (transfer, groupcall, fetched):
        if style == "absent":
            assert "tm_delete" not in obj
        else:
            assert obj["tm_delete"] == (None if style == "null" else "9999-01-01 00:00:00.000000")
    assert TIME.match(fetched["tm_create"])
