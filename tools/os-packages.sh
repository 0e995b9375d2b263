#!/usr/bin/env bash
# Debian/Ubuntu packages the book and its labs use. As root: install what is missing.
# As a normal user: print the exact apt command and go on (pages that need a missing tool
# say "skipped: install X"; the browser test skips without chromium).
set -euo pipefail

packages=("$@")
missing=()
have_dpkg=1
command -v dpkg-query >/dev/null 2>&1 || have_dpkg=0

if [ "$have_dpkg" = 0 ]; then
    echo "[setup] not a Debian/Ubuntu system (no dpkg-query): install these yourself if you want the labs: ${packages[*]}"
    exit 0
fi

for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# The page assets come from npm; the image may already carry Node.js from elsewhere
# (nodesource), whose nodejs package conflicts with Debian's npm, so only ask when absent.
if ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
# Debian's python3 lacks venv/ensurepip until python3-venv is installed.
py="${PYTHON:-python3}"
if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ "${#missing[@]}" = 0 ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "[setup] installed: ${missing[*]}"
else
    echo "[setup] not root: these Debian packages are missing and will not be installed: ${missing[*]}"
    echo "[setup] install them with:  sudo apt-get install -y --no-install-recommends ${missing[*]}"
    echo "[setup] going on without them (pages that need them say 'skipped: install ...')"
fi
