"""Starting the sandbox: the programmatic API, the CLI, the connection env vars, and throughput."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_transfers.sandbox import SandboxConfig, SandboxProcess, TransferSandbox
from airflow_provider_transfers.sandbox.server import ensure_loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        TransferSandbox(host=host)


def test_loopback_hosts_are_accepted() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        ensure_loopback(host)


def test_context_manager_runs_on_a_free_port() -> None:
    config = SandboxConfig(success_rate=1.0, seed=7)
    with TransferSandbox(config) as sandbox:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)
        assert sandbox.voipbin_url == f"{sandbox.url}/v1.0"
        assert sandbox.control.health()["status"] == "ok"
        assert sandbox.control.config()["seed"] == 7
        url = sandbox.url
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/_sandbox/health", timeout=1)
    with pytest.raises(RuntimeError):
        _ = sandbox.control


def test_connection_env_is_airflow_json(transfer_sandbox_env: TransferSandbox) -> None:
    from airflow.models.connection import Connection

    sandbox = transfer_sandbox_env
    assert os.environ["TRANSFER_SANDBOX_URL"] == sandbox.url
    assert set(sandbox.connection_env()) == {"AIRFLOW_CONN_TWILIO_FLEX_DEFAULT", "AIRFLOW_CONN_VOIPBIN_DEFAULT"}
    twilio = Connection.from_json(os.environ["AIRFLOW_CONN_TWILIO_FLEX_DEFAULT"], conn_id="twilio_flex_default")
    assert (twilio.conn_type, twilio.host) == ("twilio_flex", sandbox.url)
    assert (twilio.login, twilio.password) == (
        sandbox.credentials.twilio_account_sid,
        sandbox.credentials.twilio_auth_token,
    )
    assert twilio.extra_dejson["account_sid"] == sandbox.credentials.twilio_account_sid
    voipbin = Connection.from_json(os.environ["AIRFLOW_CONN_VOIPBIN_DEFAULT"], conn_id="voipbin_default")
    assert (voipbin.conn_type, voipbin.host) == ("voipbin", sandbox.voipbin_url)
    assert voipbin.password == sandbox.credentials.voipbin_access_key
    response = httpx.get(f"{voipbin.host}/calls", cookies={"accesskey": voipbin.password or ""})
    assert response.status_code == 200


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_transfers.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_refuses_non_loopback() -> None:
    proc = _cli("--host", "0.0.0.0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "loopback" in err


@pytest.fixture
def cli_server() -> Iterator[dict[str, str]]:
    proc = _cli("--port", "0", "--rate-limit", "off", "--faults", "500=0.0", "--retry-after", "off", "--seed", "3")
    try:
        assert proc.stdout is not None
        env: dict[str, str] = {}
        for _ in range(3):
            match = re.fullmatch(r"export (\w+)=(.*)", proc.stdout.readline().strip())
            assert match, "expected an export line"
            value = match.group(2)
            env[match.group(1)] = json.loads(value[1:-1]) if value.startswith("'") else value
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_prints_exports_and_serves(cli_server: dict[str, str]) -> None:
    url = cli_server["TRANSFER_SANDBOX_URL"]
    twilio_conn = cli_server["AIRFLOW_CONN_TWILIO_FLEX_DEFAULT"]
    voipbin_conn = cli_server["AIRFLOW_CONN_VOIPBIN_DEFAULT"]
    assert twilio_conn["conn_type"] == "twilio_flex" and twilio_conn["host"] == url  # type: ignore[index]
    assert voipbin_conn["host"] == f"{url}/v1.0"  # type: ignore[index]
    deadline = time.monotonic() + 10
    while True:
        try:
            config = httpx.get(f"{url}/_sandbox/config").json()
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert config["rate_limits_enabled"] is False
    assert config["retry_after"] is False
    assert config["seed"] == 3


def test_sandbox_process_sustains_hundreds_of_requests_per_second() -> None:
    """A smoke check only: the machine is shared, and one async httpx client is the slower side.

    Alone on a 2-core machine the server process answers over 1000 requests/s to two client processes.
    """
    with SandboxProcess(SandboxConfig(rate_limits_enabled=False, seed=5)) as sandbox:
        assert sandbox.control.config()["seed"] == 5
        creds = sandbox.credentials
        auth = (creds.twilio_account_sid, creds.twilio_auth_token)
        paths = [t["url"].removeprefix(sandbox.url) for t in sandbox.control.seed("twilio_flex", 20)]

        async def run(total: int) -> float:
            async with httpx.AsyncClient(base_url=sandbox.url, auth=auth) as client:
                semaphore = asyncio.Semaphore(16)

                async def one(i: int) -> None:
                    async with semaphore:
                        assert (await client.get(paths[i % len(paths)])).status_code == 200

                started = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(total)))
                return total / (time.perf_counter() - started)

        rate = asyncio.run(run(1500))
        print(f"sandbox throughput: {rate:.0f} requests/s")
        assert rate > 100
        assert sandbox.control.stats()["total"] == 1500
        url = sandbox.url
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/_sandbox/health", timeout=1)
