"""Twilio Flex endpoints: Interaction Channel Transfers, their parents, and ``/v1/Configuration``."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Hashable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_transfers.sandbox.clock import twilio_time
from airflow_provider_transfers.sandbox.config import TWILIO, SandboxConfig
from airflow_provider_transfers.sandbox.ids import is_sid
from airflow_provider_transfers.sandbox.pipeline import Ctx, platform_route
from airflow_provider_transfers.sandbox.reply import Reply, json_reply
from airflow_provider_transfers.sandbox.state import SandboxState
from airflow_provider_transfers.sandbox.twilio_state import TRANSFER_TYPES

TRANSFERS = "/v1/Interactions/{InteractionSid}/Channels/{ChannelSid}/Transfers"
TRANSFER = TRANSFERS + "/{Sid}"
INTERACTION = "/v1/Interactions/{Sid}"
CHANNEL = "/v1/Interactions/{InteractionSid}/Channels/{Sid}"
CONFIGURATION = "/v1/Configuration"


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json_reply(status, body, headers)


def _not_found(ctx: Ctx) -> Reply:
    return twilio_error(404, 20404, f"The requested resource {ctx.request.url.path} was not found")


class TwilioAdapter:
    platform = TWILIO
    malformed_key = "sid"

    def authenticate(self, request: Request, state: SandboxState) -> str | Reply:
        """HTTP Basic with (API key SID + secret) or (Account SID + auth token)."""
        creds = state.credentials
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            valid = {
                (creds.twilio_api_key_sid, creds.twilio_api_key_secret),
                (creds.twilio_account_sid, creds.twilio_auth_token),
            }
            if (user, password) in valid:
                return creds.twilio_account_sid
        return twilio_error(401, 20003, "Authenticate")

    def rate_key(self, identity: str, endpoint: str) -> Hashable:
        return (TWILIO, identity, endpoint)

    def rate(self, config: SandboxConfig) -> tuple[float, float]:
        return config.twilio_rate, config.twilio_burst

    def too_many_requests(self, config: SandboxConfig, retry_after: int | None) -> Reply:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return twilio_error(429, 20429, "Too Many Requests", headers)

    def internal_error(self, config: SandboxConfig) -> Reply:
        return twilio_error(500, 20500, "Internal Server Error")


def _json_object(ctx: Ctx) -> dict[str, Any] | Reply:
    """The opaque JSON object body (``{}`` when empty)."""
    if not ctx.body.strip():
        return {}
    try:
        body = json.loads(ctx.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return twilio_error(400, 20001, "Request body must be a JSON object (Content-Type: application/json)")
    # The spec declares the body an object without properties: its fields are not checked here.
    return body


def _invalid_type(value: Any) -> Reply:
    """A create whose ``type`` is missing or not one of the spec's values (``warm | cold | external``) is
    refused, never turned into a default: Twilio's own answer here is not documented (a 400 as for any
    parameter that fails validation, https://www.twilio.com/docs/api/errors/400; the code is our guess)."""
    got = "missing" if value is None else repr(value)
    message = f"Invalid Type: expected one of {', '.join(TRANSFER_TYPES)}; got {got}"
    return twilio_error(400, 20001, message)


def _path_sids_valid(ctx: Ctx) -> bool:
    params = ctx.params
    return is_sid(params["InteractionSid"], "KD") and is_sid(params["ChannelSid"], "UO")


def create_transfer(ctx: Ctx) -> Reply:
    store = ctx.state.twilio
    channel = (
        store.find_channel(ctx.identity, ctx.params["InteractionSid"], ctx.params["ChannelSid"])
        if _path_sids_valid(ctx)
        else None
    )
    if channel is None:
        return _not_found(ctx)
    body = _json_object(ctx)
    if isinstance(body, Reply):
        return body
    if body.get("type") not in TRANSFER_TYPES:
        return _invalid_type(body.get("type"))
    transfer = store.create_transfer(channel, ctx.identity, body)
    return json_reply(201, store.render_transfer(transfer, ctx.base_url))


def _transfer(ctx: Ctx) -> Any:
    if not (_path_sids_valid(ctx) and is_sid(ctx.params["Sid"], "UX")):
        return None
    p = ctx.params
    return ctx.state.twilio.find_transfer(ctx.identity, p["InteractionSid"], p["ChannelSid"], p["Sid"])


def fetch_transfer(ctx: Ctx) -> Reply:
    transfer = _transfer(ctx)
    if transfer is None:
        return _not_found(ctx)
    return json_reply(200, ctx.state.twilio.render_transfer(transfer, ctx.base_url))


def update_transfer(ctx: Ctx) -> Reply:
    transfer = _transfer(ctx)
    if transfer is None:
        return _not_found(ctx)
    body = _json_object(ctx)
    if isinstance(body, Reply):
        return body
    ctx.state.twilio.update_transfer(transfer, body)
    return json_reply(200, ctx.state.twilio.render_transfer(transfer, ctx.base_url))


def fetch_interaction(ctx: Ctx) -> Reply:
    store = ctx.state.twilio
    interaction = store.interactions.get(ctx.params["Sid"])
    if interaction is None or interaction.account_sid != ctx.identity:
        return _not_found(ctx)
    return json_reply(200, store.render_interaction(interaction, ctx.base_url))


def fetch_channel(ctx: Ctx) -> Reply:
    store = ctx.state.twilio
    channel = store.find_channel(ctx.identity, ctx.params["InteractionSid"], ctx.params["Sid"])
    if channel is None:
        return _not_found(ctx)
    return json_reply(200, store.render_channel(channel, ctx.base_url))


def fetch_configuration(ctx: Ctx) -> Reply:
    """Real Flex answers this for the authenticated account; providers use it to test a connection."""
    store = ctx.state.twilio
    created = twilio_time(ctx.now_us)
    return json_reply(
        200,
        {
            "account_sid": ctx.identity,
            "flex_instance_sid": store.instance_sid,
            "status": "ok",
            "service_version": "sandbox",
            "date_created": created,
            "date_updated": created,
            "attributes": {},
            "url": f"{ctx.base_url}{CONFIGURATION}",
        },
    )


def routes() -> list[Route]:
    adapter = TwilioAdapter()
    return [
        platform_route(adapter, "POST", TRANSFERS, create_transfer),
        platform_route(adapter, "GET", TRANSFER, fetch_transfer),
        platform_route(adapter, "POST", TRANSFER, update_transfer),
        platform_route(adapter, "GET", INTERACTION, fetch_interaction),
        platform_route(adapter, "GET", CHANNEL, fetch_channel),
        platform_route(adapter, "GET", CONFIGURATION, fetch_configuration),
    ]
