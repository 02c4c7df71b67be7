#!/usr/bin/env bash
# Install what tests/test_report.py's browser test needs: Debian's headless Chromium and its
# WebDriver (the Python side, selenium, comes with the project's [test] extra). Idempotent:
# does nothing when both are already installed. Needs root (as CI and the dev machines run).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
