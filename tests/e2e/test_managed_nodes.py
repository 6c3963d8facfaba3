"""Hybrid activations and managed nodes end to end: activations through the AWS CLI and boto3,
registration, RSA-signed token requests and heartbeats through agent_client.py (which does what
amazon-ssm-agent does), node credentials confined to the agent's operations, deregistration,
DescribeInstanceInformation's filters and pagination, PingStatus, and a restart."""
import datetime
import time
import unittest

import boto3
import botocore.config
import botocore.exceptions

import agent_client
import harness
from agent_client import AwsError, NodeAgent

ROLE = "SSMServiceRole"


def error_code(ctx):
    return ctx.exception.response["Error"]["Code"]


class NodesTestCase(harness.ServerTestCase):
    def setUp(self):
        super().setUp()
        self.ssm = self.server.client("ssm")

    def activation(self, **kw):
        args = {"IamRole": ROLE, "RegistrationLimit": 10}
        args.update(kw)
        return self.ssm.create_activation(**args)

    def register(self, activation, **kw):
        node = NodeAgent(self.server.endpoint, **kw)
        node.register(activation["ActivationCode"], activation["ActivationId"])
        return node

    def online_node(self, activation=None, **fields):
        """A registered node that has its credentials and has sent one heartbeat."""
        node = self.register(activation or self.activation())
        node.request_token()
        node.update_instance_information(**fields)
        return node

    def describe(self, **kw):
        return self.ssm.describe_instance_information(**kw)["InstanceInformationList"]

    def assertAwsError(self, code, fn, *args, **kw):
        with self.assertRaises(AwsError) as c:
            fn(*args, **kw)
        self.assertEqual(c.exception.code, code, c.exception)
        self.assertEqual(c.exception.status, 400, c.exception)
        return c.exception


class ActivationsTest(NodesTestCase):
    def test_create_describe_delete(self):
        out = self.server.cli("ssm", "create-activation", "--iam-role", ROLE,
                              "--default-instance-name", "web", "--description", "lab nodes",
                              "--registration-limit", "3", "--tags", "Key=Env,Value=Test")
        self.assertEqual(len(out["ActivationId"]), 36)
        self.assertGreaterEqual(len(out["ActivationCode"]), 20)
        listed = self.ssm.describe_activations(
            Filters=[{"FilterKey": "ActivationIds", "FilterValues": [out["ActivationId"]]}])
        [a] = listed["ActivationList"]
        self.assertEqual(a["ActivationId"], out["ActivationId"])
        self.assertEqual((a["IamRole"], a["DefaultInstanceName"], a["Description"]),
                         (ROLE, "web", "lab nodes"))
        self.assertEqual((a["RegistrationLimit"], a["RegistrationsCount"], a["Expired"]),
                         (3, 0, False))
        self.assertEqual(a["Tags"], [{"Key": "Env", "Value": "Test"}])
        self.assertNotIn("ActivationCode", a)
        a = self.ssm.describe_activations()["ActivationList"][0]
        lifetime = a["ExpirationDate"] - a["CreatedDate"]
        self.assertAlmostEqual(lifetime.total_seconds(), 24 * 3600, delta=5)  # default 24 h
        self.ssm.delete_activation(ActivationId=out["ActivationId"])
        self.assertEqual(self.ssm.describe_activations()["ActivationList"], [])
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.delete_activation(ActivationId=out["ActivationId"])
        self.assertEqual(error_code(c), "InvalidActivationId")

    def test_limits_and_expiration_are_checked(self):
        unchecked = boto3.client(  # lets out-of-range values reach the server
            "ssm", endpoint_url=self.server.endpoint, region_name="us-east-1",
            aws_access_key_id=self.server.access_key,
            aws_secret_access_key=self.server.secret_key,
            config=botocore.config.Config(parameter_validation=False,
                                          retries={"max_attempts": 0}))
        for limit in (0, 1001):
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                unchecked.create_activation(IamRole=ROLE, RegistrationLimit=limit)
            self.assertEqual(error_code(c), "ValidationException")
        now = datetime.datetime.now(datetime.timezone.utc)
        for when in (now - datetime.timedelta(minutes=1), now + datetime.timedelta(days=31)):
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                self.activation(ExpirationDate=when)
            self.assertEqual(error_code(c), "InvalidParameters")
        a = self.activation(ExpirationDate=now + datetime.timedelta(days=29))
        self.assertTrue(a["ActivationId"])
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.delete_activation(ActivationId="not-an-activation-id")
        self.assertEqual(error_code(c), "ValidationException")

    def test_filters_and_pagination(self):
        ids = [self.activation(IamRole="RoleA" if i % 2 else "RoleB",
                               DefaultInstanceName=f"n{i}")["ActivationId"] for i in range(5)]
        seen, token = [], None
        while True:
            page = self.ssm.describe_activations(MaxResults=2, **({"NextToken": token} if token else {}))
            self.assertLessEqual(len(page["ActivationList"]), 2)
            seen += [a["ActivationId"] for a in page["ActivationList"]]
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(seen, ids)  # oldest first
        by_role = self.ssm.describe_activations(
            Filters=[{"FilterKey": "IamRole", "FilterValues": ["RoleA"]}])["ActivationList"]
        self.assertEqual([a["ActivationId"] for a in by_role], [ids[1], ids[3]])
        by_name = self.ssm.describe_activations(
            Filters=[{"FilterKey": "DefaultInstanceName", "FilterValues": ["n2", "n4"]}])
        self.assertEqual([a["ActivationId"] for a in by_name["ActivationList"]], [ids[2], ids[4]])
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.describe_activations(NextToken="bm9wZQ==")
        self.assertEqual(error_code(c), "InvalidNextToken")


