#!/usr/bin/env bash
# Install what the test suite needs on a fresh Debian machine: Python packages, and Debian's
# Chromium for the dashboard's browser test (Playwright cannot download a browser here).
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
python -m pip install -q -r "$(dirname "$0")/../requirements-test.txt"
