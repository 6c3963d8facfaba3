#!/usr/bin/env bash
# pg_test_server.sh: start / stop a throwaway PostgreSQL server for tests (127.0.0.1, trust auth).
#
# Usage:
#   pg_test_server.sh start [DIR]  Creates DIR (default: a fresh `mktemp -d`), runs initdb in it
#                                  and starts a server on a free loopback port with fsync=on.
#                                  Prints two lines on stdout:
#                                    postgresql://postgres@127.0.0.1:PORT/postgres
#                                    DIR
#   pg_test_server.sh stop DIR     Stops the server started in DIR and deletes DIR.
#
# Exit status: 0 ok; 1 failure (the logs go to stderr); 77 PostgreSQL is not installed (no
# initdb/pg_ctl under $PG_BIN or /usr/lib/postgresql/*/bin) or, as root, there is no `postgres`
# user: a loud "POSTGRESQL TESTS SKIPPED: ..." line is printed on stderr; callers should skip.
# PostgreSQL refuses to run as root, so as root initdb/pg_ctl run as `postgres` (runuser or su)
# and DIR is chowned to it (DIR's parent must be reachable by that user; /tmp is).
#
# From Python (e.g. a pytest session fixture):
#   out = subprocess.run([SCRIPT, "start"], capture_output=True, text=True)
#   if out.returncode == 77: pytest.skip(out.stderr)
#   url, pgdir = out.stdout.split()[:2]
#   ...  # run the server with --store-url url
#   subprocess.run([SCRIPT, "stop", pgdir], check=True)
set -euo pipefail

die() { echo "pg_test_server.sh: $*" >&2; exit 1; }
skip() { echo "*** POSTGRESQL TESTS SKIPPED: $* ***" >&2; exit 77; }

find_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    [[ -x "$PG_BIN/pg_ctl" && -x "$PG_BIN/initdb" ]] && { echo "$PG_BIN"; return; }
    return 0
  fi
  local d best="" best_ver=-1 ver
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/pg_ctl" && -x "$d/initdb" ]] || continue
    ver=$(basename "$(dirname "$d")")
    [[ "$ver" =~ ^[0-9]+$ ]] || ver=0
    if (( ver > best_ver )); then best="$d"; best_ver=$ver; fi
  done
  echo "$best"
}

# Runs "$@" as the postgres user when we are root, else as ourselves, from inside $DIR.
as_pg() {
  if (( EUID == 0 )); then
    if command -v runuser >/dev/null; then
      (cd "$DIR" && runuser -u postgres -- "$@")
    else
      (cd "$DIR" && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
    fi
  else
    (cd "$DIR" && "$@")
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  BIN=$(find_bin)
  [[ -n "$BIN" ]] || skip "no initdb/pg_ctl found under \$PG_BIN or /usr/lib/postgresql/*/bin"
  if (( EUID == 0 )); then
    id -u postgres >/dev/null 2>&1 || skip "running as root and there is no 'postgres' user"
    command -v runuser >/dev/null || command -v su >/dev/null || skip "neither runuser nor su"
  fi
  DIR=${1:-$(mktemp -d /tmp/gc_pg_XXXXXX)}
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  if (( EUID == 0 )); then chown postgres: "$DIR"; fi
  chmod 700 "$DIR"
  if ! as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C -N \
      >"$DIR/initdb.log" 2>&1; then
    cat "$DIR/initdb.log" >&2
    die "initdb failed"
  fi
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    port_in_use "$port" && continue
    if as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR -c fsync=on" start \
        >"$DIR/pg_ctl.log" 2>&1; then
      echo "postgresql://postgres@127.0.0.1:$port/postgres"
      echo "$DIR"
      return 0
    fi
  done
  cat "$DIR/pg_ctl.log" "$DIR/server.log" >&2 2>/dev/null || true
  die "pg_ctl start failed"
}

stop() {
  DIR=${1:?usage: pg_test_server.sh stop DIR}
  [[ -d "$DIR/data" ]] || die "$DIR holds no PostgreSQL data directory"
  BIN=$(find_bin)
  [[ -n "$BIN" ]] || die "no pg_ctl found"
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: pg_test_server.sh start [DIR] | stop DIR" >&2; exit 2 ;;
esac
