"""Twilio Flex: every request the hook sends is an operation of the spec; every spec example parses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from airflow_provider_transfers.models import TwilioTransfer
from tests.contract.openapi import TWILIO_SPEC, response_examples, spec_dict, validate_request
from tests.factories import KD, UO, UX, twilio_transfer

TRANSFERS = "/v1/Interactions/{InteractionSid}/Channels/{ChannelSid}/Transfers"
TRANSFER = TRANSFERS + "/{Sid}"


@respx.mock
def test_every_request_matches_the_spec(make_twilio_hook: Any) -> None:
    route = respx.route(host="flex-api.twilio.com").mock(
        side_effect=lambda request: httpx.Response(201 if request.url.path.endswith("Transfers") else 200,
                                                   json=twilio_transfer())
    )  # fmt: skip
    hook = make_twilio_hook()
    hook.create_transfer(KD, UO)
    hook.create_transfer(KD, UO, {"to": "WW" + "0" * 32, "type": "warm"})
    hook.get_transfer(KD, UO, UX)
    hook.update_transfer(KD, UO, UX, '{"status": "completed"}')
    assert route.call_count == 4
    for call in route.calls:
        validate_request(TWILIO_SPEC, call.request)
        assert call.request.headers["content-type" if call.request.method == "POST" else "accept"].startswith(
            "application/json"
        )


def test_the_validator_rejects_what_the_spec_does_not_allow() -> None:
    """Guard against a validator that accepts anything."""
    bad_path = httpx.Request("GET", f"https://flex-api.twilio.com/v1/Interactions/{KD}/Transfers")
    with pytest.raises(Exception):  # noqa: B017 - any openapi-core validation error
        validate_request(TWILIO_SPEC, bad_path)
    bad_method = httpx.Request("DELETE", f"https://flex-api.twilio.com/v1/Interactions/{KD}/Channels/{UO}/Transfers")
    with pytest.raises(Exception):  # noqa: B017
        validate_request(TWILIO_SPEC, bad_method)


@pytest.mark.parametrize(("path", "method"), [(TRANSFERS, "post"), (TRANSFER, "get"), (TRANSFER, "post")])
def test_every_example_response_parses_into_the_model(path: str, method: str) -> None:
    examples = list(response_examples(TWILIO_SPEC, path, method))
    assert examples, f"the spec has no example for {method.upper()} {path}"
    for label, body in examples:
        transfer = TwilioTransfer.model_validate(body)
        assert transfer.sid == body["sid"], label
        assert transfer.to_xcom()["from"] == body["from"]


def test_model_declares_every_field_of_the_spec_schema() -> None:
    schema = spec_dict(TWILIO_SPEC)["components"]["schemas"][
        "flex.v1.interaction.interaction_channel.interaction_transfer"
    ]
    declared = {field.alias or name for name, field in TwilioTransfer.model_fields.items()}
    assert set(schema["properties"]) == declared
