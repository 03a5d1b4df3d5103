#!/usr/bin/env bash
# Prints a PostgreSQL admin URL the tests can create databases on.
# Order: $MYCPAAS_TEST_DATABASE_URL; a server on 127.0.0.1:5432 (CI has one); else a throwaway cluster started
# here (installing Debian's postgresql if it is missing) and left running for the next test run
# (stop it with: pg_ctl -D /tmp/mycpaas-test-pg stop).
set -euo pipefail

if [[ -n "${MYCPAAS_TEST_DATABASE_URL:-}" ]]; then
  echo "$MYCPAAS_TEST_DATABASE_URL"; exit 0
fi

default="postgresql://postgres@127.0.0.1:5432/postgres"
if [[ "${MYCPAAS_TEST_PG:-}" != "throwaway" ]] && command -v psql >/dev/null && psql "$default" -Atqc 'select 1' >/dev/null 2>&1; then
  echo "$default"; exit 0
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z "$bindir" ]]; then
  echo "installing Debian's postgresql for the tests" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2; fi
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

dir=${MYCPAAS_TEST_PGDATA:-/tmp/mycpaas-test-pg}
port=${MYCPAAS_TEST_PGPORT:-55432}
run_as=()
if [[ $(id -u) -eq 0 ]]; then run_as=(runuser -u postgres --); fi
if [[ ! -f "$dir/PG_VERSION" ]]; then
  rm -rf "$dir"; mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
  "${run_as[@]}" "$bindir/initdb" -D "$dir" -U postgres --auth=trust >&2
fi
if ! "${run_as[@]}" "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  "${run_as[@]}" "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
fi
echo "postgresql://postgres@127.0.0.1:$port/postgres"
