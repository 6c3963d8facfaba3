"""SSM documents end to end: every document operation through boto3 and the real AWS CLI, JSON and
YAML content, versions, listing filters and pages, sharing, tags, the AWS-owned documents, and the
errors AWS gives (each of which changes nothing), against a real groundcrewd."""
import hashlib
import json
import os
import tempfile
import unittest

import botocore.exceptions

import harness

ACCOUNT = harness.ACCOUNT


def error_code(ctx):
    return ctx.exception.response["Error"]["Code"]


def command_doc(command="echo hello", description="Say hello."):
    return json.dumps({
        "schemaVersion": "2.2",
        "description": description,
        "parameters": {
            "who": {"type": "String", "default": "world", "description": "Whom to greet."},
            "times": {"type": "Integer", "default": 1},
        },
        "mainSteps": [
            {"action": "aws:runShellScript", "name": "greet",
             "precondition": {"StringEquals": ["platformType", "Linux"]},
             "inputs": {"runCommand": [command + " {{ who }}"]}},
        ],
    }, indent=2)


YAML_DOC = """---
schemaVersion: '2.2'
description: Install a package.
parameters:
  package:
    type: String
    description: The package.
    allowedPattern: '^[a-z0-9.+-]+$'
  confirm:
    type: Boolean
    default: true
mainSteps:
- action: aws:runShellScript
  name: install
  inputs:
    runCommand:
    - apt-get install -y {{ package }}
- action: aws:runPowerShellScript
  name: installWindows
  precondition:
    StringEquals: [platformType, Windows]
  inputs:
    runCommand: ['choco install {{ package }}']
"""

AUTOMATION_DOC = """description: Restart an instance.
schemaVersion: '0.3'
assumeRole: '{{ AutomationAssumeRole }}'
parameters:
  InstanceId:
    type: String
  AutomationAssumeRole:
    type: String
    default: ''
mainSteps:
- name: stop
  action: aws:changeInstanceState
  inputs:
    InstanceIds: ['{{ InstanceId }}']
    DesiredState: stopped
  nextStep: start
- name: start
  action: aws:changeInstanceState
  inputs:
    InstanceIds: ['{{ InstanceId }}']
    DesiredState: running
  isEnd: true
"""


