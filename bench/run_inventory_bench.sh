#!/usr/bin/env bash
# bench/run_inventory_bench.sh: inventory at fleet scale on groundcrewd (issue 5), against
# moto_server for the same API calls, in one bounded run on loopback. Builds groundcrewd and
# gc_fleet_sim if needed, then measures with `gc_fleet_sim --op inventory`:
#   (0) registration of INV_NODES simulated nodes (as bench/run_fleet_bench.sh; reported on its
#       own, not part of the ingest time);
#   (1) ingest: every node sends one PutInventory signed with its own node credentials (as the
#       agent does): AWS:Application with INV_APPS Debian-like packages and
#       AWS:InstanceDetailedInformation, INV_CONNECTIONS connections in parallel; timed from the
#       first PutInventory sent to the last one accepted;
#   (2) with the operator's credentials: a filtered GetInventory page (AWS:Application.Name Equal
#       openssl AND AWS:Application.Version Equal a version ~1 node in 7 has, MaxResults 50), the
#       same with ResultAttributes AWS:Application, an aggregator (Expression
#       AWS:Application.Name) and ListInventoryEntries: p50/p99 of each, one connection, calls in
#       sequence after unmeasured warm-up calls; then a check (not timed) that paging the filter
#       finds exactly the nodes that were given that version;
#   (3) the same calls on moto_server (made-up instance ids, its test credentials: moto has no
#       node credentials); a call moto does not implement is reported as such, not timed.
# Everything listens on 127.0.0.1 with free ports and a temp directory; a trap stops every process
# the script started, and a watchdog ends the run if it overstays its budget. See bench/README.md,
# "Inventory".
#
# Environment (all optional):
#   INV_NODES            simulated nodes (default 10000)
#   INV_APPS             AWS:Application entries per node (default 500)
#   INV_CONNECTIONS      PutInventory connections in parallel (default 32)
#   INV_CONCURRENCY      nodes registering at the same time (default 64)
#   INV_CALLS            timed GetInventory / ListInventoryEntries calls each (default 50)
#   INV_AGG_CALLS        timed aggregator calls (default 20)
#   INV_INGEST_TIMEOUT   seconds allowed for the whole ingest (default 900)
#   INV_GC_ARGS          extra groundcrewd flags (e.g. "--no-access-log")
#   INV_SKIP_MOTO=1      leave moto_server out
#   INV_KEEP_TMP=1       keep the temp dir (server logs, access log, JSON of every run)
#   GC_BIN_DIR           folder with groundcrewd and gc_fleet_sim (skips the build)
#   MOTO_SERVER          the program (default: from PATH)
set -euo pipefail

BENCH_NAME=run_inventory_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NODES=${INV_NODES:-10000}
APPS=${INV_APPS:-500}
CONNS=${INV_CONNECTIONS:-32}
CONC=${INV_CONCURRENCY:-64}
CALLS=${INV_CALLS:-50}
AGG_CALLS=${INV_AGG_CALLS:-20}
INGEST_TIMEOUT=${INV_INGEST_TIMEOUT:-900}
SKIP_MOTO=${INV_SKIP_MOTO:-0}
read -r -a GC_EXTRA <<<"${INV_GC_ARGS:-}"
MOTO=${MOTO_SERVER:-$(command -v moto_server || true)}

for v in NODES APPS CONNS CONC CALLS AGG_CALLS INGEST_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} >= 1)) || die "$v must be a positive integer (got '${!v}')"
done
command -v python3 >/dev/null || die "python3 not found"
if [[ $SKIP_MOTO != 1 ]]; then
  command -v curl >/dev/null || die "curl not found (needed to wait for moto_server)"
  [[ -n $MOTO && -x $MOTO ]] || die "moto_server not found (pip install 'moto[server]', set MOTO_SERVER, or INV_SKIP_MOTO=1)"
fi

# --- Build ----------------------------------------------------------------------------------
bench_build groundcrewd gc_fleet_sim
SIM=$BIN/gc_fleet_sim

# Registration keeps up to INV_CONCURRENCY node connections open; raise the limit anyway.
HARD=$(ulimit -Hn)
[[ $HARD != unlimited ]] && ulimit -n "$HARD"

# --- Process bookkeeping: everything started here is stopped on exit --------------------------
bench_tmp gc-inventory "${INV_KEEP_TMP:-}"

# Budget: registration at >= 20 nodes/s, the ingest timeout, the queries (the aggregator may be
# slow: allow 5 s a call), moto, start-ups.
SIM_DEADLINE=$((NODES / 20 + INGEST_TIMEOUT + 5 * (3 * CALLS + AGG_CALLS + 20) + 120))
BUDGET=$((SIM_DEADLINE + 300))
bench_watchdog "$BUDGET"

