"""The docs site's promises that a Sphinx build does not check: a short README, a reference for every
module Airflow lists, and example DAGs included rather than copied (scripts/docs.sh builds the site)."""

from __future__ import annotations

import re
from pathlib import Path

from airflow_provider_transfers import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README_MAX_LINES = 250


def documented_modules() -> set[str]:
    """Modules the API reference (docs/api.md) documents, through automodule or a class of theirs."""
    text = (DOCS / "api.md").read_text()
    names = set(re.findall(r"^\.\. automodule:: (\S+)$", text, re.M))
    names |= {name.rsplit(".", 1)[0] for name in re.findall(r"^\.\. auto(?:class|exception):: (\S+)$", text, re.M)}
    return names


def test_readme_is_a_short_front_door() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move reference text to docs/"


def test_readme_links_point_at_existing_files() -> None:
    text = (ROOT / "README.md").read_text()
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)]+)\)", text) if "://" not in t]
    assert targets, "the README links no docs page"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == []


def test_every_module_airflow_lists_has_a_reference_entry() -> None:
    info = get_provider_info()
    listed = {conn["hook-class-name"].rsplit(".", 1)[0] for conn in info["connection-types"]}
    for kind in ("hooks", "operators", "sensors", "triggers"):
        listed |= {module for entry in info[kind] for module in entry["python-modules"]}
    listed |= {"airflow_provider_transfers.exceptions", "airflow_provider_transfers.models"}
    assert listed - documented_modules() == set()


def test_every_example_dag_is_included_in_some_page() -> None:
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    included = set(re.findall(r"\{literalinclude\} (?:\.\./)+dags_examples/(\w+\.py)", pages))
    examples = {p.name for p in (ROOT / "dags_examples").glob("*.py") if p.name != "__init__.py"}
    assert examples - included == set()
    assert not re.search(r"^with DAG\(", pages, re.M), "an example DAG is copied into a page; include it instead"
