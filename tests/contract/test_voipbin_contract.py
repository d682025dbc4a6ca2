"""VoIPbin: every request the hook sends is an operation of the spec; every spec schema example parses.

``POST /auth/login`` sits beside the versioned API and is not part of the spec file, so the login
request is left out of the request check (its shape is covered by the auth unit tests).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_transfers.hooks.voipbin import VoipbinHook, parse_voipbin_error
from airflow_provider_transfers.models import (
    Address,
    AddressType,
    VoipbinCall,
    VoipbinCallStatus,
    VoipbinGroupcall,
    VoipbinGroupcallStatus,
    VoipbinTransfer,
    VoipbinTransferType,
)
from tests.contract.openapi import VOIPBIN_SPEC, spec_dict, validate_request
from tests.voipbin_factories import (
    ANSWER_ID,
    GROUPCALL_ID,
    PASSWORD,
    TRANSFERER_ID,
    USERNAME,
    VB_BASE,
    VB_LOGIN,
    call_json,
    groupcall_json,
    jwt,
    transfer_json,
    voipbin_connection,
)

SCHEMAS = spec_dict(VOIPBIN_SPEC)["components"]["schemas"]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMAS[node["$ref"].rsplit("/", 1)[-1]]
    return node


def example_of(node: dict[str, Any]) -> Any:
    """An instance built from the ``example`` values of a schema and of everything it references."""
    if "example" in node and "$ref" not in node:
        return node["example"]
    schema = resolve(node)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(example_of(part))
        return merged
    if schema.get("type") == "array" or "items" in schema:
        return schema.get("example", [example_of(schema["items"])])
    if "properties" in schema:
        return {name: example_of(prop) for name, prop in schema["properties"].items()}
    if "example" in node:
        return node["example"]
    if "example" in schema:
        return schema["example"]
    return (schema.get("enum") or [""])[0]


def success_schema(path: str, method: str) -> dict[str, Any]:
    response = spec_dict(VOIPBIN_SPEC)["paths"][path][method]["responses"]["200"]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def _respond(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/transfers"):
        return httpx.Response(200, json=transfer_json())
    if "/groupcalls/" in path:
        return httpx.Response(200, json=groupcall_json("progressing", answered=True))
    if path.endswith("/calls"):
        return httpx.Response(200, json={"result": [call_json()], "next_page_token": ""})
    return httpx.Response(200, json=call_json())


@pytest.mark.parametrize("login", [None, USERNAME])
@respx.mock
def test_every_request_matches_the_spec(login: str | None) -> None:
    respx.post(VB_LOGIN).mock(return_value=httpx.Response(200, json={"username": USERNAME, "token": jwt(4e9)}))
    route = respx.route(host="api.voipbin.net", path__startswith="/v1.0/").mock(side_effect=_respond)
    conn = voipbin_connection(login=login, password=PASSWORD) if login else voipbin_connection()
    hook = VoipbinHook(connection=conn, policy={"rate_limit": 0})
    every_type = [
        {"type": "tel", "target": "+15551234567", "target_name": "Bob", "name": "mobile", "detail": "x"},
        {"type": "sip", "target": "bob@example.com"},
        {"type": "agent", "target": ANSWER_ID},
        {"type": "conference", "target": ANSWER_ID},
        {"type": "extension", "target": "2001"},
        {"type": "line", "target": "line-1"},
        {"type": "email", "target": "bob@example.com"},
        {"type": "web_session", "target": "session-1"},
    ]
    hook.create_transfer("attended", TRANSFERER_ID, every_type)
    hook.create_transfer("blind", TRANSFERER_ID, json.dumps(every_type[:1]))
    hook.check_transfer(transfer_json("attended"))
    hook.hangup_call(TRANSFERER_ID)
    hook.hangup_groupcall(GROUPCALL_ID)
    assert hook.test_connection()[0]
    assert route.call_count == 7
    for call in route.calls:
        validate_request(VOIPBIN_SPEC, call.request)
    sent = [(c.request.method, c.request.url.path) for c in route.calls]
    assert ("GET", f"/v1.0/groupcalls/{GROUPCALL_ID}") in sent and ("GET", "/v1.0/calls") in sent


def test_the_validator_rejects_what_the_spec_does_not_allow() -> None:
    """Guard against a validator that accepts anything."""
    with pytest.raises(Exception):  # noqa: B017 - any openapi-core validation error
        validate_request(VOIPBIN_SPEC, httpx.Request("GET", f"{VB_BASE}/transfers"))
    bad_body = {"transfer_type": "warm", "transferer_call_id": TRANSFERER_ID, "transferee_addresses": []}
    with pytest.raises(Exception):  # noqa: B017
        validate_request(VOIPBIN_SPEC, httpx.Request("POST", f"{VB_BASE}/transfers", json=bad_body))
    missing = {"transfer_type": "blind", "transferer_call_id": TRANSFERER_ID}
    with pytest.raises(Exception):  # noqa: B017
        validate_request(VOIPBIN_SPEC, httpx.Request("POST", f"{VB_BASE}/transfers", json=missing))


@pytest.mark.parametrize(
    ("path", "method", "model"),
    [
        ("/transfers", "post", VoipbinTransfer),
        ("/calls/{id}", "get", VoipbinCall),
        ("/calls/{id}/hangup", "post", VoipbinCall),
        ("/groupcalls/{id}", "get", VoipbinGroupcall),
        ("/groupcalls/{id}/hangup", "post", VoipbinGroupcall),
    ],
)
def test_every_success_schema_example_parses_into_the_model(path: str, method: str, model: type[Any]) -> None:
    body = example_of(success_schema(path, method))
    parsed = model.model_validate(body)
    assert parsed.id == body["id"]
    assert parsed.to_xcom()["id"] == body["id"]
    assert parsed.tm_create is not None and parsed.tm_create.year == 2026


def test_list_calls_example_parses() -> None:
    body = example_of(success_schema("/calls", "get"))
    assert [VoipbinCall.model_validate(c).id for c in body["result"]] == [body["result"][0]["id"]]


def test_transfer_example_maps_type_and_addresses() -> None:
    body = example_of(SCHEMAS["TransferManagerTransfer"])
    transfer = VoipbinTransfer.model_validate(body)
    assert transfer.type.value == body["type"]
    assert [a.target for a in transfer.transferee_addresses] == [a["target"] for a in body["transferee_addresses"]]
    assert Address.model_validate(example_of(SCHEMAS["CommonAddress"])).target == "+14155551234"


def test_error_response_example_parses_into_the_exception_fields() -> None:
    body = example_of(SCHEMAS["ErrorResponse"])
    fields = parse_voipbin_error(httpx.Response(404, json=body, request=httpx.Request("GET", f"{VB_BASE}/calls")))
    assert fields["reason"] == body["error"]["reason"]
    assert fields["request_id"] == body["error"]["request_id"]


@pytest.mark.parametrize(
    ("schema", "enum"),
    [
        ("CallManagerCallStatus", VoipbinCallStatus),
        ("CallManagerGroupcallStatus", VoipbinGroupcallStatus),
        ("TransferManagerTransferType", VoipbinTransferType),
        ("CommonAddress", AddressType),
    ],
)
def test_model_enums_cover_the_spec(schema: str, enum: Any) -> None:
    node = SCHEMAS[schema]
    values = node["properties"]["type"]["enum"] if schema == "CommonAddress" else node["enum"]
    assert set(values) == {member.value for member in enum}
