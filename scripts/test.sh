#!/usr/bin/env bash
# Set up if needed (packages, Chromium) and run the whole test suite, slow and browser tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
exec .venv/bin/python -m pytest "$@"