class RegistrationTest(NodesTestCase):
    def test_register_token_and_heartbeat(self):
        act = self.activation(DefaultInstanceName="web", Tags=[{"Key": "Env", "Value": "Test"}])
        node = self.register(act)
        self.assertRegex(node.instance_id, r"^mi-[0-9a-f]{17}$")
        a = self.ssm.describe_activations()["ActivationList"][0]
        self.assertEqual(a["RegistrationsCount"], 1)
        tags = self.ssm.list_tags_for_resource(ResourceType="ManagedInstance",
                                               ResourceId=node.instance_id)["TagList"]
        self.assertEqual(tags, [{"Key": "Env", "Value": "Test"}])

        creds = node.request_token()
        self.assertTrue(creds["AccessKeyId"].startswith("ASIA"))
        self.assertEqual(len(creds["AccessKeyId"]), 20)
        self.assertEqual(len(creds["SecretAccessKey"]), 40)
        self.assertTrue(creds["SessionToken"])
        self.assertIs(creds["UpdateKeyPair"], False)
        self.assertGreaterEqual(creds["TokenExpirationDate"], time.time() + 3600 - 60)

        self.assertEqual(node.update_instance_information(
            AgentStatus="Active", PlatformName="Ubuntu", PlatformVersion="22.04",
            IPAddress="10.0.0.5", ComputerName="node1.example.internal",
            AvailabilityZone="", SSMConnectionChannel="ec2messages"), {})
        [info] = self.describe()
        self.assertEqual(info["InstanceId"], node.instance_id)
        self.assertEqual(info["PingStatus"], "Online")
        self.assertEqual((info["PlatformType"], info["PlatformName"], info["PlatformVersion"]),
                         ("Linux", "Ubuntu", "22.04"))
        self.assertEqual((info["AgentVersion"], info["IsLatestVersion"]), ("3.3.1142.0", True))
        self.assertEqual((info["IPAddress"], info["ComputerName"]),
                         ("10.0.0.5", "node1.example.internal"))
        self.assertEqual((info["ActivationId"], info["IamRole"], info["Name"]),
                         (act["ActivationId"], ROLE, "web"))
        self.assertEqual(info["ResourceType"], "ManagedInstance")
        self.assertIn("RegistrationDate", info)
        self.assertLess(abs(info["LastPingDateTime"].timestamp() - time.time()), 60)

        # The node's own identity, as STS tells it.
        ident = node.boto3_client(self.server, "sts").get_caller_identity()
        self.assertEqual(ident["Arn"],
                         f"arn:aws:sts::{harness.ACCOUNT}:assumed-role/{ROLE}/{node.instance_id}")

    def test_node_credentials_reach_only_the_agent_operations(self):
        self.ssm.put_parameter(Name="/app/config", Value="v1", Type="String")
        node = self.online_node()
        node_ssm = node.boto3_client(self.server)
        got = node_ssm.get_parameters(Names=["/app/config"])["Parameters"]
        self.assertEqual(got[0]["Value"], "v1")
        for call in (lambda: node_ssm.put_parameter(Name="/x", Value="1", Type="String"),
                     lambda: node_ssm.create_activation(IamRole=ROLE),
                     lambda: node_ssm.describe_instance_information(),
                     lambda: node_ssm.deregister_managed_instance(InstanceId=node.instance_id)):
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                call()
            self.assertEqual(error_code(c), "AccessDeniedException")
            self.assertEqual(c.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
            self.assertIn(f"assumed-role/{ROLE}/{node.instance_id} is not authorized to perform: "
                          "ssm:", c.exception.response["Error"]["Message"])

        # A node updates only itself.
        other = self.register(self.activation())
        err = self.assertAwsError("AccessDeniedException", node.signed_call,
                                  "UpdateInstanceInformation", {"InstanceId": other.instance_id})
        self.assertIn("UpdateInstanceInformation", err.message)
        # Temporary credentials need their session token.
        self.assertAwsError("UnrecognizedClientException", node.signed_call,
                            "UpdateInstanceInformation", {"InstanceId": node.instance_id},
                            token=False)
        self.assertAwsError("UnrecognizedClientException", node.signed_call,
                            "UpdateInstanceInformation", {"InstanceId": node.instance_id},
                            token="forged-token")

    def test_registration_refusals(self):
        act = self.activation(RegistrationLimit=1)
        node = NodeAgent(self.server.endpoint)
        self.assertAwsError("InvalidActivation", node.register, "W" * 20, act["ActivationId"])
        self.assertAwsError("InvalidActivationId", node.register, act["ActivationCode"],
                            "x" * 36)
        self.register(act)  # the one registration it allows
        err = self.assertAwsError("InvalidActivation", node.register, act["ActivationCode"],
                                  act["ActivationId"])
        self.assertIn("registration limit", err.message)
        self.assertEqual(self.ssm.describe_activations()["ActivationList"][0]
                         ["RegistrationsCount"], 1)

        deleted = self.activation()
        self.ssm.delete_activation(ActivationId=deleted["ActivationId"])
        self.assertAwsError("InvalidActivation", node.register, deleted["ActivationCode"],
                            deleted["ActivationId"])

        # Too short a key fails the model (the agent's SDK also wants >= 392 characters).
        small = agent_client.rsa.generate_private_key(public_exponent=65537, key_size=1024)
        self.assertAwsError("ValidationException", node.register, act["ActivationCode"],
                            act["ActivationId"], public_key=agent_client.public_key_b64(small))

    def test_rsa_signature_checks(self):
        node = self.register(self.activation())
        self.assertAwsError("InvalidSignatureException", node.request_token,
                            key=agent_client.new_key(fresh=True))
        self.assertAwsError("MachineFingerprintDoesNotMatch", node.request_token,
                            fingerprint="another-machine")
        stranger = NodeAgent(self.server.endpoint)
        stranger.instance_id = "mi-0123456789abcdef0"
        self.assertAwsError("AccessDeniedException", stranger.request_token)
        # A five-minute skew limit, as for any SigV4 request.
        stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
        self.assertAwsError("InvalidSignatureException", node.rsa_call,
                            "RequestManagedInstanceRoleToken",
                            {"Fingerprint": node.fingerprint}, when=stale)
        # An access key cannot stand in for the registration key.
        operator = NodeAgent(self.server.endpoint)
        operator.credentials = {"AccessKeyId": self.server.access_key,
                                "SecretAccessKey": self.server.secret_key, "SessionToken": ""}
        self.assertAwsError("AccessDeniedException", operator.signed_call,
                            "RequestManagedInstanceRoleToken", {"Fingerprint": "f"}, token=False)

    def test_key_rotation(self):
        node = self.register(self.activation())
        old_key = node.key
        node.update_public_key(agent_client.new_key(fresh=True))
        self.assertTrue(node.request_token()["AccessKeyId"].startswith("ASIA"))
        # The old key still signs for a grace period: the agent may not have saved the new one.
        self.assertTrue(node.request_token(key=old_key)["AccessKeyId"].startswith("ASIA"))

    def test_deregistration(self):
        node = self.online_node()
        keep = self.online_node()
        self.ssm.deregister_managed_instance(InstanceId=node.instance_id)
        self.assertEqual([i["InstanceId"] for i in self.describe()], [keep.instance_id])
        self.assertAwsError("UnrecognizedClientException", node.update_instance_information)
        self.assertAwsError("AccessDeniedException", node.request_token)
        keep.update_instance_information()  # others are untouched
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.deregister_managed_instance(InstanceId=node.instance_id)
        self.assertEqual(error_code(c), "InvalidInstanceId")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.list_tags_for_resource(ResourceType="ManagedInstance",
                                            ResourceId=node.instance_id)
        self.assertEqual(error_code(c), "InvalidResourceId")


class DescribeInstanceInformationTest(NodesTestCase):
    def test_filters(self):
        act_a = self.activation(Tags=[{"Key": "Environment", "Value": "Test"}])
        act_b = self.activation(IamRole="OtherRole")
        linux = [self.online_node(act_a) for _ in range(2)]
        mac = self.online_node(act_b, PlatformType="MacOS", AgentVersion="3.2.0.0")
        self.ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=mac.instance_id,
                                      Tags=[{"Key": "Team", "Value": "ops"}])
        ids = lambda infos: sorted(i["InstanceId"] for i in infos)  # noqa: E731
        everyone = sorted(n.instance_id for n in linux + [mac])
        linux_ids = sorted(n.instance_id for n in linux)

        def check(expected, **kw):
            self.assertEqual(ids(self.describe(**kw)), expected, kw)

        check(everyone)
        check(linux_ids, Filters=[{"Key": "tag:Environment", "Values": ["Test"]}])
        check([mac.instance_id], Filters=[{"Key": "tag-key", "Values": ["Team"]}])
        check([mac.instance_id], Filters=[{"Key": "PlatformTypes", "Values": ["MacOS"]}])
        check([mac.instance_id], Filters=[{"Key": "IamRole", "Values": ["OtherRole"]}])
        check([mac.instance_id], Filters=[{"Key": "AgentVersion", "Values": ["3.2.0.0"]}])
        check(linux_ids, Filters=[{"Key": "ActivationIds", "Values": [act_a["ActivationId"]]}])
        check([linux[0].instance_id],
              Filters=[{"Key": "InstanceIds", "Values": [linux[0].instance_id]}])
        check(everyone, Filters=[{"Key": "PingStatus", "Values": ["Online"]},
                                 {"Key": "ResourceType", "Values": ["ManagedInstance"]}])
        check([], Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}])
        check(linux_ids, InstanceInformationFilterList=[
            {"key": "PlatformTypes", "valueSet": ["Linux"]}])
        self.assertFalse(self.describe(Filters=[{"Key": "tag-key", "Values": ["Team"]}])[0]
                         ["IsLatestVersion"])

        for filters, code in (
                ([{"Key": "Colour", "Values": ["x"]}], "InvalidFilterKey"),
                ([{"Key": "PingStatus", "Values": ["Asleep"]}],
                 "InvalidInstanceInformationFilterValue"),
                ([{"Key": "InstanceIds", "Values": ["node-1"]}], "InvalidInstanceId")):
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                self.describe(Filters=filters)
            self.assertEqual(error_code(c), code, filters)

        out = self.server.cli("ssm", "describe-instance-information", "--filters",
                              "Key=tag:Environment,Values=Test")
        self.assertEqual(ids(out["InstanceInformationList"]), linux_ids)

    def test_pagination(self):
        act = self.activation()
        expected = sorted(self.register(act).instance_id for _ in range(7))
        seen, token, pages = [], None, 0
        while True:
            out = self.ssm.describe_instance_information(
                MaxResults=5, **({"NextToken": token} if token else {}))
            pages += 1
            seen += [i["InstanceId"] for i in out["InstanceInformationList"]]
            token = out.get("NextToken")
            if not token:
                break
        self.assertEqual((seen, pages), (expected, 2))
        # As clients page through: botocore's paginator follows NextToken.
        pages = self.ssm.get_paginator("describe_instance_information").paginate(
            PaginationConfig={"PageSize": 5})
        self.assertEqual([i["InstanceId"] for p in pages for i in p["InstanceInformationList"]],
                         expected)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.describe_instance_information(NextToken="garbage")
        self.assertEqual(error_code(c), "InvalidNextToken")

    def test_tags_on_managed_instances(self):
        node = self.register(self.activation())
        self.server.cli("ssm", "add-tags-to-resource", "--resource-type", "ManagedInstance",
                        "--resource-id", node.instance_id, "--tags", "Key=Role,Value=db")
        self.ssm.remove_tags_from_resource(ResourceType="ManagedInstance",
                                           ResourceId=node.instance_id, TagKeys=["Nope"])
        tags = self.ssm.list_tags_for_resource(ResourceType="ManagedInstance",
                                               ResourceId=node.instance_id)["TagList"]
        self.assertEqual(tags, [{"Key": "Role", "Value": "db"}])
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.add_tags_to_resource(ResourceType="ManagedInstance",
                                          ResourceId="mi-0123456789abcdef0",
                                          Tags=[{"Key": "a", "Value": "b"}])
        self.assertEqual(error_code(c), "InvalidResourceId")


