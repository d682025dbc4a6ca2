#!/usr/bin/env bash
# The cluster tier (tests/cluster) runs a throw-away PostgreSQL from Debian's 'postgresql' package
# (initdb and pg_ctl under /usr/lib/postgresql/<version>/bin). Install it when missing and running as
# root (CI runs as root on a fresh machine), without the package's default cluster and service: the tier
# starts its own server in a temp dir. Otherwise the tier skips, naming the package. Never fails the
# test command.
set -uo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "==> PostgreSQL missing (not root or no apt-get): the cluster tier will skip; install the Debian package 'postgresql'" >&2
  exit 0
fi
echo "==> installing postgresql (Debian package) for the cluster tier" >&2
export DEBIAN_FRONTEND=noninteractive
if ! {
  apt-get update -qq >/dev/null &&
    apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null &&
    sed -i 's/^#\?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf &&
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}; then
  echo "==> could not install postgresql: the cluster tier will skip" >&2
fi
exit 0
