"""Fault injection as a client sees it; faults never change state and never touch /_sandbox/."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_transfers.sandbox.server import TransferSandbox

from .conftest import transfers_path


def _create_twilio(twilio: httpx.Client, sandbox: TransferSandbox) -> httpx.Response:
    return twilio.post(transfers_path(sandbox.control.create_twilio_interaction()), json={})


def test_429_fault_with_platform_bodies(twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(faults={"429": 1.0})
    response = twilio.get("/v1/Configuration")
    assert response.status_code == 429
    assert response.json()["code"] == 20429
    assert response.headers["Retry-After"] == "1"
    response = voipbin.get("/calls")
    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert response.json()["error"]["reason"] == "RATE_LIMIT_EXCEEDED"
    sandbox.control.configure(retry_after=False)
    assert "Retry-After" not in twilio.get("/v1/Configuration").headers
    assert sandbox.control.stats()["platforms"]["twilio_flex"]["rate_limited"] == 2


def test_500_creates_nothing(twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    call = sandbox.control.create_voipbin_call()
    sandbox.control.configure(faults="500=1")
    response = _create_twilio(twilio, sandbox)
    assert response.status_code == 500
    assert response.json()["code"] == 20500
    body = {
        "transfer_type": "blind",
        "transferer_call_id": call["id"],
        "transferee_addresses": [{"type": "tel", "target": "+1555"}],
    }
    response = voipbin.post("/transfers", json=body)
    assert response.status_code == 500
    assert response.json()["error"]["status"] == "INTERNAL"
    resources = sandbox.control.health()["resources"]
    assert resources["twilio_transfers"] == 0
    assert resources["voipbin_transfers"] == 0 and resources["voipbin_groupcalls"] == 0


def test_502_html_and_503_empty(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(faults={"502": 1.0})
    response = twilio.get("/v1/Configuration")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"
    sandbox.control.configure(faults={"503": 1.0})
    response = twilio.get("/v1/Configuration")
    assert response.status_code == 503
    assert response.content == b""


def test_reset_drops_the_connection(twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(faults={"reset": 1.0})
    with pytest.raises(httpx.TransportError):
        _create_twilio(twilio, sandbox)
    with pytest.raises(httpx.TransportError):
        voipbin.get("/calls")
    sandbox.control.configure(faults={})
    assert twilio.get("/v1/Configuration").status_code == 200  # the client recovers on a new connection
    stats = sandbox.control.stats()
    assert stats["faults"]["reset"] == 2
    assert stats["platforms"]["twilio_flex"]["by_status"]["reset"] == 1
    assert sandbox.control.health()["resources"]["twilio_transfers"] == 0


def test_slow_exceeds_the_client_timeout(sandbox: TransferSandbox) -> None:
    sandbox.control.configure(faults={"slow": 1.0}, slow_delay_s=1.0)
    creds = sandbox.credentials
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            f"{sandbox.twilio_url}/v1/Configuration",
            auth=(creds.twilio_account_sid, creds.twilio_auth_token),
            timeout=0.2,
        )


def test_malformed_json(twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(faults={"malformed": 1.0})
    response = _create_twilio(twilio, sandbox)
    assert response.status_code == 200
    assert response.text == '{"sid": '
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert voipbin.get("/calls").text == '{"id": '
    assert sandbox.control.health()["resources"]["twilio_transfers"] == 0


def test_faults_spare_the_control_api_and_repeat_with_the_seed(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    def run() -> list[int]:
        sandbox.control.reset()
        sandbox.control.configure(faults="500=0.3,503=0.2", rate_limit=False)
        statuses = [twilio.get("/v1/Configuration").status_code for _ in range(40)]
        assert sandbox.control.health()["status"] == "ok"
        return statuses

    first = run()
    assert {200, 500, 503} <= set(first)
    assert run() == first


def test_latency(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(latency_ms=150)
    response = twilio.get("/v1/Configuration")
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.14
    assert httpx.get(f"{sandbox.url}/_sandbox/health").elapsed.total_seconds() < 0.14
