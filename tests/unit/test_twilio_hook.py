from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferAuthError,
    TransferConfigError,
    TransferNotFoundError,
    TransferRateLimitError,
    TransferServerError,
    TransferTransportError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
from airflow_provider_transfers.models import TransferStatus, TwilioTransfer, TwilioTransferType
from tests.factories import ACCOUNT, API_KEY, API_SECRET, BASE, KD, UO, UX, twilio_connection, twilio_transfer

TRANSFERS = f"{BASE}/v1/Interactions/{KD}/Channels/{UO}/Transfers"


@respx.mock
def test_create_sends_json_body_with_basic_auth_and_parses_transfer(make_twilio_hook: Any) -> None:
    route = respx.post(TRANSFERS).mock(return_value=httpx.Response(201, json=twilio_transfer()))
    transfer = make_twilio_hook().create_transfer(KD, UO, {"to": "WW" + "0" * 32, "type": "warm"})
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"to": "WW" + "0" * 32, "type": "warm"}
    assert request.headers["authorization"] == httpx.BasicAuth(API_KEY, API_SECRET)._auth_header
    assert isinstance(transfer, TwilioTransfer)
    assert transfer.status is TransferStatus.ACTIVE and transfer.type is TwilioTransferType.WARM
    assert transfer.date_created is not None and transfer.date_created.year == 2026
    assert transfer.to_xcom()["from"] == "UT" + "f" * 32


@respx.mock
@pytest.mark.parametrize(
    ("body", "sent"),
    [(None, {}), ("", {}), ('{"a": 1}', {"a": 1}), ({"nested": {"x": [1, 2]}}, {"nested": {"x": [1, 2]}})],
)
def test_create_accepts_plain_dicts_json_text_and_nothing(make_twilio_hook: Any, body: Any, sent: Any) -> None:
    route = respx.post(TRANSFERS).mock(return_value=httpx.Response(201, json=twilio_transfer()))
    make_twilio_hook().create_transfer(KD, UO, body)
    assert json.loads(route.calls.last.request.content) == sent


@respx.mock
def test_get_and_update(make_twilio_hook: Any) -> None:
    respx.get(f"{TRANSFERS}/{UX}").mock(return_value=httpx.Response(200, json=twilio_transfer("completed")))
    update = respx.post(f"{TRANSFERS}/{UX}").mock(return_value=httpx.Response(200, json=twilio_transfer("failed")))
    hook = make_twilio_hook()
    assert hook.get_transfer(KD, UO, UX).status is TransferStatus.COMPLETED
    assert hook.update_transfer(KD, UO, UX, {"k": "v"}).status is TransferStatus.FAILED
    assert json.loads(update.calls.last.request.content) == {"k": "v"}


@respx.mock
async def test_async_twins_and_status_protocol(make_twilio_hook: Any) -> None:
    respx.post(TRANSFERS).mock(return_value=httpx.Response(201, json=twilio_transfer()))
    respx.get(f"{TRANSFERS}/{UX}").mock(return_value=httpx.Response(200, json=twilio_transfer("completed")))
    respx.post(f"{TRANSFERS}/{UX}").mock(return_value=httpx.Response(200, json=twilio_transfer("active")))
    hook = make_twilio_hook()
    created = await hook.acreate_transfer(KD, UO)
    assert (await hook.aupdate_transfer(KD, UO, UX)).status is TransferStatus.ACTIVE
    assert (await hook.aget_transfer(KD, UO, UX)).status is TransferStatus.COMPLETED
    assert await hook.aget_transfer_status(created.to_xcom()) is TransferStatus.COMPLETED
    assert hook.get_transfer_status(created.to_xcom()) is TransferStatus.COMPLETED
    check = await hook.acheck_transfer(created.to_xcom())
    assert check.transfer_id == UX and check.platform == "twilio_flex"
    await hook.aclose()


@respx.mock
def test_unknown_response_fields_are_kept(make_twilio_hook: Any) -> None:
    respx.get(f"{TRANSFERS}/{UX}").mock(return_value=httpx.Response(200, json=twilio_transfer(new_field={"x": 1})))
    transfer = make_twilio_hook().get_transfer(KD, UO, UX)
    assert transfer.to_xcom()["new_field"] == {"x": 1}


