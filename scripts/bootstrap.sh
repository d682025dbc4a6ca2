#!/usr/bin/env bash
# Create .venv (if needed) and install the project with its test extras. Re-runs are quick: the install
# is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing airflow-provider-transfers and its test tools into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip uv
  .venv/bin/uv pip install --quiet --python .venv/bin/python -e ".[test,bench]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
