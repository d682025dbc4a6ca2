"""The official ``twilio`` SDK (9.x) against the sandbox over loopback: it creates, fetches and updates a
transfer, and receives the same JSON our hook receives; every response validates against the spec (the
``transfer_sandbox`` fixture fails the test at teardown otherwise). Lifecycles go through the control API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
from airflow_provider_transfers.http.client import Request
from airflow_provider_transfers.models import TransferStatus, TwilioTransfer
from airflow_provider_transfers.sandbox.server import TransferSandbox

twilio_rest = pytest.importorskip("twilio.rest", reason="the official SDK comes with the 'bench' extra")
twilio_http = pytest.importorskip("twilio.http.http_client")


class RecordingHttpClient(twilio_http.TwilioHttpClient):  # type: ignore[misc]
    """The SDK's own HTTP client, keeping every response it received (status and raw JSON text)."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[Any] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = super().request(*args, **kwargs)
        self.responses.append(response)
        return response


class Body:
    """What the SDK requires for these two calls: an object with ``to_dict()`` (a plain dict fails)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


@pytest.fixture
def sdk(transfer_sandbox: TransferSandbox) -> Any:
    creds = transfer_sandbox.credentials
    client = twilio_rest.Client(
        creds.twilio_api_key_sid,
        creds.twilio_api_key_secret,
        creds.twilio_account_sid,
        http_client=RecordingHttpClient(),
    )
    client.flex_api.base_url = transfer_sandbox.twilio_url  # loopback instead of flex-api.twilio.com
    return client


@pytest.fixture
def hook(transfer_sandbox: TransferSandbox) -> Iterator[TwilioFlexHook]:
    creds = transfer_sandbox.credentials
    conn = Connection(
        conn_id="twilio_sdk_parity",
        conn_type="twilio_flex",
        host=transfer_sandbox.twilio_url,
        login=creds.twilio_api_key_sid,
        password=creds.twilio_api_key_secret,
        extra=json.dumps({"account_sid": creds.twilio_account_sid}),
    )
    flex = TwilioFlexHook(connection=conn, policy={"rate_limit": 0})
    yield flex
    flex.close()


def _last_json(sdk: Any) -> dict[str, Any]:
    response = sdk.http_client.responses[-1]
    body: dict[str, Any] = json.loads(response.text)
    return body


def test_sdk_create_fetch_update_see_what_the_hook_sees(
    transfer_sandbox: TransferSandbox, sdk: Any, hook: TwilioFlexHook
) -> None:
    interaction = transfer_sandbox.control.create_twilio_interaction()
    kd, uo = interaction["interaction_sid"], interaction["channel_sid"]
    transfers = sdk.flex_api.v1.interaction(kd).channels(uo).transfers

    created = transfers.create(Body({"type": "warm", "to": "WW" + "1" * 32}))
    created_json = _last_json(sdk)
    assert sdk.http_client.responses[-1].status_code == 201
    assert created.sid.startswith("UX") and created.type == "warm" and created.status == "active"

    ours = hook.get_transfer(kd, uo, created.sid)
    fetched = transfers(created.sid).fetch()
    fetched_json = _last_json(sdk)
    assert fetched_json == ours.to_xcom() | {
        k: fetched_json[k] for k in ("date_created", "date_updated")
    }  # identical but for the datetime rendering the model normalises
    assert fetched_json == created_json
    assert TwilioTransfer.model_validate(fetched_json) == ours
    assert (fetched.sid, fetched.status, fetched._from, fetched.to) == (ours.sid, "active", ours.from_, ours.to)

    updated = transfers(created.sid).update(Body({"status": "completed", "note": "sdk"}))
    assert updated.status == "active"  # the body has no declared fields: nothing is obeyed
    assert transfer_sandbox.control.transfer(created.sid)["last_request_body"] == {"status": "completed", "note": "sdk"}

    transfer_sandbox.control.set_outcome(created.sid, "completed")  # the lifecycle: control API only
    refetched = transfers(created.sid).fetch()
    assert refetched.status == "completed"
    assert _last_json(sdk) == hook.api.request(Request("GET", created.url.removeprefix(transfer_sandbox.twilio_url)))
    assert hook.get_transfer(kd, uo, created.sid).status is TransferStatus.COMPLETED


def test_sdk_fails_with_a_plain_dict_where_the_hook_accepts_it(
    transfer_sandbox: TransferSandbox, sdk: Any, hook: TwilioFlexHook
) -> None:
    interaction = transfer_sandbox.control.create_twilio_interaction()
    kd, uo = interaction["interaction_sid"], interaction["channel_sid"]
    with pytest.raises(AttributeError, match="to_dict"):
        sdk.flex_api.v1.interaction(kd).channels(uo).transfers.create({"type": "cold"})
    assert hook.create_transfer(kd, uo, {"type": "cold"}).type.value == "cold"
