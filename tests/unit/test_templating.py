"""Parse-time checks skip values rendered later, however deeply nested; literal mistakes still fail the parse."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG
from airflow.sdk.bases.operator import BaseOperator

from airflow_provider_transfers.validation import contains_template

KD, UO, UX = "KD" + "a" * 32, "UO" + "b" * 32, "UX" + "c" * 32


class _Producer(BaseOperator):
    def execute(self, context: Any) -> None:
        return None


def _xcom_arg() -> Any:
    with DAG("templating_probe", schedule=None):
        return _Producer(task_id="producer").output


@pytest.mark.parametrize(
    "value",
    [
        "{{ ti.xcom_pull('create') }}",
        "{% if x %}a{% endif %}",
        {"sid": "{{ ti.xcom_pull('create')['sid'] }}", "interaction_sid": KD},
        [{"sid": UX}, {"sid": "{{ params.sid }}"}],
        {"outer": [{"inner": ("x", {"deep": "{{ y }}"})}]},
        {"{{ key }}": 1},
    ],
)
def test_templates_anywhere_inside_are_found(value: Any) -> None:
    assert contains_template(value)


def test_xcom_args_anywhere_inside_are_found() -> None:
    arg = _xcom_arg()
    assert contains_template(arg)
    assert contains_template({"transfer": [1, {"x": arg}]})
    assert contains_template(arg["sid"])


@pytest.mark.parametrize("value", ["plain", "{ not jinja }", {"sid": UX}, [{"a": 1}, (2, 3)], None, 5, 2.5, True])
def test_literals_are_literal(value: Any) -> None:
    assert not contains_template(value)


SENSOR_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    TransferStatusSensor(task_id="wait", conn_id="twilio_flex_default", transfer={transfer})
"""


def _parse(tmp_path: Path, dag_id: str, transfer: str) -> DagBag:
    (tmp_path / f"{dag_id}.py").write_text(textwrap.dedent(SENSOR_DAG.format(dag_id=dag_id, transfer=transfer)))
    return DagBag(dag_folder=str(tmp_path))


@pytest.mark.parametrize(
    "transfer",
    [
        f"{{\"sid\": \"{{{{ ti.xcom_pull(task_ids='create')['sid'] }}}}\", "
        f'"interaction_sid": "{KD}", "channel_sid": "{UO}"}}',
        f'[{{"sid": "{UX}", "interaction_sid": "{KD}", "channel_sid": "{UO}"}}, '
        f'{{"sid": "{{{{ params.sid }}}}", "interaction_sid": "{KD}", "channel_sid": "{UO}"}}]',
    ],
    ids=["dict-with-template", "list-of-dicts-with-template"],
)
def test_sensor_with_templates_inside_a_transfer_parses(tmp_path: Path, transfer: str) -> None:
    bag = _parse(tmp_path, "templated_inside", transfer)
    assert not bag.import_errors, bag.import_errors
    assert "templated_inside" in bag.dag_ids


def test_literal_bad_sid_in_a_dict_still_fails_the_parse(tmp_path: Path) -> None:
    bag = _parse(tmp_path, "bad_literal", f'{{"sid": "UX123", "interaction_sid": "{KD}", "channel_sid": "{UO}"}}')
    [error] = bag.import_errors.values()
    assert "sid" in error and "UX" in error and "32 hex digits" in error
