#!/usr/bin/env bash
# bench/run_bench.sh: groundcrewd against moto_server and an nginx ceiling, in one bounded run on
# loopback. Builds groundcrewd and gc_loadgen if needed, starts every server itself on 127.0.0.1
# with free ports and temp directories, measures, prints a table, and stops everything it started
# on exit (a watchdog ends the run if it overstays its budget). See bench/README.md.
#
# Environment (all optional):
#   BENCH_SECONDS       measured seconds per load run (default 10; at most 120)
#   BENCH_WARMUP        unmeasured warm-up seconds before each run (default 1)
#   BENCH_CONNECTIONS   connections (one load-generator thread each) (default 4)
#   BENCH_RATE          fixed GetParameter rate for the groundcrewd latency run (default 1000)
#   BENCH_MOTO_RATE     fixed GetParameter rate for the moto_server latency run (default 200,
#                       lowered to 60% of moto's measured GetParameter throughput when that is
#                       under 334 req/s, so that the rate is one moto can sustain)
#   BENCH_STARTS        groundcrewd starts averaged for the start-up time (default 5)
#   BENCH_NO_ACCESS_LOG 1 (default): also measure groundcrewd --no-access-log; 0: skip
#   GC_BIN_DIR          folder with groundcrewd and gc_loadgen already built (skips the build)
#   MOTO_SERVER, NGINX  the programs (default: from PATH)
set -euo pipefail

BENCH_NAME=run_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNECTIONS:-4}
GC_RATE=${BENCH_RATE:-1000}
MOTO_RATE=${BENCH_MOTO_RATE:-}  # empty: 200, or less if moto cannot sustain 200 here
STARTS=${BENCH_STARTS:-5}
NO_ACCESS_LOG=${BENCH_NO_ACCESS_LOG:-1}
MOTO=${MOTO_SERVER:-$(command -v moto_server || true)}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

[[ -n $MOTO && -x $MOTO ]] || die "moto_server not found (pip install 'moto[server]', or set MOTO_SERVER)"
[[ -x $NGINX ]] || die "nginx not found (apt-get install nginx-light, or set NGINX)"
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"

# --- Build ----------------------------------------------------------------------------------
bench_build groundcrewd gc_loadgen
LOADGEN=$BIN/gc_loadgen

# --- Process bookkeeping: everything started here is stopped on exit --------------------------
bench_tmp gc-bench "${BENCH_KEEP_TMP:-}"

# Self-stop: the whole run gets a budget from the configured durations.
RUNS=9
BUDGET=$((RUNS * (SECS + WARMUP + 6) + 120))
bench_watchdog "$BUDGET"

us_now() { local t=$EPOCHREALTIME; echo "${t//[.,]/}"; }

