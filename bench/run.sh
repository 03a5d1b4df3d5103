#!/usr/bin/env bash
# Runs every benchmark; results are appended to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
.venv/bin/python bench/http_create.py
.venv/bin/python bench/servers.py  # add --hypercorn DIR to compare hypercorn too (bench/README.md)
.venv/bin/python bench/delivery_drain.py
.venv/bin/python bench/webhooks.py
.venv/bin/python bench/http_clients.py
.venv/bin/python bench/preauth.py
.venv/bin/python bench/smpp_e2e.py
.venv/bin/python bench/slow_clients.py
