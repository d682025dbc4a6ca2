"""Sphinx configuration of the provider's docs site (MyST markdown pages; built by scripts/docs.sh)."""

from __future__ import annotations

import inspect
from typing import Annotated, Any, get_origin

from sphinx.application import Sphinx

from airflow_provider_transfers import __version__, validation

project = "airflow-provider-transfers"
author = "airflow-provider-transfers contributors"
copyright = "2026, airflow-provider-transfers contributors"
release = __version__
version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings up to ### get anchors, so pages link to each other's sections as `page.md#heading-slug`.
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_class_signature = "separated"

nitpicky = True
nitpick_ignore_regex = [
    # No intersphinx: the build runs offline, so names from the standard library and the dependencies
    # stay plain text instead of links.
    (r"py:.*", r"(builtins|collections|typing|types|datetime|pathlib|os|asyncio|enum|abc|re|json|logging)\b.*"),
    (r"py:.*", r"threading\b.*"),
    (r"py:.*", r"(airflow|httpx|httpcore|pydantic|pydantic_core|annotated_types|pendulum|starlette|uvicorn)\b.*"),
    (r"py:.*", r"(redis|limits|pytest|tenacity|_pytest|openlineage|attr)\b.*"),
    (r"py:.*", r"(Path|PathLike|Context|Connection|Asset|XComArg|ObjectStoragePath|TriggerEvent|BaseModel)"),
    (r"py:.*", r"(OperatorLineage|InputDataset|OutputDataset|RunFacet)"),
    # Private helpers that pydantic annotations and validators name (not part of the API).
    (r"py:.*", r"airflow_provider_transfers\.(.*\.)?_\w+.*"),
    (r"py:.*", r".*<locals>.*|lambda"),
    # The constrained types of validation.py (Annotated aliases) appear by name in signatures.
    *((r"py:.*", name) for name, value in vars(validation).items() if get_origin(value) is Annotated),
    # Type variables of generic helpers (drive/adrive, validate_model) and a pydantic Annotated alias.
    (r"py:.*", r"airflow_provider_transfers\.\w+(\.\w+)?\.(T|M)|EpochSeconds"),
    # One input record as read (the RecordSource protocol's argument); the records module is internal.
    (r"py:class", r"airflow_provider_transfers\.reconcile\.records\.RawRecord"),
    # TransferStatusTrigger's docstring describes three state arguments in one ``:param a, b, c:`` line.
    (r"py:class", r"attempts|finished"),
]
html_theme = "furo"
html_title = f"airflow-provider-transfers {__version__}"


def _document_public_classes(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: dict[str, Any]
) -> bool | None:
    """Give every public class of a documented module an entry, even before it has a docstring."""
    if what == "module" and inspect.isclass(obj) and not name.startswith("_"):
        return False
    return None


def setup(app: Sphinx) -> None:
    app.connect("autodoc-skip-member", _document_public_classes)
