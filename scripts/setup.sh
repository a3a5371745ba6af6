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

req=requirements.txt; [ "$want" = dev ] && req=requirements-dev.txt
stamp=".venv/.installed-$want-$(cat requirements*.txt | sha256sum | cut -c1-16)"

# A first install takes about 6.6 GB (PyTorch and its CUDA libraries 4.4 GB of it). Refuse up
# front rather than let pip die half-way with "No space left on device" and leave a broken .venv.
# A finished install (a stamp, or torch's INSTALLER record, which pip writes after its files) needs
# little more, so only a first or interrupted one is checked.
need_gb=${WINNOW_SETUP_NEED_GB:-8}
[[ $need_gb =~ ^[0-9]+$ ]] || { echo "WINNOW_SETUP_NEED_GB must be a whole number of GB, not '$need_gb'" >&2; exit 1; }
need_gb=$((10#$need_gb))  # "08" is 8, not a bad octal number
if ! compgen -G ".venv/.installed-*" >/dev/null \
  && ! compgen -G ".venv/lib/python3*/site-packages/torch-*.dist-info/INSTALLER" >/dev/null; then
  free_kb=$(df -Pk . 2>/dev/null | awk 'NR == 2 {print $4}') || free_kb=""
  if [[ $free_kb =~ ^[0-9]+$ ]] && [ "$free_kb" -lt $((need_gb * 1024 * 1024)) ]; then
    echo "Not enough disk space to install Winnow's packages: $((free_kb / 1024 / 1024)) GB free in" \
      "$PWD, about $need_gb GB needed (the packages take 6.6 GB, PyTorch most of it)." \
      "Free some space and run this again; this run installed nothing." \
      "(WINNOW_SETUP_NEED_GB sets the requirement, e.g. for a CPU-only PyTorch.)" >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || "$py" -m venv .venv
if [ ! -f "$stamp" ]; then
  echo "Installing Python packages ($req; torch is large, the first time takes a few minutes)…"
  # (this machine's pip mirror notes every package it doesn't hold; those lines are noise)
  quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
  quiet .venv/bin/python -m pip install -q --upgrade pip
  quiet .venv/bin/python -m pip install -q -r "$req"
  touch "$stamp"
fi

# Debian packages the tests drive: Chromium (browser tests), redis-server and PostgreSQL (the
# scale-out tests start their own throw-away servers on loopback; nothing runs as a service).
if [ "$want" = dev ]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
  command -v redis-server >/dev/null || missing+=(redis-server)
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages for the tests: ${missing[*]}…"
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
