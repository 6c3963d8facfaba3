"""Run Command end to end: a real groundcrewd, three real groundcrew-agent processes registered
with an activation and tagged, and the AWS CLI driving SendCommand, the command-executed waiter,
GetCommandInvocation / ListCommands / ListCommandInvocations, CancelCommand, exit codes, rate
control (MaxConcurrency measured from the agents' own job start/end log lines, MaxErrors) and a
stopped agent's invocation ending DeliveryTimedOut."""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import botocore.exceptions

import harness

ROLE = "service-role/AmazonEC2RunCommandRoleForManagedInstances"
N_AGENTS = 3


class Agent:
    """One groundcrew-agent: registered, then `run` with its own state dir, root and log."""

    def __init__(self, endpoint, code, activation_id, root=None):
        """`root`: the agent's --root (default: an empty tree in its own temp dir)."""
        self.dir = tempfile.mkdtemp(prefix="gc-agent-")
        self.state = os.path.join(self.dir, "state")
        self.root = root or os.path.join(self.dir, "root")
        os.makedirs(self.root, exist_ok=True)
        self.log_path = os.path.join(self.dir, "agent.log")
        out = subprocess.run(
            [os.path.join(harness.BIN, "groundcrew-agent"), "register", "--endpoint", endpoint,
             "--code", code, "--id", activation_id, "--region", "us-east-1",
             "--state-dir", self.state], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("register failed: " + out.stderr)
        self.instance_id = out.stdout.strip().splitlines()[-1]
        self.proc = None

    def start(self):
        env = dict(os.environ, GC_AGENT_HEARTBEAT_SECONDS="2", GC_AGENT_LOG_LEVEL="info")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(harness.BIN, "groundcrew-agent"), "run", "--state-dir", self.state,
             "--root", self.root], stdout=self.log, stderr=self.log, env=env)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def jobs(self, command_id):
        """[(start, end)] in seconds of this agent's jobs for `command_id`, from its log."""
        start, spans = None, []
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"(\S+) \S+ job (start|end) aws\.ssm\.([0-9a-f-]+)\.", line)
                if not m or m.group(3) != command_id:
                    continue
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
                if m.group(2) == "start":
                    start = t
                elif start is not None:
                    spans.append((start, t))
                    start = None
        return spans


class RunCommandTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(store=harness.store_url()).start()
        cls.ssm = cls.server.client("ssm")
        act = cls.server.cli("ssm", "create-activation", "--iam-role", ROLE,
                             "--registration-limit", "10")
        cls.agents = [Agent(cls.server.endpoint, act["ActivationCode"], act["ActivationId"])
                      for _ in range(N_AGENTS)]
        for a in cls.agents:
            a.start()
            cls.server.cli("ssm", "add-tags-to-resource", "--resource-type", "ManagedInstance",
                           "--resource-id", a.instance_id, "--tags",
                           "Key=Environment,Value=Test")
        cls.ids = [a.instance_id for a in cls.agents]
        # A fourth, untagged node that stops before the command is sent (DeliveryTimedOut): sent
        # here so that its 30 s delivery timeout runs while the other tests do.
        cls.stopped = Agent(cls.server.endpoint, act["ActivationCode"], act["ActivationId"])
        cls.stopped.start()
        # Wait for every agent's first heartbeat (it is polling by then).
        deadline = time.time() + 30
        while time.time() < deadline:
            info = cls.ssm.describe_instance_information()["InstanceInformationList"]
            if sum(1 for i in info if i.get("PingStatus") == "Online") == N_AGENTS + 1:
                break
            time.sleep(0.3)
        cls.stopped.stop()
        cls.stopped_command = cls.ssm.send_command(
            DocumentName="AWS-RunShellScript", InstanceIds=[cls.stopped.instance_id],
            TimeoutSeconds=30, Parameters={"commands": ["echo never"]})["Command"]["CommandId"]

    @classmethod
    def tearDownClass(cls):
        cls.stopped.stop()
        shutil.rmtree(cls.stopped.dir, ignore_errors=True)
        for a in cls.agents:
            a.stop()
        cls.server.stop()
        for a in cls.agents:
            shutil.rmtree(a.dir, ignore_errors=True)

    def setUp(self):
        self.started = time.time()

    def tearDown(self):
        print(f"({time.time() - self.started:.1f} s)", end=" ", flush=True)

    def send(self, *args):
        return self.server.cli("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                               *args)["Command"]

    def wait_command(self, command_id, timeout=40):
        deadline = time.time() + timeout
        while time.time() < deadline:
            c = self.ssm.list_commands(CommandId=command_id)["Commands"][0]
            if c["Status"] not in ("Pending", "InProgress"):
                return c
            time.sleep(0.3)
        self.fail(f"command {command_id} still {c['Status']}")

    def invocation(self, command_id, instance_id):
        return self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)

    def error(self, fn, **kw):
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            fn(**kw)
        return c.exception.response["Error"]["Code"]

    def test_output_round_trip_by_tag(self):
        cmd = self.send("--targets", "Key=tag:Environment,Values=Test", "--comment", "hello",
                        "--parameters", 'commands=["echo hello $AWS_SSM_INSTANCE_ID","echo done"]')
        self.assertEqual(cmd["TargetCount"], N_AGENTS)
        self.assertEqual(cmd["MaxConcurrency"], "50")
        self.assertEqual(cmd["MaxErrors"], "0")
        self.assertEqual(cmd["TimeoutSeconds"], 3600)
        cid = cmd["CommandId"]
        # The AWS CLI's waiter on one node, the command's status for all.
        self.server.cli("ssm", "wait", "command-executed", "--command-id", cid,
                        "--instance-id", self.ids[0])
        c = self.wait_command(cid)
        for i in self.ids:
            inv = self.invocation(cid, i)
            self.assertEqual(inv["Status"], "Success")
            self.assertEqual(inv["StatusDetails"], "Success")
            self.assertEqual(inv["ResponseCode"], 0)
            self.assertEqual(inv["PluginName"], "aws:runShellScript")
            self.assertEqual(inv["StandardOutputContent"], f"hello {i}\ndone\n")
            self.assertEqual(inv["Comment"], "hello")
        self.assertEqual((c["Status"], c["StatusDetails"]), ("Success", "Success"))
        self.assertEqual((c["CompletedCount"], c["ErrorCount"], c["DeliveryTimedOutCount"]),
                         (N_AGENTS, 0, 0))
        invs = self.server.cli("ssm", "list-command-invocations", "--command-id", cid,
                               "--details")["CommandInvocations"]
        self.assertEqual(sorted(x["InstanceId"] for x in invs), sorted(self.ids))
        for x in invs:
            self.assertEqual(x["CommandPlugins"][0]["Name"], "aws:runShellScript")
            self.assertIn("hello", x["CommandPlugins"][0]["Output"])
            self.assertEqual(x["CommandPlugins"][0]["ResponseCode"], 0)
        # Listing, filters and pagination.
        self.assertTrue(any(c["CommandId"] == cid for c in
                            self.ssm.list_commands(Filters=[{"key": "Status",
                                                             "value": "Success"}])["Commands"]))
        page = self.ssm.list_command_invocations(CommandId=cid, MaxResults=2)
        self.assertEqual(len(page["CommandInvocations"]), 2)
        rest = self.ssm.list_command_invocations(CommandId=cid, NextToken=page["NextToken"])
        self.assertEqual(len(rest["CommandInvocations"]), N_AGENTS - 2)

    def test_output_beyond_the_api_limit_is_served_in_full(self):
        node = self.ids[0]
        script = "head -c 30000 /dev/zero | tr '\\0' x; echo; head -c 9000 /dev/zero | tr '\\0' e >&2"
        cid = self.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[node],
                                    Parameters={"commands": [script]})["Command"]["CommandId"]
        self.wait_command(cid)
        inv = self.invocation(cid, node)
        self.assertEqual(inv["Status"], "Success")
        # The API's limits (24,000 / 8,000 characters), as the real agent cuts them ...
        self.assertEqual(len(inv["StandardOutputContent"]), 24000)
        self.assertEqual(len(inv["StandardErrorContent"]), 8000)
        # ... and the rest from the server, at the links GetCommandInvocation gives.
        with urllib.request.urlopen(inv["StandardOutputUrl"], timeout=10) as r:
            self.assertEqual(r.read().decode(), "x" * 30000 + "\n")
        with urllib.request.urlopen(inv["StandardErrorUrl"], timeout=10) as r:
            self.assertEqual(r.read().decode(), "e" * 9000)
        # The links are signed: a changed one is refused.
        bad = inv["StandardOutputUrl"].replace("/stdout?", "/stderr?")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad, timeout=10)
        self.assertEqual(e.exception.code, 403)
        # Small outputs need no link.
        cid = self.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[node],
                                    Parameters={"commands": ["echo small"]})["Command"]["CommandId"]
        self.wait_command(cid)
        self.assertEqual(self.invocation(cid, node)["StandardOutputUrl"], "")

    def test_exit_code_fails_the_invocation(self):
        cid = self.send("--instance-ids", self.ids[0], "--parameters",
                        'commands=["echo oops >&2","exit 3"]')["CommandId"]
        rc, _, _ = self.server.cli("ssm", "wait", "command-executed", "--command-id", cid,
                                   "--instance-id", self.ids[0], check=False)
        self.assertNotEqual(rc, 0)  # the waiter fails on Failed
        inv = self.invocation(cid, self.ids[0])
        self.assertEqual((inv["Status"], inv["ResponseCode"]), ("Failed", 3))
        # The agent adds its own line after the script's stderr, as amazon-ssm-agent does.
        self.assertTrue(inv["StandardErrorContent"].startswith("oops\n"), inv)
        c = self.wait_command(cid)
        self.assertEqual((c["Status"], c["ErrorCount"]), ("Failed", 1))

    def test_invocation_does_not_exist_and_bad_input(self):
        rc, _, err = self.server.cli("ssm", "get-command-invocation", "--command-id",
                                     "11111111-2222-3333-4444-555555555555", "--instance-id",
                                     self.ids[0], check=False)
        self.assertIn("InvocationDoesNotExist", err)
        send = self.ssm.send_command
        self.assertEqual(self.error(send, DocumentName="AWS-RunShellScript",
                                    Targets=[{"Key": "resource-groups:Name", "Values": ["web"]}],
                                    Parameters={"commands": ["true"]}), "InvalidTarget")
        self.assertEqual(self.error(send, DocumentName="AWS-RunShellScript",
                                    InstanceIds=[self.ids[0]], Parameters={"nope": ["1"]}),
                         "InvalidParameters")
        self.assertEqual(self.error(send, DocumentName="No-Such-Doc", InstanceIds=[self.ids[0]]),
                         "InvalidDocument")
        self.assertEqual(self.error(send, DocumentName="AWS-RunShellScript",
                                    InstanceIds=["mi-0123456789abcdef0"],
                                    Parameters={"commands": ["true"]}), "InvalidInstanceId")
        self.assertEqual(self.error(self.ssm.cancel_command,
                                    CommandId="11111111-2222-3333-4444-555555555555"),
                         "InvalidCommandId")
        self.assertEqual(self.error(self.ssm.list_commands, Filters=[{"key": "Status",
                                                                      "value": "Nope"}]),
                         "InvalidFilterKey")

    def test_cancel(self):
        cid = self.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[self.ids[1]],
                                    Parameters={"commands": ["sleep 30"]})["Command"]["CommandId"]
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.invocation(cid, self.ids[1])["Status"] == "InProgress":
                break
            time.sleep(0.2)
        self.server.cli("ssm", "cancel-command", "--command-id", cid)
        c = self.wait_command(cid)
        self.assertEqual(c["Status"], "Cancelled")
        self.assertEqual(self.invocation(cid, self.ids[1])["Status"], "Cancelled")
        # The agent really stopped the job (its log says so) well before the sleep ended.
        deadline = time.time() + 10
        while time.time() < deadline and not self.agents[1].jobs(cid):
            time.sleep(0.2)
        spans = self.agents[1].jobs(cid)
        self.assertEqual(len(spans), 1)
        self.assertLess(spans[0][1] - spans[0][0], 20)

    def test_max_concurrency_one(self):
        cid = self.send("--targets", "Key=tag:Environment,Values=Test", "--max-concurrency", "1",
                        "--parameters", 'commands=["sleep 1"]')["CommandId"]
        c = self.wait_command(cid)
        self.assertEqual(c["Status"], "Success")
        spans = sorted(s for a in self.agents for s in a.jobs(cid))
        self.assertEqual(len(spans), N_AGENTS)
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            self.assertLessEqual(e1, s2, f"jobs overlap: {spans}")

    def test_max_errors_stops_the_rest(self):
        cid = self.send("--targets", "Key=tag:Environment,Values=Test", "--max-concurrency", "1",
                        "--max-errors", "0", "--parameters", 'commands=["exit 1"]')["CommandId"]
        c = self.wait_command(cid)
        self.assertEqual((c["Status"], c["ErrorCount"], c["CompletedCount"]),
                         ("Failed", 1, N_AGENTS))
        invs = self.ssm.list_command_invocations(CommandId=cid)["CommandInvocations"]
        self.assertEqual(sorted((i["Status"], i["StatusDetails"]) for i in invs),
                         [("Cancelled", "Terminated")] * (N_AGENTS - 1) + [("Failed", "Failed")])
        ran = sum(len(a.jobs(cid)) for a in self.agents)
        self.assertEqual(ran, 1)

    def test_stopped_agent_delivery_times_out(self):
        agent, cid = self.stopped, self.stopped_command
        c = self.wait_command(cid, timeout=45)
        self.assertEqual((c["Status"], c["StatusDetails"], c["DeliveryTimedOutCount"]),
                         ("TimedOut", "Delivery Timed Out", 1))
        inv = self.invocation(cid, agent.instance_id)
        self.assertEqual((inv["Status"], inv["StatusDetails"]), ("TimedOut", "DeliveryTimedOut"))
        # Back up, the agent never runs the timed-out command.
        agent.start()
        time.sleep(2)
        self.assertEqual(agent.jobs(cid), [])


