"""Twilio Flex emulation over real HTTP: lifecycle, auth, 404s and bodies."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_transfers.sandbox.server import TransferSandbox

from .conftest import transfers_path

TRANSFER_FIELDS = {
    "sid", "instance_sid", "account_sid", "interaction_sid", "channel_sid", "execution_sid", "type",
    "status", "from", "to", "note_sid", "summary_sid", "date_created", "date_updated", "url",
}  # fmt: skip


def _create(twilio: httpx.Client, sandbox: TransferSandbox, body: dict | None = None) -> dict:
    interaction = sandbox.control.create_twilio_interaction()
    response = twilio.post(transfers_path(interaction), json=body if body is not None else {"type": "cold"})
    assert response.status_code == 201, response.text
    return response.json()


def _fetch(twilio: httpx.Client, transfer: dict) -> dict:
    response = twilio.get(transfer["url"].removeprefix(str(twilio.base_url).rstrip("/")))
    assert response.status_code == 200, response.text
    return response.json()


def test_create_returns_exactly_the_spec_fields(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    transfer = _create(twilio, sandbox, {"type": "warm", "to": "WW" + "1" * 32})
    assert set(transfer) == TRANSFER_FIELDS
    assert transfer["status"] == "active"
    assert transfer["type"] == "warm"
    assert transfer["to"] == "WW" + "1" * 32
    for key, prefix in (("sid", "UX"), ("account_sid", "AC"), ("instance_sid", "GO"), ("execution_sid", "QW")):
        value = transfer[key]
        assert value.startswith(prefix) and len(value) == 34 and value[2:] == value[2:].lower()
        int(value[2:], 16)
    assert transfer["account_sid"] == sandbox.credentials.twilio_account_sid
    assert transfer["url"].startswith(sandbox.twilio_url + "/v1/Interactions/")


def test_lifecycle_completed(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    transfer = _create(twilio, sandbox)
    sandbox.control.set_outcome(transfer["sid"], "completed", delay_s=5)
    assert _fetch(twilio, transfer)["status"] == "active"
    sandbox.control.advance_clock(5)
    fetched = _fetch(twilio, transfer)
    assert fetched["status"] == "completed"
    assert fetched["date_updated"] >= fetched["date_created"]


def test_lifecycle_failed_is_terminal(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    transfer = _create(twilio, sandbox)
    sandbox.control.set_outcome(transfer["sid"], "failed")
    assert _fetch(twilio, transfer)["status"] == "failed"
    sandbox.control.advance_clock(60)
    assert _fetch(twilio, transfer)["status"] == "failed"


def test_seeded_schedule_resolves_every_transfer_and_repeats(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    def run() -> list[tuple[str, str]]:
        sandbox.control.reset()
        transfers = [_create(twilio, sandbox) for _ in range(10)]
        assert all(t["status"] == "active" for t in transfers)
        sandbox.control.advance_clock(3.01)
        return [(t["sid"], _fetch(twilio, t)["status"]) for t in transfers]

    first = run()
    assert {status for _, status in first} <= {"completed", "failed"}
    assert run() == first


def test_update_stores_the_body_and_returns_200(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    transfer = _create(twilio, sandbox)
    path = transfer["url"].removeprefix(sandbox.twilio_url)
    response = twilio.post(path, json={"anything": {"nested": True}})
    assert response.status_code == 200
    assert response.json()["sid"] == transfer["sid"]
    assert sandbox.control.transfer(transfer["sid"])["last_request_body"] == {"anything": {"nested": True}}
    # The spec declares the body without properties: a "status" in it is stored, not obeyed.
    assert twilio.post(path, json={"status": "completed"}).json()["status"] == "active"
    assert sandbox.control.transfer(transfer["sid"])["status"] == "active"
    assert twilio.post(path, content=b"", headers={"content-type": "application/json"}).status_code == 200


def test_request_values_never_break_the_response_schema(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    """SID-typed fields (from ^UT, note_sid ^KQ) echo only well-formed SIDs and are null otherwise: nothing
    is invented, so a typo does not look like a transfer to somebody."""
    interaction = sandbox.control.create_twilio_interaction()
    odd = {"type": "warm", "from": "alice", "note_sid": "note-1", "to": "queue:sales"}
    response = twilio.post(transfers_path(interaction), json=odd)
    assert response.status_code == 201
    created = response.json()
    assert (created["type"], created["from"], created["note_sid"], created["to"]) == ("warm", None, None, "queue:sales")
    bare = twilio.post(transfers_path(interaction), json={"type": "cold"}).json()
    assert (bare["from"], bare["to"]) == (None, None)
    good = {"from": "UT" + "a" * 32, "note_sid": "KQ" + "b" * 32, "type": "external"}
    echoed = twilio.post(transfers_path(interaction), json=good).json()
    assert (echoed["from"], echoed["note_sid"], echoed["type"]) == (good["from"], good["note_sid"], "external")
    assert sandbox.control.violations() == []


@pytest.mark.parametrize("body", [{}, {"to": "WW" + "0" * 32}, {"type": "lukewarm"}, {"type": "WARM"}, {"type": None}])
def test_a_missing_or_unknown_type_is_refused_not_turned_into_a_transfer(
    twilio: httpx.Client, sandbox: TransferSandbox, body: dict
) -> None:
    """The only thing the spec says of a transfer's type is its enum warm | cold | external: anything else is
    a 400 (Twilio's exact code here is undocumented) and no transfer exists afterwards."""
    response = twilio.post(transfers_path(sandbox.control.create_twilio_interaction()), json=body)
    assert response.status_code == 400
    assert "warm, cold, external" in response.json()["message"]
    assert sandbox.control.health()["resources"]["twilio_transfers"] == 0


def test_invalid_bodies_are_400(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    path = transfers_path(sandbox.control.create_twilio_interaction())
    for body in (b"[1]", b"{not json"):
        response = twilio.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert response.json()["code"] == 20001


def test_auth_modes(sandbox: TransferSandbox) -> None:
    creds = sandbox.credentials
    interaction = sandbox.control.create_twilio_interaction()
    path = f"/v1/Interactions/{interaction['interaction_sid']}"
    good = [
        (creds.twilio_api_key_sid, creds.twilio_api_key_secret),
        (creds.twilio_account_sid, creds.twilio_auth_token),
    ]
    for auth in good:
        response = httpx.get(sandbox.twilio_url + path, auth=auth)
        assert response.status_code == 200, auth
        assert response.json()["sid"] == interaction["interaction_sid"]
    bad = [
        (creds.twilio_account_sid, "wrong"),
        (creds.twilio_api_key_sid, creds.twilio_auth_token),
        ("AC" + "0" * 32, creds.twilio_auth_token),
    ]
    for auth in bad:
        response = httpx.get(sandbox.twilio_url + path, auth=auth)
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
    assert httpx.get(sandbox.twilio_url + path).status_code == 401


def test_unknown_or_malformed_sids_are_404(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    interaction = sandbox.control.create_twilio_interaction()
    transfer = _create(twilio, sandbox)
    base = transfers_path(interaction)
    paths = [
        "/v1/Interactions/KD" + "0" * 32 + "/Channels/UO" + "0" * 32 + "/Transfers",
        f"{base}/UX{'0' * 32}",
        f"{base}/not-a-sid",
        f"{base}/{transfer['sid']}",  # exists, but under another interaction
        "/v1/Interactions/KD" + "0" * 32,
        "/v1/Interactions/garbage/Channels/UO" + "0" * 32,
    ]
    for path in paths:
        response = twilio.get(path) if not path.endswith("/Transfers") else twilio.post(path, json={})
        assert response.status_code == 404, path
        assert response.json()["code"] == 20404
        assert response.json()["more_info"] == "https://www.twilio.com/docs/errors/20404"


def test_parent_resources_and_configuration(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    interaction = sandbox.control.create_twilio_interaction()
    kd, uo = interaction["interaction_sid"], interaction["channel_sid"]
    assert twilio.get(f"/v1/Interactions/{kd}").json()["sid"] == kd
    channel = twilio.get(f"/v1/Interactions/{kd}/Channels/{uo}").json()
    assert channel["sid"] == uo and channel["interaction_sid"] == kd and channel["status"] == "active"
    config = twilio.get("/v1/Configuration")
    assert config.status_code == 200
    assert config.json()["account_sid"] == sandbox.credentials.twilio_account_sid
