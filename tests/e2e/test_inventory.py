"""Inventory end to end: nodes (the independent Python agent client) upload with PutInventory
and their own credentials, as amazon-ssm-agent does (content hashes included); operators query
with boto3 and the AWS CLI: GetInventory filters of every operator, aggregators with nested
expressions and groups, result attributes, paging; ListInventoryEntries; GetInventorySchema;
custom types with DeleteInventory / DescribeInventoryDeletions; and the errors of bad input."""
import base64
import hashlib
import json
import unittest

import agent_client
import harness

ROLE = "service-role/AmazonEC2RunCommandRoleForManagedInstances"
NOW = "2026-11-25T10:00:00Z"


def apps(*pairs):
    return [{"Name": n, "Version": v, "Architecture": "x86_64", "Publisher": "Debian",
             "PackageId": f"{n}_{v}_amd64.deb"} for n, v in pairs]


def item(type_name, content, version="1.0"):
    text = json.dumps(content, sort_keys=True)
    return {"TypeName": type_name, "SchemaVersion": version, "CaptureTime": NOW,
            "ContentHash": base64.b64encode(hashlib.md5(text.encode()).digest()).decode(),
            "Content": content}


class InventoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(store=harness.store_url()).start()
        cls.ssm = cls.server.client("ssm")
        act = cls.ssm.create_activation(IamRole=ROLE, RegistrationLimit=10)
        cls.nodes = []
        for k in range(3):
            n = agent_client.NodeAgent(cls.server.endpoint)
            n.register(act["ActivationCode"], act["ActivationId"])
            n.request_token()
            n.update_instance_information(PlatformName="Debian GNU/Linux", PlatformVersion="12",
                                          ComputerName=f"host{k}", IPAddress=f"10.0.0.{k + 1}")
            cls.nodes.append(n)
        cls.ids = [n.instance_id for n in cls.nodes]
        cls.inventories = [
            apps(("bash", "5.2.15-2"), ("curl", "7.88.1-10"), ("openssl", "3.0.11-1")),
            apps(("bash", "5.2.15-2"), ("curl", "7.74.0-1"), ("nginx", "1.22.1-9")),
            apps(("bash", "5.1-2"), ("zsh", "5.9-4")),
        ]
        for n, content in zip(cls.nodes, cls.inventories):
            cls.put(n, [item("AWS:Application", content, "1.1"),
                        item("AWS:InstanceDetailedInformation",
                             [{"CPUModel": "Test CPU", "CPUs": "4", "CPUCores": "2"}])])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    @staticmethod
    def put(node, items):
        return node.signed_call("PutInventory", {"InstanceId": node.instance_id, "Items": items})

    def error(self, fn, **kw):
        with self.assertRaises(Exception) as c:
            fn(**kw)
        e = c.exception
        return e.response["Error"]["Code"] if hasattr(e, "response") else e.code

    def query(self, *filters, **kw):
        f = [{"Key": k, "Values": v, "Type": t} for k, v, t in filters]
        out = self.ssm.get_inventory(Filters=f, **kw) if f else self.ssm.get_inventory(**kw)
        return out

    def ids_of(self, out):
        return sorted(e["Id"] for e in out["Entities"])

    def test_entries_round_trip(self):
        out = self.ssm.list_inventory_entries(InstanceId=self.ids[0], TypeName="AWS:Application")
        self.assertEqual(out["SchemaVersion"], "1.1")
        self.assertEqual(out["CaptureTime"], NOW)
        self.assertEqual(sorted(out["Entries"], key=lambda e: e["Name"]),
                         sorted(self.inventories[0], key=lambda e: e["Name"]))
        out = self.ssm.list_inventory_entries(
            InstanceId=self.ids[0], TypeName="AWS:Application",
            Filters=[{"Key": "Name", "Values": ["cu"], "Type": "BeginWith"}])
        self.assertEqual([e["Name"] for e in out["Entries"]], ["curl"])
        # Paging one entry at a time gives them all.
        names, token = [], None
        while True:
            kw = {"NextToken": token} if token else {}
            page = self.ssm.list_inventory_entries(InstanceId=self.ids[0],
                                                   TypeName="AWS:Application", MaxResults=1, **kw)
            names += [e["Name"] for e in page["Entries"]]
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(sorted(names), ["bash", "curl", "openssl"])
        info = self.ssm.list_inventory_entries(InstanceId=self.ids[1],
                                               TypeName="AWS:InstanceInformation")["Entries"][0]
        self.assertEqual((info["InstanceId"], info["ComputerName"], info["PlatformType"]),
                         (self.ids[1], "host1", "Linux"))

    def test_filters(self):
        app = "AWS:Application.Name"
        self.assertEqual(self.ids_of(self.query((app, ["curl"], "Equal"))), sorted(self.ids[:2]))
        self.assertEqual(self.ids_of(self.query((app, ["nginx", "zsh"], "Equal"))),
                         sorted(self.ids[1:]))
        self.assertEqual(self.ids_of(self.query((app, ["curl"], "NotEqual"))), [self.ids[2]])
        self.assertEqual(self.ids_of(self.query((app, ["ng"], "BeginWith"))), [self.ids[1]])
        ver = "AWS:Application.Version"
        self.assertEqual(self.ids_of(self.query((ver, ["2"], "LessThan"))), [self.ids[1]])
        self.assertEqual(self.ids_of(self.query((ver, ["7.7"], "GreaterThan"))),
                         sorted(self.ids[:2]))
        # Two filters: both must hold (curl 7.74 is only on the second node).
        self.assertEqual(self.ids_of(self.query((app, ["curl"], "Equal"),
                                                (ver, ["7.74.0-1"], "Equal"))), [self.ids[1]])
        self.assertEqual(self.ids_of(self.query(("AWS:InstanceInformation.ComputerName",
                                                 ["host2"], "Equal"))), [self.ids[2]])
        self.assertEqual(self.ids_of(self.query(("AWS:InstanceDetailedInformation.CPUs", ["3"],
                                                 "GreaterThan"))), sorted(self.ids))
        out = self.query((app, ["zsh"], "Equal"), ResultAttributes=[{"TypeName": "AWS:Application"}])
        self.assertEqual(list(out["Entities"][0]["Data"]), ["AWS:Application"])
        self.assertEqual(len(out["Entities"][0]["Data"]["AWS:Application"]["Content"]), 2)

    def test_paging_and_cli(self):
        seen, token = [], None
        while True:
            kw = {"NextToken": token} if token else {}
            page = self.ssm.get_inventory(MaxResults=1, **kw)
            seen += [e["Id"] for e in page["Entities"]]
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(seen, sorted(self.ids))
        out = self.server.cli("ssm", "get-inventory", "--filters",
                              "Key=AWS:Application.Name,Values=bash,Type=Equal")
        self.assertEqual(sorted(e["Id"] for e in out["Entities"]), sorted(self.ids))

    def test_aggregators(self):
        out = self.ssm.get_inventory(Aggregators=[{"Expression": "AWS:Application.Name"}])
        content = out["Entities"][0]["Data"]["AWS:Application"]["Content"]
        counts = {c["Name"]: int(c["Count"]) for c in content}
        self.assertEqual(counts, {"bash": 3, "curl": 2, "openssl": 1, "nginx": 1, "zsh": 1})
        # Nested: name and version together.
        out = self.ssm.get_inventory(Aggregators=[{
            "Expression": "AWS:Application.Name",
            "Aggregators": [{"Expression": "AWS:Application.Version"}]}])
        content = out["Entities"][0]["Data"]["AWS:Application"]["Content"]
        pairs = {(c["Name"], c["Version"]): int(c["Count"]) for c in content}
        self.assertEqual(pairs[("bash", "5.2.15-2")], 2)
        self.assertEqual(pairs[("bash", "5.1-2")], 1)
        # Filters apply before counting.
        out = self.ssm.get_inventory(
            Filters=[{"Key": "AWS:Application.Name", "Values": ["curl"], "Type": "Equal"}],
            Aggregators=[{"Expression": "AWS:InstanceInformation.PlatformType"}])
        content = out["Entities"][0]["Data"]["AWS:InstanceInformation"]["Content"]
        self.assertEqual(content, [{"PlatformType": "Linux", "Count": "2"}])
        # Groups count the nodes that match and those that do not.
        out = self.ssm.get_inventory(Aggregators=[{"Groups": [
            {"Name": "HasNginx", "Filters": [{"Key": "AWS:Application.Name", "Values": ["nginx"],
                                              "Type": "Equal"}]},
            {"Name": "HasBash", "Filters": [{"Key": "AWS:Application.Name", "Values": ["bash"],
                                             "Type": "Equal"}]}]}])
        data = out["Entities"][0]["Data"]
        self.assertEqual(data["HasNginx"]["Content"],
                         [{"matchingCount": "1"}, {"notMatchingCount": "2"}])
        self.assertEqual(data["HasBash"]["Content"],
                         [{"matchingCount": "3"}, {"notMatchingCount": "0"}])

    def test_content_hash_and_errors(self):
        node = self.nodes[2]
        stored = item("AWS:InstanceDetailedInformation",
                      [{"CPUModel": "Test CPU", "CPUs": "4", "CPUCores": "2"}])
        # Unchanged: the agent sends the hash without Content; accepted.
        same = {k: v for k, v in stored.items() if k != "Content"}
        same["CaptureTime"] = "2026-11-25T11:00:00Z"
        self.put(node, [same])
        out = self.ssm.list_inventory_entries(InstanceId=node.instance_id,
                                              TypeName="AWS:InstanceDetailedInformation")
        self.assertEqual(out["CaptureTime"], "2026-11-25T11:00:00Z")
        self.assertEqual(out["Entries"][0]["CPUs"], "4")
        # A hash that does not match what is stored: the agent must resend with content.
        other = dict(same, ContentHash="bm90IHRoZSBoYXNo")
        with self.assertRaises(agent_client.AwsError) as e:
            self.put(node, [other])
        self.assertEqual(e.exception.code, "ItemContentMismatchException")
        for bad, code in [({"TypeName": "AWS:Nope", "SchemaVersion": "1.0",
                            "CaptureTime": NOW, "Content": []}, "InvalidTypeNameException"),
                          ({"TypeName": "Custom:X", "SchemaVersion": "one",
                            "CaptureTime": NOW, "Content": []},
                           "ValidationException")]:  # the model's pattern, as in AWS
            with self.assertRaises(agent_client.AwsError) as e:
                self.put(node, [bad])
            self.assertEqual(e.exception.code, code)
        # A node may put only its own inventory.
        with self.assertRaises(agent_client.AwsError) as e:
            self.nodes[0].signed_call("PutInventory", {"InstanceId": node.instance_id,
                                                       "Items": [stored]})
        self.assertEqual(e.exception.code, "AccessDeniedException")
        self.assertEqual(self.error(self.ssm.get_inventory,
                                    Filters=[{"Key": "AWS:Application", "Values": ["x"]}]),
                         "InvalidFilter")
        self.assertEqual(self.error(self.ssm.get_inventory,
                                    Aggregators=[{"Expression": "NoSuchType.Name"}]),
                         "InvalidAggregatorException")
        self.assertEqual(self.error(self.ssm.list_inventory_entries, InstanceId="mi-00000000000000000",
                                    TypeName="AWS:Application"), "InvalidInstanceId")
        self.assertEqual(self.error(self.ssm.get_inventory_schema, TypeName="Bogus"),
                         "InvalidTypeNameException")

    def test_content_limits_of_the_model(self):
        # PutInventory bodies are decoded by a fast path that leaves anything near the model's
        # limits to the generic check: both must answer as the model says, and store nothing.
        node = self.nodes[1]
        before = self.ssm.list_inventory_entries(InstanceId=node.instance_id,
                                                 TypeName="AWS:Application")["Entries"]
        for content, code in [
                ([{"Name": "x", "Version": 1}], "SerializationException"),   # not a string
                ([["Name", "x"]], "SerializationException"),                 # not a map
                ([{f"A{k}": "v" for k in range(51)}], "ValidationException"),  # 51 attributes
                ([{"N" * 65: "v"}], "ValidationException"),                  # name over 64
                ([{"Name": "v" * 4097}], "ValidationException"),             # value over 4,096
                ([{"Name": "x"}] * 10001, "ValidationException")]:           # over 10,000 entries
            with self.assertRaises(agent_client.AwsError) as e:
                self.put(node, [item("AWS:Application", content, "1.1")])
            self.assertEqual(e.exception.code, code, str(content)[:80])
        after = self.ssm.list_inventory_entries(InstanceId=node.instance_id,
                                                TypeName="AWS:Application")["Entries"]
        self.assertEqual(after, before)
        # 3,000 two-byte characters: 6,000 bytes but 3,000 characters, within the model's 4,096.
        # The fast path declines it; the generic path accepts it.
        wide = "\u00e9" * 3000
        self.put(node, [item("Custom:Wide", [{"Text": wide, "Name": "w"}])])
        out = self.ssm.list_inventory_entries(InstanceId=node.instance_id, TypeName="Custom:Wide")
        self.assertEqual(out["Entries"], [{"Name": "w", "Text": wide}])
        found = self.query(("Custom:Wide.Text", [wide], "Equal"))
        self.assertEqual(self.ids_of(found), [node.instance_id])
        self.assertEqual(found["Entities"][0]["Data"]["Custom:Wide"]["Content"],
                         [{"Name": "w", "Text": wide}])
        self.ssm.delete_inventory(TypeName="Custom:Wide", SchemaDeleteOption="DeleteSchema")

    def test_custom_types_schema_and_deletion(self):
        node = self.nodes[0]
        self.put(node, [item("Custom:RackInfo", [{"Rack": "R12", "Slot": "4"}])])
        self.put(self.nodes[1], [item("Custom:RackInfo", [{"Rack": "R13", "Slot": "1"}])])
        schemas = self.ssm.get_inventory_schema(TypeName="Custom:")["Schemas"]
        rack = [s for s in schemas if s["TypeName"] == "Custom:RackInfo"][0]
        self.assertEqual(sorted(a["Name"] for a in rack["Attributes"]), ["Rack", "Slot"])
        builtin = self.ssm.get_inventory_schema(TypeName="AWS:Application")["Schemas"]
        self.assertIn("PackageId", [a["Name"] for a in builtin[0]["Attributes"]])
        self.assertEqual(self.ids_of(self.query(("Custom:RackInfo.Rack", ["R12"], "Equal"))),
                         [node.instance_id])
        dry = self.ssm.delete_inventory(TypeName="Custom:RackInfo", DryRun=True)
        self.assertEqual(dry["DeletionSummary"]["TotalCount"], 2)
        self.assertNotIn("DeletionId", dry)
        self.assertEqual(len(self.ids_of(self.query(("Custom:RackInfo.Rack", ["R12", "R13"],
                                                     "Equal")))), 2)
        out = self.ssm.delete_inventory(TypeName="Custom:RackInfo",
                                        SchemaDeleteOption="DeleteSchema")
        self.assertEqual(self.query(("Custom:RackInfo.Rack", ["R12"], "Equal"))["Entities"], [])
        dels = self.ssm.describe_inventory_deletions(DeletionId=out["DeletionId"])
        d = dels["InventoryDeletions"][0]
        self.assertEqual((d["TypeName"], d["LastStatus"], d["DeletionSummary"]["TotalCount"]),
                         ("Custom:RackInfo", "Complete", 2))
        schemas = self.ssm.get_inventory_schema(TypeName="Custom:")["Schemas"]
        self.assertNotIn("Custom:RackInfo", [s["TypeName"] for s in schemas])
        self.assertEqual(self.error(self.ssm.delete_inventory, TypeName="AWS:Application"),
                         "InvalidTypeNameException")
        self.assertEqual(self.error(self.ssm.describe_inventory_deletions,
                                    DeletionId="7d5c9a8e-0000-4000-8000-000000000000"),
                         "InvalidDeletionIdException")

    def test_node_tags_are_aws_tag(self):
        # AWS:Tag is the managed node's tags, as AWS:InstanceInformation is its registration.
        tagged = {self.ids[0]: "prod", self.ids[1]: "dev"}
        for node, env in tagged.items():
            self.ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=node,
                                          Tags=[{"Key": "Env", "Value": env},
                                                {"Key": "Team", "Value": "ops"}])
        try:
            out = self.query(("AWS:Tag.Key", ["Env"], "Equal"), ("AWS:Tag.Value", ["prod"], "Equal"))
            self.assertEqual(self.ids_of(out), [self.ids[0]])
            self.assertEqual(out["Entities"][0]["Data"]["AWS:Tag"]["Content"],
                             [{"Key": "Env", "Value": "prod"}, {"Key": "Team", "Value": "ops"}])
            # Combined with a filter on what the agents put.
            out = self.query(("AWS:Tag.Value", ["prod", "dev"], "Equal"),
                             ("AWS:Application.Name", ["nginx"], "Equal"))
            self.assertEqual(self.ids_of(out), [self.ids[1]])
            # NotEqual: nodes with tags and none equal; untagged nodes have no AWS:Tag.
            out = self.query(("AWS:Tag.Value", ["prod"], "NotEqual"))
            self.assertEqual(self.ids_of(out), [self.ids[1]])
            out = self.query(ResultAttributes=[{"TypeName": "AWS:Tag"}])
            self.assertEqual(self.ids_of(out), sorted(tagged))
            untagged = [e for e in self.query()["Entities"] if e["Id"] == self.ids[2]]
            self.assertNotIn("AWS:Tag", untagged[0]["Data"])
            out = self.ssm.get_inventory(Aggregators=[{"Expression": "AWS:Tag.Value"}])
            content = out["Entities"][0]["Data"]["AWS:Tag"]["Content"]
            self.assertEqual(sorted((r["Value"], r["Count"]) for r in content),
                             [("dev", "1"), ("ops", "2"), ("prod", "1")])
            entries = self.ssm.list_inventory_entries(InstanceId=self.ids[1],
                                                      TypeName="AWS:Tag")["Entries"]
            self.assertEqual(entries, [{"Key": "Env", "Value": "dev"},
                                       {"Key": "Team", "Value": "ops"}])
            # Agents cannot put it.
            with self.assertRaises(agent_client.AwsError) as e:
                self.put(self.nodes[0], [item("AWS:Tag", [{"Key": "x", "Value": "y"}])])
            self.assertEqual(e.exception.code, "InvalidTypeNameException")
        finally:
            for node in tagged:
                self.ssm.remove_tags_from_resource(ResourceType="ManagedInstance",
                                                   ResourceId=node, TagKeys=["Env", "Team"])

    def test_survives_restart(self):
        before = self.ssm.get_inventory(Aggregators=[{"Expression": "AWS:Application.Name"}])
        self.server.stop()
        self.server.start()
        self.__class__.ssm = self.server.client("ssm")
        for n in self.nodes:
            n.endpoint = self.server.endpoint
        after = self.ssm.get_inventory(Aggregators=[{"Expression": "AWS:Application.Name"}])
        self.assertEqual(before["Entities"], after["Entities"])


