#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite (extra arguments go to pytest).
# System packages: Debian's chromium (browser tests), fonts-noto-cjk (Chinese in the browser) and
# postgresql-15 (integration tests);
# installed with apt when missing and running as root, otherwise named so you can install them.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
# A Chinese font, so the browser tests and screenshots of the zh-CN UI draw glyphs, not boxes.
compgen -G "/usr/share/fonts/opentype/noto/NotoSansCJK-*" >/dev/null || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "Missing system packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# Two workers (pytest-xdist): each has its own PostgreSQL cluster, data dirs and free ports.
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" "$@"