# sim NAME [args]: one gc_fleet_sim run; JSON to $RES/NAME.json, progress to the terminal. Run in
# the background and waited for, so that a signal (the watchdog, ^C) reaches the trap at once.
sim() {
  local name=$1
  shift
  "$SIM" --label "$name" "$@" >"$RES/$name.json" 2> >(tee "$RES/$name.err" >&2) &
  local pid=$!
  PIDS+=("$pid")
  if ! wait "$pid"; then
    log "  $name: gc_fleet_sim exited with an error (see above)"
  fi
  [[ -s $RES/$name.json ]] || echo '{}' >"$RES/$name.json"
}

INV_ARGS=(--op inventory --nodes "$NODES" --inv-apps "$APPS" --inv-connections "$CONNS"
  --concurrency "$CONC" --inv-calls "$CALLS" --inv-agg-calls "$AGG_CALLS"
  --ingest-timeout "$INGEST_TIMEOUT" --deadline "$SIM_DEADLINE")

log "== groundcrew inventory benchmark: $NODES nodes x $APPS applications, $(nproc) cores; load average $(loadavg)"

# --- (0)-(2) groundcrewd ----------------------------------------------------------------------
log "== (0)-(2) groundcrewd: registration, PutInventory from every node, queries"
gc_start inventory "${GC_EXTRA[@]}"
INV_PID=$GC_PID
log "  groundcrewd $GC_URL (pid $INV_PID)"
sim gc --endpoint "$GC_URL" --access-key "$GC_AK" --secret-key "$GC_SK" --server-pid "$INV_PID" \
  "${INV_ARGS[@]}"
stop_pid "$INV_PID"
# The store on disk (SQLite: the database and what is left of its WAL after the shutdown).
du -sb "$TMP/inventory/data" 2>/dev/null | awk '{print $1}' >"$RES/gc_disk_bytes" || true
# Server-side time per operation from the access log (ms from request read to response ready).
python3 - "$TMP/inventory/stderr" >"$RES/gc_access.json" 2>/dev/null <<'PY' || echo '{}' >"$RES/gc_access.json"
import json, sys
ops = {}
for line in open(sys.argv[1], errors="replace"):
    if not line.startswith("{"):
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("status") != 200:
        continue
    ops.setdefault(r.get("op", ""), []).append(float(r.get("ms", 0)))
out = {}
for op, ms in ops.items():
    ms.sort()
    pick = lambda q: ms[min(len(ms) - 1, max(0, int(q * len(ms) + 0.999999) - 1))]
    out[op] = {"count": len(ms), "p50_ms": round(pick(0.5), 3), "p99_ms": round(pick(0.99), 3),
               "sum_s": round(sum(ms) / 1000, 3)}
print(json.dumps(out))
PY

# --- (3) moto_server --------------------------------------------------------------------------
if [[ $SKIP_MOTO != 1 ]]; then
  moto_start
  log "== (3) moto_server $MOTO_URL (pid $MOTO_PID): the same calls, made-up instance ids, test credentials"
  sim moto --endpoint "$MOTO_URL" --inv-register 0 "${INV_ARGS[@]}"
  kill -TERM -- "-$MOTO_PID" 2>/dev/null || true
  stop_pid "$MOTO_PID"
  # What moto said about each action it does not implement (its log has the Python traceback).
  grep -o 'NotImplementedError: The [a-z_]* action has not been implemented' "$TMP/moto.log" |
    sort -u >"$RES/moto_not_implemented.txt" || true
fi

log "== done; load average $(loadavg) (other work on the machine skews every figure)"

# --- Table ------------------------------------------------------------------------------------
BENCH_DIR="$REPO/bench" RES=$RES NODES=$NODES APPS=$APPS SKIP_MOTO=$SKIP_MOTO python3 - <<'PY'
import functools
import os
import re
import sys

sys.path.insert(0, os.environ["BENCH_DIR"])
from bench_table import check, get, num, print_table, ratio, load as load_result  # noqa: E402

res = os.environ["RES"]
load = functools.partial(load_result, res)
nodes, apps = int(os.environ["NODES"]), int(os.environ["APPS"])
skip_moto = os.environ["SKIP_MOTO"] == "1"


gc, moto, access = load("gc"), load("moto"), load("gc_access")
try:
    disk = int(open(os.path.join(res, "gc_disk_bytes")).read().strip())
except (OSError, ValueError):
    disk = None
try:
    not_impl = [l.strip() for l in open(os.path.join(res, "moto_not_implemented.txt")) if l.strip()]
except OSError:
    not_impl = []


