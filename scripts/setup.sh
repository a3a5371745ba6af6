#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the pinned packages; `dev` adds the test tools and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
want=${1:-runtime}

py=""
for c in python3.11 python3; do
  if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then py=$c; break; fi
done
[ -n "$py" ] || { echo "Winnow needs Python 3.11 (python3.11 on PATH)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$py" -m venv .venv

req=requirements.txt; [ "$want" = dev ] && req=requirements-dev.txt
stamp=".venv/.installed-$want-$(cat requirements*.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing Python packages ($req; torch is large, the first time takes a few minutes)…"
  # (this machine's pip mirror notes every package it doesn't hold; those lines are noise)
  quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
  quiet .venv/bin/python -m pip install -q --upgrade pip
  quiet .venv/bin/python -m pip install -q -r "$req"
  touch "$stamp"
fi

if [ "$want" = dev ] && ! command -v chromium >/dev/null; then
  echo "Installing Debian's Chromium for the browser tests…"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
