"""Hooks built and tested the way Airflow builds them, not the way we imagine it does.

Airflow builds a hook as ``hook_class(**{conn_name_attr: conn_id})`` (``Connection.get_hook`` in
airflow/models/connection.py, behind ``BaseHook.get_hook``, ``airflow connections test``, ``POST
/api/v2/connections/test`` and the UI's Test button). These tests go through those entry points with
connections that Airflow itself resolves from ``AIRFLOW_CONN_*`` (as the REST endpoint does for the
connection under test), against the sandbox over loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from airflow.models.connection import Connection as ModelConnection
from airflow.sdk import BaseHook

from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.sandbox.credentials import twilio_connection, voipbin_connection
from airflow_provider_transfers.sandbox.server import TransferSandbox

FAST = {"max_attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.02}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connection(kind: str, sandbox: TransferSandbox, variant: str) -> dict[str, Any]:
    """A connection to the sandbox: ``ok``, ``bad_secret`` or ``unreachable`` (a closed loopback port)."""
    url = sandbox.url if variant != "unreachable" else f"http://127.0.0.1:{_free_port()}"
    conn = (
        twilio_connection(url, sandbox.credentials)
        if kind == "twilio_flex"
        else voipbin_connection(url, sandbox.credentials)
    )
    if variant == "bad_secret":
        conn["password"] = "wrong-secret-value"
    conn["extra"] = {**conn.get("extra", {}), **FAST}
    return conn


def _export(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.mark.parametrize(
    ("hook_class", "keyword"), [(TwilioFlexHook, "twilio_flex_conn_id"), (VoipbinHook, "voipbin_conn_id")]
)
def test_hooks_accept_their_conn_name_attr_keyword(hook_class: type[Any], keyword: str) -> None:
    assert hook_class.conn_name_attr == keyword
    assert hook_class(**{keyword: "mine"}).conn_id == "mine"
    assert hook_class("mine").conn_id == "mine"
    assert hook_class().conn_id == hook_class.default_conn_name
    with pytest.raises(TypeError, match="unexpected keyword"):
        hook_class(http_conn_id="mine")
    with pytest.raises(TypeError, match="got conn_id='a' and"):
        hook_class("a", **{keyword: "b"})


@pytest.mark.parametrize(("kind", "hook_class"), [("twilio_flex", TwilioFlexHook), ("voipbin", VoipbinHook)])
def test_base_hook_get_hook_builds_our_hooks(
    kind: str, hook_class: type[Any], transfer_sandbox: TransferSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(monkeypatch, "my_transfers", _connection(kind, transfer_sandbox, "ok"))
    hook = BaseHook.get_hook("my_transfers")
    assert type(hook) is hook_class
    assert hook.conn_id == "my_transfers"


@pytest.mark.parametrize("kind", ["twilio_flex", "voipbin"])
@pytest.mark.parametrize(
    ("variant", "expected_ok", "expected_words"),
    [("ok", True, "Connected to"), ("bad_secret", False, "Bad credentials"), ("unreachable", False, "Cannot reach")],
)
def test_model_connection_test_tells_the_three_outcomes_apart(
    kind: str,
    variant: str,
    expected_ok: bool,
    expected_words: str,
    transfer_sandbox: TransferSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``airflow.models.Connection.test_connection`` is what the CLI and the REST endpoint call."""
    conn_id = f"probe_{kind}_{variant}"
    _export(monkeypatch, conn_id, _connection(kind, transfer_sandbox, variant))
    conn = ModelConnection.get_connection_from_secrets(conn_id)
    ok, message = conn.test_connection()
    assert (ok, expected_words in message) == (expected_ok, True), message
    assert "wrong-secret-value" not in message


def test_airflow_connections_test_cli(transfer_sandbox: TransferSandbox) -> None:
    """The real ``airflow connections test`` command, in its own process."""
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    env["AIRFLOW_CONN_CLI_VOIPBIN"] = json.dumps(_connection("voipbin", transfer_sandbox, "ok"))
    env["AIRFLOW_CONN_CLI_TWILIO"] = json.dumps(_connection("twilio_flex", transfer_sandbox, "bad_secret"))
    good = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "cli_voipbin"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Connection success!" in good.stdout, good.stdout + good.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "cli_twilio"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Connection failed!" in bad.stdout, bad.stdout + bad.stderr
    assert "Bad credentials" in bad.stdout
    assert "wrong-secret-value" not in bad.stdout + bad.stderr
