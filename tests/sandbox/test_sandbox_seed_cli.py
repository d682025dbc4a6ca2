"""Seeding a running sandbox from outside pytest: ``SandboxControl.from_url`` and the ``seed`` subcommand,
against a sandbox in its own process (as ``python -m airflow_provider_transfers.sandbox`` runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_transfers.sandbox import SandboxConfig, SandboxControl, SandboxProcess

OTHER_CUSTOMER = "0b0b0b0b-0000-4000-8000-0b0b0b0b0b0b"


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[SandboxProcess]:
    with SandboxProcess(SandboxConfig(rate_limits_enabled=False)) as sandbox:
        yield sandbox


def _seed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "airflow_provider_transfers.sandbox", "seed", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env or os.environ.copy())


@pytest.mark.parametrize("suffix", ["", "/", "/v1.0", "/_sandbox"])
def test_from_url_takes_any_url_of_the_sandbox(sandbox_process: SandboxProcess, suffix: str) -> None:
    control = SandboxControl.from_url(sandbox_process.url + suffix)
    try:
        assert control.base_url == sandbox_process.url
        assert control.health()["voipbin_url"] == sandbox_process.voipbin_url
    finally:
        control.close()


def test_from_url_names_the_url_when_no_sandbox_answers() -> None:
    with pytest.raises(RuntimeError, match=r"no transfer sandbox answers at http://127\.0\.0\.1:9"):
        SandboxControl.from_url("http://127.0.0.1:9/v1.0")


def test_seed_prints_the_transfers_and_the_sandbox_resolves_them(sandbox_process: SandboxProcess) -> None:
    result = _seed(
        "--url",
        sandbox_process.url,
        "--platform",
        "voipbin",
        "--outcome",
        "completed",
        "--delay-s",
        "0",
        "--count",
        "3",
    )
    assert result.returncode == 0, result.stderr
    transfers: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(transfers) == 3 and {t["type"] for t in transfers} == {"blind"}
    control = sandbox_process.control
    assert {control.transfer(t["id"])["status"] for t in transfers} == {"completed"}


def test_seed_finds_the_sandbox_through_the_exported_url_and_takes_voipbin_options(
    sandbox_process: SandboxProcess,
) -> None:
    env = {**os.environ, "TRANSFER_SANDBOX_URL": sandbox_process.url}
    args = ["--platform", "voipbin", "--transfer-type", "attended", "--delay-s", "3600"]
    args += ["--customer-id", OTHER_CUSTOMER, "--address", "agent:7f0c2f4e-0000-4000-8000-00000000a9e1"]
    args += ["--address", "sip:bob@example.com:5060", "--address", "extension:1001:1001"]
    result = _seed(*args, env=env)
    assert result.returncode == 0, result.stderr
    [transfer] = json.loads(result.stdout)
    assert transfer["customer_id"] == OTHER_CUSTOMER and transfer["type"] == "attended"
    assert [a["type"] for a in transfer["transferee_addresses"]] == ["agent", "sip", "extension"]
    assert transfer["transferee_addresses"][1]["target"] == "bob@example.com:5060"
    truth = sandbox_process.control.transfer(transfer["id"])
    assert len(truth["nested_groupcalls"]) == 2 and truth["status"] == "active"


def test_seed_twilio_and_clear_errors(sandbox_process: SandboxProcess) -> None:
    ok = _seed("--url", sandbox_process.url, "--platform", "twilio_flex", "--transfer-type", "warm")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["type"] == "warm"
    no_url = _seed("--platform", "voipbin", env={k: v for k, v in os.environ.items() if k != "TRANSFER_SANDBOX_URL"})
    assert no_url.returncode == 2 and "TRANSFER_SANDBOX_URL" in no_url.stderr
    bad_type = _seed("--url", sandbox_process.url, "--platform", "voipbin", "--transfer-type", "warm")
    assert bad_type.returncode == 1 and "transfer_type must be one of attended, blind" in bad_type.stderr
    refused = _seed("--url", sandbox_process.url, "--platform", "voipbin", "--address", "conference:x")
    assert refused.returncode == 1 and "refuses" in refused.stderr
    closed = _seed("--url", "http://127.0.0.1:9", "--platform", "voipbin")
    assert closed.returncode == 2 and "no transfer sandbox answers" in closed.stderr
