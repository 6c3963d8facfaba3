#!/usr/bin/env bash
# bench/run_fleet_bench.sh: a fleet of simulated managed nodes against groundcrewd (issue 4), in
# one bounded run on loopback. Builds groundcrewd, groundcrew-agent and gc_fleet_sim if needed,
# then measures:
#   (1) registration of FLEET_NODES nodes (RegisterManagedInstance, RSA-signed
#       RequestManagedInstanceRoleToken, one UpdateInstanceInformation each): seconds, nodes/s;
#   (2) AddTagsToResource on every node, then SendCommand AWS-RunShellScript to tag:Fleet=bench
#       with MaxConcurrency 100%, timed until ListCommands shows Success with CompletedCount == N;
#   (3) groundcrewd's VmRSS (and CPU) with every node parked in a GetMessages long poll;
#   (4) a real groundcrew-agent's idle VmRSS and CPU%, registered against groundcrewd over HTTP and
#       over HTTPS (--tls-self-signed, the agent given the CA with --ca-file);
#   (5) SendCommand and ListCommands latency (p50/p99) on groundcrewd and on moto_server, whose
#       SendCommand runs nothing.
# Everything listens on 127.0.0.1 with free ports and a temp directory; a trap stops every process
# the script started, and a watchdog ends the run if it overstays its budget. See bench/README.md,
# "Fleet".
#
# Environment (all optional):
#   FLEET_NODES           simulated nodes (default 10000; needs about that many file descriptors
#                         in groundcrewd and in gc_fleet_sim: both get the hard RLIMIT_NOFILE)
#   FLEET_CONCURRENCY     nodes registering at the same time (default 64)
#   FLEET_IDLE_SECONDS    idle window with every node parked, for (3) (default 20)
#   FLEET_FANOUT_TIMEOUT  seconds allowed for the fan-out (default 600)
#   FLEET_REPLIES         minimal (AcknowledgeMessage + final reply, default) | agent (InProgress,
#                         ack, plugin reply, final reply: what groundcrew-agent sends)
#   FLEET_API_CALLS       SendCommand and ListCommands calls timed for (5) (default 200)
#   FLEET_AGENT_IDLE      seconds the real agent idles while measured (default 20)
#   FLEET_SKIP_AGENT=1, FLEET_SKIP_MOTO=1   leave out (4) / moto's half of (5)
#   FLEET_GC_ARGS         extra groundcrewd flags for the fleet run (e.g. "--no-access-log")
#   FLEET_KEEP_TMP=1      keep the temp dir (server logs, JSON of every run)
#   GC_BIN_DIR            folder with groundcrewd, groundcrew-agent and gc_fleet_sim (skips the build)
#   MOTO_SERVER           the program (default: from PATH)
set -euo pipefail

BENCH_NAME=run_fleet_bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NODES=${FLEET_NODES:-10000}
CONC=${FLEET_CONCURRENCY:-64}
IDLE=${FLEET_IDLE_SECONDS:-20}
FANOUT_TIMEOUT=${FLEET_FANOUT_TIMEOUT:-600}
REPLIES=${FLEET_REPLIES:-minimal}
API_CALLS=${FLEET_API_CALLS:-200}
AGENT_IDLE=${FLEET_AGENT_IDLE:-20}
SKIP_AGENT=${FLEET_SKIP_AGENT:-0}
SKIP_MOTO=${FLEET_SKIP_MOTO:-0}
read -r -a GC_EXTRA <<<"${FLEET_GC_ARGS:-}"
MOTO=${MOTO_SERVER:-$(command -v moto_server || true)}

[[ $NODES =~ ^[0-9]+$ ]] && ((NODES >= 1)) || die "FLEET_NODES must be a positive integer"
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"
if [[ $SKIP_MOTO != 1 ]]; then
  [[ -n $MOTO && -x $MOTO ]] || die "moto_server not found (pip install 'moto[server]', set MOTO_SERVER, or FLEET_SKIP_MOTO=1)"
fi
if [[ $SKIP_AGENT != 1 ]]; then
  python3 -c 'import boto3' 2>/dev/null || die "python3 boto3 not found (needed to create the agent's activation)"
fi

