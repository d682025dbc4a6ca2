#!/usr/bin/env bash
# The cluster tier's environment (tests/cluster), installed the way users install the provider: build the
# wheel from this checkout, then install it with extras redis,cluster and the pinned constraints into a
# virtualenv of its own -- never the editable checkout. Re-runs are quick: nothing is rebuilt while the
# package source, pyproject.toml, README.md and the constraints file are unchanged.
#   VENV         the virtualenv (default .venv-cluster)
#   CONSTRAINTS  the pins (default constraints/py3.11-airflow3.3.2.txt: Airflow 3.3.2)
# Prints the installed wheel's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv-cluster}"
CONSTRAINTS="${CONSTRAINTS:-constraints/py3.11-airflow3.3.2.txt}"
DIST=build/cluster-dist
PIP_VERSION=26.3 UV_VERSION=0.13.9  # as scripts/bootstrap.sh

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --quiet "pip==$PIP_VERSION" "uv==$UV_VERSION"
fi
source_hash=$(
  { cat pyproject.toml README.md "$CONSTRAINTS"
    find airflow_provider_transfers -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
)
stamp="$VENV/.installed-$source_hash"
if [ ! -f "$stamp" ]; then
  echo "==> building the wheel and installing it into $VENV (extras redis,cluster; pinned by $CONSTRAINTS)" >&2
  rm -rf "$DIST"
  "$VENV/bin/uv" build --quiet --wheel --out-dir "$DIST" . >&2
  wheel=$(ls "$DIST"/airflow_provider_transfers-*.whl)
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --constraint "$CONSTRAINTS" \
    --reinstall-package airflow-provider-transfers "$wheel[redis,cluster]" >&2
  rm -f "$VENV"/.installed-*
  echo "$wheel" > "$stamp"
fi
cat "$stamp"
