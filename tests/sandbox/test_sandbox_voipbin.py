"""VoIPbin emulation over real HTTP: lifecycles, auth, validation, pagination, timestamps.

Expectations follow the server source, ``voipbin/monorepo`` at commit 2bf22fa4 (paths cited per test).
"""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest

from airflow_provider_transfers.sandbox.server import TransferSandbox

from .conftest import NIL_UUID, start_voipbin_transfer

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
"""RFC 3339 as Go marshals a time.Time (bin-api-manager/server/calls_test.go:272: 2020-09-20T03:23:21.995Z)."""
LEGACY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def _get(client: httpx.Client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_transfer_shape_and_side_effects(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(ring_delay_s=5, transfer_delay_min_s=3600, transfer_delay_max_s=3600)
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "blind", targets=2)
    assert transfer["type"] == "blind" and "transfer_type" not in transfer
    assert transfer["transferer_call_id"] == call["id"]
    assert TIME.match(transfer["tm_create"]) and transfer["tm_delete"] is None
    # transferhandler/db.go + transfer/webhook.go:14-30: nothing set yet, no omitempty.
    assert transfer["transferee_call_id"] == NIL_UUID and transfer["tm_update"] is None
    assert transfer["transferee_addresses"] == [
        {"type": "tel", "target": "+15550000000"},
        {"type": "tel", "target": "+15550000001"},
    ]
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    # blind.go:103-116: the groupcall carries the agent call's own master_call_id (the caller's call).
    assert groupcall["master_call_id"] == call["master_call_id"] != NIL_UUID
    assert groupcall["status"] == "progressing"
    assert groupcall["answer_call_id"] == NIL_UUID
    assert len(groupcall["call_ids"]) == 2
    calls = [_get(voipbin, f"/calls/{cid}") for cid in groupcall["call_ids"]]
    assert {c["status"] for c in calls} == {"dialing"}
    assert {c["groupcall_id"] for c in calls} == {NIL_UUID}  # call/webhook.go:57-91 never copies it
    assert {c["master_call_id"] for c in calls} == {call["master_call_id"]}
    assert all("tm_hangup" not in c and "hangup_reason" not in c and "tm_delete" not in c for c in calls)
    # blind.go:90-95: the agent's call is hung up before the groupcall is created.
    agent = _get(voipbin, f"/calls/{call['id']}")
    assert agent["status"] == "hangup" and agent["tm_hangup"] <= groupcall["tm_create"]
    sandbox.control.advance_clock(5)
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
    assert _get(voipbin, f"/calls/{call['id']}")["status"] == "hangup"  # blind: hung up first
    # transferee.go:45-58: nobody answered, the caller's conference is terminated.
    assert _get(voipbin, f"/calls/{call['master_call_id']}")["status"] == "hangup"
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
    truth = sandbox.control.transfer(transfer["id"])
    assert truth["status"] == "completed"
    # transferer.go:70-75: only now does the transfer name the transferee call.
    assert truth["transfer"]["transferee_call_id"] == groupcall["answer_call_id"]
    assert TIME.match(truth["transfer"]["tm_update"])
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
    # bin-call-manager pkg/groupcallhandler/hangup.go:45-75: hanging up an ended groupcall sets it back to
    # hangingup with no member left to bring it to hangup, for good; the transfer stays failed.
    assert voipbin.post(f"/groupcalls/{transfer['groupcall_id']}/hangup").json()["status"] == "hangingup"
    sandbox.control.advance_clock(60)
    assert _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")["status"] == "hangingup"
    assert sandbox.control.transfer(transfer["id"])["status"] == "failed"


def test_transfer_errors(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    """bin-api-manager/server/transfers.go:44-65 checks only that the body is JSON; everything the
    transfer manager refuses is a bare 500 there (listenhandler/v1_transfers.go:28-32), so an INTERNAL
    envelope here (server/error_translate.go:41-50)."""
    ringing = sandbox.control.create_voipbin_call(status="ringing")
    live = sandbox.control.create_voipbin_call()
    good = {"transfer_type": "blind", "transferee_addresses": [{"type": "tel", "target": "+15550001111"}]}
    cases = [
        # bin-call-manager pkg/callhandler/db.go:166-184; "nope" is uuid.FromStringOrNil -> the nil UUID.
        ({**good, "transferer_call_id": "7f0c2f4e-0000-4000-8000-000000000000"}, 404, "CALL_NOT_FOUND"),
        ({**good, "transferer_call_id": "nope"}, 404, "CALL_NOT_FOUND"),
        ({**good, "transferer_call_id": ringing["id"]}, 500, "INTERNAL"),  # not in a conference
        ({**good, "transfer_type": "warm", "transferer_call_id": live["id"]}, 500, "INTERNAL"),
        # attended: the groupcall is refused before anything else happens (attended.go:21-44)
        (
            {**good, "transfer_type": "attended", "transferer_call_id": live["id"], "transferee_addresses": []},
            500,
            "INTERNAL",
        ),
    ]
    for body, status, reason in cases:
        response = voipbin.post("/transfers", json=body)
        assert response.status_code == status, body
        error = response.json()["error"]
        assert error["reason"] == reason
        assert re.fullmatch(r"req_[A-Z2-7]{26}", error["request_id"])  # middleware/request_id.go:102-111
        assert response.headers["X-Request-Id"] == error["request_id"]
        assert "details" not in error  # lib/apierror/envelope.go:34-36: only when non-empty
    for raw in (b"{not json", b"[1, 2]"):
        response = voipbin.post("/transfers", content=raw, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()["error"]["reason"]) == (400, "INVALID_JSON_BODY")
    assert voipbin.get(f"/calls/{NIL_UUID}").json()["error"]["reason"] == "INVALID_ID"
    invalid = voipbin.get("/calls/not-a-uuid")
    assert invalid.status_code == 400
    assert invalid.json()["error"] == {**invalid.json()["error"], "status": "INVALID_ARGUMENT", "reason": "INVALID_ID"}
    assert voipbin.get("/groupcalls/x").json()["error"]["reason"] == "INVALID_ID"
    missing = voipbin.get("/groupcalls/7f0c2f4e-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    assert sandbox.control.health()["resources"]["voipbin_transfers"] == 0
    assert _get(voipbin, f"/calls/{live['id']}")["status"] == "progressing"  # a refusal changes nothing


@pytest.mark.parametrize(
    "addresses",
    [
        [],  # bin-call-manager pkg/groupcallhandler/start.go:47-50: no destination
        [{"type": "conference", "target": "7f0c2f4e-0000-4000-8000-000000000001"}],  # dial.go:170-172
        [{"type": "extension", "target": "7f0c2f4e-0000-4000-8000-000000000002"}],  # dial.go:197-200: no contact
    ],
)
def test_blind_refusal_comes_after_the_agent_was_hung_up(
    voipbin: httpx.Client, sandbox: TransferSandbox, addresses: list[dict[str, str]]
) -> None:
    """blind.go:90-121: the agent's call is hung up before the groupcall is created; a groupcall that cannot
    be created is a 500 (transfer.go -> listenhandler/v1_transfers.go:28-32) with the agent already gone, and
    no transfer. The customer stays (the agent's call is chained to theirs, not the other way round)."""
    live = sandbox.control.create_voipbin_call()
    body = {"transfer_type": "blind", "transferer_call_id": live["id"], "transferee_addresses": addresses}
    response = voipbin.post("/transfers", json=body)
    assert (response.status_code, response.json()["error"]["reason"]) == (500, "INTERNAL")
    assert sandbox.control.health()["resources"]["voipbin_transfers"] == 0
    assert _get(voipbin, f"/calls/{live['id']}")["status"] == "hangup"
    assert _get(voipbin, f"/calls/{live['master_call_id']}")["status"] == "progressing"


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
    # authenticate.go:295-323: a token cookie or ?token= works as well.
    assert httpx.get(path, cookies={"token": token}).status_code == 200
    assert httpx.get(path, params={"token": token}).status_code == 200
    # bin-api-manager lib/service/auth.go:55-61: a refused login is a bare 400.
    wrong = httpx.post(f"{sandbox.url}/auth/login", json={"username": creds.voipbin_username, "password": "x"})
    assert (wrong.status_code, wrong.content) == (400, b"")


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
    assert expired.json()["error"]["reason"] == "INVALID_CREDENTIALS"
    sandbox.control.configure(jwt_lifetime_s=30)
    short = login()
    sandbox.control.advance_clock(31)
    assert httpx.get(path, headers=short).status_code == 401


def test_missing_credentials_401_required_wrong_ones_401_invalid(sandbox: TransferSandbox) -> None:
    """bin-api-manager/lib/middleware/authenticate.go:46-69: no credential (a non-Bearer Authorization
    header counts as none) -> AUTHENTICATION_REQUIRED; a wrong key or token -> INVALID_CREDENTIALS."""
    url = f"{sandbox.voipbin_url}/calls"
    for kwargs in ({}, {"headers": {"Authorization": "Basic c2FuZGJveDp4"}}):
        missing = httpx.get(url, **kwargs)  # type: ignore[arg-type]
        assert missing.status_code == 401
        assert missing.json()["error"]["reason"] == "AUTHENTICATION_REQUIRED"
    for kwargs in (
        {"cookies": {"accesskey": "nope"}},
        {"params": {"accesskey": "nope"}},
        {"headers": {"Authorization": "Bearer a.b.c"}},
        {"cookies": {"token": "a.b.c"}},
    ):
        response = httpx.get(url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 401
        assert response.json()["error"] == {
            **response.json()["error"],
            "status": "UNAUTHENTICATED",
            "reason": "INVALID_CREDENTIALS",
        }


def test_legacy_wire_missing_credentials_is_an_empty_401(sandbox: TransferSandbox) -> None:
    sandbox.control.configure(voipbin_wire="legacy")
    missing = httpx.get(f"{sandbox.voipbin_url}/calls")
    assert (missing.status_code, missing.content) == (401, b"")


def test_rate_limited_says_by_whom(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    """customer_ratelimit_test.go:239-286: details [{"limited_by": "customer"}]."""
    sandbox.control.configure(voipbin_rate=0.001, voipbin_burst=1)
    statuses = [voipbin.get("/calls") for _ in range(2)]
    limited = statuses[-1]
    assert limited.status_code == 429
    assert limited.json()["error"]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert limited.json()["error"]["details"] == [{"limited_by": "customer"}]


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
    assert len(voipbin.get("/groupcalls").json()["result"]) == 100  # the default page is 100
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", groupcalls["next_page_token"])
    # Trimmed fractions (.2999Z vs .299979Z) do not sort as strings: compare instants.
    stamps = [datetime.fromisoformat(g["tm_create"]) for g in groupcalls["result"]]
    assert stamps == sorted(stamps, reverse=True)


def test_current_wire_omits_unset_and_empty(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    """call/webhook.go:17-54 and groupcall/webhook.go:14-44: omitempty on strings, slices, counts and
    time pointers; transfer/webhook.go:27-29: none, so null."""
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "attended")
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    fetched = _get(voipbin, f"/calls/{call['id']}")
    for obj in (groupcall, fetched):
        assert "tm_delete" not in obj and TIME.match(obj["tm_create"])
    for key in ("hangup_reason", "hangup_by", "tm_hangup", "chained_call_ids", "recording_ids", "metadata"):
        assert key not in fetched
    for key in ("groupcall_ids", "groupcall_count", "dial_index"):
        assert key not in groupcall
    assert fetched["action"]["id"] != NIL_UUID and TIME.match(fetched["action"]["tm_execute"])
    assert transfer["tm_delete"] is None and transfer["tm_update"] is None


@pytest.mark.parametrize("style", ["null", "sentinel", "absent"])
def test_legacy_wire_deleted_style(voipbin: httpx.Client, sandbox: TransferSandbox, style: str) -> None:
    """Before February 2026: string timestamps, unset ones the database default 9999-01-01 (bin-call-
    manager/pkg/dbhandler/call.go:54-58 at commit 43fbfc62), or as deleted_style says."""
    sandbox.control.configure(voipbin_wire="legacy", deleted_style=style)
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"])
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    fetched = _get(voipbin, f"/calls/{call['id']}")
    for obj in (transfer, groupcall, fetched):
        if style == "absent":
            assert "tm_delete" not in obj
        else:
            assert obj["tm_delete"] == (None if style == "null" else "9999-01-01 00:00:00.000000")
    assert LEGACY_TIME.match(fetched["tm_create"]) and LEGACY_TIME.match(transfer["tm_create"])
    page = voipbin.get("/calls", params={"page_size": 1}).json()
    assert LEGACY_TIME.match(page["next_page_token"])
    assert voipbin.get("/calls", params={"page_size": 1, "page_token": page["next_page_token"]}).json()["result"]


# ------------------------------------------------------------------ production behaviours (issue 18)

OTHER_CUSTOMER = "0b0b0b0b-0000-4000-8000-0b0b0b0b0b0b"
DENIED = ("PERMISSION_DENIED", "PERMISSION_DENIED")


def _error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["status"], error["reason"]


@pytest.mark.parametrize("wire", ["current", "legacy"])
def test_another_customers_call_and_groupcall_are_403_not_404(
    voipbin: httpx.Client, sandbox: TransferSandbox, wire: str
) -> None:
    """bin-api-manager pkg/servicehandler/call.go:148-158, groupcall.go:109-119, transfer.go:33-42: the
    resource exists, so it is a 403 PERMISSION_DENIED; before April 2026 a bare 400 (server/calls.go at
    43fbfc62)."""
    sandbox.control.configure(voipbin_wire=wire)
    (theirs,) = sandbox.control.seed("voipbin", customer_id=OTHER_CUSTOMER, delay_s=3600)
    mine = sandbox.control.create_voipbin_call()
    requests = [
        voipbin.get(f"/calls/{theirs['transferer_call_id']}"),
        voipbin.post(f"/calls/{theirs['transferer_call_id']}/hangup"),
        voipbin.get(f"/groupcalls/{theirs['groupcall_id']}"),
        voipbin.post(f"/groupcalls/{theirs['groupcall_id']}/hangup"),
        voipbin.post(
            "/transfers",
            json={
                "transfer_type": "attended",
                "transferer_call_id": sandbox.control.create_voipbin_call(customer_id=OTHER_CUSTOMER)["id"],
                "transferee_addresses": [{"type": "tel", "target": "+15550001111"}],
            },
        ),
    ]
    for response in requests:
        if wire == "legacy":
            assert (response.status_code, response.content) == (400, b"")
        else:
            assert _error(response) == (403, *DENIED)
    assert sandbox.control.transfer(theirs["id"])["groupcall"]["status"] == "progressing"  # nothing happened
    assert _get(voipbin, f"/calls/{mine['id']}")["customer_id"] == sandbox.credentials.voipbin_customer_id
    listed = voipbin.get("/groupcalls").json()["result"]
    assert theirs["groupcall_id"] not in {g["id"] for g in listed}


def test_credentials_without_the_permission_are_refused_on_the_list_too(
    voipbin: httpx.Client, sandbox: TransferSandbox
) -> None:
    """servicehandler/etc.go:13-27: without the customer admin/manager permission every call and groupcall
    endpoint answers 403, the lists included (call.go:185-188): what tells refused credentials apart."""
    call = sandbox.control.create_voipbin_call()
    sandbox.control.configure(voipbin_permission=False)
    assert _error(voipbin.get("/calls", params={"page_size": 1})) == (403, *DENIED)
    assert _error(voipbin.get(f"/calls/{call['id']}")) == (403, *DENIED)


@pytest.mark.parametrize("wire", ["current", "legacy"])
def test_a_deleted_call_answers_409(voipbin: httpx.Client, sandbox: TransferSandbox, wire: str) -> None:
    """DELETE /calls/{id} hangs the call up and marks it deleted (bin-call-manager pkg/callhandler/call.go:
    13-49); every call endpoint then refuses it with 409 STATE_INVALID (servicehandler/call.go:36-38)."""
    sandbox.control.configure(voipbin_wire=wire)
    call = sandbox.control.create_voipbin_call()
    deleted = voipbin.delete(f"/calls/{call['id']}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "hangup" and deleted.json()["tm_delete"]
    other = sandbox.control.create_voipbin_call()
    assert sandbox.control.delete_voipbin_call(other["id"])["tm_delete"]
    for cid in (call["id"], other["id"]):
        responses = [
            voipbin.get(f"/calls/{cid}"),
            voipbin.post(f"/calls/{cid}/hangup"),
            voipbin.post("/transfers", json={"transfer_type": "blind", "transferer_call_id": cid}),
        ]
        for response in responses:
            if wire == "legacy":
                assert (response.status_code, response.content) == (400, b"")
            else:
                assert _error(response) == (409, "FAILED_PRECONDITION", "STATE_INVALID")


@pytest.mark.parametrize(
    "body",
    [
        {"transfer_type": 1},
        {"transferer_call_id": ["x"]},
        {"transferee_addresses": "tel:+15550001111"},
        {"transferee_addresses": [{"type": "tel", "target": 15550001111}]},
        {"transferee_addresses": [1]},
    ],
)
def test_a_wrongly_typed_body_is_400_invalid_json_body(
    voipbin: httpx.Client, sandbox: TransferSandbox, body: dict
) -> None:
    """server/transfers.go:44-53: gin's BindJSON into PostTransfersJSONBody (gens/openapi_server/gen.go:
    7855-7863, CommonAddress 2561-2576) fails on a field of the wrong type."""
    call = sandbox.control.create_voipbin_call()
    response = voipbin.post("/transfers", json={"transfer_type": "blind", "transferer_call_id": call["id"], **body})
    assert _error(response) == (400, "INVALID_ARGUMENT", "INVALID_JSON_BODY")
    assert _get(voipbin, f"/calls/{call['id']}")["status"] == "progressing"


def test_a_null_body_binds_and_finds_no_call(voipbin: httpx.Client) -> None:
    response = voipbin.post("/transfers", content=b"null", headers={"Content-Type": "application/json"})
    assert _error(response) == (404, "NOT_FOUND", "CALL_NOT_FOUND")


@pytest.mark.parametrize("wire", ["current", "legacy"])
def test_page_size_that_is_no_integer_is_400(voipbin: httpx.Client, sandbox: TransferSandbox, wire: str) -> None:
    """gens/openapi_server/gen.go:11662-11668 binds page_size before the handler: today through
    server/error.go:117-139, before July 2026 oapi-codegen's default {"msg": ...}. Out of range: 100."""
    sandbox.control.configure(voipbin_wire=wire, rate_limit=False)
    sandbox.control.seed("voipbin", 2, delay_s=3600)
    response = voipbin.get("/calls", params={"page_size": "ten"})
    assert response.status_code == 400
    if wire == "legacy":
        assert response.json()["msg"].startswith("Invalid format for parameter page_size")
    else:
        assert _error(response) == (400, "INVALID_ARGUMENT", "INVALID_REQUEST_PARAMETER")
    for size in ("0", "-1", "1000"):
        assert len(voipbin.get("/calls", params={"page_size": size}).json()["result"]) == 6


def _login(sandbox: TransferSandbox, **body: object) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/auth/login", json=body)


@pytest.mark.parametrize("wire", ["current", "legacy"])
def test_login_refusals_are_bare_400s_and_tokens_carry_a_string_expire(sandbox: TransferSandbox, wire: str) -> None:
    """lib/service/auth.go:43-61: a body that does not bind and a wrong username or password are both a bare
    400. pkg/servicehandler/auth.go:14-49, boot.go:165-183: the token's claims are type, agent and a string
    expire (utilhandler/time.go:10), no exp; before 2026 no type and expire as Go's Time.String()."""
    import base64
    import json

    sandbox.control.configure(voipbin_wire=wire)
    creds = sandbox.credentials
    for body in ({}, {"username": creds.voipbin_username}, {"username": 1, "password": "x"}):
        refused = _login(sandbox, **body)
        assert (refused.status_code, refused.content) == (400, b""), body
    assert httpx.post(f"{sandbox.url}/auth/login", content=b"{").status_code == 400
    wrong = _login(sandbox, username=creds.voipbin_username, password="nope")
    assert (wrong.status_code, wrong.content) == (400, b"")
    token = _login(sandbox, username=creds.voipbin_username, password=creds.voipbin_password).json()["token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert "exp" not in claims and claims["agent"]["customer_id"] == creds.voipbin_customer_id
    if wire == "legacy":
        assert "type" not in claims and re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?", claims["expire"])
    else:
        assert claims["type"] == "agent"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", claims["expire"])
    call = sandbox.control.create_voipbin_call()
    url = f"{sandbox.voipbin_url}/calls/{call['id']}"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    sandbox.control.advance_clock(7 * 24 * 3600 + 1)
    expired = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    if wire == "legacy":
        assert (expired.status_code, expired.content) == (401, b"")
    else:
        assert _error(expired) == (401, "UNAUTHENTICATED", "INVALID_CREDENTIALS")


def test_legacy_wire_rate_limit_and_internal_errors(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    """The first rate limiter (lib/middleware/ratelimit.go:70-80 at 4e720e6a) answered {"error":
    "rate_limit_exceeded", "message"} without Retry-After; an unexpected failure was gin's bare 500."""
    sandbox.control.configure(voipbin_wire="legacy", voipbin_rate=0.001, voipbin_burst=1)
    voipbin.get("/calls")
    limited = voipbin.get("/calls")
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert limited.json() == {"error": "rate_limit_exceeded", "message": "Too many requests. Please try again later."}
    sandbox.control.configure(rate_limit=False, faults="500=1.0")
    failed = voipbin.get("/calls")
    assert (failed.status_code, failed.content) == (500, b"")


def test_legacy_wire_bad_credentials_are_a_bare_401(sandbox: TransferSandbox) -> None:
    """lib/middleware/authenticate.go at 43fbfc62: c.AbortWithStatus(401) for any failed authentication."""
    sandbox.control.configure(voipbin_wire="legacy")
    for kwargs in ({"cookies": {"accesskey": "nope"}}, {"headers": {"Authorization": "Bearer a.b.c"}}):
        response = httpx.get(f"{sandbox.voipbin_url}/calls", **kwargs)  # type: ignore[arg-type]
        assert (response.status_code, response.content) == (401, b"")


def test_transferee_calls_are_chained_to_the_customers_call(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    """callhandler/outgoing_call.go:335-343 -> chained_call.go:14-69: each transferee call gets the customer's
    call as master_call_id and joins its chained_call_ids; hanging the customer up hangs them up
    (callhandler/hangup.go:89-101)."""
    sandbox.control.configure(transfer_delay_min_s=3600, transfer_delay_max_s=3600)
    call = sandbox.control.create_voipbin_call()
    transfer = start_voipbin_transfer(voipbin, call["id"], "attended", targets=2)
    groupcall = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    customer = _get(voipbin, f"/calls/{call['master_call_id']}")
    assert customer["chained_call_ids"] == [call["id"], *groupcall["call_ids"]]
    assert {_get(voipbin, f"/calls/{c}")["master_call_id"] for c in groupcall["call_ids"]} == {customer["id"]}
    sandbox.control.voipbin_event(transfer["id"], "caller_hangup")
    assert {_get(voipbin, f"/calls/{c}")["status"] for c in [call["id"], *groupcall["call_ids"]]} == {"hangup"}
    assert _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")["status"] == "hangup"


def test_agent_and_extension_addresses_among_several_are_nested_groupcalls(
    voipbin: httpx.Client, sandbox: TransferSandbox
) -> None:
    """groupcallhandler/start.go:112-147 (IsGroupcallTypeAddress, 243-252); an answer there never reaches the
    top groupcall (answer.go:69-82), which keeps ringing its other members."""
    sandbox.control.configure(transfer_delay_min_s=3600, transfer_delay_max_s=3600)
    call = sandbox.control.create_voipbin_call()
    addresses = [
        {"type": "agent", "target": "7f0c2f4e-0000-4000-8000-00000000a9e1"},
        {"type": "extension", "target": "1001", "target_name": "1001"},
        {"type": "tel", "target": "+15550001111"},
    ]
    body = {"transfer_type": "blind", "transferer_call_id": call["id"], "transferee_addresses": addresses}
    transfer = voipbin.post("/transfers", json=body).json()
    top = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    assert (len(top["call_ids"]), len(top["groupcall_ids"]), top["call_count"], top["groupcall_count"]) == (1, 2, 1, 2)
    nested = [_get(voipbin, f"/groupcalls/{g}") for g in top["groupcall_ids"]]
    assert {g["master_groupcall_id"] for g in nested} == {top["id"]}
    assert [g["destinations"][0]["type"] for g in nested] == ["agent", "extension"]
    sandbox.control.voipbin_event(transfer["id"], "answer", address=0)
    top = _get(voipbin, f"/groupcalls/{transfer['groupcall_id']}")
    assert top["answer_call_id"] == top["answer_groupcall_id"] == NIL_UUID
    assert _get(voipbin, f"/groupcalls/{nested[0]['id']}")["answer_call_id"] != NIL_UUID
    assert _get(voipbin, f"/calls/{top['call_ids'][0]}")["status"] in ("dialing", "ringing")  # still ringing