# --- Build ----------------------------------------------------------------------------------
bench_build groundcrewd groundcrew-agent gc_fleet_sim
SIM=$BIN/gc_fleet_sim

# --- File descriptors: one connection per node on each side -----------------------------------
HARD=$(ulimit -Hn)
if [[ $HARD != unlimited ]]; then
  ulimit -n "$HARD"
  NEED=$((NODES + 200))
  ((NEED <= HARD)) || die "$NODES nodes need about $NEED file descriptors; the hard limit is $HARD"
fi

# --- Process bookkeeping: everything started here is stopped on exit --------------------------
bench_tmp gc-fleet "${FLEET_KEEP_TMP:-}"

# Budget: registration at >= 20 nodes/s, the idle window, tagging at >= 100/s, the fan-out
# timeout, two agent runs, the latency runs, start-ups.
BUDGET=$((NODES / 20 + IDLE + NODES / 100 + FANOUT_TIMEOUT + 2 * (AGENT_IDLE + 30) + 300))
bench_watchdog "$BUDGET"

# sim NAME [args]: one gc_fleet_sim run; JSON to $RES/NAME.json, progress to the terminal.
sim() {
  local name=$1
  shift
  if ! "$SIM" --label "$name" "$@" >"$RES/$name.json" 2> >(tee "$RES/$name.err" >&2); then
    log "  $name: gc_fleet_sim exited with an error (see above)"
  fi
  [[ -s $RES/$name.json ]] || echo '{}' >"$RES/$name.json"
}

log "== groundcrew fleet benchmark: $NODES simulated nodes, $(nproc) cores; load average $(loadavg)"

# --- (1)-(3) the fleet ------------------------------------------------------------------------
log "== (1)-(3) fleet: registration, idle long polls, tagging, fan-out"
gc_start fleet "${GC_EXTRA[@]}"
FLEET_PID=$GC_PID
log "  groundcrewd $GC_URL (pid $FLEET_PID), RLIMIT_NOFILE $(ulimit -n)"
sim fleet --endpoint "$GC_URL" --access-key "$GC_AK" --secret-key "$GC_SK" --op fleet \
  --nodes "$NODES" --concurrency "$CONC" --idle-seconds "$IDLE" --fanout 1 \
  --fanout-timeout "$FANOUT_TIMEOUT" --replies "$REPLIES" --api-calls "$API_CALLS" \
  --server-pid "$FLEET_PID" --deadline "$BUDGET"
stop_pid "$FLEET_PID"
# How often the server handed each fan-out message out (SQLite store only; informational: a
# message handed to a poll whose client already gave up waits out its visibility timeout).
python3 - "$TMP/fleet/data/groundcrew.db" "$RES/fleet.json" >"$RES/deliveries.json" 2>/dev/null <<'PY' || echo '{}' >"$RES/deliveries.json"
import json, sqlite3, sys
cmd = json.load(open(sys.argv[2]))["fanout"]["command_id"]
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT deliveries, COUNT(*) FROM ssm_node_message WHERE command_id = ? "
                  "GROUP BY deliveries", (cmd,)).fetchall()
print(json.dumps({str(d): n for d, n in rows}))
PY

# --- (5) API latency: groundcrewd (5 simulated nodes) and moto_server --------------------------
log "== (5) SendCommand / ListCommands latency, $API_CALLS calls each"
gc_start api
API_PID=$GC_PID
sim gc_api --endpoint "$GC_URL" --access-key "$GC_AK" --secret-key "$GC_SK" --op fleet \
  --nodes 5 --idle-seconds 0 --fanout 0 --api-calls "$API_CALLS" --api-targets 5 \
  --server-pid "$API_PID" --deadline 300
stop_pid "$API_PID"

if [[ $SKIP_MOTO != 1 ]]; then
  moto_start
  log "  moto_server $MOTO_URL (pid $MOTO_PID); its SendCommand records the command and runs nothing"
  sim moto_api --endpoint "$MOTO_URL" --op api --api-calls "$API_CALLS" \
    --instance-ids i-00000000000000001,i-00000000000000002,i-00000000000000003,i-00000000000000004,i-00000000000000005 \
    --deadline 300
  kill -TERM -- "-$MOTO_PID" 2>/dev/null || true
  stop_pid "$MOTO_PID"
fi

