"""Recorded VoIPbin response bodies (``tests/fixtures/voipbin``), taken from the server repository's own
tests (``voipbin/monorepo``; each file names its source line and commit): parsed by the models, replayed
through the hook (respx), and compared field by field with what the sandbox sends.

The bodies come from the server's handler tests, whose mocks leave most fields empty: Go's ``omitempty``
then drops them. So a fixture's keys are exactly the keys the server *always* sends; every other key may
appear only with a non-empty value. That is what the sandbox comparison checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from airflow.sdk import Connection
from pydantic import ValidationError

from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferAuthError,
    TransferRateLimitError,
    TransferServerError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.voipbin import CALL_STATE_HINT, VoipbinHook
from airflow_provider_transfers.models import (
    TransferStatus,
    VoipbinCall,
    VoipbinGroupcall,
    VoipbinTransfer,
)
from airflow_provider_transfers.sandbox.server import TransferSandbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "voipbin"
BASE = "https://api.voipbin.net/v1.0"
NIL = "00000000-0000-0000-0000-000000000000"
CURRENT_COMMIT = "2bf22fa4e87d077a69442aa02f74b0c18e2915dd"
LEGACY_COMMIT = "43fbfc6212c4224bfa5c8c594740a3c027ed311c"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
LEGACY_SANDBOX_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
INSTANT = datetime(2020, 9, 20, 3, 23, 21, 995000, tzinfo=UTC)

# Go omitempty fields (may be absent; when present, never empty):
# bin-call-manager/models/call/webhook.go:17-54, bin-call-manager/models/groupcall/webhook.go:14-44.
CALL_OMITEMPTY = {
    "type", "chained_call_ids", "recording_ids", "status", "metadata", "direction", "mute_direction",
    "hangup_by", "hangup_reason", "tm_progressing", "tm_ringing", "tm_hangup", "tm_create", "tm_update", "tm_delete",
}  # fmt: skip
GROUPCALL_OMITEMPTY = {
    "status", "source", "destinations", "ring_method", "answer_method", "call_ids", "groupcall_ids", "call_count",
    "groupcall_count", "dial_index", "tm_create", "tm_update", "tm_delete",
}  # fmt: skip
ACTION_OMITEMPTY = {"type", "option"}


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def body(name: str) -> Any:
    return load(name)["body"]


def all_fixtures() -> list[str]:
    return sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json"))


@pytest.mark.parametrize("name", all_fixtures())
def test_every_fixture_names_its_source(name: str) -> None:
    doc = load(name)
    assert re.fullmatch(r"bin-[a-z-]+/[\w/.-]+\.(go|rst):\d+", doc["source"]), doc["source"]
    assert doc["repository"] == "voipbin/monorepo"
    assert doc["commit"] == (LEGACY_COMMIT if name.startswith("legacy/") else CURRENT_COMMIT)
    assert doc["wire"] == ("legacy" if name.startswith("legacy/") else "current")
    assert isinstance(doc["http_status"], int) and doc["note"]


# ------------------------------------------------------------------------------------------ the models


@pytest.mark.parametrize("name", ["call_get.json", "legacy/call_get.json"])
def test_calls_parse_in_both_wire_forms(name: str) -> None:
    call = VoipbinCall.model_validate(body(name))
    assert call.tm_create == INSTANT  # "2020-09-20T03:23:21.995Z" and "2020-09-20T03:23:21.995000"
    assert call.status is None and call.hangup_reason is None  # omitted when empty
    assert call.groupcall_id is None and call.tm_hangup is None and call.tm_delete is None
    assert call.to_xcom()["action"]["id"] == NIL  # undeclared fields are kept


@pytest.mark.parametrize("name", ["calls_list.json", "legacy/calls_list.json"])
def test_call_pages_parse(name: str) -> None:
    page = body(name)
    calls = [VoipbinCall.model_validate(item) for item in page["result"]]
    assert calls and all(c.tm_create is not None and c.tm_create.year == 2020 for c in calls)
    assert page["next_page_token"].startswith("2020-09-20T03:23:2")


@pytest.mark.parametrize("name", ["groupcall_get.json", "legacy/groupcall_get.json", "groupcalls_list.json"])
def test_groupcalls_parse(name: str) -> None:
    raw = body(name)
    for item in raw.get("result", [raw]):
        groupcall = VoipbinGroupcall.model_validate(item)
        assert groupcall.answer_call_id is None and groupcall.master_call_id is None  # nil UUIDs
        assert groupcall.status is None and groupcall.call_ids == []  # omitted


@pytest.mark.parametrize(
    "name", ["transfer_create.json", "transfer_manager_transfer.json", "legacy/transfer_create.json"]
)
def test_transfers_parse_but_a_transfer_without_type_is_refused(name: str) -> None:
    """The handler tests' mocks leave ``type`` empty, which no real transfer has (transferhandler/
    attended.go:153, blind.go:124 always pass a type). Everything else parses as sent."""
    raw = body(name)
    assert raw["type"] == ""
    with pytest.raises(ValidationError, match="type"):
        VoipbinTransfer.model_validate(raw)
    transfer = VoipbinTransfer.model_validate({**raw, "type": "attended"})
    assert transfer.transferee_addresses == []  # null
    assert transfer.transferee_call_id is None and transfer.groupcall_id is None  # nil UUIDs
    assert transfer.tm_create is None and transfer.tm_update is None and not transfer.is_deleted  # null or ""


# ------------------------------------------------------------------------------------------ replayed


def _hook() -> VoipbinHook:
    conn = Connection(conn_id="voipbin_fixtures", conn_type="voipbin", password="vb-key")
    return VoipbinHook(connection=conn, policy={"backoff_initial": 0.0, "backoff_max": 0.01})


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def _reply(name: str) -> httpx.Response:
    doc = load(name)
    return httpx.Response(doc["http_status"], json=doc["body"])


def test_replayed_call_and_groupcall_reach_the_user_as_sent(router: respx.MockRouter) -> None:
    call_id = body("call_get.json")["id"]
    groupcall_id = body("groupcall_get.json")["id"]
    router.get(f"/calls/{call_id}").mock(return_value=_reply("call_get.json"))
    router.get(f"/groupcalls/{groupcall_id}").mock(return_value=_reply("groupcall_get.json"))
    hook = _hook()
    assert hook.get_call(call_id).to_xcom()["tm_create"] == "2020-09-20T03:23:21.995000Z"
    groupcall = hook.get_groupcall(groupcall_id)
    assert groupcall.answer_call_id is None
    transfer = {"id": "72e68b78-8286-11ed-8875-378ced61c021", "type": "blind", "groupcall_id": groupcall_id}
    check = hook.check_transfer({**transfer, "transferer_call_id": call_id})
    assert check.status is TransferStatus.ACTIVE  # unanswered, no status: still ringing
    hook.close()


def test_replayed_transfer_without_type_is_a_clear_error(router: respx.MockRouter) -> None:
    router.post("/transfers").mock(return_value=_reply("transfer_create.json"))
    hook = _hook()
    with pytest.raises(TransferServerError, match="documented shape") as info:
        hook.create_transfer(
            "attended", "204aaffe-dd3d-11ed-8c3a-5f454beaba92", [{"type": "tel", "target": "+821100000001"}]
        )
    assert "Input should be 'attended' or 'blind'" in str(info.value)
    hook.close()


def test_replayed_refusal_is_not_retried_and_says_what_the_transferer_needs(router: respx.MockRouter) -> None:
    route = router.post("/transfers").mock(return_value=_reply("error_transfer_refused.json"))
    hook = _hook()
    with pytest.raises(TransferServerError) as info:
        hook.create_transfer(
            "attended", "204aaffe-dd3d-11ed-8c3a-5f454beaba92", [{"type": "tel", "target": "+15551234567"}]
        )
    assert route.call_count == 1  # a second POST could start a second transfer
    assert info.value.hint == CALL_STATE_HINT
    assert "must be answered" in str(info.value) and "in a conference" in str(info.value)
    assert info.value.reason == "INTERNAL" and info.value.request_id == "req_" + "A" * 26
    hook.close()


def test_replayed_older_409_refusal_gets_the_same_hint(router: respx.MockRouter) -> None:
    conflict = {
        "error": {"status": "FAILED_PRECONDITION", "reason": "STATE_INVALID", "message": "x", "request_id": "r"}
    }
    router.post("/transfers").mock(return_value=httpx.Response(409, json=conflict))
    hook = _hook()
    with pytest.raises(TransferApiError) as info:
        hook.create_transfer(
            "blind", "204aaffe-dd3d-11ed-8c3a-5f454beaba92", [{"type": "tel", "target": "+15551234567"}]
        )
    assert info.value.hint == CALL_STATE_HINT
    hook.close()


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("error_authentication_required.json", TransferAuthError, "AUTHENTICATION_REQUIRED"),
        ("error_invalid_credentials.json", TransferAuthError, "INVALID_CREDENTIALS"),
        ("error_invalid_id.json", TransferApiError, "INVALID_ID"),
    ],
)
def test_replayed_errors_keep_reason_and_request_id(
    router: respx.MockRouter, name: str, error: type[TransferApiError], reason: str
) -> None:
    route = router.get(f"/calls/{NIL.replace('0', '1')}").mock(return_value=_reply(name))
    hook = _hook()
    with pytest.raises(error) as info:
        hook.get_call(NIL.replace("0", "1"))
    assert (info.value.status_code, info.value.reason) == (load(name)["http_status"], reason)
    assert info.value.request_id == "req_" + "A" * 26
    assert route.call_count == 1  # 4xx: never retried
    hook.close()


def test_replayed_rate_limit_keeps_its_details_and_is_retried(router: respx.MockRouter) -> None:
    limited = _reply("error_rate_limited.json")
    call_id = body("call_get.json")["id"]
    route = router.get(f"/calls/{call_id}").mock(side_effect=[limited, _reply("call_get.json")])
    hook = _hook()
    assert hook.get_call(call_id).id == call_id
    assert route.call_count == 2
    hook.close()
    route.side_effect = [limited] * 10
    with pytest.raises(TransferRateLimitError) as info:
        _hook().get_call(call_id)
    assert info.value.details == [{"limited_by": "customer"}]


def test_a_post_body_that_is_not_json_is_refused_before_sending() -> None:
    """The server only checks that the body is JSON (INVALID_JSON_BODY); the hook checks every field first."""
    with pytest.raises(TransferValidationError, match="transfer_type"):
        _hook().transfer_body("warm", "204aaffe-dd3d-11ed-8c3a-5f454beaba92", [])


# ------------------------------------------------------------------------------------------ the sandbox


def _is_empty(value: Any) -> bool:
    return value in ("", [], {}, 0, None, NIL)


def assert_same_shape(recorded: dict[str, Any], sent: dict[str, Any], omitempty: set[str], what: str) -> None:
    """Every key the server always sends is there; any other key is an omitempty one with a value."""
    missing = set(recorded) - set(sent)
    assert not missing, f"{what}: the sandbox lacks {sorted(missing)}"
    for key in set(sent) - set(recorded):
        assert key in omitempty, f"{what}: the server never sends {key!r}"
        assert not _is_empty(sent[key]) or key.endswith("_id"), f"{what}: {key!r} sent empty, the server omits it"


def _time_keys(obj: dict[str, Any]) -> list[str]:
    return [k for k in obj if k.startswith("tm_")]


@pytest.fixture
def vb(transfer_sandbox: TransferSandbox) -> Iterator[httpx.Client]:
    cookies = {"accesskey": transfer_sandbox.credentials.voipbin_access_key}
    with httpx.Client(base_url=transfer_sandbox.voipbin_url, cookies=cookies, timeout=5) as client:
        yield client


def _sandbox_transfer(sandbox: TransferSandbox, vb: httpx.Client, kind: str = "attended") -> dict[str, Any]:
    call = sandbox.control.create_voipbin_call()
    body = {
        "transfer_type": kind,
        "transferer_call_id": call["id"],
        "transferee_addresses": [{"type": "tel", "target": "+15550001111"}],
    }
    response = vb.post("/transfers", json=body)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def test_sandbox_call_and_groupcall_have_the_recorded_shape(
    transfer_sandbox: TransferSandbox, vb: httpx.Client
) -> None:
    transfer = _sandbox_transfer(transfer_sandbox, vb)
    groupcall = vb.get(f"/groupcalls/{transfer['groupcall_id']}").json()
    calls = [vb.get(f"/calls/{cid}").json() for cid in [transfer["transferer_call_id"], *groupcall["call_ids"]]]
    recorded_call = body("call_get.json")
    for call in calls:
        assert_same_shape(recorded_call, call, CALL_OMITEMPTY, "call")
        assert_same_shape(recorded_call["action"], call["action"], ACTION_OMITEMPTY, "call.action")
        assert call["groupcall_id"] == recorded_call["groupcall_id"] == NIL
        assert all(RFC3339.match(call[k]) for k in _time_keys(call))
    assert_same_shape(body("groupcall_get.json"), groupcall, GROUPCALL_OMITEMPTY, "groupcall")
    assert all(RFC3339.match(groupcall[k]) for k in _time_keys(groupcall))
    listed = vb.get("/calls", params={"page_size": 2}).json()
    recorded_page = body("calls_list.json")
    assert set(listed) == set(recorded_page)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", listed["next_page_token"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", recorded_page["next_page_token"])


def test_sandbox_transfer_has_the_recorded_keys_and_nulls(transfer_sandbox: TransferSandbox, vb: httpx.Client) -> None:
    transfer = _sandbox_transfer(transfer_sandbox, vb)
    recorded = body("transfer_create.json")
    assert list(transfer) == list(recorded)  # same keys, same order (transfer/webhook.go:14-30)
    assert transfer["tm_update"] is recorded["tm_update"] is None
    assert transfer["tm_delete"] is recorded["tm_delete"] is None
    assert transfer["transferee_call_id"] == recorded["transferee_call_id"] == NIL
    assert RFC3339.match(transfer["tm_create"])


def test_sandbox_legacy_wire_has_the_recorded_legacy_keys(transfer_sandbox: TransferSandbox, vb: httpx.Client) -> None:
    transfer_sandbox.control.configure(voipbin_wire="legacy")
    transfer = _sandbox_transfer(transfer_sandbox, vb)
    assert list(transfer) == list(body("legacy/transfer_create.json"))
    call = vb.get(f"/calls/{transfer['transferer_call_id']}").json()
    assert_same_shape(body("legacy/call_get.json"), call, CALL_OMITEMPTY, "legacy call")
    # The legacy handler tests copy the mock's strings; the legacy database layer wrote this form
    # (bin-common-handler/pkg/utilhandler/time.go:52 at 43fbfc62): both parse to the same instant.
    assert all(LEGACY_SANDBOX_TIME.match(call[k]) for k in _time_keys(call) if k != "tm_delete")
    assert VoipbinCall.model_validate(call).tm_create is not None


@pytest.mark.parametrize(
    ("name", "request_kwargs"),
    [
        ("error_authentication_required.json", {"method": "GET", "url": "/calls", "cookies": {"accesskey": ""}}),
        ("error_invalid_credentials.json", {"method": "GET", "url": "/calls", "cookies": {"accesskey": "wrong"}}),
        ("error_invalid_id.json", {"method": "GET", "url": "/calls/not-a-uuid"}),
        ("error_invalid_json_body.json", {"method": "POST", "url": "/transfers", "content": b"{not json"}),
        ("error_transfer_refused.json", {"method": "POST", "url": "/transfers", "json": "refused"}),
    ],
)
def test_sandbox_errors_match_the_recorded_envelopes(
    transfer_sandbox: TransferSandbox, vb: httpx.Client, name: str, request_kwargs: dict[str, Any]
) -> None:
    kwargs = dict(request_kwargs)
    if kwargs.get("json") == "refused":
        ringing = transfer_sandbox.control.create_voipbin_call(status="ringing")
        kwargs["json"] = {
            "transfer_type": "blind",
            "transferer_call_id": ringing["id"],
            "transferee_addresses": [{"type": "tel", "target": "+15550001111"}],
        }
    if "cookies" in kwargs:
        vb.cookies.clear()
        cookies = {k: v for k, v in kwargs.pop("cookies").items() if v}
        kwargs["headers"] = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    response = vb.request(**kwargs)
    recorded = load(name)
    assert response.status_code == recorded["http_status"]
    sent, expected = response.json()["error"], recorded["body"]["error"]
    assert list(sent) == list(expected)
    assert (sent["status"], sent["reason"], sent["message"]) == (
        expected["status"],
        expected["reason"],
        expected["message"],
    )
    assert re.fullmatch(r"req_[A-Z2-7]{26}", sent["request_id"]) and re.fullmatch(
        r"req_[A-Z2-7]{26}", expected["request_id"]
    )


def test_sandbox_rate_limit_matches_the_recorded_envelope(transfer_sandbox: TransferSandbox, vb: httpx.Client) -> None:
    transfer_sandbox.control.configure(voipbin_rate=0.001, voipbin_burst=1)
    vb.get("/calls")
    limited = vb.get("/calls")
    recorded = load("error_rate_limited.json")
    assert limited.status_code == recorded["http_status"] == 429
    sent, expected = limited.json()["error"], recorded["body"]["error"]
    assert list(sent) == list(expected)
    assert {k: sent[k] for k in ("status", "reason", "message", "details")} == {
        k: expected[k] for k in ("status", "reason", "message", "details")
    }
    assert "Retry-After" in limited.headers  # customer_ratelimit.go:237