# moto: a call it does not implement gets "not implemented (<error>)", not a number.
def moto_action(op):  # PutInventory -> put_inventory
    return re.sub(r"(?<!^)([A-Z])", r"_\1", op).lower()


def moto_text(op, sample):
    """(number or None, text or None) for moto's figure of `op`."""
    if skip_moto:
        return None, "skipped"
    if not moto:
        return None, "-"
    if sample is None:
        return None, "-"
    if sample.get("count", 0) > 0:
        return sample, None
    act = moto_action(op)
    for line in not_impl:
        if f"The {act} action" in line:
            return None, f"not implemented ({line.split(': ', 1)[1]})"
    err = sample.get("first_error") or "no successful call"
    return None, f"failed ({err[:60]})"


rows = []


def row(metric, gc_val, moto_val=None, target="", ok=None, digits=0, gc_text=None,
        moto_text_=None, r=None):
    rows.append([metric,
                 gc_text if gc_text is not None else num(gc_val, digits),
                 moto_text_ if moto_text_ is not None else num(moto_val, digits),
                 r if r is not None else (ratio(gc_val, moto_val) if moto_val is not None else ""),
                 target, check(ok)])


at_scale = nodes >= 10000 and apps >= 500  # the targets are stated for 10,000 x 500

reg = gc.get("registration", {})
row(f"registration of {nodes:,} nodes, s (not part of the ingest)", reg.get("seconds"), digits=2,
    moto_text_="n/a (no node credentials)")
row("  nodes registered per s", reg.get("nodes_per_s"), digits=1)

ing = gc.get("ingest", {})
ming = moto.get("ingest", {})
ing_s = ing.get("seconds")
complete = bool(ing) and ing.get("accepted") == ing.get("nodes") and ing.get("nodes")
ing_ok = None
if ing:
    ing_ok = bool(complete) and ing_s is not None and ing_s <= 60
    if not at_scale:
        ing_ok = "n/a"
_, mtext = moto_text("PutInventory", ming.get("put") if ming else None)
mval = ming.get("seconds") if ming and ming.get("accepted") == ming.get("nodes") else None
row(f"PutInventory ingest, {nodes:,} nodes x {apps} apps, s", ing_s, mval,
    target="<= 60 s at 10,000 x 500", ok=ing_ok, digits=2,
    moto_text_=None if mval is not None else mtext,
    gc_text=None if ing_s is not None else ("not done: " + (ing.get("put", {}).get("first_error") or "-") if ing else "-"))
row("  nodes accepted / sent (failed, retries)", None,
    gc_text="-" if not ing else f"{ing.get('accepted'):,} / {ing.get('nodes'):,} ({ing.get('failed_nodes')}, {ing.get('retries')})",
    moto_text_="-" if not ming else f"{ming.get('accepted'):,} / {ming.get('nodes'):,} (stopped after {ming.get('failed_nodes')} failed nodes)" if ming.get("abandoned") else f"{ming.get('accepted'):,} / {ming.get('nodes'):,}")
row("  PutInventory/s (MB/s of request bodies)", None,
    gc_text="-" if ing_s is None else f"{ing.get('per_s'):,.1f} ({ing.get('mb_per_s'):,.1f})")
row("  request body KB per node (average)", ing.get("body_kb_avg"), digits=1)
row(f"  PutInventory p50 / p99 ms ({ing.get('connections', '-')} in flight)", None,
    gc_text="-" if not get(ing, "put", "count") else f"{ing['put']['p50_ms']:.1f} / {ing['put']['p99_ms']:.1f}")
acc_put = access.get("ssm.PutInventory", {})
row("  server-side PutInventory p50 / p99 ms (access log)", None,
    gc_text="-" if not acc_put else f"{acc_put['p50_ms']:.1f} / {acc_put['p99_ms']:.1f}")
row("  server / simulator CPU s during the ingest", None,
    gc_text="-" if not ing else f"{num(ing.get('server_cpu_s'), 1)} / {num(ing.get('sim_cpu_s'), 1)}")
if ing.get("server_cpu_s") is not None and ing.get("accepted"):
    row("  server CPU ms per PutInventory", ing["server_cpu_s"] * 1000 / ing["accepted"], digits=1)
if ing.get("machine_busy_cpu_s") is not None and ing.get("wall_s"):
    w = ing["wall_s"]
    other = max(0.0, ing["machine_busy_cpu_s"] - ing.get("server_cpu_s", 0) - ing.get("sim_cpu_s", 0))
    row("  CPU % of one core: server / simulator / other processes", None,
        gc_text=f"{ing.get('server_cpu_s', 0) / w * 100:.0f} / {ing.get('sim_cpu_s', 0) / w * 100:.0f} / {other / w * 100:.0f}")
