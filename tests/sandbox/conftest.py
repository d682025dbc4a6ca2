"""Clients for the sandbox tests: real HTTP on loopback against the session's sandbox server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_transfers.sandbox.server import TransferSandbox

NIL_UUID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def sandbox(transfer_sandbox: TransferSandbox) -> TransferSandbox:
    return transfer_sandbox


@pytest.fixture
def twilio(sandbox: TransferSandbox) -> Iterator[httpx.Client]:
    """Authenticated with the API key (SK + secret)."""
    creds = sandbox.credentials
    auth = (creds.twilio_api_key_sid, creds.twilio_api_key_secret)
    with httpx.Client(base_url=sandbox.twilio_url, auth=auth, timeout=5) as client:
        yield client


@pytest.fixture
def voipbin(sandbox: TransferSandbox) -> Iterator[httpx.Client]:
    """Authenticated with the access key cookie."""
    cookies = {"accesskey": sandbox.credentials.voipbin_access_key}
    with httpx.Client(base_url=sandbox.voipbin_url, cookies=cookies, timeout=5) as client:
        yield client


def transfers_path(interaction: dict[str, Any]) -> str:
    return f"/v1/Interactions/{interaction['interaction_sid']}/Channels/{interaction['channel_sid']}/Transfers"


def start_voipbin_transfer(
    voipbin: httpx.Client, call_id: str, transfer_type: str = "blind", targets: int = 2
) -> dict[str, Any]:
    body = {
        "transfer_type": transfer_type,
        "transferer_call_id": call_id,
        "transferee_addresses": [{"type": "tel", "target": f"+1555000{i:04d}"} for i in range(targets)],
    }
    response = voipbin.post("/transfers", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
