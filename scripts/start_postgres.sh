#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on loopback for the tests and prints its URL.
# Usage: export PARLEY_TEST_DATABASE_URL=$(scripts/start_postgres.sh)
set -euo pipefail
PORT=${PARLEY_PG_PORT:-54329}
DATA=${PARLEY_PG_DATA:-/tmp/parley-pg}
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")
if [ ! -x "$BIN/initdb" ]; then
  echo "PostgreSQL is not installed (apt-get install postgresql)" >&2
  exit 1
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" --auth=trust -U postgres >/dev/null
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/log" -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=on" -w start >/dev/null
fi
echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