class RestartTest(unittest.TestCase):
    """kill -9 of groundcrewd while a command fans out under MaxConcurrency 1: after a restart
    on the same port and store, every invocation still reaches a final status."""

    def test_kill_9_while_fanning_out(self):
        store = harness.store_url()
        server = harness.Server(store=store).start()
        agents = []
        try:
            ssm = server.client("ssm")
            act = ssm.create_activation(IamRole=ROLE, RegistrationLimit=5)
            agents = [Agent(server.endpoint, act["ActivationCode"], act["ActivationId"])
                      for _ in range(2)]
            for a in agents:
                a.start()
            time.sleep(1)
            cid = ssm.send_command(DocumentName="AWS-RunShellScript",
                                   InstanceIds=[a.instance_id for a in agents], MaxConcurrency="1",
                                   Parameters={"commands": ["sleep 2"]})["Command"]["CommandId"]
            time.sleep(1)
            server.proc.kill()  # kill -9
            server.proc.wait()
            server.proc.stdout.close()
            server.log.close()
            port = server.endpoint.rsplit(":", 1)[1]
            server = harness.Server(data_dir=server.data_dir, store=store).start(
                listen="127.0.0.1:" + port)
            ssm = server.client("ssm")
            deadline = time.time() + 50
            while time.time() < deadline:
                c = ssm.list_commands(CommandId=cid)["Commands"][0]
                if c["Status"] not in ("Pending", "InProgress"):
                    break
                time.sleep(0.5)
            self.assertEqual((c["Status"], c["CompletedCount"]), ("Success", 2), c)
            invs = ssm.list_command_invocations(CommandId=cid)["CommandInvocations"]
            self.assertEqual([i["Status"] for i in invs], ["Success", "Success"])
        finally:
            for a in agents:
                a.stop()
                shutil.rmtree(a.dir, ignore_errors=True)
            server.stop()


if __name__ == "__main__":
    harness.main()
