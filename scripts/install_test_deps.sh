#!/usr/bin/env bash
# Install what the test suite needs on a fresh Debian machine: Python packages, and Debian's
# Chromium for the dashboard's browser test (Playwright cannot download a browser here) and
# PostgreSQL's server binaries for the plan store's tests.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "chromium is missing: run 'sudo apt-get install chromium' (needed by the browser test)" >&2
  fi
fi
# Debian's PostgreSQL server binaries for the plan store's tests (tests/postgres_server.py
# starts a throwaway cluster from them; no system service is used).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "PostgreSQL is missing: run 'sudo apt-get install postgresql' (needed by the store tests)" >&2
  fi
fi
python -m pip install -q -r "$(dirname "$0")/../requirements-test.txt"