# ---------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("KD123", UO, UX), "interaction_sid"),
        (("UO" + "a" * 32, UO, UX), "interaction_sid"),
        ((KD, "UO" + "g" * 32, UX), "channel_sid"),
        ((KD, UO, UX + "0"), "transfer_sid"),
        ((KD, UO, None), "transfer_sid"),
    ],
)
def test_bad_sids_fail_before_any_request(make_twilio_hook: Any, args: tuple[Any, ...], field: str) -> None:
    with respx.mock(assert_all_called=False) as router, pytest.raises(TransferValidationError) as info:
        route = router.route().mock(return_value=httpx.Response(200, json=twilio_transfer()))
        make_twilio_hook().get_transfer(*args)
    assert info.value.field == field
    assert "32 hex digits" in str(info.value) and field in str(info.value)
    assert not route.called


@pytest.mark.parametrize("body", ["[1, 2]", "not json", 42, ["a"], "None", {"x": {1, 2}}])
def test_bad_bodies_fail_before_any_request(make_twilio_hook: Any, body: Any) -> None:
    with respx.mock(assert_all_called=False) as router, pytest.raises(TransferValidationError, match="body"):
        route = router.route().mock(return_value=httpx.Response(201, json=twilio_transfer()))
        make_twilio_hook().create_transfer(KD, UO, body)
    assert not route.called


# ---------------------------------------------------------------------------------------- retries


@respx.mock
def test_429_is_retried_and_retry_after_is_honoured(make_twilio_hook: Any) -> None:
    slept: list[float] = []
    hook = make_twilio_hook()
    hook.api._sleep = slept.append
    route = respx.get(f"{TRANSFERS}/{UX}").mock(
        side_effect=[
            httpx.Response(429, json={"code": 20429, "message": "Too Many Requests"}, headers={"Retry-After": "2"}),
            httpx.Response(503, text=""),
            httpx.Response(200, json=twilio_transfer("completed")),
        ]
    )
    assert hook.get_transfer(KD, UO, UX).status is TransferStatus.COMPLETED
    assert route.call_count == 3
    assert 2.0 <= slept[0] <= 2.2, slept  # Retry-After, plus at most 10% jitter
    assert slept[1] <= 0.01  # exponential backoff capped by backoff_max


@respx.mock
def test_gives_up_after_max_attempts_with_the_last_error(make_twilio_hook: Any) -> None:
    route = respx.get(f"{TRANSFERS}/{UX}").mock(return_value=httpx.Response(500, json={"code": 20500}))
    with pytest.raises(TransferServerError) as info:
        make_twilio_hook(max_attempts=3).get_transfer(KD, UO, UX)
    assert route.call_count == 3
    assert info.value.status_code == 500


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
@respx.mock
def test_other_4xx_are_never_retried(make_twilio_hook: Any, status: int) -> None:
    route = respx.get(f"{TRANSFERS}/{UX}").mock(
        return_value=httpx.Response(status, json={"code": 20000 + status, "message": "nope", "status": status})
    )
    with pytest.raises(TransferApiError) as info:
        make_twilio_hook().get_transfer(KD, UO, UX)
    assert route.call_count == 1
    assert info.value.status_code == status


@respx.mock
def test_connection_errors_and_timeouts_are_retried(make_twilio_hook: Any) -> None:
    route = respx.get(f"{TRANSFERS}/{UX}").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json=twilio_transfer()),
        ]
    )
    assert make_twilio_hook().get_transfer(KD, UO, UX).sid == UX
    assert route.call_count == 3


@respx.mock
def test_create_is_not_retried_when_the_platform_may_have_acted(make_twilio_hook: Any) -> None:
    """A timeout or 500 after sending could mean a transfer exists: retrying would start a second one."""
    route = respx.post(TRANSFERS).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransferTransportError):
        make_twilio_hook().create_transfer(KD, UO)
    assert route.call_count == 1
    route.side_effect = [httpx.Response(500, text="boom"), httpx.Response(201, json=twilio_transfer())]
    with pytest.raises(TransferServerError):
        make_twilio_hook().create_transfer(KD, UO)
    assert route.call_count == 2  # one more, not a retry


