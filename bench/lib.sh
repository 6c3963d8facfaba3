# shellcheck shell=bash disable=SC2034
# bench/lib.sh: what the bench/run_*.sh scripts share. Sourced, not run:
#
#   BENCH_NAME=run_foo_bench
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_build groundcrewd gc_foo      # sets BIN
#   bench_tmp gc-foo "${FOO_KEEP_TMP:-}"  # sets TMP and RES; a trap stops what was started
#   bench_watchdog "$BUDGET"            # ends the run if it overstays its budget
#
# Every process a script starts goes into PIDS (or, for a process group such as moto_server
# started with setsid, GROUPS_STARTED) so that the exit trap stops it, whatever ends the run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ACCOUNT=123456789012
CLK_TCK=$(getconf CLK_TCK)
PIDS=()
GROUPS_STARTED=()
WATCHDOG=""
BENCH_KEEP=""

log() { printf '%s\n' "$*" >&2; }
die() { log "${BENCH_NAME:-bench}: $*"; exit 1; }

# bench_build TARGET...: BIN is GC_BIN_DIR if set, else build/bin with TARGET... built by the
# release preset; dies unless every TARGET is there.
bench_build() {
  if [[ -n ${GC_BIN_DIR:-} ]]; then
    BIN=$GC_BIN_DIR
  else
    BIN=$REPO/build/bin
    log "== build (cmake --preset release)"
    (cd "$REPO" && { [[ -f build/build.ninja ]] || cmake --preset release >/dev/null; } &&
      cmake --build --preset release --target "$@") >&2
  fi
  local b
  for b in "$@"; do
    [[ -x $BIN/$b ]] || die "$b missing in $BIN"
  done
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $WATCHDOG ]] && { kill "$WATCHDOG" 2>/dev/null || true; }
  local pid
  for pid in "${GROUPS_STARTED[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.3
  done
  for pid in "${GROUPS_STARTED[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n $BENCH_KEEP ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

# bench_tmp PREFIX [KEEP]: TMP is a new /tmp/PREFIX.XXXXXX (kept at exit if KEEP is non-empty),
# RES its results/ folder; installs the exit trap.
bench_tmp() {
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  RES=$TMP/results
  mkdir -p "$RES"
  BENCH_KEEP=${2:-}
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# bench_watchdog SECONDS: SIGTERM to this script (so its trap runs) once SECONDS have passed.
bench_watchdog() {
  local budget=$1
  (
    sleep "$budget" &
    s=$!
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    wait "$s"
    log "${BENCH_NAME:-bench}: over its ${budget}s budget; stopping"
    kill -TERM $$
  ) &
  WATCHDOG=$!
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {  # URL TIMEOUT_S: until any HTTP answer
  local deadline=$((SECONDS + $2))
  until curl -s -o /dev/null --max-time 2 "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# CPU time (user + system) a process has used so far, in clock ticks (CLK_TCK a second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# VmRSS of a process in kB, and in MB with one decimal.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

gc_keys() {  # DATA_DIR -> "ACCESS SECRET" (the root credentials groundcrewd wrote there)
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["access_key_id"], c["secret_access_key"])' \
    "$1/credentials.json"
}

# gc_start NAME [flags]: groundcrewd --dev on 127.0.0.1:0 with data dir $TMP/NAME/data, its stdout
# (the ready line) and stderr (access log) in $TMP/NAME/; sets GC_PID, GC_URL, GC_AK and GC_SK.
gc_start() {
  local name=$1
  shift
  local dir=$TMP/$name
  mkdir -p "$dir"
  "$BIN/groundcrewd" --listen 127.0.0.1:0 --data-dir "$dir/data" --dev --account-id "$ACCOUNT" \
    "$@" >"$dir/stdout" 2>"$dir/stderr" &
  GC_PID=$!
  PIDS+=("$GC_PID")
  GC_URL=""
  for _ in $(seq 1 400); do
    GC_URL=$(sed -n 's/^groundcrewd ready on //p' "$dir/stdout" 2>/dev/null | head -1)
    [[ -n $GC_URL ]] && break
    kill -0 "$GC_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $GC_URL ]] || { tail -20 "$dir/stderr" >&2; die "groundcrewd ($name) did not print its ready line"; }
  read -r GC_AK GC_SK < <(gc_keys "$dir/data")
}

# stop_pid PID: SIGTERM, up to 15 s to exit, then SIGKILL.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$1" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# moto_start: moto_server ($MOTO) in its own process group on a free port; sets MOTO_PID and
# MOTO_URL. Its output goes to $TMP/moto.log.
moto_start() {
  local port
  port=$(free_port)
  MOTO_URL=http://127.0.0.1:$port
  setsid "$MOTO" -H 127.0.0.1 -p "$port" >"$TMP/moto.log" 2>&1 &
  MOTO_PID=$!
  PIDS+=("$MOTO_PID")
  GROUPS_STARTED+=("$MOTO_PID")
  wait_http "$MOTO_URL/" 60 || { tail -20 "$TMP/moto.log" >&2; die "moto_server did not start"; }
}
