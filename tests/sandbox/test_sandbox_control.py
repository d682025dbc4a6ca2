"""The /_sandbox/ control API."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_provider_transfers.sandbox.server import TransferSandbox


def test_health_and_config_roundtrip(sandbox: TransferSandbox) -> None:
    health = sandbox.control.health()
    assert health["status"] == "ok"
    assert health["voipbin_url"] == sandbox.voipbin_url
    config = sandbox.control.configure(latency_ms=5, rate_limit="twilio=10,voipbin=5", faults="500=0.01")
    assert (config["latency_ms"], config["twilio_rate"], config["voipbin_rate"]) == (5, 10, 5)
    assert config["faults"] == {"500": 0.01}
    assert sandbox.control.config() == config
    with pytest.raises(RuntimeError, match="400"):
        sandbox.control.configure(faults="418=0.5")
    with pytest.raises(RuntimeError, match="400"):
        sandbox.control.configure(no_such_setting=1)
    sandbox.control.reset()
    assert sandbox.control.config()["latency_ms"] == 0


def test_reset_forgets_everything(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.seed("twilio_flex", 3)
    twilio.get("/v1/Configuration")
    sandbox.control.reset()
    assert sandbox.control.health()["resources"]["twilio_transfers"] == 0
    assert sandbox.control.stats()["total"] == 0


def test_seed_thousands_quickly_as_the_create_endpoint_renders(
    twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox
) -> None:
    started = time.monotonic()
    twilio_transfers = sandbox.control.seed("twilio_flex", 2000, outcome="completed", delay_s=0)
    voipbin_transfers = sandbox.control.seed("voipbin", 2000, outcome="failed", delay_s=0)
    assert time.monotonic() - started < 10
    assert len(twilio_transfers) == len({t["sid"] for t in twilio_transfers}) == 2000
    created = twilio_transfers[0]
    assert created["status"] == "active" and created["type"] == "cold"
    path = created["url"].removeprefix(sandbox.twilio_url)
    assert twilio.get(path).json()["status"] == "completed"
    first = voipbin_transfers[0]
    assert set(first) >= {"id", "type", "transferer_call_id", "groupcall_id", "tm_create"}
    groupcall = voipbin.get(f"/groupcalls/{first['groupcall_id']}").json()
    assert groupcall["status"] == "hangup"
    assert sandbox.control.transfer(first["id"])["status"] == "failed"


def test_seed_validates(sandbox: TransferSandbox) -> None:
    for kwargs in (
        {"platform": "skype"},
        {"platform": "voipbin", "transfer_type": "cold"},
        {"platform": "voipbin", "outcome": "maybe"},
    ):
        with pytest.raises(RuntimeError, match="400"):
            sandbox.control.seed(**kwargs)  # type: ignore[arg-type]


def test_outcome_forcing_and_truth(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    (transfer,) = sandbox.control.seed("twilio_flex", 1, outcome="failed", delay_s=100)
    forced = sandbox.control.set_outcome(transfer["sid"], "completed", delay_s=2)
    assert forced["status"] == "active" and forced["forced_outcome"] == "completed"
    sandbox.control.advance_clock(2)
    truth = sandbox.control.transfer(transfer["sid"])
    assert truth["platform"] == "twilio_flex" and truth["status"] == "completed"
    sandbox.control.advance_clock(200)
    assert sandbox.control.transfer(transfer["sid"])["status"] == "completed"
    with pytest.raises(RuntimeError, match="409"):
        sandbox.control.set_outcome(transfer["sid"], "failed")
    with pytest.raises(RuntimeError, match="404"):
        sandbox.control.set_outcome("UX" + "0" * 32, "failed")


def test_create_helpers(sandbox: TransferSandbox) -> None:
    interaction = sandbox.control.create_twilio_interaction()
    assert interaction["interaction_sid"].startswith("KD") and interaction["channel_sid"].startswith("UO")
    call = sandbox.control.create_voipbin_call()
    assert call["status"] == "progressing" and "chained_call_ids" not in call  # omitempty: an agent leg
    assert call["master_call_id"] != "00000000-0000-0000-0000-000000000000"


def test_stats_per_platform_endpoint_and_status(
    twilio: httpx.Client, voipbin: httpx.Client, sandbox: TransferSandbox
) -> None:
    twilio.get("/v1/Configuration")
    twilio.get("/v1/Interactions/KD" + "0" * 32)
    voipbin.get("/calls")
    httpx.get(f"{sandbox.voipbin_url}/calls")
    stats = sandbox.control.stats()
    assert stats["total"] == 4
    assert stats["platforms"]["twilio_flex"]["endpoints"] == {
        "GET /v1/Configuration": {"200": 1},
        "GET /v1/Interactions/{Sid}": {"404": 1},
    }
    assert stats["platforms"]["voipbin"]["endpoints"]["GET /v1.0/calls"] == {"200": 1, "401": 1}
    assert stats["platforms"]["voipbin"]["rate_limited"] == 0
