#!/usr/bin/env bash
# What CI does, here: a clean clone of HEAD with ../shared beside it, then .ci/run.
# Uncommitted changes are not in the clone; the clone (with its ~7 GB venv) is deleted afterwards
# unless KEEP=1. Usage: bash scripts/ci_clone.sh [pytest args, e.g. -m "not slow"]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="$(cd "$repo/../shared" && pwd)"
box="$(mktemp -d "${TMPDIR:-/tmp}/winnow-ci.XXXXXX")"
cleanup() { if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $box/main"; else rm -rf "$box"; fi; }
trap cleanup EXIT
ln -s "$shared" "$box/shared"
git clone --quiet --no-local "$repo" "$box/main"
echo "clean clone of $(git -C "$box/main" rev-parse --short HEAD) in $box/main"
cd "$box/main"
start=$SECONDS
set +e
if (($#)); then bash scripts/test.sh "$@"; else bash .ci/run; fi
rc=$?
set -e
echo "exit $rc after $((SECONDS - start)) s"
exit $rc
