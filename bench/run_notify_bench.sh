#!/usr/bin/env bash
# bench/run_notify_bench.sh: SNS and SQS on groundcrewd against moto_server, in one bounded run on
# loopback (under 3 minutes with the defaults). Builds groundcrewd and gc_notify_bench if needed,
# starts both servers on 127.0.0.1 with free ports and a temp directory, measures, prints a table,
# and stops everything it started on exit (a watchdog ends the run if it overstays its budget).
# See bench/README.md, "SNS and SQS".
#
# Environment (all optional):
#   BENCH_SECONDS      measured seconds per Publish / SQS run (default 10; at most 120)
#   BENCH_WARMUP       unmeasured warm-up seconds before each run (default 1)
#   BENCH_CONNECTIONS  connections (one thread each) for moto_server and the fixed-rate and
#                      delivery runs (default 4)
#   BENCH_GC_CONNECTIONS  connections for groundcrewd's throughput runs (default 64: a durable
#                      write waits for its group commit, so throughput is connections x commits/s;
#                      moto_server, single-threaded, gains nothing from more)
#   BENCH_RATE         fixed Publish rate for the groundcrewd latency run (default 1000)
#   BENCH_MOTO_RATE    fixed Publish rate for moto (default 100, lowered to 60% of moto's measured
#                      Publish throughput when that is under 167/s)
#   BENCH_MESSAGES     messages published in the delivery run (default 2000)
#   BENCH_SUBSCRIBERS  HTTP subscribers in the delivery run (default 10)
#   BENCH_KEEP_TMP=1   keep the temp dir (server logs, JSON of every run)
#   GC_BIN_DIR         folder with groundcrewd and gc_notify_bench already built (skips the build)
#   MOTO_SERVER        the program (default: from PATH)
set -euo pipefail

BENCH_NAME=run_notify_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNECTIONS:-4}
GC_CONNS=${BENCH_GC_CONNECTIONS:-64}
GC_RATE=${BENCH_RATE:-1000}
MOTO_RATE=${BENCH_MOTO_RATE:-}
MESSAGES=${BENCH_MESSAGES:-2000}
SUBSCRIBERS=${BENCH_SUBSCRIBERS:-10}
MOTO=${MOTO_SERVER:-$(command -v moto_server || true)}

[[ -n $MOTO && -x $MOTO ]] || die "moto_server not found (pip install 'moto[server]', or set MOTO_SERVER)"
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"

# --- Build ----------------------------------------------------------------------------------
bench_build groundcrewd gc_notify_bench
NB=$BIN/gc_notify_bench

# --- Process bookkeeping: everything started here is stopped on exit --------------------------
bench_tmp gc-nbench "${BENCH_KEEP_TMP:-}"

# Self-stop: 8 timed runs, the delivery run (at most 60 s, usually a few), start-ups.
BUDGET=$((8 * (${SECS%.*} + ${WARMUP%.*} + 5) + 90))
bench_watchdog "$BUDGET"

# [LG_PID=PID] nbench NAME [args]: one run; the JSON line goes to $RES/NAME.json and is echoed.
# With LG_PID, that process's CPU time during the run goes to $RES/NAME.cpu (ms).
nbench() {
  local name=$1
  shift
  local cpu0=0
  [[ -n ${LG_PID:-} ]] && cpu0=$(cpu_ticks "$LG_PID")
  if ! "$NB" --connections "${NB_CONNS:-$CONNS}" --label "$name" "$@" >"$RES/$name.json" \
    2>"$RES/$name.err"; then
    cat "$RES/$name.err" >&2
    echo '{}' >"$RES/$name.json"
    log "  $name: FAILED"
    return 0
  fi
  if [[ -n ${LG_PID:-} ]]; then
    echo $((($(cpu_ticks "$LG_PID") - cpu0) * 1000 / CLK_TCK)) >"$RES/$name.cpu"
  fi
  cat "$RES/$name.err" >&2
  log "  $(cat "$RES/$name.json")"
}

log "== groundcrew SNS/SQS benchmark: $(nproc) cores, ${SECS}s runs (+${WARMUP}s warm-up), $CONNS connections; load average $(loadavg)"