# start_gc DATA_DIR [extra args]: starts groundcrewd, waits for its ready line.
# Sets GC_PID, GC_URL and GC_START_MS (launch to ready line).
start_gc() {
  local dir=$1
  shift
  mkdir -p "$dir"
  local fifo=$TMP/gc.fifo
  rm -f "$fifo"
  mkfifo "$fifo"
  local t0
  t0=$(us_now)
  "$BIN/groundcrewd" --listen 127.0.0.1:0 --data-dir "$dir" --dev --account-id "$ACCOUNT" "$@" \
    >"$fifo" 2>>"$dir.stderr" &
  GC_PID=$!
  PIDS+=("$GC_PID")
  local fd line="" ready=""
  exec {fd}<"$fifo"
  while read -r -t 20 line <&"$fd"; do
    if [[ $line == "groundcrewd ready on "* ]]; then ready=1; break; fi
  done
  local t1
  t1=$(us_now)
  if [[ -z $ready ]]; then
    exec {fd}<&-
    log "--- groundcrewd stderr:"; tail -20 "$dir.stderr" >&2 || true
    die "groundcrewd did not print its ready line"
  fi
  # Keep draining its stdout so a later line never blocks it, and let go of our end.
  cat <&"$fd" >/dev/null &
  PIDS+=("$!")
  exec {fd}<&-
  GC_URL=${line##* }
  GC_START_MS=$(((t1 - t0) / 100))  # tenths of a millisecond
  GC_START_MS=$((GC_START_MS / 10)).$((GC_START_MS % 10))
}

stop_gc() {
  kill -TERM "$GC_PID" 2>/dev/null || true
  wait "$GC_PID" 2>/dev/null || true
}

# [LG_PID=PID] loadgen NAME [args]: one run; the JSON line goes to $RES/NAME.json and is echoed.
# With LG_PID, the CPU time that process used during the run (warm-up included) goes to
# $RES/NAME.cpu in milliseconds.
loadgen() {
  local name=$1
  shift
  local cpu0=0
  [[ -n ${LG_PID:-} ]] && cpu0=$(cpu_ticks "$LG_PID")
  if ! "$LOADGEN" --connections "$CONNS" --duration "$SECS" --warmup "$WARMUP" --label "$name" \
      "$@" >"$RES/$name.json" 2>"$RES/$name.err"; then
    cat "$RES/$name.err" >&2
    echo '{}' >"$RES/$name.json"
    log "  $name: FAILED"
    return 0
  fi
  if [[ -n ${LG_PID:-} ]]; then
    echo $((($(cpu_ticks "$LG_PID") - cpu0) * 1000 / CLK_TCK)) >"$RES/$name.cpu"
  fi
  grep -v '^gc_loadgen: pre-signed' "$RES/$name.err" >&2 || true
  log "  $(cat "$RES/$name.json")"
}

log "== groundcrew benchmark: $(nproc) cores, ${SECS}s runs (+${WARMUP}s warm-up), $CONNS connections; load average $(loadavg)"

# --- (e) start-up time ------------------------------------------------------------------------
log "== start-up time: $STARTS starts on a new data dir, $STARTS on an existing one"
new_ms=() old_ms=()
for i in $(seq 1 "$STARTS"); do
  start_gc "$TMP/start-$i"
  new_ms+=("$GC_START_MS")
  stop_gc
done
for i in $(seq 1 "$STARTS"); do
  start_gc "$TMP/start-1"
  old_ms+=("$GC_START_MS")
  stop_gc
done
log "  new data dir (ms): ${new_ms[*]}"
log "  existing data dir (ms): ${old_ms[*]}"
printf '%s\n' "${new_ms[@]}" >"$RES/start_new.txt"
printf '%s\n' "${old_ms[@]}" >"$RES/start_old.txt"

# --- Servers ----------------------------------------------------------------------------------
log "== starting groundcrewd, moto_server, nginx"
start_gc "$TMP/gc"
GC_MAIN_PID=$GC_PID
GC_MAIN_URL=$GC_URL
read -r GC_AK GC_SK < <(gc_keys "$TMP/gc")
sleep 0.5
rss_mb "$GC_MAIN_PID" >"$RES/gc_rss_start.txt"
log "  groundcrewd $GC_MAIN_URL (pid $GC_MAIN_PID), idle RSS $(cat "$RES/gc_rss_start.txt") MB"

t0=$(us_now)
moto_start
t1=$(us_now)
echo $(((t1 - t0) / 1000)) >"$RES/moto_start.txt"
sleep 0.5
rss_mb "$MOTO_PID" >"$RES/moto_rss_start.txt"
log "  moto_server $MOTO_URL (pid $MOTO_PID), up in $(cat "$RES/moto_start.txt") ms, RSS $(cat "$RES/moto_rss_start.txt") MB"

NGINX_PORT=$(free_port)
NGINX_URL=http://127.0.0.1:$NGINX_PORT
mkdir -p "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid tmp/nginx.pid;
error_log tmp/err.log;
events {}
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 "ok"; }
  }
}
EOF
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/tmp/err.log" \
  >"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "$NGINX_URL/" 20 || { cat "$TMP/nginx/tmp/err.log" "$TMP/nginx/stdout.log" >&2; die "nginx did not start"; }
log "  nginx $NGINX_URL (pid $NGINX_PID)"

# --- (a)-(d) load -----------------------------------------------------------------------------
log "== (a) nginx fixed 200 ceiling"
loadgen nginx --endpoint "$NGINX_URL" --op nginx

