"""The package as Airflow sees it: provider registration, connection forms, example DAGs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_transfers import get_provider_info

ROOT = Path(__file__).resolve().parents[2]


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_module_named_in_provider_info_imports() -> None:
    import importlib

    info = get_provider_info()
    modules = [
        m for group in ("hooks", "operators", "sensors", "triggers") for e in info[group] for m in e["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for conn in info["connection-types"]:
        module, _, cls = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == conn["connection-type"]
        behaviour = hook.get_ui_field_behaviour()
        assert set(behaviour) == {"hidden_fields", "relabeling", "placeholders"}
        assert behaviour["relabeling"] == conn["ui-field-behaviour"]["relabeling"]


@pytest.mark.parametrize(("args", "expected"), [(["providers", "list"], "airflow-provider-transfers"),
                                               (["providers", "hooks"], "twilio_flex")])  # fmt: skip
def test_airflow_cli_lists_the_provider(airflow_db: Path, args: list[str], expected: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", *args, "--output", "plain"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=True,
    ).stdout
    assert expected in out
    if args[1] == "hooks":
        assert "voipbin" in out


def test_example_dags_import_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags_examples"))
    assert bag.import_errors == {}
    assert len(bag.dags) == len([p for p in (ROOT / "dags_examples").glob("*.py") if p.name != "__init__.py"])
