#!/usr/bin/env bash
# Every check the project has: lint, format, types, the docs site (scripts/docs.sh, warnings as errors),
# then the whole test suite (unit, sandbox, contract, Airflow, the end-to-end tier in tests/e2e and the cluster
# tier in tests/cluster), then a second, quicker job against the lowest Airflow the package supports (3.2.x:
# tests/unit and tests/airflow in .venv-airflow3.2, without the multi-process scenarios).
# Extra arguments go to pytest and select what runs: `bash scripts/test.sh tests/e2e` (then no docs build
# and no 3.2 job).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

# The e2e tier's browser test drives Debian's Chromium; as root (CI) install it when it is missing,
# elsewhere that test is skipped with a message naming the packages.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "==> apt-get install chromium chromium-driver (for the e2e browser test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq > /dev/null
    apt-get install -y -qq chromium chromium-driver > /dev/null
  else
    echo "==> chromium/chromium-driver missing and not root: the e2e browser test will be skipped"
  fi
fi

bash scripts/ensure_redis.sh  # the shared rate limit's tests and the cluster tier run a real redis-server
bash scripts/ensure_postgres.sh  # the cluster tier's metadata database (it builds .venv-cluster itself)
echo "==> ruff check"; .venv/bin/ruff check .
echo "==> ruff format --check"; .venv/bin/ruff format --check .
echo "==> mypy"; .venv/bin/mypy
if [ "$#" -eq 0 ]; then
  echo "==> docs (sphinx-build -W)"; bash scripts/docs.sh
fi
echo "==> pytest (Airflow 3.3.2)"; .venv/bin/pytest -q -p no:cacheprovider "$@"
if [ "$#" -eq 0 ]; then
  VENV=.venv-airflow3.2 CONSTRAINTS=constraints/py3.11-airflow3.2.txt bash scripts/bootstrap.sh
  # What meets Airflow's APIs, again on the lowest version; scenarios of several processes run once (above).
  echo "==> pytest (Airflow $(.venv-airflow3.2/bin/python -c 'import airflow; print(airflow.__version__)'): tests/unit tests/airflow, not processes)"
  .venv-airflow3.2/bin/pytest -q -p no:cacheprovider -m "not processes" tests/unit tests/airflow
fi