class DocumentsTest(harness.ServerTestCase):
    def setUp(self):
        super().setUp()
        self.ssm = self.server.client("ssm")

    def own_names(self):
        pages = self.ssm.get_paginator("list_documents").paginate(
            Filters=[{"Key": "Owner", "Values": ["Self"]}])
        return sorted(d["Name"] for page in pages for d in page["DocumentIdentifiers"])

    def create(self, name, content=None, **kw):
        return self.ssm.create_document(Name=name, Content=content or command_doc(), **kw)

    # AWS-owned documents
    def test_aws_owned_documents(self):
        listed = self.ssm.list_documents(Filters=[{"Key": "Owner", "Values": ["Amazon"]}])
        names = [d["Name"] for d in listed["DocumentIdentifiers"]]
        self.assertEqual(names, ["AWS-GatherSoftwareInventory", "AWS-RunPatchBaseline",
                                 "AWS-RunShellScript"])
        self.assertTrue(all(d["Owner"] == "Amazon" for d in listed["DocumentIdentifiers"]))
        d = self.ssm.describe_document(Name="AWS-RunShellScript")["Document"]
        self.assertEqual((d["Owner"], d["SchemaVersion"], d["DocumentType"], d["Status"]),
                         ("Amazon", "1.2", "Command", "Active"))
        self.assertEqual(d["PlatformTypes"], ["Linux", "MacOS"])
        params = {p["Name"]: p for p in d["Parameters"]}
        self.assertEqual(list(params), ["commands", "workingDirectory", "executionTimeout"])
        self.assertEqual(params["executionTimeout"]["DefaultValue"], "3600")
        self.assertNotIn("DefaultValue", params["commands"])
        content = json.loads(self.ssm.get_document(Name="AWS-RunShellScript")["Content"])
        properties = content["runtimeConfig"]["aws:runShellScript"]["properties"]
        self.assertEqual(properties[0]["runCommand"], "{{ commands }}")
        patch = self.ssm.describe_document(Name="AWS-RunPatchBaseline")["Document"]
        self.assertEqual([p["Name"] for p in patch["Parameters"]],
                         ["Operation", "SnapshotId", "InstallOverrideList", "BaselineOverride",
                          "RebootOption"])
        inventory = self.ssm.describe_document(Name="AWS-GatherSoftwareInventory")["Document"]
        self.assertEqual((inventory["DocumentType"], inventory["SchemaVersion"]), ("Policy", "2.0"))
        self.assertIn("billingInfo", [p["Name"] for p in inventory["Parameters"]])
        # Read-only, and not taggable by the account.
        for call in (lambda: self.ssm.delete_document(Name="AWS-RunShellScript"),
                     lambda: self.ssm.update_document(Name="AWS-RunShellScript",
                                                      Content=command_doc(),
                                                      DocumentVersion="$LATEST")):
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                call()
            self.assertEqual(error_code(c), "InvalidDocumentOperation")
        with self.assertRaises(self.ssm.exceptions.InvalidResourceId):
            self.ssm.add_tags_to_resource(ResourceType="Document", ResourceId="AWS-RunShellScript",
                                          Tags=[{"Key": "a", "Value": "b"}])
        self.assertEqual(self.ssm.describe_document(Name="AWS-RunShellScript")["Document"]["Hash"],
                         d["Hash"])

    # The real AWS CLI, JSON content from a file
    def test_cli_create_describe_get(self):
        content = command_doc()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(content)
        try:
            created = self.server.cli("ssm", "create-document", "--content", "file://" + f.name,
                                      "--name", "hello-cli", "--document-type", "Command",
                                      "--tags", "Key=team,Value=ops")["DocumentDescription"]
        finally:
            os.unlink(f.name)
        self.assertEqual(created["Hash"], hashlib.sha256(content.encode()).hexdigest())
        self.assertEqual(created["HashType"], "Sha256")
        self.assertEqual(created["Status"], "Creating")
        self.assertEqual((created["DocumentVersion"], created["LatestVersion"],
                          created["DefaultVersion"]), ("1", "1", "1"))
        self.assertEqual((created["Owner"], created["DocumentFormat"], created["SchemaVersion"]),
                         (ACCOUNT, "JSON", "2.2"))
        self.assertEqual(created["PlatformTypes"], ["Linux"])
        self.assertEqual(created["Description"], "Say hello.")
        self.assertEqual(created["Parameters"], [
            {"Name": "who", "Type": "String", "Description": "Whom to greet.",
             "DefaultValue": "world"},
            {"Name": "times", "Type": "Integer", "DefaultValue": "1"}])
        self.assertEqual(created["Tags"], [{"Key": "team", "Value": "ops"}])
        got = self.ssm.get_document(Name="hello-cli")
        self.assertEqual(got["Content"], content)
        self.assertEqual((got["DocumentFormat"], got["DocumentVersion"], got["Status"],
                          got["DocumentType"]), ("JSON", "1", "Active", "Command"))
        listed = self.server.cli("ssm", "list-documents", "--filters", "Key=Owner,Values=Self")
        self.assertEqual([d["Name"] for d in listed["DocumentIdentifiers"]], ["hello-cli"])
        rc, _, err = self.server.cli("ssm", "get-document", "--name", "nope", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("InvalidDocument", err)
        described = self.ssm.describe_document(Name="hello-cli")["Document"]
        self.assertEqual((described["Status"], described["Hash"]), ("Active", created["Hash"]))

    # YAML
    def test_yaml_documents(self):
        r = self.ssm.create_document(Name="install", Content=YAML_DOC, DocumentFormat="YAML",
                                     DocumentType="Command")["DocumentDescription"]
        self.assertEqual(r["DocumentFormat"], "YAML")
        self.assertEqual(r["Hash"], hashlib.sha256(YAML_DOC.encode()).hexdigest())
        self.assertEqual(r["PlatformTypes"], ["Windows", "Linux", "MacOS"])
        # JSON unless asked otherwise (what the agent expects), YAML as written when asked.
        as_json = self.ssm.get_document(Name="install")
        self.assertEqual(as_json["DocumentFormat"], "JSON")
        parsed = json.loads(as_json["Content"])
        self.assertEqual(parsed["schemaVersion"], "2.2")
        self.assertEqual(parsed["parameters"]["confirm"]["default"], True)
        self.assertEqual(list(parsed), ["schemaVersion", "description", "parameters", "mainSteps"])
        as_yaml = self.ssm.get_document(Name="install", DocumentFormat="YAML")
        self.assertEqual((as_yaml["DocumentFormat"], as_yaml["Content"]), ("YAML", YAML_DOC))
        # A JSON document converts to YAML on request.
        self.create("json-doc")
        yaml_text = self.ssm.get_document(Name="json-doc", DocumentFormat="YAML")["Content"]
        self.assertIn("schemaVersion: \"2.2\"", yaml_text)
        self.assertIn("{{ who }}", yaml_text)
        # YAML content without DocumentFormat is read as JSON, as AWS does.
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.create_document(Name="yaml-as-json", Content=YAML_DOC)
        self.assertEqual(error_code(c), "InvalidDocumentContent")
        self.assertIn("JSON not well-formed", str(c.exception))

    def test_automation_documents(self):
        r = self.ssm.create_document(Name="restart", Content=AUTOMATION_DOC, DocumentFormat="YAML",
                                     DocumentType="Automation")["DocumentDescription"]
        self.assertEqual((r["DocumentType"], r["SchemaVersion"]), ("Automation", "0.3"))
        self.assertEqual(r["PlatformTypes"], ["Windows", "Linux", "MacOS"])
        bad = AUTOMATION_DOC.replace("nextStep: start", "nextStep: nowhere")
        with self.assertRaises(self.ssm.exceptions.InvalidDocumentContent):
            self.ssm.create_document(Name="restart2", Content=bad, DocumentFormat="YAML",
                                     DocumentType="Automation")
        listed = self.ssm.list_documents(
            Filters=[{"Key": "DocumentType", "Values": ["Automation"]}])
        self.assertEqual([d["Name"] for d in listed["DocumentIdentifiers"]], ["restart"])

    # Versions
    def test_versions(self):
        self.create("ver", VersionName="v1")
        u = self.ssm.update_document(Name="ver", Content=command_doc("echo two"),
                                     DocumentVersion="$LATEST", VersionName="v2")
        d = u["DocumentDescription"]
        self.assertEqual((d["DocumentVersion"], d["LatestVersion"], d["DefaultVersion"],
                          d["Status"]), ("2", "2", "1", "Updating"))
        self.ssm.update_document(Name="ver", Content=command_doc("echo three"), DocumentVersion="2")
        content = lambda **kw: json.loads(self.ssm.get_document(Name="ver", **kw)["Content"])
        first = lambda c: c["mainSteps"][0]["inputs"]["runCommand"][0]
        self.assertEqual(first(content()), "echo hello {{ who }}")
        self.assertEqual(first(content(DocumentVersion="$DEFAULT")), "echo hello {{ who }}")
        self.assertEqual(first(content(DocumentVersion="$LATEST")), "echo three {{ who }}")
        self.assertEqual(first(content(DocumentVersion="2")), "echo two {{ who }}")
        self.assertEqual(first(content(VersionName="v2")), "echo two {{ who }}")
        self.assertEqual(self.ssm.describe_document(Name="ver", VersionName="v1")["Document"]
                         ["DocumentVersion"], "1")
        # Errors, each changing nothing.
        with self.assertRaises(self.ssm.exceptions.DuplicateDocumentContent):
            self.ssm.update_document(Name="ver", Content=command_doc("echo two"),
                                     DocumentVersion="$LATEST")
        with self.assertRaises(self.ssm.exceptions.DuplicateDocumentVersionName):
            self.ssm.update_document(Name="ver", Content=command_doc("echo four"),
                                     DocumentVersion="$LATEST", VersionName="v1")
        with self.assertRaises(self.ssm.exceptions.InvalidDocumentVersion):
            self.ssm.update_document(Name="ver", Content=command_doc("echo four"),
                                     DocumentVersion="1")
        with self.assertRaises(self.ssm.exceptions.InvalidDocumentVersion):
            self.ssm.get_document(Name="ver", DocumentVersion="9")
        with self.assertRaises(self.ssm.exceptions.InvalidDocument):
            self.ssm.get_document(Name="ver", VersionName="v9")
        with self.assertRaises(self.ssm.exceptions.InvalidDocument):
            self.ssm.update_document(Name="nope", Content=command_doc(), DocumentVersion="$LATEST")
        self.assertEqual(self.ssm.describe_document(Name="ver")["Document"]["LatestVersion"], "3")
        # Default version.
        r = self.ssm.update_document_default_version(Name="ver", DocumentVersion="2")
        self.assertEqual(r["Description"], {"Name": "ver", "DefaultVersion": "2",
                                            "DefaultVersionName": "v2"})
        self.assertEqual(first(content()), "echo two {{ who }}")
        with self.assertRaises(self.ssm.exceptions.InvalidDocumentVersion):
            self.ssm.update_document_default_version(Name="ver", DocumentVersion="7")
        # ListDocumentVersions, in pages.
        pages = self.ssm.get_paginator("list_document_versions").paginate(
            Name="ver", PaginationConfig={"PageSize": 2})
        versions = [v for page in pages for v in page["DocumentVersions"]]
        self.assertEqual([(v["DocumentVersion"], v["IsDefaultVersion"], v.get("VersionName"))
                          for v in versions], [("1", False, "v1"), ("2", True, "v2"),
                                               ("3", False, None)])
        self.assertTrue(all(v["Status"] == "Active" and v["DocumentFormat"] == "JSON"
                            for v in versions))
        # Deleting one version: never the default one.
        with self.assertRaises(self.ssm.exceptions.InvalidDocumentOperation):
            self.ssm.delete_document(Name="ver", DocumentVersion="2")
        self.ssm.delete_document(Name="ver", DocumentVersion="3")
        d = self.ssm.describe_document(Name="ver")["Document"]
        self.assertEqual((d["LatestVersion"], d["DefaultVersion"]), ("2", "2"))
        self.ssm.delete_document(Name="ver", VersionName="v1")
        self.assertEqual([v["DocumentVersion"] for v in
                          self.ssm.list_document_versions(Name="ver")["DocumentVersions"]], ["2"])
        self.ssm.delete_document(Name="ver")
        with self.assertRaises(self.ssm.exceptions.InvalidDocument):
            self.ssm.describe_document(Name="ver")

    def test_schema_1_2_documents_cannot_be_updated(self):
        shell = self.ssm.get_document(Name="AWS-RunShellScript")["Content"]
        self.create("old-style", shell)
        with self.assertRaises(self.ssm.exceptions.InvalidDocumentSchemaVersion):
            self.ssm.update_document(Name="old-style", Content=command_doc(),
                                     DocumentVersion="$LATEST")
        self.assertEqual(self.ssm.describe_document(Name="old-style")["Document"]["LatestVersion"],
                         "1")

    # Errors on create, each changing nothing
    def test_create_errors(self):
        self.create("exists")
        before = self.ssm.get_document(Name="exists")["Content"]
        cases = [
            (dict(Name="exists", Content=command_doc("echo other")), "DocumentAlreadyExists"),
            (dict(Name="broken", Content='{"schemaVersion": "2.2", "mainSteps": ['),
             "InvalidDocumentContent"),
            (dict(Name="no-schema", Content='{"mainSteps": []}'), "InvalidDocumentSchemaVersion"),
            (dict(Name="old-schema", Content=command_doc().replace('"2.2"', '"0.3"')),
             "InvalidDocumentSchemaVersion"),
            (dict(Name="undeclared", Content=command_doc().replace("{{ who }}", "{{ whom }}")),
             "InvalidDocumentContent"),
            (dict(Name="bad-plugin",
                  Content=command_doc().replace("aws:runShellScript", "aws:runBogus")),
             "InvalidDocumentContent"),
            (dict(Name="bad-param", Content=command_doc().replace('"who"', '"who_is"')),
             "InvalidDocumentContent"),
            (dict(Name="too-big", Content=command_doc("#" + "x" * 70000)),
             "MaxDocumentSizeExceeded"),
            (dict(Name="AWS-Mine", Content=command_doc()), "ValidationException"),
            (dict(Name="aws-mine", Content=command_doc()), "ValidationException"),
            (dict(Name="AmazonThing", Content=command_doc()), "ValidationException"),
            (dict(Name="amzn-x", Content=command_doc()), "ValidationException"),
            (dict(Name="x", Content=command_doc()), "ValidationException"),
        ]
        for kwargs, code in cases:
            with self.assertRaises(botocore.exceptions.ClientError, msg=kwargs["Name"]) as c:
                self.ssm.create_document(**kwargs)
            self.assertEqual(error_code(c), code, kwargs["Name"])
            self.assertEqual(c.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(self.own_names(), ["exists"])
        self.assertEqual(self.ssm.get_document(Name="exists")["Content"], before)
        # Names that merely contain the prefixes are fine.
        self.create("my-aws-doc")
        for call in (lambda: self.ssm.get_document(Name="nope"),
                     lambda: self.ssm.describe_document(Name="nope"),
                     lambda: self.ssm.delete_document(Name="nope"),
                     lambda: self.ssm.list_document_versions(Name="nope")):
            with self.assertRaises(self.ssm.exceptions.InvalidDocument) as c:
                call()
            self.assertIn("Document with name nope does not exist", str(c.exception))

    @unittest.skipIf(os.environ.get("GC_STORE") == "postgres",
                     "500 fsync'd creates one by one take ~8 s on PostgreSQL; the quota is "
                     "the same code on both stores, and documents_test checks it too")
    def test_document_limit(self):
        # One client: concurrent creators conflict on the quota count (PostgreSQL retries them).
        for i in range(500):
            self.ssm.create_document(Name=f"doc-{i:03d}", Content=command_doc(f"echo {i}"))
        with self.assertRaises(self.ssm.exceptions.DocumentLimitExceeded):
            self.create("one-too-many")
        self.assertEqual(len(self.own_names()), 500)

    # ListDocuments filters and pages
    def test_list_filters_and_pagination(self):
        for i in range(12):
            self.create(f"web-{i:02d}", command_doc(f"echo {i}"),
                        Tags=[{"Key": "team", "Value": "web" if i % 2 else "db"}])
        windows = command_doc().replace("aws:runShellScript", "aws:runPowerShellScript")
        self.create("win-only", windows.replace('"Linux"', '"Windows"'),
                    TargetType="/AWS::EC2::Instance")
        self.ssm.create_document(Name="restart", Content=AUTOMATION_DOC, DocumentFormat="YAML",
                                 DocumentType="Automation")
        pages = list(self.ssm.get_paginator("list_documents").paginate(
            PaginationConfig={"PageSize": 5}))
        names = [d["Name"] for p in pages for d in p["DocumentIdentifiers"]]
        self.assertEqual(len(pages), 4)
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(names), 17)  # 14 own + 3 AWS-owned

        def names_for(**kw):
            pages = self.ssm.get_paginator("list_documents").paginate(**kw)
            return [d["Name"] for p in pages for d in p["DocumentIdentifiers"]]
        self.assertEqual(names_for(Filters=[{"Key": "Name", "Values": ["web-0"]}]),
                         [f"web-{i:02d}" for i in range(10)])
        self.assertEqual(names_for(Filters=[{"Key": "tag:team", "Values": ["web"]},
                                            {"Key": "Name", "Values": ["web-0"]}]),
                         ["web-01", "web-03", "web-05", "web-07", "web-09"])
        self.assertEqual(len(names_for(Filters=[{"Key": "tag:team", "Values": []}])), 12)
        self.assertEqual(names_for(Filters=[{"Key": "PlatformTypes", "Values": ["Windows"]},
                                            {"Key": "Owner", "Values": ["Self"]}]),
                         ["restart", "win-only"])
        self.assertEqual(names_for(Filters=[{"Key": "TargetType",
                                             "Values": ["/AWS::EC2::Instance"]}]), ["win-only"])
        self.assertEqual(names_for(Filters=[{"Key": "SearchKeyword", "Values": ["PATCH"]}]),
                         ["AWS-RunPatchBaseline"])
        self.assertEqual(names_for(Filters=[{"Key": "Owner", "Values": ["Amazon"]},
                                            {"Key": "DocumentType", "Values": ["Policy"]}]),
                         ["AWS-GatherSoftwareInventory"])
        self.assertEqual(names_for(Filters=[{"Key": "Owner", "Values": [ACCOUNT]},
                                            {"Key": "DocumentType", "Values": ["Automation"]}]),
                         ["restart"])
        self.assertEqual(names_for(Filters=[{"Key": "Owner", "Values": ["Private"]}]), [])
        # The deprecated key/value form.
        self.assertEqual(names_for(DocumentFilterList=[{"key": "Owner", "value": "Self"},
                                                       {"key": "DocumentType",
                                                        "value": "Automation"}]), ["restart"])
        ident = self.ssm.list_documents(Filters=[{"Key": "Name", "Values": ["web-01"]}])[
            "DocumentIdentifiers"][0]
        self.assertEqual((ident["Owner"], ident["DocumentVersion"], ident["SchemaVersion"],
                          ident["DocumentFormat"], ident["PlatformTypes"], ident["Tags"]),
                         (ACCOUNT, "1", "2.2", "JSON", ["Linux"],
                          [{"Key": "team", "Value": "web"}]))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.list_documents(Filters=[{"Key": "Colour", "Values": ["red"]}])
        self.assertEqual(error_code(c), "InvalidFilterKey")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.list_documents(NextToken="not-a-token")
        self.assertEqual(error_code(c), "InvalidNextToken")

    # Sharing
    def test_permissions(self):
        self.create("shared")
        r = self.ssm.describe_document_permission(Name="shared", PermissionType="Share")
        self.assertEqual((r["AccountIds"], r["AccountSharingInfoList"]), ([], []))
        self.ssm.modify_document_permission(Name="shared", PermissionType="Share",
                                            AccountIdsToAdd=["111122223333", "444455556666"],
                                            SharedDocumentVersion="$LATEST")
        self.ssm.modify_document_permission(Name="shared", PermissionType="Share",
                                            AccountIdsToAdd=["All"])
        r = self.ssm.describe_document_permission(Name="shared", PermissionType="Share")
        self.assertEqual(r["AccountIds"], ["111122223333", "444455556666", "all"])
        self.assertEqual(r["AccountSharingInfoList"][0],
                         {"AccountId": "111122223333", "SharedDocumentVersion": "$LATEST"})
        self.assertEqual(r["AccountSharingInfoList"][2]["SharedDocumentVersion"], "$DEFAULT")
        page = self.ssm.describe_document_permission(Name="shared", PermissionType="Share",
                                                     MaxResults=2)
        self.assertEqual(page["AccountIds"], ["111122223333", "444455556666"])
        rest = self.ssm.describe_document_permission(Name="shared", PermissionType="Share",
                                                     NextToken=page["NextToken"])
        self.assertEqual(rest["AccountIds"], ["all"])
        with self.assertRaises(self.ssm.exceptions.InvalidDocumentOperation):
            self.ssm.delete_document(Name="shared")
        with self.assertRaises(botocore.exceptions.ClientError) as c:  # the model's limit: 20
            self.ssm.modify_document_permission(
                Name="shared", PermissionType="Share",
                AccountIdsToAdd=[f"{i:012d}" for i in range(21)])
        self.assertEqual(error_code(c), "ValidationException")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.modify_document_permission(Name="shared", PermissionType="Share",
                                                AccountIdsToAdd=["12345"])
        self.assertEqual(error_code(c), "ValidationException")
        with self.assertRaises(self.ssm.exceptions.InvalidDocument):
            self.ssm.modify_document_permission(Name="nope", PermissionType="Share",
                                                AccountIdsToAdd=["111122223333"])
        self.assertEqual(len(self.ssm.describe_document_permission(
            Name="shared", PermissionType="Share")["AccountIds"]), 3)
        # Removal wins over addition; then the unshared document can go.
        self.ssm.modify_document_permission(
            Name="shared", PermissionType="Share",
            AccountIdsToAdd=["777788889999"],
            AccountIdsToRemove=["111122223333", "444455556666", "all", "777788889999"])
        self.assertEqual(self.ssm.describe_document_permission(
            Name="shared", PermissionType="Share")["AccountIds"], [])
        self.ssm.delete_document(Name="shared")

    def test_public_sharing_limit(self):
        for i in range(6):
            self.create(f"public-{i}", command_doc(f"echo {i}"))
        for i in range(5):
            self.ssm.modify_document_permission(Name=f"public-{i}", PermissionType="Share",
                                                AccountIdsToAdd=["all"])
        with self.assertRaises(self.ssm.exceptions.DocumentPermissionLimit):
            self.ssm.modify_document_permission(Name="public-5", PermissionType="Share",
                                                AccountIdsToAdd=["all"])
        self.assertEqual(self.ssm.describe_document_permission(
            Name="public-5", PermissionType="Share")["AccountIds"], [])

    # Tags
    def test_tags(self):
        self.create("tagged", Tags=[{"Key": "env", "Value": "test"}])
        self.ssm.add_tags_to_resource(ResourceType="Document", ResourceId="tagged",
                                      Tags=[{"Key": "team", "Value": "ops"}])
        tags = self.ssm.list_tags_for_resource(ResourceType="Document", ResourceId="tagged")
        self.assertEqual(tags["TagList"], [{"Key": "env", "Value": "test"},
                                           {"Key": "team", "Value": "ops"}])
        self.ssm.remove_tags_from_resource(ResourceType="Document", ResourceId="tagged",
                                           TagKeys=["env"])
        self.assertEqual(self.ssm.describe_document(Name="tagged")["Document"]["Tags"],
                         [{"Key": "team", "Value": "ops"}])
        with self.assertRaises(self.ssm.exceptions.TooManyTagsError):
            self.create("overtagged", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
        self.assertNotIn("overtagged", self.own_names())
        self.ssm.delete_document(Name="tagged")
        with self.assertRaises(self.ssm.exceptions.InvalidResourceId):
            self.ssm.list_tags_for_resource(ResourceType="Document", ResourceId="tagged")
        # A re-created document starts without the old tags.
        self.create("tagged")
        self.assertEqual(self.ssm.list_tags_for_resource(
            ResourceType="Document", ResourceId="tagged")["TagList"], [])

    def test_region_scoping(self):
        self.create("east-only")
        west = self.server.client("ssm", region="us-west-2")
        with self.assertRaises(west.exceptions.InvalidDocument):
            west.describe_document(Name="east-only")
        self.assertEqual(west.describe_document(Name="AWS-RunShellScript")["Document"]["Owner"],
                         "Amazon")


if __name__ == "__main__":
    harness.main()