class RestartTest(NodesTestCase):
    def test_state_survives_a_restart(self):
        node = self.online_node(self.activation(DefaultInstanceName="db"))
        old_key = node.credentials["AccessKeyId"]
        self.server.stop()
        self.server.endpoint = None
        self.server.start()
        node.endpoint = self.server.endpoint
        self.ssm = self.server.client("ssm")
        # The temporary credentials (sealed under keys/nodes.key) and the registration key
        # still work after the restart.
        node.update_instance_information(PlatformName="Debian")
        [info] = self.describe()
        self.assertEqual((info["InstanceId"], info["Name"], info["PlatformName"]),
                         (node.instance_id, "db", "Debian"))
        self.assertNotEqual(node.request_token()["AccessKeyId"], old_key)
        node.update_instance_information()


class ElapsedTimeTest(unittest.TestCase):
    """What time changes, on a server whose nodes are ConnectionLost after 2 s without a heartbeat
    (--node-ping-timeout) so that the test need not wait 10 minutes: PingStatus, and an
    activation's expiry (both waits share one sleep)."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(store=harness.store_url(),
                                    extra=["--node-ping-timeout", "2"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_connection_lost_and_activation_expiry(self):
        self.server.reset()
        ssm = self.server.client("ssm")
        act = ssm.create_activation(IamRole=ROLE, RegistrationLimit=5)
        soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
        expiring = ssm.create_activation(IamRole=ROLE, ExpirationDate=soon)
        node = NodeAgent(self.server.endpoint)
        node.register(act["ActivationCode"], act["ActivationId"])
        node.request_token()
        node.update_instance_information()

        def status():
            [info] = ssm.describe_instance_information()["InstanceInformationList"]
            return info["PingStatus"]

        self.assertEqual(status(), "Online")
        time.sleep(2.5)
        self.assertEqual(status(), "ConnectionLost")
        expired = ssm.describe_activations(Filters=[
            {"FilterKey": "ActivationIds", "FilterValues": [expiring["ActivationId"]]}])
        self.assertTrue(expired["ActivationList"][0]["Expired"])
        late = NodeAgent(self.server.endpoint)
        with self.assertRaises(AwsError) as c:
            late.register(expiring["ActivationCode"], expiring["ActivationId"])
        self.assertEqual(c.exception.code, "ActivationExpired")
        lost = ssm.describe_instance_information(
            Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}])
        self.assertEqual(len(lost["InstanceInformationList"]), 1)
        node.update_instance_information()
        self.assertEqual(status(), "Online")


if __name__ == "__main__":
    harness.main()