@respx.mock
def test_create_is_retried_when_the_platform_cannot_have_acted(make_twilio_hook: Any) -> None:
    route = respx.post(TRANSFERS).mock(
        side_effect=[
            httpx.Response(429, json={"code": 20429, "message": "Too Many Requests"}),
            httpx.ConnectError("refused"),
            httpx.Response(503, text=""),
            httpx.Response(201, json=twilio_transfer()),
        ]
    )
    assert make_twilio_hook().create_transfer(KD, UO).sid == UX
    assert route.call_count == 4


@respx.mock
async def test_async_retry_honours_retry_after(make_twilio_hook: Any) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    hook = make_twilio_hook()
    (await hook.aget_conn())._asleep = fake_sleep
    respx.get(f"{TRANSFERS}/{UX}").mock(
        side_effect=[
            httpx.Response(429, json={"code": 20429, "message": "x"}, headers={"Retry-After": "3"}),
            httpx.Response(200, json=twilio_transfer()),
        ]
    )
    await hook.aget_transfer(KD, UO, UX)
    assert 3.0 <= slept[0] <= 3.3


# ---------------------------------------------------------------------------------------- error shapes


@pytest.mark.parametrize(
    ("response", "cls", "code", "message", "more_info"),
    [
        (
            httpx.Response(
                404,
                json={
                    "code": 20404,
                    "message": "The requested resource was not found",
                    "more_info": "https://www.twilio.com/docs/errors/20404",
                    "status": 404,
                },
            ),
            TransferNotFoundError,
            20404,
            "The requested resource was not found",
            "https://www.twilio.com/docs/errors/20404",
        ),
        (
            httpx.Response(
                401,
                json={
                    "type": "https://www.twilio.com/docs/errors/20003",
                    "title": "Authenticate",
                    "status": 401,
                    "code": 20003,
                },
            ),
            TransferAuthError,
            20003,
            "Authenticate",
            "https://www.twilio.com/docs/errors/20003",
        ),
        (
            httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>", headers={"content-type": "text/html"}),
            TransferServerError,
            None,
            "Bad Gateway (non-JSON body, text/html)",
            None,
        ),
        (httpx.Response(503, content=b""), TransferServerError, None, "Service Unavailable (empty body)", None),
        (
            httpx.Response(429, json={"code": 20429, "message": "Too many concurrent requests"}),
            TransferRateLimitError,
            20429,
            "Too many concurrent requests",
            None,
        ),
    ],
)
@respx.mock
def test_error_bodies_map_into_the_family(
    make_twilio_hook: Any, response: httpx.Response, cls: type, code: Any, message: str, more_info: Any
) -> None:
    respx.get(f"{TRANSFERS}/{UX}").mock(return_value=response)
    with pytest.raises(cls) as info:
        make_twilio_hook(max_attempts=1).get_transfer(KD, UO, UX)
    err = info.value
    assert (err.code, err.message, err.more_info) == (code, message, more_info)
    assert err.platform == "twilio_flex" and err.status_code == response.status_code
    assert f"GET /v1/Interactions/{KD}" in str(err)


@respx.mock
def test_malformed_success_body_is_retried_then_reported(make_twilio_hook: Any) -> None:
    route = respx.get(f"{TRANSFERS}/{UX}").mock(
        side_effect=[httpx.Response(200, text='{"sid": '), httpx.Response(200, json=twilio_transfer())]
    )
    assert make_twilio_hook().get_transfer(KD, UO, UX).sid == UX
    assert route.call_count == 2


@respx.mock
def test_unexpected_shape_is_a_server_error_not_a_crash(make_twilio_hook: Any) -> None:
    respx.get(f"{TRANSFERS}/{UX}").mock(return_value=httpx.Response(200, json={"sid": UX}))
    with pytest.raises(TransferServerError, match="documented shape"):
        make_twilio_hook().get_transfer(KD, UO, UX)


# ---------------------------------------------------------------------------------------- secrets


