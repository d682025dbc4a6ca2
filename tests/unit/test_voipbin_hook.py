"""VoipbinHook over respx: requests, parsing, validation, errors, retries, status checks, test_connection."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferAuthError,
    TransferConfigError,
    TransferConflictError,
    TransferNotFoundError,
    TransferPermissionError,
    TransferRateLimitError,
    TransferServerError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.voipbin import BARE_400_HINT, CALL_STATE_HINT, VoipbinHook
from airflow_provider_transfers.models import TransferStatus, VoipbinTransfer, VoipbinTransferType
from tests.voipbin_factories import (
    ADDRESSES,
    ANSWER_ID,
    GROUPCALL_ID,
    PASSWORD,
    TRANSFER_ID,
    TRANSFERER_ID,
    USERNAME,
    VB_BASE,
    VB_LOGIN,
    call_json,
    error_json,
    groupcall_json,
    jwt,
    transfer_json,
    voipbin_connection,
)

TRANSFERS = f"{VB_BASE}/transfers"
GROUPCALL = f"{VB_BASE}/groupcalls/{GROUPCALL_ID}"
CALL = f"{VB_BASE}/calls/{TRANSFERER_ID}"


def make_hook(conn: Any = None, **policy: Any) -> VoipbinHook:
    merged = {"backoff_initial": 0.0, "backoff_max": 0.01, "rate_limit": 0, **policy}
    return VoipbinHook(connection=conn or voipbin_connection(), policy=merged)


# ---------------------------------------------------------------------------------------- requests


@respx.mock
def test_create_sends_transfer_type_and_parses_type() -> None:
    route = respx.post(TRANSFERS).mock(return_value=httpx.Response(200, json=transfer_json("blind")))
    transfer = make_hook().create_transfer("blind", TRANSFERER_ID, ADDRESSES)
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "transfer_type": "blind",
        "transferer_call_id": TRANSFERER_ID,
        "transferee_addresses": ADDRESSES,
    }
    assert isinstance(transfer, VoipbinTransfer)
    assert transfer.type is VoipbinTransferType.BLIND
    assert transfer.groupcall_id == GROUPCALL_ID
    assert transfer.transferee_call_id is None  # nil UUID
    assert transfer.tm_delete is None  # 9999-01-01 sentinel
    assert transfer.to_xcom()["type"] == "blind"


@respx.mock
@pytest.mark.parametrize(
    "addresses",
    [
        json.dumps(ADDRESSES),
        str(ADDRESSES),  # what Jinja renders a list into without | tojson
        tuple(ADDRESSES),
    ],
)
def test_create_accepts_json_text_python_literals_and_tuples(addresses: Any) -> None:
    route = respx.post(TRANSFERS).mock(return_value=httpx.Response(200, json=transfer_json()))
    make_hook().create_transfer("attended", TRANSFERER_ID, addresses)
    assert json.loads(route.calls.last.request.content)["transferee_addresses"] == ADDRESSES


@respx.mock
def test_create_accepts_a_single_address_and_keeps_optional_fields() -> None:
    route = respx.post(TRANSFERS).mock(return_value=httpx.Response(200, json=transfer_json()))
    address = {"type": "agent", "target": ANSWER_ID, "target_name": "Bob", "name": "desk"}
    make_hook().create_transfer("attended", TRANSFERER_ID, address)
    assert json.loads(route.calls.last.request.content)["transferee_addresses"] == [address]


@respx.mock
async def test_async_twins() -> None:
    respx.post(TRANSFERS).mock(return_value=httpx.Response(200, json=transfer_json()))
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json()))
    respx.get(CALL).mock(return_value=httpx.Response(200, json=call_json()))
    hangup_call = respx.post(f"{CALL}/hangup").mock(return_value=httpx.Response(200, json=call_json("terminating")))
    hangup_gc = respx.post(f"{GROUPCALL}/hangup").mock(
        return_value=httpx.Response(200, json=groupcall_json("hangingup"))
    )
    hook = make_hook()
    assert (await hook.acreate_transfer("attended", TRANSFERER_ID, ADDRESSES)).id == TRANSFER_ID
    assert (await hook.aget_groupcall(GROUPCALL_ID)).answer_call_id is None
    assert (await hook.aget_call(TRANSFERER_ID)).status == "progressing"
    assert (await hook.ahangup_call(TRANSFERER_ID)).status == "terminating"
    assert (await hook.ahangup_groupcall(GROUPCALL_ID)).status == "hangingup"
    assert hangup_call.called and hangup_gc.called
    await hook.aclose()


@respx.mock
def test_sync_reads_and_hangups() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json("progressing", answered=True)))
    respx.get(CALL).mock(return_value=httpx.Response(200, json=call_json("hangup", reason="normal")))
    respx.post(f"{CALL}/hangup").mock(return_value=httpx.Response(200, json=call_json("terminating")))
    respx.post(f"{GROUPCALL}/hangup").mock(return_value=httpx.Response(200, json=groupcall_json("hangingup")))
    hook = make_hook()
    assert hook.get_groupcall(GROUPCALL_ID).answer_call_id == ANSWER_ID
    assert hook.get_call(TRANSFERER_ID).hangup_reason == "normal"
    assert hook.hangup_call(TRANSFERER_ID).status == "terminating"
    assert hook.hangup_groupcall(GROUPCALL_ID).status == "hangingup"


@respx.mock
def test_every_request_shares_the_one_customer_bucket() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall_json()))
    respx.get(CALL).mock(return_value=httpx.Response(200, json=call_json()))
    respx.post(TRANSFERS).mock(return_value=httpx.Response(200, json=transfer_json()))
    hook = VoipbinHook(connection=voipbin_connection())
    assert (hook.api.policy.rate_limit, hook.api.policy.rate_burst) == (16.7, 33)
    hook.get_groupcall(GROUPCALL_ID)
    hook.get_call(TRANSFERER_ID)
    hook.create_transfer("blind", TRANSFERER_ID, ADDRESSES)
    assert hook.api.limiter is not None
    assert set(hook.api.limiter._buckets) == {"customer"}


# ---------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("warm", TRANSFERER_ID, ADDRESSES), "transfer_type"),
        ((None, TRANSFERER_ID, ADDRESSES), "transfer_type"),
        (("blind", "not-a-uuid", ADDRESSES), "transferer_call_id"),
        (("blind", "00000000-0000-0000-0000-000000000000", ADDRESSES), "transferer_call_id"),
        (("blind", TRANSFERER_ID, []), "transferee_addresses"),
        (("blind", TRANSFERER_ID, None), "transferee_addresses"),
        (("blind", TRANSFERER_ID, "[]"), "transferee_addresses"),
        (("blind", TRANSFERER_ID, "not json"), "transferee_addresses"),
        (("blind", TRANSFERER_ID, ["+15551234567"]), "transferee_addresses[0]"),
        (("blind", TRANSFERER_ID, [{"target": "+15551234567"}]), "transferee_addresses[0].type"),
        (("blind", TRANSFERER_ID, [{"type": "fax", "target": "+15551234567"}]), "transferee_addresses[0].type"),
        (
            ("blind", TRANSFERER_ID, [ADDRESSES[0], {"type": "tel", "target": "5551234"}]),
            "transferee_addresses[1].target",
        ),
        (("blind", TRANSFERER_ID, [{"type": "tel", "target": ""}]), "transferee_addresses[0].target"),
        (("blind", TRANSFERER_ID, [{"type": "sip", "target": "no-domain"}]), "transferee_addresses[0].target"),
        (("blind", TRANSFERER_ID, [{"type": "agent", "target": "bob"}]), "transferee_addresses[0].target"),
        (("blind", TRANSFERER_ID, [{"type": "conference", "target": "x"}]), "transferee_addresses[0].target"),
    ],
)
def test_create_validation_names_the_field_and_sends_nothing(args: tuple[Any, ...], field: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.route().mock(return_value=httpx.Response(200, json=transfer_json()))
        with pytest.raises(TransferValidationError) as info:
            make_hook().create_transfer(*args)
    assert info.value.field == field
    assert f"Invalid {field}:" in str(info.value)
    assert not route.called


@pytest.mark.parametrize("method", ["get_call", "hangup_call", "get_groupcall", "hangup_groupcall"])
def test_ids_are_validated_before_any_request(method: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.route().mock(return_value=httpx.Response(200, json={}))
        with pytest.raises(TransferValidationError):
            getattr(make_hook(), method)("../transfers")
    assert not route.called


@pytest.mark.parametrize(
    ("transfer", "field"),
    [
        ({**transfer_json(), "id": None}, "transfer['id']"),
        ({**transfer_json(), "type": "warm"}, "transfer['type']"),
        ({**transfer_json(), "groupcall_id": "00000000-0000-0000-0000-000000000000"}, "transfer['groupcall_id']"),
        ({k: v for k, v in transfer_json().items() if k != "transferer_call_id"}, "transfer['transferer_call_id']"),
        (["not", "a", "mapping"], "transfer"),
        ("{broken", "transfer"),
    ],
)
def test_transfer_id_validates_the_mapping(transfer: Any, field: str) -> None:
    with pytest.raises(TransferValidationError) as info:
        VoipbinHook.transfer_id(transfer)
    assert info.value.field == field


def test_transfer_id_accepts_json_text() -> None:
    assert VoipbinHook.transfer_id(json.dumps(transfer_json())) == TRANSFER_ID


# ---------------------------------------------------------------------------------------- errors


@respx.mock
def test_error_envelope_is_parsed() -> None:
    body = error_json("NOT_FOUND", "GROUPCALL_NOT_FOUND", "The groupcall does not exist", "req_00FF")
    body["error"]["details"] = [{"field": "id"}]
    respx.get(GROUPCALL).mock(return_value=httpx.Response(404, json=body))
    with pytest.raises(TransferNotFoundError) as info:
        make_hook().get_groupcall(GROUPCALL_ID)
    error = info.value
    assert (error.platform, error.status_code, error.reason) == ("voipbin", 404, "GROUPCALL_NOT_FOUND")
    assert error.request_id == "req_00FF" and error.details == [{"field": "id"}]
    assert error.message == "The groupcall does not exist"
    assert "24 hours" in str(error)


@respx.mock
def test_bare_400_with_empty_body_says_so_and_what_pre_2026_servers_mean_by_it() -> None:
    """Before April 2026 every handler error was a bare 400 (server/calls.go at 43fbfc62) and bad credentials
    a bare 401: once GET /calls shows the credentials are fine, the 400 concerns this resource only."""
    respx.get(GROUPCALL).mock(return_value=httpx.Response(400))
    probe = respx.get(f"{VB_BASE}/calls").mock(return_value=httpx.Response(200, json={"result": []}))
    with pytest.raises(TransferApiError) as info:
        make_hook().get_groupcall(GROUPCALL_ID)
    assert not isinstance(info.value, TransferAuthError)
    assert info.value.status_code == 400
    assert "empty body" in info.value.message
    assert info.value.hint == BARE_400_HINT
    assert "another customer" in str(info.value)
    assert probe.call_count == 1


@respx.mock
def test_bare_400_on_the_list_too_is_the_credentials() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(400))
    respx.get(f"{VB_BASE}/calls").mock(return_value=httpx.Response(400))
    with pytest.raises(TransferAuthError) as info:
        make_hook().get_groupcall(GROUPCALL_ID)
    assert "GET /calls are refused alike" in str(info.value) and "permission" in str(info.value)


@respx.mock
def test_html_502_is_a_server_error_with_a_useful_message() -> None:
    route = respx.get(GROUPCALL).mock(
        return_value=httpx.Response(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(TransferServerError) as info:
        make_hook(max_attempts=2).get_groupcall(GROUPCALL_ID)
    assert info.value.status_code == 502
    assert "non-JSON body, text/html" in info.value.message
    assert route.call_count == 2  # a read is retried on 5xx


@respx.mock
def test_409_call_state_invalid_explains_the_transferer_call_must_be_progressing() -> None:
    body = error_json("FAILED_PRECONDITION", "CALL_STATE_INVALID", "The transferer call is ringing")
    route = respx.post(TRANSFERS).mock(return_value=httpx.Response(409, json=body))
    with pytest.raises(TransferConflictError) as info:
        make_hook().create_transfer("attended", TRANSFERER_ID, ADDRESSES)
    assert info.value.reason == "CALL_STATE_INVALID"
    assert info.value.hint == CALL_STATE_HINT
    assert "progressing" in str(info.value)
    assert route.call_count == 1


@respx.mock
def test_500_on_create_is_not_retried_and_carries_the_transfer_manager_hint() -> None:
    route = respx.post(TRANSFERS).mock(
        return_value=httpx.Response(500, json=error_json("INTERNAL", "INTERNAL_ERROR", "transfer failed"))
    )
    with pytest.raises(TransferServerError) as info:
        make_hook().create_transfer("attended", TRANSFERER_ID, ADDRESSES)
    assert route.call_count == 1
    assert info.value.hint is not None and "transfer manager" in info.value.hint
    assert "progressing" in info.value.hint


@respx.mock
def test_create_is_retried_on_429_then_succeeds() -> None:
    limited = httpx.Response(
        429, json=error_json("RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED", "slow down"), headers={"Retry-After": "0"}
    )
    route = respx.post(TRANSFERS).mock(side_effect=[limited, httpx.Response(200, json=transfer_json())])
    hook = make_hook()
    assert hook.create_transfer("blind", TRANSFERER_ID, ADDRESSES).id == TRANSFER_ID
    assert route.call_count == 2
    assert hook.api.stats["retries"] == 1


@respx.mock
def test_reads_are_retried_on_429_until_they_give_up() -> None:
    limited = httpx.Response(429, json=error_json("RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED", "slow down"))
    route = respx.get(GROUPCALL).mock(side_effect=[limited, limited, httpx.Response(200, json=groupcall_json())])
    assert make_hook().get_groupcall(GROUPCALL_ID).id == GROUPCALL_ID
    assert route.call_count == 3
    respx.get(GROUPCALL).mock(return_value=limited)
    with pytest.raises(TransferRateLimitError):
        make_hook(max_attempts=2).get_groupcall(GROUPCALL_ID)


@respx.mock
def test_unexpected_shape_is_a_server_error() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(200, json={"status": "exploded"}))
    with pytest.raises(TransferServerError, match="documented shape"):
        make_hook().get_groupcall(GROUPCALL_ID)


# ---------------------------------------------------------------------------------------- status checks


@pytest.mark.parametrize(
    ("kind", "groupcall", "call", "status", "requests"),
    [
        ("blind", groupcall_json("progressing"), None, TransferStatus.ACTIVE, 1),
        ("blind", groupcall_json("progressing", answered=True), None, TransferStatus.COMPLETED, 1),
        ("blind", groupcall_json("hangup"), None, TransferStatus.FAILED, 1),
        ("attended", groupcall_json("progressing"), call_json(), TransferStatus.ACTIVE, 2),
        ("attended", groupcall_json("progressing", answered=True), call_json(), TransferStatus.ACTIVE, 2),
        (
            "attended",
            groupcall_json("progressing", answered=True),
            call_json("hangup", tm_hangup="2026-01-15T09:31:00Z"),
            TransferStatus.COMPLETED,
            3,  # the answering call too: its timestamps decide
        ),
        ("attended", groupcall_json("hangup"), call_json(), TransferStatus.FAILED, 2),
    ],
)
async def test_check_transfer_fetches_only_what_it_needs(
    kind: str, groupcall: dict[str, Any], call: dict[str, Any] | None, status: TransferStatus, requests: int
) -> None:
    router = respx.mock(assert_all_called=False)
    router.get(GROUPCALL).mock(return_value=httpx.Response(200, json=groupcall))
    call_route = router.get(CALL).mock(return_value=httpx.Response(200, json=call or call_json()))
    answer = call_json("progressing", call_id=ANSWER_ID, tm_progressing="2026-01-15T09:30:01Z")
    answer_route = router.get(f"{VB_BASE}/calls/{ANSWER_ID}").mock(return_value=httpx.Response(200, json=answer))
    with router:
        await _check_transfer_fetches_only_what_it_needs(kind, status, requests)
        assert call_route.called is (requests >= 2)
        assert answer_route.called is (requests == 3)


async def _check_transfer_fetches_only_what_it_needs(kind: str, status: TransferStatus, requests: int) -> None:
    hook = make_hook()
    check = hook.check_transfer(transfer_json(kind))
    assert (check.platform, check.transfer_id, check.status) == ("voipbin", TRANSFER_ID, status)
    assert check.evidence["transferer_call_id"] == TRANSFERER_ID
    assert hook.api.stats["requests"] == requests
    acheck = await hook.acheck_transfer(transfer_json(kind))
    assert acheck.status is status and acheck.detail == check.detail
    assert hook.api.stats["requests"] == 2 * requests
    assert hook.get_transfer_status(transfer_json(kind)) is status
    await hook.aclose()


def test_attended_check_is_not_fooled_by_an_answer_and_hangup_between_its_two_reads() -> None:
    """Whatever is read first sees the transfer ringing; whatever is read second sees it answered and ended.

    Reading the groupcall first would pair "unanswered" with "transferer hung up" and report a completed
    transfer as failed; reading the transferer call first cannot make that mistake.
    """
    reads: list[str] = []

    def platform(request: httpx.Request) -> httpx.Response:
        later = bool(reads)
        reads.append(request.url.path)
        if request.url.path.endswith(GROUPCALL_ID):
            return httpx.Response(200, json=groupcall_json("progressing", answered=later))
        return httpx.Response(200, json=call_json("hangup" if later else "progressing"))

    with respx.mock() as router:
        router.get(host=httpx.URL(VB_BASE).host).mock(side_effect=platform)
        check = make_hook().check_transfer(transfer_json("attended"))
    assert reads[0].endswith(TRANSFERER_ID)
    assert check.status is TransferStatus.ACTIVE  # answered, consulting: the next poll sees it completed


@respx.mock
def test_check_of_an_expired_transfer_is_not_found() -> None:
    respx.get(GROUPCALL).mock(
        return_value=httpx.Response(404, json=error_json("NOT_FOUND", "GROUPCALL_NOT_FOUND", "gone"))
    )
    with pytest.raises(TransferNotFoundError, match="24 hours"):
        make_hook().check_transfer(transfer_json("blind"))


# ---------------------------------------------------------------------------------------- connection


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"password": ""}, "password must hold"),
        ({"password": None, "login": USERNAME}, "password must hold"),
        ({"host": "http://api.voipbin.net/v1.0"}, "only allowed for loopback"),
        ({"host": "https://user:pw@api.voipbin.net"}, "must not carry credentials"),
        ({"host": "https://api.voipbin.net/v1.0?accesskey=abc"}, "query string"),
        ({"host": "api.voipbin.net"}, "must be a base URL"),
        ({"extra": json.dumps({"rate_limit": "fast"})}, "Invalid rate_limit: expected a finite number"),
    ],
)
def test_connection_errors(over: dict[str, Any], match: str) -> None:
    with pytest.raises(TransferConfigError, match=match):
        make_hook(voipbin_connection(**over)).get_conn()


@pytest.mark.parametrize(
    ("host", "port", "base"),
    [
        (None, None, "https://api.voipbin.net/v1.0"),
        ("https://api.voipbin.net", None, "https://api.voipbin.net/v1.0"),
        ("http://127.0.0.1", 8123, "http://127.0.0.1:8123/v1.0"),
        ("http://localhost:9000/v1.0/", None, "http://localhost:9000/v1.0"),
    ],
)
def test_base_url(host: str | None, port: int | None, base: str) -> None:
    assert make_hook(voipbin_connection(host=host, port=port)).api.base_url == base


def test_policy_from_extra_overrides_the_defaults() -> None:
    hook = VoipbinHook(connection=voipbin_connection(extra=json.dumps({"rate_limit": 5, "timeout": 3})))
    assert (hook.api.policy.rate_limit, hook.api.policy.timeout, hook.api.policy.rate_burst) == (5.0, 3.0, 33)


def test_provider_metadata() -> None:
    assert (VoipbinHook.conn_type, VoipbinHook.conn_name_attr, VoipbinHook.default_conn_name) == (
        "voipbin",
        "voipbin_conn_id",
        "voipbin_default",
    )
    behaviour = VoipbinHook.get_ui_field_behaviour()
    assert "password" in behaviour["relabeling"] and "login" in behaviour["relabeling"]


@respx.mock
def test_test_connection_ok_sends_one_list_request() -> None:
    route = respx.get(f"{VB_BASE}/calls").mock(
        return_value=httpx.Response(200, json={"result": [], "next_page_token": ""})
    )
    ok, message = make_hook().test_connection()
    assert ok, message
    assert "access key" in message
    assert route.call_count == 1
    assert dict(route.calls.last.request.url.params) == {"page_size": "1"}


@respx.mock
@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(401, json=error_json("UNAUTHENTICATED", "INVALID_ACCESS_KEY", "not valid")), "Bad credentials"),
        (httpx.Response(400), "Credentials accepted but not permitted"),  # pre-2026: bad credentials are a 401
        (
            httpx.Response(403, json=error_json("PERMISSION_DENIED", "NO_PERMISSION", "nope")),
            "Credentials accepted but not permitted",
        ),
        (httpx.Response(404, json=error_json("NOT_FOUND", "X", "no such path")), "Unexpected answer"),
    ],
)
def test_test_connection_tells_failures_apart(response: httpx.Response, expected: str) -> None:
    respx.get(f"{VB_BASE}/calls").mock(return_value=response)
    ok, message = make_hook().test_connection()
    assert not ok
    assert message.startswith(expected), message


@respx.mock
def test_test_connection_unreachable_host() -> None:
    respx.get(f"{VB_BASE}/calls").mock(side_effect=httpx.ConnectError("refused"))
    ok, message = make_hook(max_attempts=2).test_connection()
    assert not ok and message.startswith("Cannot reach https://api.voipbin.net/v1.0")


@respx.mock
def test_test_connection_with_a_refused_login_is_bad_credentials() -> None:
    respx.post(VB_LOGIN).mock(
        return_value=httpx.Response(401, json=error_json("UNAUTHENTICATED", "INVALID_CREDENTIALS", "wrong"))
    )
    ok, message = make_hook(voipbin_connection(login=USERNAME, password=PASSWORD)).test_connection()
    assert not ok and message.startswith("Bad credentials: VoIPbin rejected the username/password")


@respx.mock
def test_test_connection_with_jwt_names_the_user() -> None:
    respx.post(VB_LOGIN).mock(return_value=httpx.Response(200, json={"token": jwt(expire=4_000_000_000)}))
    respx.get(f"{VB_BASE}/calls").mock(return_value=httpx.Response(200, json={"result": []}))
    ok, message = make_hook(voipbin_connection(login=USERNAME, password=PASSWORD)).test_connection()
    assert ok and USERNAME in message


@respx.mock
def test_auth_errors_are_transfer_auth_errors() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(401, json=error_json("UNAUTHENTICATED", "X", "no")))
    with pytest.raises(TransferAuthError):
        make_hook().get_groupcall(GROUPCALL_ID)


# ---------------------------------------------------------------------------------------- refused resources

LIST = f"{VB_BASE}/calls"
DENIED = error_json("PERMISSION_DENIED", "PERMISSION_DENIED", "You do not have permission to access this resource.")


@respx.mock
def test_a_403_on_one_resource_is_that_resources_problem_once_the_list_shows_the_credentials_work() -> None:
    """bin-api-manager pkg/servicehandler/groupcall.go:116-119: another customer's groupcall is a 403
    PERMISSION_DENIED. GET /calls, which only the credentials' own permission decides, tells it from
    credentials without the permission; asked once per hook."""
    respx.get(GROUPCALL).mock(return_value=httpx.Response(403, json=DENIED))
    respx.get(CALL).mock(return_value=httpx.Response(403, json=DENIED))
    probe = respx.get(LIST).mock(return_value=httpx.Response(200, json={"result": [], "next_page_token": ""}))
    hook = make_hook()
    with pytest.raises(TransferPermissionError) as info:
        hook.get_groupcall(GROUPCALL_ID)
    assert not isinstance(info.value, TransferAuthError)
    text = str(info.value)
    assert (
        "PERMISSION_DENIED" in text and f"GET /groupcalls/{GROUPCALL_ID}" in text and "another VoIPbin customer" in text
    )
    assert info.value.request_id == "req_ABCDEF0123456789" and not info.value.retryable
    with pytest.raises(TransferPermissionError):
        hook.check_transfer(transfer_json("attended"))
    assert probe.call_count == 1
    assert dict(probe.calls.last.request.url.params) == {"page_size": "1"}


@respx.mock
def test_a_403_everywhere_is_the_connections_credentials() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(403, json=DENIED))
    respx.get(LIST).mock(return_value=httpx.Response(403, json=DENIED))
    with pytest.raises(TransferAuthError) as info:
        make_hook().get_groupcall(GROUPCALL_ID)
    assert "refused alike" in str(info.value) and "admin or manager permission" in str(info.value)


@respx.mock
def test_a_403_that_is_not_permission_denied_is_the_credentials_without_asking() -> None:
    """lib/middleware/authenticate.go: a frozen account is a 403 ACCOUNT_FROZEN on every request."""
    frozen = error_json("PERMISSION_DENIED", "ACCOUNT_FROZEN", "This account is frozen. Contact support.")
    respx.get(GROUPCALL).mock(return_value=httpx.Response(403, json=frozen))
    probe = respx.get(LIST).mock(return_value=httpx.Response(200, json={"result": []}))
    with pytest.raises(TransferAuthError) as info:
        make_hook().get_groupcall(GROUPCALL_ID)
    assert info.value.reason == "ACCOUNT_FROZEN" and not probe.called


@respx.mock
def test_a_probe_that_cannot_answer_leaves_the_verdict_open() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(403, json=DENIED))
    probe = respx.get(LIST).mock(
        side_effect=[httpx.Response(503, json=error_json("UNAVAILABLE", "X", "later"))] * 2
        + [httpx.Response(200, json={"result": []})]
    )
    hook = make_hook(max_attempts=2)
    with pytest.raises(TransferServerError):
        hook.get_groupcall(GROUPCALL_ID)
    with pytest.raises(TransferPermissionError):
        hook.get_groupcall(GROUPCALL_ID)
    assert probe.call_count == 3


@respx.mock
async def test_the_async_path_decides_the_same_way() -> None:
    respx.get(GROUPCALL).mock(return_value=httpx.Response(403, json=DENIED))
    respx.get(LIST).mock(return_value=httpx.Response(200, json={"result": []}))
    hook = make_hook()
    with pytest.raises(TransferPermissionError):
        await hook.acheck_transfer(transfer_json("blind"))
    await hook.aclose()


@respx.mock
def test_a_deleted_call_is_a_conflict_that_says_so() -> None:
    """bin-api-manager pkg/servicehandler/call.go:36-38: every request on a deleted call is a 409."""
    body = error_json(
        "FAILED_PRECONDITION", "STATE_INVALID", "The operation is invalid for the current resource state."
    )
    respx.get(CALL).mock(return_value=httpx.Response(409, json=body))
    with pytest.raises(TransferConflictError, match="has been deleted"):
        make_hook().get_call(TRANSFERER_ID)
