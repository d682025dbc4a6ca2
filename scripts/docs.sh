#!/usr/bin/env bash
# Build the docs site (Sphinx, MyST markdown pages in docs/) into docs/_build/html, warnings as errors.
# Installs the `docs` extra into the project venv, pinned by the same constraints file as the tests.
# Extra arguments go to sphinx-build (e.g. `bash scripts/docs.sh -b linkcheck`).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
CONSTRAINTS="${CONSTRAINTS:-constraints/py3.11-airflow3.3.2.txt}"
VENV="$VENV" CONSTRAINTS="$CONSTRAINTS" bash scripts/bootstrap.sh
stamp="$VENV/.docs-installed-$(cat pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing the docs extra into $VENV (pinned by $CONSTRAINTS)" >&2
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --constraint "$CONSTRAINTS" -e ".[docs]"
  rm -f "$VENV"/.docs-installed-*
  touch "$stamp"
fi
# autodoc imports the package, and with it Airflow: keep Airflow's home out of the user's ~/airflow.
export AIRFLOW_HOME="${AIRFLOW_HOME_DOCS:-$PWD/docs/_build/airflow-home}"
# -E: read every page each time, so a warning is reported again until it is fixed (an incremental build
# would skip unchanged pages and their warnings).
exec "$VENV/bin/sphinx-build" -E -W --keep-going -q -b html "$@" docs docs/_build/html