@respx.mock
def test_no_secret_in_logs_urls_reprs_or_errors(make_twilio_hook: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "airflow_provider_transfers"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    route = respx.get(f"{TRANSFERS}/{UX}").mock(
        side_effect=[httpx.Response(429, json={"code": 20429}), httpx.Response(401, json={"code": 20003})]
    )
    hook = make_twilio_hook()
    with pytest.raises(TransferAuthError) as info:
        hook.get_transfer(KD, UO, UX)
    texts = [caplog.text, str(info.value), repr(info.value), repr(hook), repr(hook.api), repr(hook.settings)]
    texts += [str(call.request.url) for call in route.calls]
    assert caplog.records, "expected DEBUG/INFO records from httpx and the retry logger"
    for text in texts:
        assert API_SECRET not in text
    assert "Authorization" not in caplog.text


# ---------------------------------------------------------------------------------------- connection


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"login": ""}, "login must be"),
        ({"password": ""}, "password must"),
        ({"extra": "{}"}, "account_sid"),
        ({"login": "XX" + "1" * 32}, "API Key SID"),
        ({"login": "SK123"}, "32 hex"),
        ({"extra": json.dumps({"account_sid": "AC12"})}, "account_sid"),
        ({"host": "http://example.com"}, "only allowed for loopback"),
        ({"host": "https://user:pw@example.com"}, "must not carry credentials"),
        ({"host": "flex-api.twilio.com"}, "must be a base URL"),
        ({"extra": json.dumps({"account_sid": ACCOUNT, "timeout": "soon"})}, "Invalid timeout: expected a finite"),
        ({"extra": json.dumps({"account_sid": ACCOUNT, "max_attempts": 1.5})}, "Invalid max_attempts: expected a"),
        ({"login": ACCOUNT, "extra": json.dumps({"account_sid": "AC" + "9" * 32})}, "differs"),
    ],
)
def test_connection_problems_are_named(over: dict[str, Any], match: str) -> None:
    hook = TwilioFlexHook(connection=twilio_connection(**over))
    with pytest.raises(TransferConfigError, match=match):
        hook.get_conn()


@pytest.mark.parametrize(
    ("extra", "host"),
    [
        ({}, "https://flex-api.twilio.com"),
        ({"region": "au1", "edge": "sydney"}, "https://flex-api.sydney.au1.twilio.com"),
        ({"edge": "ashburn"}, "https://flex-api.ashburn.us1.twilio.com"),
        ({"region": "ie1"}, "https://flex-api.ie1.twilio.com"),
    ],
)
def test_regions_and_edges(extra: dict[str, str], host: str) -> None:
    conn = twilio_connection(login=ACCOUNT, extra=json.dumps(extra))
    assert TwilioFlexHook(connection=conn).api.base_url == host


def test_loopback_http_is_allowed_for_the_sandbox() -> None:
    conn = twilio_connection(host="http://127.0.0.1:8765")
    assert TwilioFlexHook(connection=conn).api.base_url == "http://127.0.0.1:8765"


def test_policy_from_extra_and_hook_arguments() -> None:
    conn = twilio_connection(extra=json.dumps({"account_sid": ACCOUNT, "timeout": "7", "rate_limit": 5}))
    hook = TwilioFlexHook(connection=conn, policy={"max_attempts": 2})
    policy = hook.api.policy
    assert (policy.timeout, policy.rate_limit, policy.max_attempts) == (7.0, 5.0, 2)
    with pytest.raises(TransferConfigError, match="unknown policy option 'retries'"):
        TwilioFlexHook(connection=conn, policy={"retries": 3})


# ---------------------------------------------------------------------------------------- test_connection


@respx.mock
def test_test_connection_success_and_wrong_account() -> None:
    route = respx.get(f"{BASE}/v1/Configuration").mock(return_value=httpx.Response(200, json={"account_sid": ACCOUNT}))
    ok, message = TwilioFlexHook(connection=twilio_connection()).test_connection()
    assert ok and ACCOUNT in message
    route.return_value = httpx.Response(200, json={"account_sid": "AC" + "9" * 32})
    ok, message = TwilioFlexHook(connection=twilio_connection()).test_connection()
    assert not ok and "Wrong account" in message


@respx.mock
def test_test_connection_bad_credentials() -> None:
    respx.get(f"{BASE}/v1/Configuration").mock(
        return_value=httpx.Response(401, json={"code": 20003, "message": "Authenticate", "status": 401})
    )
    ok, message = TwilioFlexHook(connection=twilio_connection()).test_connection()
    assert not ok and message.startswith("Bad credentials")
    assert API_SECRET not in message


def test_test_connection_unreachable_host() -> None:
    conn = twilio_connection(host="http://127.0.0.1:9")  # discard port: nothing listens
    ok, message = TwilioFlexHook(connection=conn, policy={"max_attempts": 1}).test_connection()
    assert not ok and message.startswith("Cannot reach http://127.0.0.1:9")
