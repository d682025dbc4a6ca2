"""Sphinx configuration of the provider's docs site (MyST markdown pages; built by scripts/docs.sh)."""

from airflow_provider_transfers import __version__

project = "airflow-provider-transfers"
author = "airflow-provider-transfers contributors"
copyright = "2026, airflow-provider-transfers contributors"
release = __version__
version = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings up to ### get anchors, so pages link to each other's sections as `page.md#heading-slug`.
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"airflow-provider-transfers {__version__}"
