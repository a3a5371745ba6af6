#!/usr/bin/env bash
# Set up if needed, import the digits demo with a ready experiment, and open Winnow on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh runtime
.venv/bin/python -m core demo >/dev/null
echo "Winnow: http://localhost:8501 (data in ${WINNOW_HOME:-.winnow}). Ctrl-C stops the app; the background worker"
echo "keeps running queued jobs: stop it with  pkill -f 'python -m core worker'"
exec .venv/bin/python scripts/serve.py "$@"
