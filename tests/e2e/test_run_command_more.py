"""Run Command over TLS, node credentials and aws:runDocument end to end: a groundcrewd with
--tls-self-signed, a real groundcrew-agent registered with --ca-file, and the AWS CLI / boto3
trusting the server's CA. SendCommand round trips through the agent; a node's own credentials
(from agent_client.py, as amazon-ssm-agent gets them) are refused operator calls but may read
documents; aws:runDocument runs an SSM document (fetched by the agent with GetDocument under its
node credentials) and a LocalPath document under the agent's --root, with documentParameters."""
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

import harness
from agent_client import NodeAgent
from test_run_command import ROLE, Agent

GREETER = {
    "schemaVersion": "2.2",
    "description": "Greets someone, twice.",
    "parameters": {
        "who": {"type": "String", "default": "nobody"},
        "punct": {"type": "String", "default": "!"},
    },
    "mainSteps": [
        {"action": "aws:runShellScript", "name": "hello",
         "inputs": {"runCommand": ["echo hello {{ who }}{{ punct }}"]}},
        {"action": "aws:runShellScript", "name": "bye",
         "inputs": {"runCommand": ["echo bye {{ who }} from $AWS_SSM_INSTANCE_ID"]}},
    ],
}


def run_document_doc(document_type, path, params):
    """A Command document whose one step is aws:runDocument; `params` are documentParameters."""
    return {
        "schemaVersion": "2.2",
        "description": "Runs another document.",
        "parameters": {"name": {"type": "String", "default": "outer"}},
        "mainSteps": [{"action": "aws:runDocument", "name": "nested",
                       "inputs": {"documentType": document_type, "documentPath": path,
                                  "documentParameters": params}}],
    }


class RunCommandMoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(store=harness.store_url(),
                                    extra=["--tls-self-signed"]).start()
        assert cls.server.endpoint.startswith("https://"), cls.server.endpoint
        cls.ca = os.path.join(cls.server.data_dir, "tls", "ca.pem")
        # agent_client.py speaks through urllib: make it trust the server's CA.
        urllib.request.install_opener(urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cls.ca))))
        cls.ssm = cls.client("ssm", cls.server.access_key, cls.server.secret_key)
        act = cls.ssm.create_activation(IamRole=ROLE, RegistrationLimit=5)
        cls.activation = act
        cls.agent = TlsAgent(cls.server.endpoint, act["ActivationCode"], act["ActivationId"],
                             cls.ca)
        cls.agent.start()
        deadline = time.time() + 30
        while time.time() < deadline:
            info = cls.ssm.describe_instance_information()["InstanceInformationList"]
            if any(i["InstanceId"] == cls.agent.instance_id and i.get("PingStatus") == "Online"
                   for i in info):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the agent did not come Online; log: " + cls.agent.log_path)

    @classmethod
    def tearDownClass(cls):
        urllib.request.install_opener(None)
        cls.agent.stop()
        cls.server.stop()
        shutil.rmtree(cls.agent.dir, ignore_errors=True)

    def setUp(self):
        self.started = time.time()

    def tearDown(self):
        print(f"({time.time() - self.started:.1f} s)", end=" ", flush=True)

    @classmethod
    def client(cls, service, key, secret, token=None):
        return boto3.client(service, endpoint_url=cls.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            aws_session_token=token, verify=cls.ca,
                            config=botocore.config.Config(retries={"max_attempts": 0}))

    def cli(self, *args):
        """The real AWS CLI over HTTPS, trusting the server's CA through AWS_CA_BUNDLE."""
        env = self.server.env()
        env["AWS_CA_BUNDLE"] = self.ca
        cmd = [os.environ.get("GC_AWS_CLI", "aws"), "--endpoint-url", self.server.endpoint,
               "--output", "json"] + list(args)
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, f"aws {' '.join(args)}: {out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip() else None

    def create_document(self, name, content):
        self.ssm.create_document(Name=name, DocumentType="Command", DocumentFormat="JSON",
                                 Content=json.dumps(content))

    def run_and_wait(self, document_name, parameters=None, timeout=30):
        kw = {"Parameters": parameters} if parameters else {}
        cid = self.ssm.send_command(DocumentName=document_name,
                                    InstanceIds=[self.agent.instance_id],
                                    **kw)["Command"]["CommandId"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                inv = self.ssm.get_command_invocation(CommandId=cid,
                                                      InstanceId=self.agent.instance_id)
            except botocore.exceptions.ClientError as e:  # not visible yet
                if e.response["Error"]["Code"] != "InvocationDoesNotExist":
                    raise
                inv = {"Status": "Pending"}
            if inv["Status"] not in ("Pending", "InProgress", "Delayed"):
                return inv
            time.sleep(0.2)
        self.fail(f"command {cid} still {inv['Status']}; agent log: {self.agent.log_path}")

    # (a) ------------------------------------------------------------------------------------

    def test_send_command_over_tls_round_trip(self):
        iid = self.agent.instance_id
        cmd = self.cli("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                       "--instance-ids", iid, "--parameters",
                       'commands=["echo tls $AWS_SSM_INSTANCE_ID",'
                       '"echo ${GNUTLS_NO_IMPLICIT_INIT:-unset} ${GC_AGENT_GNUTLS_REEXEC:-unset}",'
                       '"echo oops >&2"]')["Command"]
        cid = cmd["CommandId"]
        self.cli("ssm", "wait", "command-executed", "--command-id", cid, "--instance-id", iid)
        inv = self.cli("ssm", "get-command-invocation", "--command-id", cid, "--instance-id", iid)
        self.assertEqual((inv["Status"], inv["ResponseCode"]), ("Success", 0))
        # The variable the agent starts itself with (to skip GnuTLS's initialisation) is not
        # passed on to scripts.
        self.assertEqual(inv["StandardOutputContent"], f"tls {iid}\nunset unset\n")
        self.assertEqual(inv["StandardErrorContent"], "oops\n")
        c = self.ssm.list_commands(CommandId=cid)["Commands"][0]
        self.assertEqual((c["Status"], c["CompletedCount"], c["ErrorCount"]), ("Success", 1, 0))
        # The agent reached the server over HTTPS only (its log names the https endpoint).
        with open(self.agent.log_path, encoding="utf-8", errors="replace") as f:
            self.assertIn(f"running as {iid} ({self.server.endpoint}", f.read())

    # (b) ------------------------------------------------------------------------------------

    def test_node_credentials_refused_operator_calls_but_read_documents(self):
        node = NodeAgent(self.server.endpoint)
        node.register(self.activation["ActivationCode"], self.activation["ActivationId"])
        creds = node.request_token()
        node_ssm = self.client("ssm", creds["AccessKeyId"], creds["SecretAccessKey"],
                               creds["SessionToken"])
        operator_calls = {
            "SendCommand": lambda: node_ssm.send_command(
                DocumentName="AWS-RunShellScript", InstanceIds=[node.instance_id],
                Parameters={"commands": ["id"]}),
            "ListCommands": lambda: node_ssm.list_commands(),
            "ListCommandInvocations": lambda: node_ssm.list_command_invocations(),
            "CancelCommand": lambda: node_ssm.cancel_command(
                CommandId="11111111-2222-3333-4444-555555555555"),
            "CreateDocument": lambda: node_ssm.create_document(
                Name="NodeMade", DocumentType="Command", Content=json.dumps(GREETER)),
        }
        for op, call in operator_calls.items():
            with self.assertRaises(botocore.exceptions.ClientError, msg=op) as c:
                call()
            err = c.exception.response["Error"]
            self.assertEqual(err["Code"], "AccessDeniedException", op)
            # The assumed-role ARN names the role without its path, as in AWS.
            role_name = ROLE.rsplit("/", 1)[-1]
            self.assertIn(f"assumed-role/{role_name}/{node.instance_id} is not authorized to "
                          f"perform: ssm:{op}", err["Message"])
        # GetDocument is allowed (AmazonSSMManagedInstanceCore grants ssm:GetDocument): it is
        # what aws:runDocument and associations call. JSON by default.
        doc = node_ssm.get_document(Name="AWS-RunShellScript")
        self.assertEqual(doc["Name"], "AWS-RunShellScript")
        self.assertEqual(doc["DocumentFormat"], "JSON")
        self.assertIn("runtimeConfig", json.loads(doc["Content"]))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            node_ssm.get_document(Name="No-Such-Document")
        self.assertEqual(c.exception.response["Error"]["Code"], "InvalidDocument")

    # (c) ------------------------------------------------------------------------------------

    def test_run_document_from_ssm(self):
        self.create_document("Greeter", GREETER)
        self.create_document("RunGreeter", run_document_doc(
            "SSMDocument", "Greeter", {"who": "{{ name }}", "punct": "?"}))
        iid = self.agent.instance_id
        inv = self.run_and_wait("RunGreeter", {"name": ["world"]})
        self.assertEqual(inv["Status"], "Success", inv)
        self.assertEqual(inv["ResponseCode"], 0)
        self.assertEqual(inv["PluginName"], "nested")
        # Each nested step's output, appended on a new line as amazon-ssm-agent does.
        self.assertEqual(inv["StandardOutputContent"], f"hello world?\n\nbye world from {iid}\n")
        invs = self.ssm.list_command_invocations(CommandId=inv["CommandId"],
                                                 Details=True)["CommandInvocations"]
        [plugin] = invs[0]["CommandPlugins"]
        self.assertEqual((plugin["Name"], plugin["Status"]), ("nested", "Success"))

        # The default version by name, or a given version: "Name:version" as the agent parses it.
        one_step = dict(GREETER, mainSteps=GREETER["mainSteps"][:1])
        self.ssm.update_document(Name="Greeter", DocumentVersion="$LATEST", DocumentFormat="JSON",
                                 Content=json.dumps(one_step))
        self.create_document("RunGreeterV2", run_document_doc("SSMDocument", "Greeter:2", {}))
        inv = self.run_and_wait("RunGreeterV2")
        self.assertEqual((inv["Status"], inv["StandardOutputContent"]),
                         ("Success", "hello nobody!\n"))

    def test_run_document_failures(self):
        self.create_document("Failing", {
            "schemaVersion": "2.2",
            "mainSteps": [{"action": "aws:runShellScript", "name": "bad",
                           "inputs": {"runCommand": ["echo partial", "exit 3"]}}]})
        self.create_document("RunFailing", run_document_doc("SSMDocument", "Failing", {}))
        inv = self.run_and_wait("RunFailing")
        self.assertEqual((inv["Status"], inv["ResponseCode"]), ("Failed", 1), inv)
        self.assertEqual(inv["StandardOutputContent"], "partial\n")
        self.assertIn("exit status 3", inv["StandardErrorContent"])

        self.create_document("RunMissing", run_document_doc("SSMDocument", "Not-There", {}))
        inv = self.run_and_wait("RunMissing")
        self.assertEqual(inv["Status"], "Failed", inv)
        self.assertIn("InvalidDocument", inv["StandardErrorContent"])

    def test_run_document_from_local_path(self):
        docs = os.path.join(self.agent.root, "etc", "gc-docs")
        os.makedirs(docs, exist_ok=True)
        with open(os.path.join(docs, "greeter.json"), "w") as f:
            json.dump(GREETER, f)
        # documentParameters as a JSON string, as the AWS console writes them.
        self.create_document("RunLocal", run_document_doc(
            "LocalPath", "/etc/gc-docs/greeter.json", '{"who": "{{ name }}"}'))
        inv = self.run_and_wait("RunLocal", {"name": ["local"]})
        self.assertEqual(inv["Status"], "Success", inv)
        self.assertEqual(inv["StandardOutputContent"],
                         f"hello local!\n\nbye local from {self.agent.instance_id}\n")

        self.create_document("RunLocalMissing", run_document_doc(
            "LocalPath", "/etc/gc-docs/missing.json", {}))
        inv = self.run_and_wait("RunLocalMissing")
        self.assertEqual(inv["Status"], "Failed", inv)
        self.assertIn(os.path.join(docs, "missing.json"), inv["StandardErrorContent"])


class TlsAgent(Agent):
    """test_run_command's Agent, registered with --ca-file against an https endpoint."""

    def __init__(self, endpoint, code, activation_id, ca_file):
        self.dir = tempfile.mkdtemp(prefix="gc-agent-tls-")
        self.state = os.path.join(self.dir, "state")
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.root)
        self.log_path = os.path.join(self.dir, "agent.log")
        out = subprocess.run(
            [os.path.join(harness.BIN, "groundcrew-agent"), "register", "--endpoint", endpoint,
             "--code", code, "--id", activation_id, "--region", "us-east-1",
             "--state-dir", self.state, "--ca-file", ca_file],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("register failed: " + out.stderr)
        self.instance_id = out.stdout.strip().splitlines()[-1]
        self.proc = None


if __name__ == "__main__":
    harness.main()