# --- Servers ----------------------------------------------------------------------------------
gc_start gc
GC_ARGS=(--endpoint "$GC_URL" --access-key "$GC_AK" --secret-key "$GC_SK")
log "  groundcrewd $GC_URL (pid $GC_PID)"

moto_start
MOTO_ARGS=(--endpoint "$MOTO_URL")
log "  moto_server $MOTO_URL (pid $MOTO_PID)"

# --- Runs -------------------------------------------------------------------------------------
TIMED=(--duration "$SECS" --warmup "$WARMUP")
log "== (1) SNS Publish throughput, no subscriptions"
NB_CONNS=$GC_CONNS LG_PID=$GC_PID nbench gc_publish "${GC_ARGS[@]}" --op publish "${TIMED[@]}"
LG_PID=$MOTO_PID nbench moto_publish "${MOTO_ARGS[@]}" --op publish "${TIMED[@]}"

log "== (1) SNS Publish latency at a fixed rate"
nbench gc_publish_rate "${GC_ARGS[@]}" --op publish "${TIMED[@]}" --rate "$GC_RATE"
if [[ -z $MOTO_RATE ]]; then
  MOTO_RATE=$(python3 -c 'import json,sys
rps = json.load(open(sys.argv[1])).get("rps") or 0
print(max(10, min(100, int(rps * 0.6) // 10 * 10)))' "$RES/moto_publish.json")
fi
nbench moto_publish_rate "${MOTO_ARGS[@]}" --op publish "${TIMED[@]}" --rate "$MOTO_RATE"

log "== (2) SNS HTTP deliveries: $MESSAGES messages to $SUBSCRIBERS subscribers (groundcrewd only)"
LG_PID=$GC_PID nbench gc_deliver "${GC_ARGS[@]}" --op deliver --messages "$MESSAGES" \
  --subscribers "$SUBSCRIBERS" --deliver-timeout 60

log "== (3) SQS SendMessage x10 + ReceiveMessage(10) + DeleteMessageBatch"
NB_CONNS=$GC_CONNS LG_PID=$GC_PID nbench gc_sqs "${GC_ARGS[@]}" --op sqs "${TIMED[@]}" \
  --sqs-protocol json
LG_PID=$MOTO_PID nbench moto_sqs "${MOTO_ARGS[@]}" --op sqs "${TIMED[@]}" --sqs-protocol auto
log "== (3b) SQS SendMessageBatch(10) + ReceiveMessage(10) + DeleteMessageBatch"
NB_CONNS=$GC_CONNS LG_PID=$GC_PID nbench gc_sqs_batch "${GC_ARGS[@]}" --op sqs "${TIMED[@]}" \
  --sqs-protocol json --sqs-send batch
LG_PID=$MOTO_PID nbench moto_sqs_batch "${MOTO_ARGS[@]}" --op sqs "${TIMED[@]}" \
  --sqs-protocol auto --sqs-send batch

log "== done; load average $(loadavg) (other work on the machine skews every figure)"

# --- Table ------------------------------------------------------------------------------------
BENCH_DIR="$REPO/bench" RES=$RES GC_RATE=$GC_RATE MOTO_RATE=$MOTO_RATE GC_CONNS=$GC_CONNS CONNS=$CONNS python3 - <<'PY'
import functools
import os
import sys

sys.path.insert(0, os.environ["BENCH_DIR"])
from bench_table import check, num, print_table, ratio, load as load_result  # noqa: E402

res = os.environ["RES"]
run = functools.partial(load_result, res)
gc_rate, moto_rate = os.environ["GC_RATE"], os.environ["MOTO_RATE"]


def cpu_ms(name):
    try:
        with open(os.path.join(res, name + ".cpu")) as f:
            return float(f.read())
    except (OSError, ValueError):
        return None


def per_op_us(name, r, ops):
    """Server CPU us per operation; CPU covers warm-up + window, ops scaled to match."""
    ms = cpu_ms(name)
    if ms is None or not ops:
        return None
    if "duration_s" in r:
        ops = ops * (r["duration_s"] + r["warmup_s"]) / r["duration_s"]
    return ms * 1000.0 / ops


gp, mp = run("gc_publish"), run("moto_publish")
gl, ml = run("gc_publish_rate"), run("moto_publish_rate")
gd = run("gc_deliver")
gs, ms_ = run("gc_sqs"), run("moto_sqs")
gb, mb = run("gc_sqs_batch"), run("moto_sqs_batch")
rows = []


def row(metric, g, m, target, ok, digits=0, r=None):
    rows.append([metric, num(g, digits), num(m, digits), r if r is not None else ratio(g, m),
                 target, check(ok)])


g, m = gp.get("rps"), mp.get("rps")
row("SNS Publish/s (no subscriptions)", g, m, ">= 10,000", None if g is None else g >= 10000)
g = per_op_us("gc_publish", gp, (gp.get("rps") or 0) * gp.get("duration_s", 1))
m = per_op_us("moto_publish", mp, (mp.get("rps") or 0) * mp.get("duration_s", 1))
row("  server CPU us per Publish", g, m, "", None)
g, m = gl.get("p50_ms"), ml.get("p50_ms")
row(f"Publish p50 ms @{gc_rate}/s / @{moto_rate}/s", g, m, "", None, 3)
g, m = gl.get("p99_ms"), ml.get("p99_ms")
row(f"Publish p99 ms @{gc_rate}/s / @{moto_rate}/s", g, m, "< 10 ms", None if g is None else g < 10, 3)
g, m = gl.get("p99_send_ms"), ml.get("p99_send_ms")
row("  p99 ms timed from the actual send", g, m, "", None, 3)
g = gd.get("deliveries_per_s")
if g is not None and not gd.get("complete"):
    g = None
nd = "n/a (moto does not deliver)"
row(f"HTTP deliveries/s end to end ({gd.get('messages', '?')} x {gd.get('subscribers', '?')})",
    g, nd, ">= 10,000", None if g is None else g >= 10000, r="-")
row("  Publish/s during the delivery run", gd.get("publish_rps"), nd, "", None, r="-")
g = per_op_us("gc_deliver", gd, gd.get("deliveries") or 0)
row("  server CPU us per delivery (incl. Publish)", g, nd, "", None, r="-")
for label, gname, mname, gr, mr in (
        ("SQS messages/s: SendMessage x10, Receive, DeleteBatch", "gc_sqs", "moto_sqs", gs, ms_),
        ("SQS messages/s: SendMessageBatch, Receive, DeleteBatch", "gc_sqs_batch",
         "moto_sqs_batch", gb, mb)):
    g, m = gr.get("messages_per_s"), mr.get("messages_per_s")
    row(label, g, m, ">= 10,000", None if g is None else g >= 10000)
    row("  SQS requests/s (all three)", gr.get("rps"), mr.get("rps"), "", None)
    g = per_op_us(gname, gr, (gr.get("messages_per_s") or 0) * gr.get("duration_s", 1))
    m = per_op_us(mname, mr, (mr.get("messages_per_s") or 0) * mr.get("duration_s", 1))
    row("  server CPU us per message", g, m, "", None)

head = ["metric", "groundcrewd", "moto_server", "ratio gc/moto", "target", "met"]
print_table(head, rows)
print(f"SQS protocol: groundcrewd {gs.get('protocol', '-')}, moto_server {ms_.get('protocol', '-')}.")
print(f"Connections: groundcrewd {os.environ['GC_CONNS']} in the Publish and SQS throughput runs, "
      f"{os.environ['CONNS']} otherwise; moto_server {os.environ['CONNS']}.")
if gd and not gd.get("complete"):
    print(f"WARNING gc_deliver: {gd.get('deliveries')} of {gd.get('expected_deliveries')} deliveries "
          f"arrived in time")
for name in ("gc_publish", "moto_publish", "gc_publish_rate", "moto_publish_rate", "gc_deliver",
             "gc_sqs", "moto_sqs", "gc_sqs_batch", "moto_sqs_batch"):
    r = run(name)
    if not r:
        print(f"WARNING {name}: no result")
    elif r.get("errors"):
        print(f"WARNING {name}: {r['errors']} errors; first: {r.get('first_error', '')[:200]}")
    if r.get("late_sends"):
        print(f"note {name}: {r['late_sends']} sends started > 1 ms after their schedule")
PY