# --- (4) the real groundcrew-agent, idle ------------------------------------------------------
# agent_idle NAME [groundcrewd flags]: groundcrewd, an activation, `groundcrew-agent register`
# and `run`; after a warm-up, RSS and CPU over FLEET_AGENT_IDLE seconds -> $RES/agent_NAME.json
agent_idle() {
  local name=$1
  shift
  gc_start "agent-$name" "$@"
  local srv=$GC_PID url=$GC_URL dir=$TMP/agent-$name ca=""
  local ca_args=()
  if [[ $url == https://* ]]; then
    ca=$dir/data/tls/ca.pem
    ca_args=(--ca-file "$ca")
  fi
  read -r code id < <(CA=$ca URL=$url AK=$GC_AK SK=$GC_SK python3 -c '
import os, boto3
ssm = boto3.client("ssm", endpoint_url=os.environ["URL"], region_name="us-east-1",
                   aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
                   verify=os.environ["CA"] or None)
a = ssm.create_activation(IamRole="SSMServiceRole", RegistrationLimit=1)
print(a["ActivationCode"], a["ActivationId"])')
  mkdir -p "$dir/state" "$dir/root"
  "$BIN/groundcrew-agent" register --endpoint "$url" --code "$code" --id "$id" \
    --region us-east-1 --state-dir "$dir/state" "${ca_args[@]}" >"$dir/register.out" 2>&1 ||
    { cat "$dir/register.out" >&2; die "groundcrew-agent register ($name) failed"; }
  "$BIN/groundcrew-agent" run --state-dir "$dir/state" --root "$dir/root" >"$dir/agent.log" 2>&1 &
  local agent=$!
  PIDS+=("$agent")
  sleep 3  # start-up: token, first heartbeat, first poll
  kill -0 "$agent" 2>/dev/null || { tail -20 "$dir/agent.log" >&2; die "groundcrew-agent run ($name) exited"; }
  local t0 c0 t1 c1 max=0 r
  t0=$EPOCHREALTIME
  c0=$(cpu_ticks "$agent")
  for _ in $(seq 1 "$AGENT_IDLE"); do
    sleep 1
    r=$(rss_kb "$agent")
    ((r > max)) && max=$r
  done
  c1=$(cpu_ticks "$agent")
  t1=$EPOCHREALTIME
  r=$(rss_kb "$agent")
  local threads
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$agent/status")
  python3 -c 'import json,sys
t0,t1,c0,c1,tck,rss,mx,th = map(float, sys.argv[1:9])
print(json.dumps({"seconds": round(t1-t0,3), "cpu_pct": round((c1-c0)/tck/(t1-t0)*100, 3),
                  "cpu_ticks": int(c1-c0), "rss_mb": round(rss/1024,1), "max_rss_mb": round(mx/1024,1),
                  "threads": int(th), "scheme": sys.argv[9]}))' \
    "$t0" "$t1" "$c0" "$c1" "$CLK_TCK" "$r" "$max" "$threads" "${url%%:*}" >"$RES/agent_$name.json"
  log "  agent ($name, $url): $(cat "$RES/agent_$name.json")"
  stop_pid "$agent"
  stop_pid "$srv"
}

if [[ $SKIP_AGENT != 1 ]]; then
  log "== (4) groundcrew-agent idle, ${AGENT_IDLE} s after a 3 s warm-up"
  agent_idle http
  agent_idle https --tls-self-signed
fi

log "== done; load average $(loadavg) (other work on the machine skews every figure)"

# --- Table ------------------------------------------------------------------------------------
BENCH_DIR="$REPO/bench" RES=$RES NODES=$NODES python3 - <<'PY'
import functools
import os
import sys

sys.path.insert(0, os.environ["BENCH_DIR"])
from bench_table import check, get, num, print_table, ratio, load as load_result  # noqa: E402

res = os.environ["RES"]
load = functools.partial(load_result, res)
nodes = int(os.environ["NODES"])


fleet, gc_api, moto_api = load("fleet"), load("gc_api"), load("moto_api")
deliveries = load("deliveries")
ag_http, ag_https = load("agent_http"), load("agent_https")


rows = []


def row(metric, gc, moto=None, target="", ok=None, digits=0, r=None, gc_text=None):
    rows.append([metric, gc_text if gc_text is not None else num(gc, digits), num(moto, digits),
                 r if r is not None else (ratio(gc, moto) if moto is not None else ""),
                 target, check(ok)])


n = nodes
reg = fleet.get("registration", {})
row(f"registration of {n:,} nodes, s", reg.get("seconds"), digits=2)
row("  nodes registered per s", reg.get("nodes_per_s"), digits=1)
for op in ("register", "token", "heartbeat"):
    p50, p99 = get(reg, op, "p50_ms"), get(reg, op, "p99_ms")
    label = {"register": "RegisterManagedInstance", "token": "RequestManagedInstanceRoleToken",
             "heartbeat": "UpdateInstanceInformation"}[op]
    row(f"  {label} p50 / p99 ms", None,
        gc_text="-" if p50 is None else f"{p50:.1f} / {p99:.1f}")
row("  server / simulator CPU s during registration", None,
    gc_text=f"{num(reg.get('server_cpu_s'), 1)} / {num(reg.get('sim_cpu_s'), 1)}")
tag = fleet.get("tagging", {})
row(f"AddTagsToResource on {n:,} nodes, s", tag.get("seconds"), digits=2)
fo = fleet.get("fanout", {})
fo_s = fo.get("seconds")
fo_ok = None if not fo else bool(fo.get("success")) and fo_s is not None and fo_s < 10
at_scale = n >= 10000  # the targets are stated for 10,000 nodes
if fo and not at_scale:
    fo_ok = "n/a"
row(f"fan-out to {n:,} nodes, s (SendCommand -> Success, CompletedCount == N)",
    fo_s, target="< 10 s at 10,000", ok=fo_ok, digits=2,
    gc_text=None if fo_s is not None else (f"not done: {fo.get('status')}" if fo else "-"))
row("  status, CompletedCount / TargetCount", None,
    gc_text="-" if not fo else f"{fo.get('status')}, {fo.get('completed_count')} / {fo.get('target_count')}")
row("  SendCommand answered after, s", fo.get("send_command_s"), digits=3)
row("  first / last message at a node, s", None,
    gc_text="-" if "first_message_s" not in fo else f"{fo['first_message_s']:.2f} / {fo['last_message_s']:.2f}")
row("  message at node p50 / p99, s", None,
    gc_text="-" if not get(fo, "to_message", "count") else
    f"{fo['to_message']['p50_ms'] / 1000:.2f} / {fo['to_message']['p99_ms'] / 1000:.2f}")
row("  server CPU s during the fan-out", fo.get("server_cpu_s"), digits=1)
row("  GetMessages cut by the agent's 20 s timeout during it", fo.get("poll_client_timeouts"))
if deliveries:
    total = sum(deliveries.values())
    more = sum(v for k, v in deliveries.items() if int(k) > 1)
    row("  fan-out messages handed out more than once", None,
        gc_text=f"{more:,} of {total:,} (" + ", ".join(
            f"{v:,} x{k}" for k, v in sorted(deliveries.items(), key=lambda kv: int(kv[0]))) + ")")
idle = fleet.get("idle", {})
rss_idle = get(idle, "server", "rss_mb")
row(f"server RSS MB, {n:,} nodes parked in GetMessages", rss_idle, target="< 1,024 at 10,000",
    ok=None if rss_idle is None else (rss_idle < 1024 if at_scale else "n/a"), digits=1)
row("  server CPU % while they idle (re-polls/s)", None,
    gc_text="-" if not idle else f"{idle.get('server_cpu_pct')} ({idle.get('polls_per_s')}/s)")
row("  GetMessages cut by the agent's 20 s timeout while idle", idle.get("poll_client_timeouts"))
row("  server open fds / threads", None,
    gc_text="-" if rss_idle is None else f"{idle['server']['fds']:,} / {idle['server']['threads']}")
snap = fleet.get("snapshots", {})
row("  server RSS MB at start / after fan-out / peak", None,
    gc_text=f"{num(get(snap, 'start', 'server', 'rss_mb'), 1)} / "
            f"{num(get(snap, 'after_fanout', 'server', 'rss_mb'), 1)} / "
            f"{num(get(snap, 'after_api', 'server', 'hwm_mb') or get(snap, 'after_fanout', 'server', 'hwm_mb'), 1)}")
row("  simulator RSS MB (peak)", get(snap, "after_api", "sim_maxrss_mb") or get(snap, "after_fanout", "sim_maxrss_mb"), digits=1)
for name, ag in (("HTTP", ag_http), ("HTTPS", ag_https)):
    if ag:
        row(f"groundcrew-agent idle RSS MB ({name})", ag.get("rss_mb"), target="< 15 MB",
            ok=ag.get("rss_mb") is not None and ag["rss_mb"] < 15, digits=1)
        row(f"groundcrew-agent idle CPU % ({name}, {ag.get('seconds', 0):.0f} s)", ag.get("cpu_pct"),
            target="< 0.5%", ok=ag.get("cpu_pct") is not None and ag["cpu_pct"] < 0.5, digits=2)
for op, label in (("send_command", "SendCommand"), ("list_commands", "ListCommands")):
    for q in ("p50_ms", "p99_ms"):
        g, m = get(gc_api, "api", op, q), get(moto_api, "api", op, q)
        row(f"{label} {q[:3]} ms (5 instance ids)", g, m, digits=3)
for op, label in (("send_command", "SendCommand"), ("list_commands", "ListCommands")):
    g50, g99 = get(fleet, "api", op, "p50_ms"), get(fleet, "api", op, "p99_ms")
    row(f"  {label} p50 / p99 ms with {n:,} nodes connected", None,
        gc_text="-" if g50 is None else f"{g50:.3f} / {g99:.3f}")

head = ["metric", "groundcrewd", "moto_server", "ratio gc/moto", "target", "met"]
print_table(head, rows)
kg = fleet.get("keygen_s")
print(f"Simulated nodes share ONE RSA key pair" + (
    f" (one 2048-bit key took {kg:.2f} s here: {n:,} would take ~{kg * n / 60:.0f} min)" if kg else "")
    + "; each node has its own fingerprint, instance id, credentials and keep-alive connection, "
    "and the server verifies every node's RSA signature.")
print("Ratios are groundcrewd / moto_server: below 1 is better for milliseconds.")
if moto_api:
    print("moto_server's SendCommand only records the command: it delivers nothing and runs "
          "nothing, so its latency is a lower bound for any server that does.")
print("The latency rows time one connection, calls in sequence, after 5 unmeasured ones; "
      "ListCommands is filtered by CommandId.")
for name, d in (("fleet", fleet), ("gc_api", gc_api), ("moto_api", moto_api)):
    if d.get("error"):
        print(f"ERROR {name}: {d['error']}")
reg_err = [f"{k}: {get(reg, k, 'errors')} ({get(reg, k, 'first_error')})"
           for k in ("register", "token", "heartbeat") if get(reg, k, "errors")]
if reg_err or reg.get("nodes_failed"):
    print(f"WARNING registration: {reg.get('nodes_failed')} nodes failed, {reg.get('retries')} retries; "
          + "; ".join(reg_err))
polls = fleet.get("polls", {})
if polls:
    hold = polls.get("empty_hold", {})
    print(f"note polls: {polls.get('completed'):,} GetMessages, {polls.get('empty'):,} empty "
          f"(held p50 {hold.get('p50_ms', 0) / 1000:.1f} s, max {hold.get('max_ms', 0) / 1000:.1f} s), "
          f"{polls.get('client_timeouts_20s')} ended by the agent's 20 s client timeout, "
          f"{polls.get('errors')} errors{(': ' + polls['first_error']) if polls.get('first_error') else ''}")
msgs = fleet.get("messages", {})
if msgs and (msgs.get("ack_errors") or msgs.get("reply_errors") or msgs.get("duplicates") or msgs.get("unexpected")):
    print(f"WARNING messages: {msgs}")
conns = fleet.get("connections", {})
if conns.get("connect_failures"):
    print(f"WARNING connections: {conns}")
for name, d in (("fleet", fleet), ("gc_api", gc_api), ("moto_api", moto_api)):
    for op in ("send_command", "list_commands"):
        if get(d, "api", op, "errors"):
            print(f"WARNING {name} {op}: {d['api'][op]['errors']} errors; first: {d['api'][op].get('first_error')}")
PY
