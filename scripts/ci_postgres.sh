#!/usr/bin/env bash
# A throw-away PostgreSQL server for the class store's tests (issue 24): Debian's `postgresql` package (installed with
# apt when missing), a fresh cluster (initdb) in a folder, listening on 127.0.0.1 only, with one database.
#
#   scripts/ci_postgres.sh start DIR [PORT]   prints `export FER_TEST_POSTGRES_URL=...` on stdout (eval it);
#                                             prints nothing and exits 0 when PostgreSQL cannot be installed or started
#   scripts/ci_postgres.sh stop DIR           stops that server
#
# Authentication is `trust` on 127.0.0.1 (a test server that lives as long as one CI run, never reachable from
# outside the machine). Runs as the `postgres` user when started as root (PostgreSQL refuses to run as root).
set -uo pipefail
cmd="${1:-}"; dir="${2:-}"; port="${3:-54329}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }
log() { echo "ci_postgres: $*" >&2; }

pg_bin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && echo "$bin"
}

as_owner() {  # run a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    bin="$(pg_bin)"
    if [ -z "$bin" ]; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian's postgresql (apt)"
        (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
          || log "apt-get install postgresql failed"
      fi
      bin="$(pg_bin)"
    fi
    if [ -z "$bin" ]; then
      log "PostgreSQL is not installed and could not be: the PostgreSQL tests will skip"; exit 0
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { log "initdb failed (see $dir/initdb.log): the PostgreSQL tests will skip"; exit 0; }
    fi
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off" start >/dev/null \
        || { log "the server did not start (see $dir/server.log): the PostgreSQL tests will skip"; exit 0; }
    fi
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='fer_test'" \
      | grep -q 1 || as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres fer_test \
      || { log "createdb fer_test failed: the PostgreSQL tests will skip"; exit 0; }
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir/data"
    echo "export FER_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$port/fer_test"
    ;;
  stop)
    bin="$(pg_bin)"
    [ -n "$bin" ] && [ -f "$dir/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1
    exit 0
    ;;
  *) echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac
