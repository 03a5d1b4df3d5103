#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite and PostgreSQL), and the official client libraries.
# Installs what the tests need on a fresh Debian machine: curl, Chromium, PostgreSQL (if none is reachable), the
# separate virtualenv for the `signalwire` SDK (it pins an old twilio that cannot share the main venv), and
# Node with the npm client libraries pinned in tests/clients/node/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; fi
}
command -v curl >/dev/null || apt_install curl
# The dashboard's browser tests drive Debian's Chromium through Playwright (executable_path; no download).
[[ -x /usr/bin/chromium ]] || apt_install chromium

make --no-print-directory test-venv  # the runtime and the test extra; a no-op when .venv is up to date
if [[ ! -f .venv-signalwire/.installed ]]; then
  python3 -m venv .venv-signalwire
  .venv-signalwire/bin/pip install --quiet --upgrade pip
  .venv-signalwire/bin/pip install --quiet 'signalwire==2.1.1'
  touch .venv-signalwire/.installed
fi

# npm `twilio` and `@signalwire/compatibility-api` (tests/clients/test_node_clients.py). Note: npm twilio 6.x
# declares node >= 20, and Debian 12's nodejs is 18 (npm ci then warns EBADENGINE); NodeSource has 20.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm; fi
if [[ ! -d tests/clients/node/node_modules ]]; then
  (cd tests/clients/node && npm ci --no-audit --no-fund)
fi
# npm `smpp` (node-smpp), the protocol layer of the SMSC simulator tests/smsc/smsc-sim.js (tests/smsc_support.py).
if [[ ! -d tests/smsc/node_modules ]]; then
  (cd tests/smsc && npm ci --no-audit --no-fund)
fi

MYCPAAS_TEST_DATABASE_URL=$(./scripts/ensure-postgres.sh)
export MYCPAAS_TEST_DATABASE_URL
unset TWILIO_EDGE TWILIO_REGION

# Static checks first: they take seconds and name the exact line.
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check --quiet src tests bench
.venv/bin/mypy

# --durations: every run, CI's included, names its slowest tests, so a slower suite can be traced test by test.
.venv/bin/python -m pytest --durations=25 "$@"
