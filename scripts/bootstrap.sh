#!/usr/bin/env bash
# Create a virtualenv (if needed) and install the project with its test extras, pinned by a constraints
# file produced with `uv pip compile` (see constraints/README.md). Re-runs are quick: the install is
# skipped while pyproject.toml and the constraints file are unchanged.
#   VENV         the virtualenv (default .venv)
#   CONSTRAINTS  the pins (default constraints/py3.11-airflow3.3.2.txt: Airflow 3.3.2)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
CONSTRAINTS="${CONSTRAINTS:-constraints/py3.11-airflow3.3.2.txt}"
PIP_VERSION=26.3 UV_VERSION=0.13.9  # the installers are pinned too
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing airflow-provider-transfers and its test tools into $VENV (pinned by $CONSTRAINTS)" >&2
  "$VENV/bin/python" -m pip install --quiet "pip==$PIP_VERSION" "uv==$UV_VERSION"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --constraint "$CONSTRAINTS" -e ".[test,bench]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
