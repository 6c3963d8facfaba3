#!/usr/bin/env python3
"""Idle cost of groundcrew-agent: a groundcrewd with --tls-self-signed on 127.0.0.1, one agent
registered with --ca-file and `run`; once the node is Online the agent is left alone for
IDLE seconds (it long-polls GetMessages over HTTPS), then its VmRSS / VmHWM (from
/proc/PID/status) and its CPU time over the idle window (utime + stime from /proc/PID/stat) are
printed as one JSON line. Every process it starts is stopped at the end.

  GC_BIN_DIR=build/bin python3 bench/agent_idle.py [--idle 25] [--runs 1] [--heartbeat 300]
      [--system-bundle] [--agent PATH]

--system-bundle registers the agent with a CA file as large as the system trust store (Debian's
/etc/ssl/certs/ca-certificates.crt followed by the server's CA), as a node trusting a public CA
would load.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def one_run(server, ssm, ca, idle, heartbeat, system_bundle=False, agent=None):
    act = ssm.create_activation(IamRole="SSMServiceRole", RegistrationLimit=1)
    d = tempfile.mkdtemp(prefix="gc-agent-idle-")
    agent = agent or os.path.join(harness.BIN, "groundcrew-agent")
    proc = None
    try:
        if system_bundle:
            with open("/etc/ssl/certs/ca-certificates.crt") as f, open(ca) as g:
                bundle = f.read() + g.read()
            ca = d + "/bundle.pem"
            with open(ca, "w") as f:
                f.write(bundle)
        out = subprocess.run([agent, "register", "--endpoint", server.endpoint, "--code",
                              act["ActivationCode"], "--id", act["ActivationId"], "--region",
                              "us-east-1", "--state-dir", d + "/state", "--ca-file", ca],
                             capture_output=True, text=True, timeout=60, check=True)
        instance_id = out.stdout.split()[-1]
        os.makedirs(d + "/root")
        env = dict(os.environ, GC_AGENT_HEARTBEAT_SECONDS=str(heartbeat))
        log = open(d + "/agent.log", "ab")
        proc = subprocess.Popen([agent, "run", "--state-dir", d + "/state", "--root", d + "/root"],
                                stdout=log, stderr=log, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            info = ssm.describe_instance_information()["InstanceInformationList"]
            if any(i["InstanceId"] == instance_id and i.get("PingStatus") == "Online"
                   for i in info):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the agent never came Online; see " + d + "/agent.log")
        time.sleep(2)  # settle: first poll and heartbeat done
        t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
        time.sleep(idle)
        t1, c1 = time.monotonic(), cpu_ticks(proc.pid)
        threads = len(os.listdir(f"/proc/{proc.pid}/task"))
        result = {"rss_kb": status_kb(proc.pid, "VmRSS"), "hwm_kb": status_kb(proc.pid, "VmHWM"),
                  "rss_anon_kb": status_kb(proc.pid, "RssAnon"),
                  "rss_file_kb": status_kb(proc.pid, "RssFile"),
                  "vsz_kb": status_kb(proc.pid, "VmSize"), "threads": threads,
                  "idle_s": round(t1 - t0, 1), "cpu_ticks": c1 - c0,
                  "cpu_percent": round(100.0 * (c1 - c0) / TICKS / (t1 - t0), 3)}
        return result
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        shutil.rmtree(d, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--idle", type=float, default=25)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--heartbeat", type=int, default=300)
    p.add_argument("--system-bundle", action="store_true")
    p.add_argument("--agent", help="groundcrew-agent to measure (default: GC_BIN_DIR's)")
    args = p.parse_args()
    server = harness.Server(extra=["--tls-self-signed", "--no-access-log"]).start()
    try:
        import boto3
        ca = os.path.join(server.data_dir, "tls", "ca.pem")
        ssm = boto3.client("ssm", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id=server.access_key,
                           aws_secret_access_key=server.secret_key, verify=ca)
        for _ in range(args.runs):
            print(json.dumps(one_run(server, ssm, ca, args.idle, args.heartbeat,
                                        args.system_bundle, args.agent)), flush=True)
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
