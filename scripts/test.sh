#!/usr/bin/env bash
# Every check the project has: lint, format, types, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure_redis.sh  # the shared rate limit's tests run against a real redis-server
echo "==> ruff check"; .venv/bin/ruff check .
echo "==> ruff format --check"; .venv/bin/ruff format --check .
echo "==> mypy"; .venv/bin/mypy
echo "==> pytest"; .venv/bin/pytest -q -p no:cacheprovider "$@"
