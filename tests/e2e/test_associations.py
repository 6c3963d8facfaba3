"""State Manager end to end: associations created with boto3 and the AWS CLI run on their
targets at once, on schedule (the --dev schedule clock is moved forward instead of sleeping), on
StartAssociationsOnce and on nodes tagged later; executions, their targets and per-node status
are described as AWS does; versions, errors, and kill -9 neither losing nor repeating a run.
The nodes are the independent Python agent client, taking their commands from ec2messages."""
import datetime
import json
import signal
import time
import unittest
import urllib.request

import harness
from test_command_lifecycle import Node

ROLE = "service-role/AmazonEC2RunCommandRoleForManagedInstances"


class AssociationsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(store=harness.store_url()).start()
        cls.ssm = cls.server.client("ssm")
        cls.activation = cls.ssm.create_activation(IamRole=ROLE, RegistrationLimit=20)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def node(self, tag=None):
        n = Node(self.server, self.activation)
        if tag:
            self.ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=n.id,
                                          Tags=[{"Key": "Role", "Value": tag}])
        return n

    def advance(self, seconds):
        req = urllib.request.Request(self.server.endpoint + "/_groundcrew/clock", method="POST",
                                     data=json.dumps({"advance_seconds": seconds}).encode())
        return json.loads(urllib.request.urlopen(req, timeout=10).read())

    def executions(self, aid):
        return self.ssm.describe_association_executions(AssociationId=aid)["AssociationExecutions"]

    def wait_executions(self, aid, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ex = self.executions(aid)
            if len(ex) >= n:
                return ex
            time.sleep(0.2)
        self.fail(f"association {aid} has {len(self.executions(aid))} executions, not {n}")

    def serve(self, node, aid, status="Success"):
        """The node takes the association's command from ec2messages and reports `status`."""
        m = node.wait_message("", timeout=20)
        node.ack(m)
        node.reply(m, status=status)
        return m

    def error(self, fn, **kw):
        with self.assertRaises(Exception) as c:
            fn(**kw)
        return c.exception.response["Error"]["Code"]

    def test_applies_at_once_then_on_schedule(self):
        n = self.node("web")
        out = self.server.cli("ssm", "create-association", "--name", "AWS-RunShellScript",
                              "--targets", "Key=tag:Role,Values=web", "--association-name",
                              "web-hello", "--schedule-expression", "rate(30 minutes)",
                              "--parameters", 'commands=["echo hello"]')
        desc = out["AssociationDescription"]
        aid = desc["AssociationId"]
        self.assertEqual((desc["AssociationVersion"], desc["Overview"]["Status"]), ("1", "Pending"))
        m = self.serve(n, aid)
        self.assertEqual(json.loads(m["Payload"])["DocumentName"], "AWS-RunShellScript")
        ex = self.wait_executions(aid, 1)
        deadline = time.time() + 10
        while time.time() < deadline and self.executions(aid)[0]["Status"] != "Success":
            time.sleep(0.2)
        ex = self.executions(aid)
        self.assertEqual((ex[0]["Status"], ex[0]["ResourceCountByStatus"]),
                         ("Success", "{Success=1}"))
        targets = self.ssm.describe_association_execution_targets(
            AssociationId=aid, ExecutionId=ex[0]["ExecutionId"])["AssociationExecutionTargets"]
        self.assertEqual([(t["ResourceId"], t["Status"], t["OutputSource"]["OutputSourceType"])
                          for t in targets], [(n.id, "Success", "RunCommand")])
        # Association runs are not Run Command history.
        command_id = targets[0]["OutputSource"]["OutputSourceId"]
        self.assertNotIn(command_id, [c["CommandId"] for c in self.ssm.list_commands()["Commands"]])
        desc = self.ssm.describe_association(AssociationId=aid)["AssociationDescription"]
        self.assertEqual(desc["Overview"]["Status"], "Success")
        self.assertEqual(desc["Overview"]["AssociationStatusAggregatedCount"], {"Success": 1})
        self.assertIn("LastExecutionDate", desc)
        status = self.ssm.describe_instance_associations_status(InstanceId=n.id)
        info = status["InstanceAssociationStatusInfos"][0]
        self.assertEqual((info["AssociationId"], info["Status"], info["AssociationName"]),
                         (aid, "Success", "web-hello"))
        self.assertTrue(info["ExecutionSummary"].startswith("1 out of 1 plugin processed"))
        effective = self.ssm.describe_effective_instance_associations(InstanceId=n.id)
        self.assertIn(aid, [a["AssociationId"] for a in effective["Associations"]])
        # Nothing more until the schedule says so; 30 minutes later (the test clock) it runs.
        time.sleep(1.5)
        self.assertEqual(len(self.executions(aid)), 1)
        self.advance(30 * 60 + 1)
        self.serve(n, aid)
        self.assertEqual(len(self.wait_executions(aid, 2)), 2)
        time.sleep(1.5)
        self.assertEqual(len(self.executions(aid)), 2)

    def test_apply_only_at_cron_interval_and_run_once(self):
        n = self.node("db")
        aid = self.ssm.create_association(
            Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["db"]}],
            Parameters={"commands": ["true"]}, ScheduleExpression="cron(0 3 ? * * *)",
            ApplyOnlyAtCronInterval=True)["AssociationDescription"]["AssociationId"]
        time.sleep(1.5)
        self.assertEqual(self.executions(aid), [])
        self.ssm.start_associations_once(AssociationIds=[aid])
        self.serve(n, aid)
        self.assertEqual(len(self.wait_executions(aid, 1)), 1)
        self.advance(24 * 3600 + 1)  # the next 03:00 UTC is at most a day away
        self.serve(n, aid)
        self.assertEqual(len(self.wait_executions(aid, 2)), 2)
        self.assertEqual(self.error(self.ssm.start_associations_once,
                                    AssociationIds=["8dfe3659-4309-493a-8755-0123456789ab"]),
                         "AssociationDoesNotExist")

    def test_schedule_offset_runs_days_after_the_cron_time(self):
        # cron(0 12 ? * MON *) with ScheduleOffset 3: the Thursday 12:00 after each Monday.
        n = self.node("offset")
        aid = self.ssm.create_association(
            Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["offset"]}],
            Parameters={"commands": ["true"]}, ScheduleExpression="cron(0 12 ? * MON *)",
            ScheduleOffset=3, ApplyOnlyAtCronInterval=True)["AssociationDescription"]
        self.assertEqual(aid["ScheduleOffset"], 3)
        aid = aid["AssociationId"]
        now = datetime.datetime.fromtimestamp(self.advance(0)["now_ms"] / 1000,
                                              datetime.timezone.utc)
        thursday = now.replace(hour=12, minute=0, second=0, microsecond=0)
        thursday += datetime.timedelta(days=(3 - thursday.weekday()) % 7)
        if thursday <= now:
            thursday += datetime.timedelta(days=7)
        before = (thursday - now).total_seconds() - 120
        self.advance(before)
        time.sleep(1.5)
        self.assertEqual(self.executions(aid), [], f"ran before {thursday}")
        self.advance(180)
        self.serve(n, aid)
        self.assertEqual(len(self.wait_executions(aid, 1)), 1)
        # ScheduleOffset needs a cron expression and ApplyOnlyAtCronInterval.
        for kw in ({"ScheduleExpression": "rate(1 day)", "ApplyOnlyAtCronInterval": True},
                   {"ScheduleExpression": "cron(0 12 ? * MON *)"}):
            self.assertEqual(self.error(self.ssm.create_association, Name="AWS-RunShellScript",
                                        Targets=[{"Key": "tag:Role", "Values": ["offset"]}],
                                        Parameters={"commands": ["true"]}, ScheduleOffset=2,
                                        **kw), "ValidationException")
        self.ssm.delete_association(AssociationId=aid)

    def test_tags(self):
        self.node("tagged")
        aid = self.ssm.create_association(
            Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["tagged"]}],
            Parameters={"commands": ["true"]}, ApplyOnlyAtCronInterval=True,
            ScheduleExpression="cron(0 3 ? * * *)",
            Tags=[{"Key": "Team", "Value": "ops"}])["AssociationDescription"]["AssociationId"]

        def tags():
            return self.ssm.list_tags_for_resource(ResourceType="Association",
                                                   ResourceId=aid)["TagList"]
        self.assertEqual(tags(), [{"Key": "Team", "Value": "ops"}])
        self.ssm.add_tags_to_resource(ResourceType="Association", ResourceId=aid,
                                      Tags=[{"Key": "Env", "Value": "prod"}])
        self.ssm.remove_tags_from_resource(ResourceType="Association", ResourceId=aid,
                                           TagKeys=["Team"])
        self.assertEqual(tags(), [{"Key": "Env", "Value": "prod"}])
        self.ssm.delete_association(AssociationId=aid)
        self.assertEqual(self.error(self.ssm.list_tags_for_resource, ResourceType="Association",
                                    ResourceId=aid), "InvalidResourceId")

    def test_nodes_matching_later_get_it(self):
        first = self.node("cache")
        aid = self.ssm.create_association(
            Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["cache"]}],
            Parameters={"commands": ["true"]})["AssociationDescription"]["AssociationId"]
        self.serve(first, aid)
        self.wait_executions(aid, 1)
        later = self.node("cache")  # tagged after the association ran
        self.serve(later, aid)
        ex = self.wait_executions(aid, 2, timeout=30)
        targets = self.ssm.describe_association_execution_targets(
            AssociationId=aid, ExecutionId=ex[0]["ExecutionId"])["AssociationExecutionTargets"]
        self.assertEqual([t["ResourceId"] for t in targets], [later.id])

    def test_versions_list_and_errors(self):
        n = self.node("app")
        aid = self.ssm.create_association(
            Name="AWS-RunShellScript", InstanceId=n.id, Parameters={"commands": ["echo 1"]},
            AssociationName="app-v1")["AssociationDescription"]["AssociationId"]
        self.serve(n, aid)
        self.assertEqual(self.error(self.ssm.create_association, Name="AWS-RunShellScript",
                                    InstanceId=n.id, Parameters={"commands": ["x"]}),
                         "AssociationAlreadyExists")
        upd = self.ssm.update_association(AssociationId=aid, AssociationVersion="1",
                                          Parameters={"commands": ["echo 2"]},
                                          AssociationName="app-v2")["AssociationDescription"]
        self.assertEqual(upd["AssociationVersion"], "2")
        m = self.serve(n, aid)  # an updated association applies again
        self.assertIn("echo 2", m["Payload"])
        versions = self.ssm.list_association_versions(AssociationId=aid)["AssociationVersions"]
        self.assertEqual([(v["AssociationVersion"], v["AssociationName"]) for v in versions],
                         [("1", "app-v1"), ("2", "app-v2")])
        self.assertEqual(self.error(self.ssm.update_association, AssociationId=aid,
                                    AssociationVersion="1"), "InvalidAssociationVersion")
        listed = self.ssm.list_associations(
            AssociationFilterList=[{"key": "AssociationName", "value": "app-v2"}])["Associations"]
        self.assertEqual([a["AssociationId"] for a in listed], [aid])
        listed = self.ssm.list_associations(
            AssociationFilterList=[{"key": "InstanceId", "value": n.id}])["Associations"]
        self.assertEqual([a["AssociationId"] for a in listed], [aid])
        for kw, code in [
            (dict(Name="AWS-RunShellScript", InstanceId=n.id, ScheduleExpression="rate(5 minutes)",
                  Parameters={"commands": ["x"]}), "InvalidSchedule"),
            (dict(Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["x"]}],
                  ScheduleExpression="cron(0 0 * * * *)", Parameters={"commands": ["x"]}),
             "InvalidSchedule"),
            (dict(Name="NoSuchDocument", InstanceId=n.id), "InvalidDocument"),
            (dict(Name="AWS-RunShellScript", InstanceId="mi-00000000000000000",
                  Parameters={"commands": ["x"]}), "InvalidInstanceId"),
            (dict(Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["x"]}],
                  Parameters={"nope": ["x"]}), "InvalidParameters")]:
            self.assertEqual(self.error(self.ssm.create_association, **kw), code, kw)
        self.ssm.delete_association(AssociationId=aid)
        self.assertEqual(self.error(self.ssm.describe_association, AssociationId=aid),
                         "AssociationDoesNotExist")
        self.assertEqual(self.error(self.ssm.delete_association, AssociationId=aid),
                         "AssociationDoesNotExist")

    def test_compliance(self):
        good, bad = self.node("comp"), self.node("comp")
        aid = self.ssm.create_association(
            Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["comp"]}],
            Parameters={"commands": ["true"]}, AssociationName="comp-check",
            ComplianceSeverity="HIGH")["AssociationDescription"]["AssociationId"]
        self.serve(good, aid, "Success")
        self.serve(bad, aid, "Failed")
        deadline = time.time() + 10
        items = []
        while time.time() < deadline and len(items) < 2:
            items = self.ssm.list_compliance_items(
                ResourceIds=[good.id, bad.id], ResourceTypes=["ManagedInstance"],
                Filters=[{"Key": "ComplianceType", "Values": ["Association"],
                          "Type": "EQUAL"}])["ComplianceItems"]
            time.sleep(0.2)
        by_node = {i["ResourceId"]: i for i in items}
        self.assertEqual((by_node[good.id]["Status"], by_node[good.id]["Severity"],
                          by_node[good.id]["Id"], by_node[good.id]["Title"]),
                         ("COMPLIANT", "HIGH", aid, "comp-check"))
        self.assertEqual(by_node[bad.id]["Status"], "NON_COMPLIANT")
        self.assertEqual(by_node[bad.id]["Details"]["DocumentName"], "AWS-RunShellScript")
        # A custom type from the node itself (its own credentials).
        good.agent.signed_call("PutComplianceItems", {
            "ResourceId": good.id, "ResourceType": "ManagedInstance",
            "ComplianceType": "Custom:Firewall",
            "ExecutionSummary": {"ExecutionTime": time.time()},
            "Items": [{"Id": "port-22", "Title": "ssh closed", "Severity": "CRITICAL",
                       "Status": "NON_COMPLIANT", "Details": {"Port": "22"}}]})
        with self.assertRaises(Exception) as e:  # not for another node
            bad.agent.signed_call("PutComplianceItems", {
                "ResourceId": good.id, "ResourceType": "ManagedInstance",
                "ComplianceType": "Custom:Firewall", "ExecutionSummary": {"ExecutionTime": 1},
                "Items": []})
        self.assertEqual(e.exception.code, "AccessDeniedException")
        res = self.ssm.list_resource_compliance_summaries(
            Filters=[{"Key": "ResourceId", "Values": [good.id], "Type": "EQUAL"}]
        )["ResourceComplianceSummaryItems"]
        by_type = {r["ComplianceType"]: r for r in res}
        self.assertEqual((by_type["Custom:Firewall"]["Status"],
                          by_type["Custom:Firewall"]["OverallSeverity"]),
                         ("NON_COMPLIANT", "CRITICAL"))
        self.assertEqual(by_type["Association"]["Status"], "COMPLIANT")
        summaries = self.ssm.list_compliance_summaries(
            Filters=[{"Key": "ComplianceType", "Values": ["Custom:Firewall"], "Type": "EQUAL"}]
        )["ComplianceSummaryItems"]
        self.assertEqual(summaries[0]["NonCompliantSummary"]["NonCompliantCount"], 1)
        self.assertEqual(summaries[0]["NonCompliantSummary"]["SeveritySummary"]["CriticalCount"], 1)
        self.assertEqual(self.error(self.ssm.list_compliance_items,
                                    Filters=[{"Key": "Bogus", "Values": ["x"]}]), "InvalidFilter")

    def test_zz_kill_9_neither_loses_nor_repeats(self):
        n = self.node("batch")
        aid = self.ssm.create_association(
            Name="AWS-RunShellScript", Targets=[{"Key": "tag:Role", "Values": ["batch"]}],
            Parameters={"commands": ["true"]}, ScheduleExpression="rate(1 day)"
        )["AssociationDescription"]["AssociationId"]
        self.wait_executions(aid, 1)
        ahead = self.advance(0)["offset_ms"] / 1000  # where earlier tests moved the clock
        self.server.stop(sig=signal.SIGKILL)
        self.server.start()
        self.__class__.ssm = self.server.client("ssm")
        n.agent.endpoint = self.server.endpoint
        time.sleep(2.5)  # several checks after the restart
        self.assertEqual(len(self.executions(aid)), 1)
        # The dev clock's offset does not survive a restart (earlier tests moved it): back to
        # where it was, plus three days to cover the day the run is due after; it runs once.
        self.advance(ahead + 3 * 24 * 3600)
        self.wait_executions(aid, 2)
        time.sleep(2.5)
        self.assertEqual(len(self.executions(aid)), 2)


if __name__ == "__main__":
    harness.main()
