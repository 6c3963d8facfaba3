"""Run Command statuses that need a node to misbehave, and notifications: nodes here are the
independent Python client of the agent protocol (agent_client.py) driving ec2messages by hand,
so a test can take a message without acknowledging it (Delayed), acknowledge and then go silent
(ExecutionTimedOut), or be deregistered with work queued (Undeliverable). Notifications go
through SNS to a real SQS queue, read back with boto3."""
import json
import os
import socket
import time
import unittest
import uuid

import agent_client
import harness

ROLE = "service-role/AmazonEC2RunCommandRoleForManagedInstances"
MDS = "EC2WindowsMessageDeliveryService"
PING_TIMEOUT = 3  # --node-ping-timeout: also the grace before a silent InProgress times out


class Node:
    """A registered node polling ec2messages by hand."""

    def __init__(self, server, activation):
        self.agent = agent_client.NodeAgent(server.endpoint)
        self.agent.register(activation["ActivationCode"], activation["ActivationId"])
        self.agent.request_token()
        self.agent.update_instance_information(PlatformName="Debian GNU/Linux",
                                               PlatformVersion="12")
        self.id = self.agent.instance_id

    def mds(self, operation, payload):
        return self.agent.signed_call(operation, payload, service="ec2messages",
                                      target_prefix=MDS)

    def get_messages(self, visibility=10):
        out = self.mds("GetMessages", {"Destination": self.id,
                                       "MessagesRequestId": str(uuid.uuid4()),
                                       "VisibilityTimeoutInSeconds": visibility})
        return out.get("Messages", [])

    def wait_message(self, command_id, visibility=10, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.get_messages(visibility):
                if command_id in m["MessageId"]:
                    return m
        raise AssertionError(f"no message for {command_id}")

    def ack(self, message):
        self.mds("AcknowledgeMessage", {"MessageId": message["MessageId"]})

    def reply(self, message, status="Success", output="done\n"):
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        plugin = {"status": status, "code": 0 if status == "Success" else 1, "name":
                  "aws:runShellScript", "output": output, "startDateTime": now,
                  "endDateTime": now, "outputS3BucketName": "", "outputS3KeyPrefix": "",
                  "standardOutput": output, "standardError": ""}
        payload = {"additionalInfo": {"agent": {"lang": "en-US", "name": "amazon-ssm-agent",
                                                "os": "", "osver": "1", "ver": ""},
                                      "dateTime": now, "runId": "", "runtimeStatusCounts": {
                                          status: 1}},
                   "documentStatus": status, "documentTraceOutput": "",
                   "runtimeStatus": {"aws:runShellScript": plugin}}
        self.mds("SendReply", {"MessageId": message["MessageId"], "ReplyId": str(uuid.uuid4()),
                               "ReplyCreatedDate": now, "Payload": json.dumps(payload)})


class CommandLifecycleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(store=harness.store_url(),
                                    extra=["--node-ping-timeout", str(PING_TIMEOUT)]).start()
        cls.ssm = cls.server.client("ssm")
        cls.activation = cls.server.client("ssm").create_activation(IamRole=ROLE,
                                                                    RegistrationLimit=20)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def node(self):
        return Node(self.server, self.activation)

    def send(self, node_ids, **kw):
        kw.setdefault("Parameters", {"commands": ["echo hi"]})
        return self.ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=node_ids,
                                     **kw)["Command"]["CommandId"]

    def invocation(self, command_id, node_id):
        return self.ssm.get_command_invocation(CommandId=command_id, InstanceId=node_id)

    def command(self, command_id):
        return self.ssm.list_commands(CommandId=command_id)["Commands"][0]

    def wait_for(self, fn, timeout=30, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = fn()
            if value:
                return value
            time.sleep(0.3)
        self.fail(f"timed out waiting for {what}")

    def test_message_taken_but_not_acknowledged_is_delayed_then_runs(self):
        n = self.node()
        cid = self.send([n.id])
        first = n.wait_message(cid, visibility=1)
        self.assertEqual(self.invocation(cid, n.id)["StatusDetails"], "Pending")
        # Not acknowledged: after the visibility timeout the message is handed out again.
        time.sleep(1.2)
        again = n.wait_message(cid, visibility=10)
        self.assertEqual(again["MessageId"], first["MessageId"])
        inv = self.invocation(cid, n.id)
        self.assertEqual((inv["Status"], inv["StatusDetails"]), ("Delayed", "Delayed"))
        self.assertEqual(self.command(cid)["Status"], "InProgress")
        n.ack(again)
        inv = self.invocation(cid, n.id)
        self.assertEqual((inv["Status"], inv["StatusDetails"]), ("InProgress", "InProgress"))
        n.reply(again)
        inv = self.invocation(cid, n.id)
        self.assertEqual((inv["Status"], inv["StandardOutputContent"]), ("Success", "done\n"))
        self.assertEqual(self.command(cid)["Status"], "Success")

    def test_deregistered_node_is_undeliverable(self):
        live, gone = self.node(), self.node()
        cid = self.send([live.id, gone.id])
        self.ssm.deregister_managed_instance(InstanceId=gone.id)
        inv = self.invocation(cid, gone.id)
        self.assertEqual((inv["Status"], inv["StatusDetails"]), ("Failed", "Undeliverable"))
        # The other node still runs it; Undeliverable does not count as an error, and the
        # command ends Incomplete rather than Success (AWS "Understanding command statuses").
        m = live.wait_message(cid)
        live.ack(m)
        live.reply(m)
        c = self.wait_for(lambda: (lambda c: c if c["Status"] not in ("Pending", "InProgress")
                                   else None)(self.command(cid)), what="command end")
        self.assertEqual((c["Status"], c["StatusDetails"], c["ErrorCount"], c["CompletedCount"]),
                         ("Failed", "Incomplete", 0, 2))
        # A command sent to a deregistered node is Undeliverable from the start.
        cid2 = self.send([gone.id])
        self.assertEqual(self.invocation(cid2, gone.id)["StatusDetails"], "Undeliverable")

    def test_node_silent_mid_job_ends_execution_timed_out(self):
        n = self.node()
        cid = self.send([n.id], Parameters={"commands": ["sleep 600"], "executionTimeout": ["2"]})
        m = n.wait_message(cid)
        n.ack(m)
        self.assertEqual(self.invocation(cid, n.id)["StatusDetails"], "InProgress")
        # The node never answers again: after executionTimeout (2 s) and the grace (the ping
        # timeout, 3 s) a sweep ends it; full sweeps run every 10 s.
        inv = self.wait_for(
            lambda: (lambda i: i if i["StatusDetails"] != "InProgress" else None)(
                self.invocation(cid, n.id)), timeout=30, what="execution timeout")
        self.assertEqual((inv["Status"], inv["StatusDetails"]), ("TimedOut", "ExecutionTimedOut"))
        c = self.command(cid)
        self.assertEqual((c["Status"], c["StatusDetails"]), ("Failed", "Failed"))

    def test_notifications_reach_an_sqs_queue(self):
        sns, sqs = self.server.client("sns"), self.server.client("sqs")
        topic = sns.create_topic(Name="run-command-events")["TopicArn"]
        queue = sqs.create_queue(QueueName="run-command-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        a, b = self.node(), self.node()
        role = "arn:aws:iam::123456789012:role/SnsForRunCommand"
        cmd_id = self.send([a.id, b.id], ServiceRoleArn=role, NotificationConfig={
            "NotificationArn": topic, "NotificationEvents": ["All"],
            "NotificationType": "Command"})
        inv_id = self.send([a.id], ServiceRoleArn=role, NotificationConfig={
            "NotificationArn": topic, "NotificationEvents": ["Success", "Failed"],
            "NotificationType": "Invocation"})
        for node in (a, b):
            m = node.wait_message(cmd_id)
            node.ack(m)
            node.reply(m, status="Success" if node is a else "Failed")
        m = a.wait_message(inv_id)
        a.ack(m)
        a.reply(m)

        got = []
        deadline = time.time() + 20
        while time.time() < deadline and len(got) < 3:
            for msg in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
                got.append(json.loads(msg["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=msg["ReceiptHandle"])
        command_events = [e for e in got if e["commandId"] == cmd_id]
        invocation_events = [e for e in got if e["commandId"] == inv_id]
        # Command type: one message per command status change (InProgress, then Failed: one of
        # the two failed with MaxErrors 0).
        self.assertEqual([e["status"] for e in command_events], ["InProgress", "Failed"])
        self.assertEqual(command_events[0]["instanceIds"], [a.id, b.id])
        for key in ("documentName", "requestedDateTime", "expiresAfter", "outputS3BucketName",
                    "outputS3KeyPrefix", "eventTime"):
            self.assertIn(key, command_events[0])
        self.assertEqual(command_events[0]["documentName"], "AWS-RunShellScript")
        # Invocation type with events Success and Failed: only the final one, per node.
        self.assertEqual(len(invocation_events), 1)
        e = invocation_events[0]
        self.assertEqual((e["instanceId"], e["status"], e["detailedStatus"]),
                         (a.id, "Success", "Success"))
        self.assertTrue(e["eventTime"].endswith("Z"))



def agent_processes(state_dir):
    """pids of groundcrew-agent processes using `state_dir`."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"groundcrew-agent") and state_dir.encode() in argv:
            pids.append(int(pid))
    return pids


class LocalAgentTest(unittest.TestCase):
    """groundcrewd --local-agent (what scripts/up.sh runs): the machine manages itself."""

    def online_nodes(self, ssm):
        info = ssm.describe_instance_information()["InstanceInformationList"]
        # Online from registration; ComputerName and the platform come with the first heartbeat.
        return [i for i in info if i["PingStatus"] == "Online" and "ComputerName" in i]

    def test_local_agent_registers_runs_commands_and_stops_with_the_server(self):
        server = harness.Server(store=harness.store_url(), extra=["--local-agent"]).start()
        state = os.path.join(server.data_dir, "local-agent")
        try:
            ssm = server.client("ssm")
            deadline = time.time() + 30
            while time.time() < deadline and not self.online_nodes(ssm):
                time.sleep(0.3)
            nodes = self.online_nodes(ssm)
            self.assertEqual(len(nodes), 1)
            node = nodes[0]
            self.assertEqual((node["ComputerName"], node["PlatformType"]),
                             (socket.gethostname(), "Linux"))
            cid = ssm.send_command(DocumentName="AWS-RunShellScript",
                                   InstanceIds=[node["InstanceId"]],
                                   Parameters={"commands": ["echo local $(hostname)"]}
                                   )["Command"]["CommandId"]
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    inv = ssm.get_command_invocation(CommandId=cid,
                                                     InstanceId=node["InstanceId"])
                except ssm.exceptions.InvocationDoesNotExist:
                    inv = {"Status": "Pending"}
                if inv["Status"] not in ("Pending", "InProgress", "Delayed"):
                    break
                time.sleep(0.3)
            self.assertEqual((inv["Status"], inv["StandardOutputContent"]),
                             ("Success", f"local {socket.gethostname()}\n"))
            self.assertEqual(len(agent_processes(state)), 1)
        finally:
            server.stop()
        # The agent stopped with the server.
        deadline = time.time() + 10
        while time.time() < deadline and agent_processes(state):
            time.sleep(0.2)
        self.assertEqual(agent_processes(state), [])

if __name__ == "__main__":
    harness.main()
