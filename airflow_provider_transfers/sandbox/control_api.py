"""``/_sandbox/`` control endpoints (no auth, JSON, never faulted, rate-limited or delayed)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_transfers import __version__
from airflow_provider_transfers.sandbox.clock import iso_time
from airflow_provider_transfers.sandbox.config import PLATFORMS, TWILIO, VOIPBIN
from airflow_provider_transfers.sandbox.ids import is_uuid
from airflow_provider_transfers.sandbox.lifecycle import OUTCOMES
from airflow_provider_transfers.sandbox.pipeline import state_of
from airflow_provider_transfers.sandbox.state import SandboxState
from airflow_provider_transfers.sandbox.twilio_state import TRANSFER_TYPES as TWILIO_TYPES
from airflow_provider_transfers.sandbox.twilio_state import TransferConflict as TwilioConflict
from airflow_provider_transfers.sandbox.voipbin_state import MASTERS
from airflow_provider_transfers.sandbox.voipbin_transfers import EVENTS as VOIPBIN_EVENTS
from airflow_provider_transfers.sandbox.voipbin_transfers import TRANSFER_TYPES as VOIPBIN_TYPES
from airflow_provider_transfers.sandbox.voipbin_transfers import TransferConflict as VoipbinConflict
from airflow_provider_transfers.sandbox.voipbin_transfers import TransferRefused

PREFIX = "/_sandbox"
MAX_SEED = 100_000
SEED_ADDRESS = {"type": "tel", "target": "+15550100003", "target_name": "", "name": "", "detail": ""}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


ControlHandler = Callable[[Request, SandboxState, dict[str, Any]], Any]


def _route(method: str, path: str, handler: ControlHandler) -> Route:
    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ControlError(400, "the body must be a JSON object")
            state.advance()
            result = handler(request, state, body)
        except ControlError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(result)

    endpoint_fn: Callable[[Request], Awaitable[Response]] = endpoint
    return Route(f"{PREFIX}{path}", endpoint_fn, methods=[method])


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def health(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    base = _base_url(request)
    return {
        "status": "ok",
        "version": __version__,
        "twilio_url": base,
        "voipbin_url": f"{base}/v1.0",
        "now": iso_time(state.clock.now_us()),
        "resources": {
            "twilio_interactions": len(state.twilio.interactions),
            "twilio_transfers": len(state.twilio.transfers),
            "voipbin_calls": len(state.voipbin.calls),
            "voipbin_groupcalls": len(state.voipbin.groupcalls),
            "voipbin_transfers": len(state.voipbin.transfers),
        },
    }


def reset(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    """Body ``{"keep_config": false}``: by default the startup settings come back too."""
    state.reset(keep_config=bool(body.get("keep_config", False)))
    return {"status": "reset"}


def get_config(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    return state.config.to_dict()


def set_config(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    state.set_config(state.config.updated(body))
    if "retry_after" in body or "rate_limit" in body or "twilio_rate" in body or "voipbin_rate" in body:
        state.limiter.reset()
    return state.config.to_dict()


def advance_clock(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    state.clock.advance(float(body.get("seconds", 0)))
    now = state.advance()
    return {"now": iso_time(now), "offset_s": state.clock.offset_s}


def create_interaction(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    channel_type = str(body.get("channel_type", "voice"))
    interaction, channel = state.twilio.create_interaction(state.credentials.twilio_account_sid, channel_type)
    base = _base_url(request)
    return {
        "interaction_sid": interaction.sid,
        "channel_sid": channel.sid,
        "account_sid": interaction.account_sid,
        "transfers_url": f"{base}/v1/Interactions/{interaction.sid}/Channels/{channel.sid}/Transfers",
    }


def _customer(state: SandboxState, body: dict[str, Any]) -> str:
    """``customer_id`` of the body (another customer's resources answer 403 to the sandbox's credentials)."""
    customer = body.get("customer_id") or state.credentials.voipbin_customer_id
    if not isinstance(customer, str) or not is_uuid(customer):
        raise ControlError(400, "customer_id must be a UUID")
    return customer


def _master(body: dict[str, Any]) -> str:
    master = body.get("master") or "customer"
    if master not in MASTERS:
        raise ControlError(400, f"master must be one of {', '.join(MASTERS)}")
    return str(master)


def create_call(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    """An agent's call (``progressing`` unless ``status`` says otherwise) in a conference with a customer's call.

    ``master``: ``customer`` (default: the agent's call is chained to the customer's) or ``agent`` (the
    customer's call is chained to the agent's); ``customer_id``: the owner (default: the sandbox's customer).
    """
    status = str(body.get("status", "progressing"))
    if status not in ("dialing", "ringing", "progressing", "hangup"):
        raise ControlError(400, "status must be dialing, ringing, progressing or hangup")
    call = state.voipbin.create_transferer_call(_customer(state, body), status, _master(body))
    return state.voipbin.render.call(call)


def delete_call(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    """What ``DELETE /v1.0/calls/{id}`` does, for any customer's call: later requests on it answer 409."""
    call = state.voipbin.calls.get(request.path_params["call_id"])
    if call is None:
        raise ControlError(404, f"no VoIPbin call {request.path_params['call_id']}")
    state.voipbin.delete_call(call)
    return state.voipbin.render.call(call)


def seed(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    """Create ``count`` transfers directly; each returned exactly as the create endpoint would."""
    platform = body.get("platform")
    count = int(body.get("count", 1))
    if not 1 <= count <= MAX_SEED:
        raise ControlError(400, f"count must be within 1..{MAX_SEED}")
    outcome = body.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ControlError(400, "outcome must be completed, failed or null")
    delay_s = body.get("delay_s")
    delay = None if delay_s is None else float(delay_s)
    if platform == TWILIO:
        transfer_type = body.get("transfer_type") or "cold"
        if transfer_type not in TWILIO_TYPES:
            raise ControlError(400, f"transfer_type must be one of {', '.join(TWILIO_TYPES)}")
        return {
            "platform": platform,
            "count": count,
            "transfers": _seed_twilio(request, state, transfer_type, outcome, delay, count),
        }
    if platform == VOIPBIN:
        transfer_type = body.get("transfer_type") or "blind"
        if transfer_type not in VOIPBIN_TYPES:
            raise ControlError(400, f"transfer_type must be one of {', '.join(VOIPBIN_TYPES)}")
        auto = body.get("auto_complete_after")
        seeding = VoipbinSeed(
            transfer_type, _customer(state, body), _master(body), _seed_addresses(body.get("addresses"))
        )
        transfers = _seed_voipbin(state, seeding, outcome, delay, count, None if auto is None else float(auto))
        return {"platform": platform, "count": count, "transfers": transfers}
    raise ControlError(400, f"platform must be one of {', '.join(PLATFORMS)}")


def _seed_twilio(
    request: Request, state: SandboxState, transfer_type: str, outcome: str | None, delay: float | None, count: int
) -> list[dict[str, Any]]:
    store, base, account = state.twilio, _base_url(request), state.credentials.twilio_account_sid
    out = []
    for _ in range(count):
        _, channel = store.create_interaction(account)
        plan = state.planner.plan(state.config, outcome, delay)
        transfer = store.create_transfer(channel, account, {"type": transfer_type}, plan)
        out.append(store.render_transfer(transfer, base))
    return out


@dataclass(frozen=True)
class VoipbinSeed:
    transfer_type: str
    customer_id: str
    master: str
    addresses: list[dict[str, Any]]


def _seed_addresses(value: Any) -> list[dict[str, Any]]:
    """Transferee addresses of seeded transfers (default: one ``tel``); each a mapping of strings."""
    if value is None:
        return [dict(SEED_ADDRESS)]
    if not isinstance(value, list) or not value or not all(isinstance(a, dict) for a in value):
        raise ControlError(400, "addresses must be a non-empty list of address objects")
    keys = ("type", "target", "target_name", "name", "detail")
    return [{k: str(a.get(k) or "") for k in keys} for a in value]


def _seed_voipbin(
    state: SandboxState,
    seeding: VoipbinSeed,
    outcome: str | None,
    delay: float | None,
    count: int,
    auto_complete_after: float | None,
) -> list[dict[str, Any]]:
    store = state.voipbin
    out = []
    for _ in range(count):
        call = store.create_transferer_call(seeding.customer_id, master=seeding.master)
        plan = state.planner.plan(state.config, outcome, delay)
        body = {
            "transfer_type": seeding.transfer_type,
            "transferer_call_id": call.id,
            "transferee_addresses": seeding.addresses,
        }
        try:
            transfer = store.manager.create(
                seeding.customer_id, seeding.transfer_type, call, seeding.addresses, body, plan, auto_complete_after
            )
        except TransferRefused as exc:
            raise ControlError(409, f"VoIPbin's transfer manager refuses these transfers: {exc}") from None
        out.append(store.render.transfer(transfer))
    return out


def transfer_truth(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    """Ground truth of one transfer: platform, true status and the last request body."""
    transfer_id = request.path_params["transfer_id"]
    twilio = state.twilio.transfers.get(transfer_id)
    if twilio is not None:
        return {
            "platform": TWILIO,
            "id": transfer_id,
            "status": twilio.status,
            "transfer": state.twilio.render_transfer(twilio, _base_url(request)),
            "last_request_body": twilio.last_body,
        }
    voipbin = state.voipbin.transfers.get(transfer_id)
    if voipbin is not None:
        return {"platform": VOIPBIN, "id": transfer_id, **state.voipbin.truth(voipbin)}
    raise ControlError(404, f"no transfer {transfer_id}")


def force_outcome(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    outcome = body.get("outcome")
    if outcome not in OUTCOMES:
        raise ControlError(400, "outcome must be completed or failed")
    delay = float(body.get("delay_s", 0))
    if delay < 0:
        raise ControlError(400, "delay_s must be >= 0")
    transfer_id = request.path_params["transfer_id"]
    try:
        if transfer_id in state.twilio.transfers:
            state.twilio.force_outcome(state.twilio.transfers[transfer_id], outcome, delay)
        elif transfer_id in state.voipbin.transfers:
            voipbin = state.voipbin.transfers[transfer_id]
            state.voipbin.manager.force_outcome(voipbin, outcome, delay, state.clock.now_us())
        else:
            raise ControlError(404, f"no transfer {transfer_id}")
    except (TwilioConflict, VoipbinConflict) as exc:
        raise ControlError(409, str(exc)) from None
    state.advance()
    return {**transfer_truth(request, state, body), "forced_outcome": outcome, "delay_s": delay}


def transfer_event(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    """VoIPbin: drive one lifecycle event now, ``{"event": "answer" | "no_answer" | "transferee_hangup" |
    "transferer_hangup" | "caller_hangup" | "cancel"}``; 409 when it cannot happen in the transfer's state.

    ``answer`` takes an optional ``"address"``: the index of the transferee address whose call answers (an
    ``agent``/``extension`` address of several rings through a nested groupcall). ``caller_hangup``: the
    customer hangs up, and every call chained to theirs with them. ``cancel`` hangs the groupcall up as
    ``POST /groupcalls/{id}/hangup`` does, even an ended one (``hangingup`` now, its members ``hangup`` after
    ``groupcall_hangingup_s``: advance the clock to finish it)."""
    transfer_id = request.path_params["transfer_id"]
    transfer = state.voipbin.transfers.get(transfer_id)
    if transfer is None:
        raise ControlError(404, f"no VoIPbin transfer {transfer_id}")
    event = body.get("event")
    if event not in VOIPBIN_EVENTS:
        raise ControlError(400, f"event must be one of {', '.join(VOIPBIN_EVENTS)}")
    address = body.get("address")
    if address is not None and (isinstance(address, bool) or not isinstance(address, int)):
        raise ControlError(400, "address must be an index of the transfer's transferee_addresses")
    try:
        state.voipbin.manager.event(transfer, str(event), address)
    except VoipbinConflict as exc:
        raise ControlError(409, str(exc)) from None
    state.advance()
    state.voipbin.manager.record(transfer, str(event))
    return transfer_truth(request, state, body)


def stats(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    return state.stats.snapshot()


def violations(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    return {"count": len(state.violations), "violations": list(state.violations)}


def clear_violations(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    count = len(state.violations)
    state.violations.clear()
    return {"cleared": count}


def drift(request: Request, state: SandboxState, body: dict[str, Any]) -> Any:
    """``{"platform": ..., "set": {field: value}, "remove": [field, ...]}``; an empty body clears all."""
    platform = body.get("platform")
    if platform is None and not body:
        state.drift.set = {p: {} for p in PLATFORMS}
        state.drift.remove = {p: [] for p in PLATFORMS}
        return {"drift": "cleared"}
    if platform not in PLATFORMS:
        raise ControlError(400, f"platform must be one of {', '.join(PLATFORMS)}")
    to_set, to_remove = body.get("set", {}), body.get("remove", [])
    if not isinstance(to_set, dict) or not isinstance(to_remove, list):
        raise ControlError(400, "set must be an object and remove a list")
    state.drift.set[platform] = dict(to_set)
    state.drift.remove[platform] = [str(k) for k in to_remove]
    return {"platform": platform, "set": to_set, "remove": to_remove}


def routes() -> list[Route]:
    return [
        _route("GET", "/health", health),
        _route("POST", "/reset", reset),
        _route("GET", "/config", get_config),
        _route("POST", "/config", set_config),
        _route("POST", "/clock/advance", advance_clock),
        _route("POST", "/twilio/interactions", create_interaction),
        _route("POST", "/voipbin/calls", create_call),
        _route("POST", "/voipbin/calls/{call_id}/delete", delete_call),
        _route("POST", "/seed", seed),
        _route("GET", "/transfers/{transfer_id}", transfer_truth),
        _route("POST", "/transfers/{transfer_id}/outcome", force_outcome),
        _route("POST", "/transfers/{transfer_id}/events", transfer_event),
        _route("GET", "/stats", stats),
        _route("GET", "/violations", violations),
        _route("DELETE", "/violations", clear_violations),
        _route("POST", "/drift", drift),
    ]