@unittest.skipUnless(harness.store_url(), "replicas share a PostgreSQL store (GC_STORE=postgres)")
class ReplicaInventoryTest(unittest.TestCase):
    """Two groundcrewd on one PostgreSQL database: what a node puts through one is found through
    the other, which keeps its own index and catches up on the rows the first one wrote."""

    @classmethod
    def setUpClass(cls):
        cls.a = harness.Server(store=harness.store_url()).start()
        cls.b = harness.Server(store=harness.store_url()).start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()

    def test_a_put_through_one_is_found_through_the_other(self):
        ssm_a, ssm_b = self.a.client("ssm"), self.b.client("ssm")
        act = ssm_a.create_activation(IamRole=ROLE, RegistrationLimit=1)
        node = agent_client.NodeAgent(self.a.endpoint)
        node.register(act["ActivationCode"], act["ActivationId"])
        node.request_token()
        node.update_instance_information(PlatformName="Debian GNU/Linux", PlatformVersion="12")

        def put(content):
            node.signed_call("PutInventory", {"InstanceId": node.instance_id,
                                              "Items": [item("Custom:Replica", content)]})

        def found(value):
            out = ssm_b.get_inventory(Filters=[{"Key": "Custom:Replica.Build", "Values": [value],
                                                "Type": "Equal"}])
            return [e["Id"] for e in out["Entities"]]

        self.assertEqual(found("1"), [])  # b has loaded its index before the put
        put([{"Build": "1"}])
        self.assertEqual(found("1"), [node.instance_id])
        put([{"Build": "2"}])  # changed content: b takes the new rows in
        self.assertEqual((found("1"), found("2")), ([], [node.instance_id]))
        entries = ssm_b.list_inventory_entries(InstanceId=node.instance_id,
                                               TypeName="Custom:Replica")["Entries"]
        self.assertEqual(entries, [{"Build": "2"}])
        ssm_a.delete_inventory(TypeName="Custom:Replica", SchemaDeleteOption="DeleteSchema")
        self.assertEqual(found("2"), [])  # a deletion through a: b loads again


if __name__ == "__main__":
    harness.main()
