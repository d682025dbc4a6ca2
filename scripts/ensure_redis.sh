#!/usr/bin/env bash
# The shared rate limit's tests need a real redis-server (Debian package 'redis-server'). Install it when
# missing and running as root (CI runs as root on a fresh machine); otherwise those tests skip, naming
# the package. Quiet on success; never fails the test command.
set -uo pipefail
if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "==> redis-server missing (not root or no apt-get): the Redis rate-limit tests will skip; install the Debian package 'redis-server'" >&2
  exit 0
fi
echo "==> installing redis-server (Debian package) for the shared rate-limit tests" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }; then
  echo "==> could not install redis-server: the Redis rate-limit tests will skip" >&2
fi
exit 0
