"""Server-side token buckets: bursts, 429 bodies, Retry-After, and no 429 below the limit."""

from __future__ import annotations

import time

import httpx

from airflow_provider_transfers.sandbox.server import TransferSandbox


def test_twilio_burst_then_429_with_retry_after(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    statuses = [twilio.get("/v1/Configuration") for _ in range(25)]
    codes = [r.status_code for r in statuses]
    assert codes[:20] == [200] * 20
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, codes
    assert limited[0].json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert limited[0].headers["Retry-After"] == "1"
    # The limit is per endpoint: another endpoint still has its full burst.
    interaction = sandbox.control.create_twilio_interaction()
    assert twilio.get(f"/v1/Interactions/{interaction['interaction_sid']}").status_code == 200
    assert sandbox.control.stats()["platforms"]["twilio_flex"]["rate_limited"] == len(limited)


def test_retry_after_counts_whole_seconds_and_can_be_off(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(twilio_rate=0.25, twilio_burst=1)
    assert twilio.get("/v1/Configuration").status_code == 200
    limited = twilio.get("/v1/Configuration")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] in ("4", "3")
    sandbox.control.configure(retry_after=False)
    twilio.get("/v1/Configuration")
    limited = twilio.get("/v1/Configuration")
    assert limited.status_code == 429 and "Retry-After" not in limited.headers


def test_voipbin_burst_33_per_customer(voipbin: httpx.Client, sandbox: TransferSandbox) -> None:
    call = sandbox.control.create_voipbin_call()
    codes = [voipbin.get(f"/calls/{call['id']}" if i % 2 else "/groupcalls").status_code for i in range(40)]
    assert codes[:33] == [200] * 33
    assert 429 in codes[33:]
    response = voipbin.get("/calls")
    assert response.status_code == 429
    assert response.json()["error"]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert int(response.headers["Retry-After"]) >= 1


def test_a_rate_under_the_limit_gets_no_429(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(twilio_rate=20, twilio_burst=2)
    codes = []
    for _ in range(12):
        codes.append(twilio.get("/v1/Configuration").status_code)
        time.sleep(0.075)  # ~13 requests/s against a limit of 20/s
    assert codes == [200] * 12


def test_rate_limits_can_be_disabled(twilio: httpx.Client, sandbox: TransferSandbox) -> None:
    sandbox.control.configure(rate_limit="off")
    assert {twilio.get("/v1/Configuration").status_code for _ in range(40)} == {200}
