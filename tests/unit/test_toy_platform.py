"""A third platform is one hook module: the toy platform (tests/toy_platform), installed as a provider package
(a distribution with an ``apache_airflow_provider`` entry point, found by Airflow's providers manager), then
waited for by the sensor (poke and deferrable, through the trigger) and reconciled, unchanged."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from airflow.sdk import BaseHook, Context
from airflow.sdk._shared.module_loading import _get_grouped_entry_points
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

from airflow_provider_transfers.hooks import base as registry
from airflow_provider_transfers.reconcile import ReconcileOptions, RecordReader, reconcile
from airflow_provider_transfers.reconcile.actions import ActionMode, StaleAction
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor
from tests.toy_platform.hook import ToyHook
from tests.toy_platform.server import ToyServer

CTX = cast(Context, {})
CONN = "toy_default"


def _rediscover_providers() -> None:
    """Forget the installed distributions and providers Airflow found, so the next lookup scans again."""
    _get_grouped_entry_points.cache_clear()
    ProvidersManagerTaskRuntime._instance = None
    ProvidersManagerTaskRuntime._initialized = False


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ToyServer]:
    """The toy provider installed: its distribution's metadata on ``sys.path``, as ``pip install`` leaves it."""
    dist = tmp_path / "toy_transfers_provider-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-transfers-provider\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        "[apache_airflow_provider]\nprovider_info = tests.toy_platform:get_provider_info\n"
    )
    sys.path.insert(0, str(tmp_path))
    _rediscover_providers()
    registry.hook_class_for("toy")  # discovery scans every installed distribution once: not inside a timed wait
    try:
        with ToyServer() as server:
            monkeypatch.setenv("AIRFLOW_CONN_TOY_DEFAULT", json.dumps({"conn_type": "toy", "host": server.url}))
            yield server
    finally:
        sys.path.remove(str(tmp_path))
        _rediscover_providers()


def sensor(transfer: Any, **kwargs: Any) -> TransferStatusSensor:
    return TransferStatusSensor(
        task_id="wait", conn_id=CONN, transfer=transfer, poke_interval=0.1, timeout=10, **kwargs
    )


def test_airflow_serves_the_toy_connection_type(toy: ToyServer) -> None:
    assert registry.hook_class_for("toy") is ToyHook
    assert "toy" in registry.transfer_platforms()
    assert isinstance(registry.get_transfer_hook(CONN), ToyHook)
    from airflow.sdk import BaseHook

    assert isinstance(BaseHook.get_hook(CONN), ToyHook)  # Airflow's own entry point finds it the same way


def test_without_the_provider_installed_the_toy_type_is_unknown() -> None:
    from airflow_provider_transfers.exceptions import TransferConfigError

    with pytest.raises(TransferConfigError, match="not a transfer platform; supported connection types: twilio_flex"):
        registry.hook_class_for("toy")


def test_a_literal_toy_transfer_passes_the_parse_time_check_only_once_installed(toy: ToyServer) -> None:
    sensor({"id": "toy-1"})  # accepted: some registered platform takes it
    with pytest.raises(ValueError, match=r"toy: Invalid transfer\['id'\]: expected a toy id"):
        sensor({"id": "nope"})


def test_sensor_poke_mode_waits_for_the_toy_transfer(toy: ToyServer) -> None:
    toy.add("toy-1", answer_after=0.3)
    result = sensor({"id": "toy-1"}).execute(CTX)
    assert (result["platform"], result["transfer_id"], result["status"]) == ("toy", "toy-1", "completed")
    assert len([r for r in toy.requests if r == "GET /toys/toy-1"]) >= 2  # it was ringing first


def test_sensor_fails_at_once_on_a_dropped_toy_transfer(toy: ToyServer) -> None:
    toy.add("toy-2", "dropped")
    with pytest.raises(AirflowFailException, match="toy-2: failed"):
        sensor([{"id": "toy-2"}]).execute(CTX)


def test_deferrable_sensor_waits_in_the_trigger(toy: ToyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    toy.add("toy-3", answer_after=0.4)
    task = sensor({"id": "toy-3"}, deferrable=True)
    with pytest.raises(TaskDeferred) as caught:
        task.execute(CTX)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a trigger must not call the synchronous get_connection")

    monkeypatch.setattr(BaseHook, "get_connection", forbidden)
    event = asyncio.run(anext(caught.value.trigger.run()))
    assert event.payload["status"] == "success" and event.payload["transfer_ids"] == ["toy-3"]
    result = task.execute_complete(CTX, event.payload)
    assert (result["platform"], result["status"]) == ("toy", "completed")


def test_reconciliation_classifies_and_acts_on_stale_toy_transfers(toy: ToyServer, tmp_path: Path) -> None:
    toy.add("toy-10", "answered")
    toy.add("toy-11", "ringing", created="2026-01-01T00:00:00Z")
    records: list[dict[str, Any]] = [
        {"id": "toy-10", "recorded_status": "completed"},  # flat records: the reference's fields
        {"transfer": {"id": "toy-11", "created": "2026-01-01T00:00:00Z"}, "recorded_status": "active"},
        {"id": "toy-12", "recorded_status": "active"},
    ]
    out = tmp_path / "toy.jsonl"

    async def go() -> dict[str, Any]:
        hook = registry.get_transfer_hook(CONN)
        try:
            options = ReconcileOptions(stale_action=StaleAction(ActionMode.APPLY))
            return await reconcile(hook, RecordReader(records), out, options)
        finally:
            await hook.aclose()

    summary = asyncio.run(go())

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["class"] for r in rows] == ["in_sync", "stale", "not_found"]
    assert [r["reference"] for r in rows] == [{"id": "toy-10"}, {"id": "toy-11"}, {"id": "toy-12"}]
    assert rows[1]["action"] == "done: dropped toy-11; state now dropped"
    assert summary["actions"]["done"] == 1 and toy.toys["toy-11"]["state"] == "dropped"


def test_a_stale_action_the_platform_does_not_offer_is_refused_before_any_request(
    toy: ToyServer, tmp_path: Path
) -> None:
    from airflow_provider_transfers.exceptions import TransferConfigError
    from airflow_provider_transfers.hooks.base import TransferHook

    class NoActionHook(ToyHook):
        """A platform that declares no stale action: the base class's default refuses it."""

        check_stale_action = TransferHook.__dict__["check_stale_action"]

    hook = NoActionHook(CONN)
    options = ReconcileOptions(stale_action=StaleAction(ActionMode.DRY_RUN))
    with pytest.raises(TransferConfigError, match="act_on_stale is not supported for platform 'toy'"):
        asyncio.run(
            reconcile(hook, RecordReader([{"id": "toy-1", "recorded_status": "active"}]), tmp_path / "r.jsonl", options)
        )
    assert toy.requests == []