log "== (b) GetParameter throughput"
LG_PID=$GC_MAIN_PID loadgen gc_get --endpoint "$GC_MAIN_URL" --access-key "$GC_AK" --secret-key "$GC_SK" --op get
LG_PID=$MOTO_PID loadgen moto_get --endpoint "$MOTO_URL" --op get

log "== (d) GetParameter latency at a fixed rate"
loadgen gc_get_rate --endpoint "$GC_MAIN_URL" --access-key "$GC_AK" --secret-key "$GC_SK" \
  --op get --rate "$GC_RATE"
if [[ -z $MOTO_RATE ]]; then
  MOTO_RATE=$(python3 -c 'import json,sys
rps = json.load(open(sys.argv[1])).get("rps") or 0
print(max(10, min(200, int(rps * 0.6) // 10 * 10)))' "$RES/moto_get.json")
  [[ $MOTO_RATE == 200 ]] || log "  (moto_server's throughput here is under 334 req/s: its fixed rate is $MOTO_RATE req/s)"
fi
loadgen moto_get_rate --endpoint "$MOTO_URL" --op get --rate "$MOTO_RATE"

log "== (c) PutParameter throughput"
LG_PID=$GC_MAIN_PID loadgen gc_put --endpoint "$GC_MAIN_URL" --access-key "$GC_AK" --secret-key "$GC_SK" --op put
LG_PID=$MOTO_PID loadgen moto_put --endpoint "$MOTO_URL" --op put

sleep 1
rss_mb "$GC_MAIN_PID" >"$RES/gc_rss_load.txt"
rss_mb "$MOTO_PID" >"$RES/moto_rss_load.txt"
log "== RSS after the load: groundcrewd $(cat "$RES/gc_rss_load.txt") MB, moto_server $(cat "$RES/moto_rss_load.txt") MB"
GC_PID=$GC_MAIN_PID
stop_gc

if [[ $NO_ACCESS_LOG == 1 ]]; then
  log "== groundcrewd --no-access-log"
  start_gc "$TMP/gc-nolog" --no-access-log
  read -r AK2 SK2 < <(gc_keys "$TMP/gc-nolog")
  LG_PID=$GC_PID loadgen gc_get_nolog --endpoint "$GC_URL" --access-key "$AK2" --secret-key "$SK2" --op get
  LG_PID=$GC_PID loadgen gc_put_nolog --endpoint "$GC_URL" --access-key "$AK2" --secret-key "$SK2" --op put
  stop_gc
fi

log "== done; load average $(loadavg) (other work on the machine skews every figure)"

# --- Table ------------------------------------------------------------------------------------
BENCH_DIR="$REPO/bench" RES=$RES GC_RATE=$GC_RATE MOTO_RATE=$MOTO_RATE CONNS=$CONNS SECS=$SECS python3 - <<'PY'
import functools
import os
import sys

sys.path.insert(0, os.environ["BENCH_DIR"])
from bench_table import check, num, print_table, ratio, load as load_result  # noqa: E402

res = os.environ["RES"]
run = functools.partial(load_result, res)
gc_rate, moto_rate = os.environ["GC_RATE"], os.environ["MOTO_RATE"]


def text(name):
    try:
        with open(os.path.join(res, name + ".txt")) as f:
            return f.read().split()
    except OSError:
        return []


def cpu_us(name, r):
    """Server CPU microseconds per request (CPU over warm-up + window, requests scaled to match)."""
    try:
        with open(os.path.join(res, name + ".cpu")) as f:
            ms = float(f.read())
    except (OSError, ValueError):
        return None
    n = r.get("requests") or 0
    if not n:
        return None
    total = n * (r["duration_s"] + r["warmup_s"]) / r["duration_s"]
    return ms * 1000.0 / total


def mean(xs):
    xs = [float(x) for x in xs]
    return sum(xs) / len(xs) if xs else None


nginx, gc_get, moto_get = run("nginx"), run("gc_get"), run("moto_get")
gc_put, moto_put = run("gc_put"), run("moto_put")
gc_lat, moto_lat = run("gc_get_rate"), run("moto_get_rate")
gc_get_nl, gc_put_nl = run("gc_get_nolog"), run("gc_put_nolog")
start_new, start_old = mean(text("start_new")), mean(text("start_old"))
moto_start = mean(text("moto_start"))
rss = {k: mean(text(k)) for k in ("gc_rss_start", "gc_rss_load", "moto_rss_start", "moto_rss_load")}

rows = []


def row(metric, gc, moto, ceiling, target, ok, digits=0, r=None):
    rows.append([metric, num(gc, digits), num(moto, digits),
                 r if r is not None else ratio(gc, moto), ceiling, target, check(ok)])


g, m = gc_get.get("rps"), moto_get.get("rps")
row("GetParameter req/s", g, m, num(nginx.get("rps")), ">= 20,000", None if g is None else g >= 20000)
g, m = gc_put.get("rps"), moto_put.get("rps")
row("PutParameter req/s (SQLite)", g, m, "", ">= 3,000", None if g is None else g >= 3000)
row("  server CPU us per GetParameter", cpu_us("gc_get", gc_get), cpu_us("moto_get", moto_get),
    "", "", None)
row("  server CPU us per PutParameter", cpu_us("gc_put", gc_put), cpu_us("moto_put", moto_put),
    "", "", None)
g, m = gc_lat.get("p50_ms"), moto_lat.get("p50_ms")
row(f"GetParameter p50 ms @{gc_rate} / @{moto_rate} req/s", g, m, "", "", None, 3)
g, m = gc_lat.get("p99_ms"), moto_lat.get("p99_ms")
row(f"GetParameter p99 ms @{gc_rate} / @{moto_rate} req/s", g, m, "", "< 5 ms", None if g is None else g < 5, 3)
g, m = gc_lat.get("p99_send_ms"), moto_lat.get("p99_send_ms")
row("  p99 ms timed from the actual send", g, m, "", "", None, 3)
row("start-up ms, new data dir (avg)", start_new, moto_start, "", "< 100 ms",
    None if start_new is None else start_new < 100, 1)
row("start-up ms, existing data dir (avg)", start_old, moto_start, "", "< 100 ms",
    None if start_old is None else start_old < 100, 1)
row("idle RSS MB after start-up", rss["gc_rss_start"], rss["moto_rss_start"], "", "< 20 MB",
    None if rss["gc_rss_start"] is None else rss["gc_rss_start"] < 20, 1)
row("idle RSS MB after the load", rss["gc_rss_load"], rss["moto_rss_load"], "", "< 20 MB",
    None if rss["gc_rss_load"] is None else rss["gc_rss_load"] < 20, 1)
if gc_get_nl:
    g = gc_get_nl.get("rps")
    row("GetParameter req/s, --no-access-log", g, None, "", ">= 20,000",
        None if g is None else g >= 20000, r="")
if gc_put_nl:
    g = gc_put_nl.get("rps")
    row("PutParameter req/s, --no-access-log", g, None, "", ">= 3,000",
        None if g is None else g >= 3000, r="")
if gc_get_nl:
    row("  server CPU us per GetParameter", cpu_us("gc_get_nolog", gc_get_nl), None, "", "", None,
        r="")

head = ["metric", "groundcrewd", "moto_server", "ratio gc/moto", "nginx ceiling", "target", "met"]
print_table(head, rows)
print(f"{os.environ['CONNS']} connections, {os.environ['SECS']} s per run; moto start-up is the time "
      "until it first answers (one start); the latency rows compare groundcrewd at "
      f"{gc_rate} req/s with moto at {moto_rate} req/s.")
all_runs = {"nginx": nginx, "gc_get": gc_get, "moto_get": moto_get, "gc_put": gc_put,
            "moto_put": moto_put, "gc_get_rate": gc_lat, "moto_get_rate": moto_lat,
            "gc_get_nolog": gc_get_nl, "gc_put_nolog": gc_put_nl}
for name, r in all_runs.items():
    if r and (r.get("errors") or 0) > 0:
        print(f"WARNING {name}: {r['errors']} errors of {r['requests']}; first: {r.get('first_error', '')[:200]}")
    if r and r.get("op") in ("put", "mixed") and "inline" in r.get("signing", ""):
        print(f"note {name}: {r['signing']}")
    if r and r.get("rate") and r.get("late_sends"):
        print(f"note {name}: {r['late_sends']} sends started > 1 ms after their schedule")
PY