tl = [t for t in ing.get("timeline", []) if t.get("per_s") is not None]
if len(tl) >= 3:
    rates = [t["per_s"] for t in tl[:-1]]  # the last interval is partial
    row("  PutInventory/s over 5 s windows: best / median / worst", None,
        gc_text=f"{max(rates):,.0f} / {sorted(rates)[len(rates) // 2]:,.0f} / {min(rates):,.0f}")
snap = gc.get("snapshots", {})
row("  server RSS MB after the ingest (peak)", None,
    gc_text=f"{num(get(snap, 'after_ingest', 'server', 'rss_mb'), 1)} ({num(get(snap, 'after_queries', 'server', 'hwm_mb'), 1)})")
row("  store on disk after the run, MB", None if disk is None else disk / 1e6, digits=1)

q, mq = gc.get("queries", {}), moto.get("queries", {})
flt = gc.get("filter", {})
labels = [
    ("get_filtered", "GetInventory", "filtered page (Name AND Version, MaxResults 50)", True),
    ("get_filtered_app_only", "GetInventory", "  same, ResultAttributes AWS:Application", True),
    ("aggregate_name", "GetInventory", "aggregator AWS:Application.Name", False),
    ("list_entries", "ListInventoryEntries", "ListInventoryEntries (AWS:Application, 50)", False),
]
for key, op, label, page in labels:
    s = q.get(key)
    ms, mt = moto_text(op, mq.get(key) if mq else None)
    for quant in ("p50_ms", "p99_ms"):
        g = s.get(quant) if s and s.get("count") else None
        m = ms.get(quant) if ms else None
        ok = None
        target = ""
        if page:
            target = "<= 200 ms"
            ok = None if g is None else (g <= 200 if at_scale else "n/a")
        row(f"{label} {quant[:3]} ms", g, m, target=target, ok=ok, digits=1,
            gc_text=None if g is not None else ("failed: " + (s or {}).get("first_error", "-")[:60] if s else "-"),
            moto_text_=None if m is not None else mt)
    if s and s.get("count"):
        extra = f"{s.get('response_bytes', 0) / 1e6:.2f} MB"
        if "entities" in s:
            extra += f", {s['entities']} entities, {s.get('content_rows', 0):,} content rows"
        if "entries" in s:
            extra += f", {s['entries']} entries"
        extra += ", NextToken" if s.get("next_token") else ""
        row("    answer", None, gc_text=extra)
chk = gc.get("check", {})
if chk:
    row("  check: nodes matching the filter (paged) / expected", None,
        gc_text=f"{chk.get('filtered_total'):,} / {chk.get('filtered_expected'):,} "
                f"({'ok' if chk.get('ok') else 'MISMATCH'})")

head = ["metric", "groundcrewd", "moto_server", "ratio gc/moto", "target", "met"]
print_table(head, rows)
if flt:
    print(f"Filter: AWS:Application.Name Equal {flt.get('name')} AND AWS:Application.Version Equal "
          f"{flt.get('version')} ({flt.get('expected_matches'):,} of {ing.get('accepted', 0):,} nodes have it).")
print("Ingest: from the first PutInventory sent to the last one accepted; each signed with the "
      "node's own credentials. Query latency: one connection, calls in sequence after 3 "
      "unmeasured ones, operator credentials; ratios are groundcrewd / moto_server.")
if not skip_moto and moto:
    print("moto_server: made-up instance ids and its test credentials (it has no node "
          "credentials); it answers an action it does not implement with HTTP 500.")
for name, d in (("groundcrewd", gc), ("moto", moto)):
    if d.get("error"):
        print(f"ERROR {name}: {d['error']}")
if reg.get("nodes_failed"):
    print(f"WARNING registration: {reg.get('nodes_failed')} nodes failed; first error: "
          f"{get(reg, 'register', 'first_error') or get(reg, 'token', 'first_error') or get(reg, 'heartbeat', 'first_error')}")
if ing and (ing.get("failed_nodes") or get(ing, "put", "errors")):
    print(f"WARNING ingest: {ing.get('failed_nodes')} nodes failed, {get(ing, 'put', 'errors')} "
          f"errors; first: {get(ing, 'put', 'first_error')}")
for key, s in q.items():
    if s.get("errors"):
        print(f"WARNING {key}: {s['errors']} errors; first: {s.get('first_error')}")
if chk and not chk.get("ok"):
    print(f"WARNING check: {chk}")
conns = gc.get("connections", {})
if conns.get("connect_failures"):
    print(f"WARNING connections: {conns}")
PY
