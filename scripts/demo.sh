#!/usr/bin/env bash
# The main job: example DAGs against the embedded sandbox (see scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
