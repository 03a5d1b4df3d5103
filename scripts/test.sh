#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite and PostgreSQL), and the official client libraries.
# Installs what the tests need on a fresh Debian machine: curl, PostgreSQL (if none is reachable), and the
# separate virtualenv for the `signalwire` SDK (it pins an old twilio that cannot share the main venv).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; fi
}
command -v curl >/dev/null || apt_install curl

if [[ ! -x .venv/bin/python ]]; then make venv; fi
if [[ ! -f .venv-signalwire/.installed ]]; then
  python3 -m venv .venv-signalwire
  .venv-signalwire/bin/pip install --quiet --upgrade pip
  .venv-signalwire/bin/pip install --quiet 'signalwire==2.1.1'
  touch .venv-signalwire/.installed
fi

MYCPAAS_TEST_DATABASE_URL=$(./scripts/ensure-postgres.sh)
export MYCPAAS_TEST_DATABASE_URL
unset TWILIO_EDGE TWILIO_REGION

.venv/bin/python -m pytest "$@"
