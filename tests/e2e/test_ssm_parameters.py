"""Parameter Store end to end: every operation through boto3 and the real AWS CLI, with the
characteristic errors of each, against a real groundcrewd."""
import botocore.exceptions

import harness


def error_code(ctx):
    return ctx.exception.response["Error"]["Code"]


class ParameterStoreTest(harness.ServerTestCase):
    def setUp(self):
        super().setUp()
        self.ssm = self.server.client("ssm")

    # PutParameter / GetParameter
    def test_put_get_string(self):
        r = self.ssm.put_parameter(Name="/app/db/host", Value="db1", Type="String",
                                   Description="the db")
        self.assertEqual(r["Version"], 1)
        self.assertEqual(r["Tier"], "Standard")
        p = self.ssm.get_parameter(Name="/app/db/host")["Parameter"]
        self.assertEqual(p["Value"], "db1")
        self.assertEqual(p["Type"], "String")
        self.assertEqual(p["Version"], 1)
        self.assertEqual(p["DataType"], "text")
        self.assertEqual(p["ARN"], "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/host")
        self.assertIn("LastModifiedDate", p)

    def test_name_without_slash_and_arn_lookup(self):
        self.ssm.put_parameter(Name="plain", Value="v", Type="String")
        p = self.ssm.get_parameter(Name="plain")["Parameter"]
        self.assertEqual(p["ARN"], "arn:aws:ssm:us-east-1:123456789012:parameter/plain")
        self.assertEqual(self.ssm.get_parameter(Name=p["ARN"])["Parameter"]["Name"], "plain")

    def test_put_existing_needs_overwrite(self):
        self.ssm.put_parameter(Name="/a", Value="1", Type="String")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/a", Value="2", Type="String")
        self.assertEqual(error_code(c), "ParameterAlreadyExists")
        self.assertEqual(self.ssm.get_parameter(Name="/a")["Parameter"]["Value"], "1")
        r = self.ssm.put_parameter(Name="/a", Value="2", Overwrite=True)
        self.assertEqual(r["Version"], 2)
        p = self.ssm.get_parameter(Name="/a")["Parameter"]
        self.assertEqual((p["Value"], p["Type"]), ("2", "String"))

    def test_secure_string(self):
        self.ssm.put_parameter(Name="/s/pw", Value="hunter2", Type="SecureString")
        enc = self.ssm.get_parameter(Name="/s/pw")["Parameter"]["Value"]
        self.assertNotEqual(enc, "hunter2")
        dec = self.ssm.get_parameter(Name="/s/pw", WithDecryption=True)["Parameter"]["Value"]
        self.assertEqual(dec, "hunter2")
        meta = self.ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": ["/s/pw"]}])["Parameters"][0]
        self.assertEqual(meta["KeyId"], "alias/aws/ssm")
        # Encrypted at rest: the plaintext is nowhere in the data directory's database.
        import glob
        for path in glob.glob(self.server.data_dir + "/groundcrew.db*"):
            with open(path, "rb") as f:
                self.assertNotIn(b"hunter2", f.read())

    def test_string_list_and_type_required(self):
        self.ssm.put_parameter(Name="/l", Value="a,b,c", Type="StringList")
        self.assertEqual(self.ssm.get_parameter(Name="/l")["Parameter"]["Type"], "StringList")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/no-type", Value="x")
        self.assertEqual(error_code(c), "ValidationException")
        self.assertIn("A parameter type is required", str(c.exception))

    def test_get_not_found(self):
        with self.assertRaises(self.ssm.exceptions.ParameterNotFound):
            self.ssm.get_parameter(Name="/missing")

    def test_name_rules(self):
        for bad, code in [("/aws/x/y", "AccessDeniedException"), ("ssm-thing", "ValidationException"),
                          ("awsfoo", "ValidationException"), ("/a b", "ValidationException"),
                          ("a/b", "ValidationException"),
                          ("/" + "/".join(["l"] * 16), "HierarchyLevelLimitExceededException")]:
            with self.assertRaises(botocore.exceptions.ClientError, msg=bad) as c:
                self.ssm.put_parameter(Name=bad, Value="x", Type="String")
            self.assertEqual(error_code(c), code, bad)
        self.assertEqual(self.ssm.describe_parameters()["Parameters"], [])
        # 15 levels is fine.
        self.ssm.put_parameter(Name="/" + "/".join(["l"] * 15), Value="x", Type="String")

    def test_tiers_and_value_size(self):
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/big", Value="x" * 4097, Type="String")
        self.assertEqual(error_code(c), "ValidationException")
        r = self.ssm.put_parameter(Name="/big", Value="x" * 4097, Type="String", Tier="Advanced")
        self.assertEqual(r["Tier"], "Advanced")
        r = self.ssm.put_parameter(Name="/big2", Value="x" * 5000, Type="String",
                                   Tier="Intelligent-Tiering")
        self.assertEqual(r["Tier"], "Advanced")
        r = self.ssm.put_parameter(Name="/small", Value="x", Type="String",
                                   Tier="Intelligent-Tiering")
        self.assertEqual(r["Tier"], "Standard")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/huge", Value="x" * 8193, Type="String", Tier="Advanced")
        self.assertEqual(error_code(c), "ValidationException")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/big", Value="y", Overwrite=True, Tier="Standard")
        self.assertEqual(error_code(c), "ValidationException")

    def test_allowed_pattern(self):
        self.ssm.put_parameter(Name="/num", Value="42", Type="String", AllowedPattern=r"^\d+$")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/num", Value="abc", Overwrite=True)
        self.assertEqual(error_code(c), "ParameterPatternMismatchException")
        self.assertEqual(self.ssm.get_parameter(Name="/num")["Parameter"]["Value"], "42")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/bad-pattern", Value="1", Type="String",
                                   AllowedPattern="([")
        self.assertEqual(error_code(c), "InvalidAllowedPatternException")

    def test_hierarchy_type_mismatch(self):
        self.ssm.put_parameter(Name="/h/x", Value="1", Type="String")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/h/x", Value="1", Type="SecureString", Overwrite=True)
        self.assertEqual(error_code(c), "HierarchyTypeMismatchException")

    def test_policies_and_data_type(self):
        policies = '[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00.000Z"}}]'
        self.ssm.put_parameter(Name="/pol", Value="v", Type="String", Tier="Advanced",
                               Policies=policies)
        meta = self.ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": ["/pol"]}])["Parameters"][0]
        self.assertEqual(meta["Policies"][0]["PolicyType"], "Expiration")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/pol2", Value="v", Type="String", Tier="Advanced",
                                   Policies='[{"Type":"Bogus"}]')
        self.assertEqual(error_code(c), "InvalidPolicyTypeException")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/dt", Value="v", Type="String", DataType="Text")
        self.assertEqual(error_code(c), "ValidationException")

    def test_version_limit(self):
        self.ssm.put_parameter(Name="/v", Value="0", Type="String")
        self.ssm.label_parameter_version(Name="/v", ParameterVersion=1, Labels=["keep"])
        for i in range(1, 100):
            self.ssm.put_parameter(Name="/v", Value=str(i), Overwrite=True)
        with self.assertRaises(self.ssm.exceptions.ParameterMaxVersionLimitExceeded):
            self.ssm.put_parameter(Name="/v", Value="x", Overwrite=True)
        self.ssm.unlabel_parameter_version(Name="/v", ParameterVersion=1, Labels=["keep"])
        r = self.ssm.put_parameter(Name="/v", Value="x", Overwrite=True)
        self.assertEqual(r["Version"], 101)
        hist = self.ssm.get_paginator("get_parameter_history").paginate(Name="/v")
        versions = [p["Version"] for page in hist for p in page["Parameters"]]
        self.assertEqual(versions, list(range(2, 102)))

    # GetParameters, selectors
    def test_get_parameters_and_selectors(self):
        self.ssm.put_parameter(Name="/g/a", Value="1", Type="String")
        self.ssm.put_parameter(Name="/g/a", Value="2", Overwrite=True)
        self.ssm.label_parameter_version(Name="/g/a", ParameterVersion=1, Labels=["old"])
        r = self.ssm.get_parameters(Names=["/g/a", "/g/a:1", "/g/a:old", "/g/nope", "/g/a:9"])
        values = sorted((p["Name"], p.get("Selector", ""), p["Value"]) for p in r["Parameters"])
        self.assertEqual(values, [("/g/a", "", "2"), ("/g/a", ":1", "1"), ("/g/a", ":old", "1")])
        self.assertEqual(sorted(r["InvalidParameters"]), ["/g/a:9", "/g/nope"])
        self.assertEqual(self.ssm.get_parameter(Name="/g/a:1")["Parameter"]["Value"], "1")
        with self.assertRaises(self.ssm.exceptions.ParameterVersionNotFound):
            self.ssm.get_parameter(Name="/g/a:9")

    def test_get_parameters_too_many_names(self):
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.get_parameters(Names=[f"/n{i}" for i in range(11)])
        self.assertEqual(error_code(c), "ValidationException")
        self.assertIn("Member must have length less than or equal to 10", str(c.exception))

    # GetParametersByPath
    def test_get_parameters_by_path(self):
        for name in ["/p/a", "/p/b", "/p/c/d", "/p/c/e/f", "/q/x", "/pp"]:
            self.ssm.put_parameter(Name=name, Value=name, Type="String")
        one = self.ssm.get_parameters_by_path(Path="/p")["Parameters"]
        self.assertEqual(sorted(p["Name"] for p in one), ["/p/a", "/p/b"])
        pages = self.ssm.get_paginator("get_parameters_by_path").paginate(
            Path="/p", Recursive=True, PaginationConfig={"PageSize": 2})
        names = [p["Name"] for page in pages for p in page["Parameters"]]
        self.assertEqual(sorted(names), ["/p/a", "/p/b", "/p/c/d", "/p/c/e/f"])
        self.assertEqual(len(names), len(set(names)))
        root = self.ssm.get_parameters_by_path(Path="/")["Parameters"]
        self.assertEqual([p["Name"] for p in root], ["/pp"])

    def test_get_parameters_by_path_filters(self):
        self.ssm.put_parameter(Name="/f/s", Value="x", Type="String")
        self.ssm.put_parameter(Name="/f/sec", Value="x", Type="SecureString")
        self.ssm.label_parameter_version(Name="/f/s", Labels=["prod"])
        r = self.ssm.get_parameters_by_path(
            Path="/f", ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}],
            WithDecryption=True)
        self.assertEqual([(p["Name"], p["Value"]) for p in r["Parameters"]], [("/f/sec", "x")])
        r = self.ssm.get_parameters_by_path(
            Path="/f", ParameterFilters=[{"Key": "Label", "Values": ["prod"]}])
        self.assertEqual([p["Name"] for p in r["Parameters"]], ["/f/s"])
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.get_parameters_by_path(
                Path="/f", ParameterFilters=[{"Key": "Name", "Values": ["/f/s"]}])
        self.assertEqual(error_code(c), "InvalidFilterKey")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.get_parameters_by_path(Path="/f", MaxResults=11)
        self.assertEqual(error_code(c), "ValidationException")

    # DescribeParameters
    def test_describe_parameters_filters_and_pagination(self):
        for i in range(25):
            self.ssm.put_parameter(Name=f"/d/p{i:02d}", Value="v",
                                   Type="SecureString" if i % 5 == 0 else "String")
        self.ssm.put_parameter(Name="/other/x", Value="v", Type="String", Tier="Advanced",
                               Tags=[{"Key": "team", "Value": "ops"}])
        pages = self.ssm.get_paginator("describe_parameters").paginate(
            PaginationConfig={"PageSize": 7})
        names = [p["Name"] for page in pages for p in page["Parameters"]]
        self.assertEqual(len(names), 26)
        self.assertEqual(len(set(names)), 26)
        def names_for(filters):
            pages = self.ssm.get_paginator("describe_parameters").paginate(ParameterFilters=filters)
            return sorted(p["Name"] for page in pages for p in page["Parameters"])
        self.assertEqual(len(names_for([{"Key": "Type", "Values": ["SecureString"]}])), 5)
        self.assertEqual(names_for([{"Key": "Name", "Option": "BeginsWith", "Values": ["/d/p1"]}]),
                         [f"/d/p{i}" for i in range(10, 20)])
        self.assertEqual(names_for([{"Key": "Name", "Option": "Contains", "Values": ["p2"]}]),
                         [f"/d/p{i}" for i in range(20, 25)])
        self.assertEqual(names_for([{"Key": "Path", "Values": ["/other"]}]), ["/other/x"])
        self.assertEqual(names_for([{"Key": "Tier", "Values": ["Advanced"]}]), ["/other/x"])
        self.assertEqual(names_for([{"Key": "tag:team", "Values": ["ops"]}]), ["/other/x"])
        self.assertEqual(names_for([{"Key": "KeyId", "Values": ["alias/aws/ssm"]}]),
                         [f"/d/p{i:02d}" for i in range(0, 25, 5)])
        legacy = self.ssm.describe_parameters(Filters=[{"Key": "Name", "Values": ["/other"]}])
        self.assertEqual([p["Name"] for p in legacy["Parameters"]], ["/other/x"])
        for bad, code in [([{"Key": "Label", "Values": ["x"]}], "InvalidFilterKey"),
                          ([{"Key": "Type", "Values": ["Bogus"]}], "InvalidFilterValue"),
                          ([{"Key": "Type", "Option": "Contains", "Values": ["String"]}],
                           "InvalidFilterOption"),
                          ([{"Key": "Path", "Option": "Deep", "Values": ["/d"]}],
                           "InvalidFilterOption")]:
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                self.ssm.describe_parameters(ParameterFilters=bad)
            self.assertEqual(error_code(c), code, bad)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.describe_parameters(NextToken="not-a-token")
        self.assertEqual(error_code(c), "InvalidNextToken")

    # History and labels
    def test_history_and_labels(self):
        self.ssm.put_parameter(Name="/h", Value="1", Type="SecureString", Description="one")
        self.ssm.put_parameter(Name="/h", Value="2", Overwrite=True)
        r = self.ssm.label_parameter_version(Name="/h", ParameterVersion=1,
                                             Labels=["a", "aws-bad", "1bad", "b"])
        self.assertEqual(r["ParameterVersion"], 1)
        self.assertEqual(sorted(r["InvalidLabels"]), ["1bad", "aws-bad"])
        r = self.ssm.label_parameter_version(Name="/h", Labels=["b"])  # moves b to latest
        self.assertEqual(r["ParameterVersion"], 2)
        hist = self.ssm.get_parameter_history(Name="/h", WithDecryption=True)["Parameters"]
        self.assertEqual([(h["Version"], h["Value"], h["Labels"]) for h in hist],
                         [(1, "1", ["a"]), (2, "2", ["b"])])
        self.assertEqual(hist[1]["Description"], "one")
        with self.assertRaises(self.ssm.exceptions.ParameterNotFound):
            self.ssm.get_parameter_history(Name="/nope")
        with self.assertRaises(self.ssm.exceptions.ParameterVersionNotFound):
            self.ssm.label_parameter_version(Name="/h", ParameterVersion=7, Labels=["x"])
        with self.assertRaises(self.ssm.exceptions.ParameterNotFound):
            self.ssm.label_parameter_version(Name="/nope", Labels=["x"])
        with self.assertRaises(self.ssm.exceptions.ParameterVersionLabelLimitExceeded):
            self.ssm.label_parameter_version(Name="/h", ParameterVersion=1,
                                             Labels=[f"l{i}" for i in range(10)])
        r = self.ssm.unlabel_parameter_version(Name="/h", ParameterVersion=1, Labels=["a", "zz"])
        self.assertEqual((r["RemovedLabels"], r["InvalidLabels"]), (["a"], ["zz"]))

    # Delete
    def test_delete(self):
        self.ssm.put_parameter(Name="/x1", Value="1", Type="String")
        self.ssm.put_parameter(Name="/x2", Value="1", Type="String")
        self.ssm.delete_parameter(Name="/x1")
        with self.assertRaises(self.ssm.exceptions.ParameterNotFound):
            self.ssm.delete_parameter(Name="/x1")
        r = self.ssm.delete_parameters(Names=["/x2", "/x3"])
        self.assertEqual((r["DeletedParameters"], r["InvalidParameters"]), (["/x2"], ["/x3"]))
        self.assertEqual(self.ssm.describe_parameters()["Parameters"], [])
        # A re-created parameter starts again at version 1.
        self.assertEqual(self.ssm.put_parameter(Name="/x1", Value="1", Type="String")["Version"], 1)

    # Tags
    def test_tags(self):
        self.ssm.put_parameter(Name="/t", Value="1", Type="String",
                               Tags=[{"Key": "a", "Value": "1"}])
        self.ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/t",
                                      Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
        tags = self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"]
        self.assertEqual(tags, [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}])
        self.ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/t", TagKeys=["a"])
        tags = self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"]
        self.assertEqual(tags, [{"Key": "b", "Value": "2"}])
        with self.assertRaises(self.ssm.exceptions.InvalidResourceId):
            self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/nope")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.ssm.put_parameter(Name="/t", Value="2", Overwrite=True,
                                   Tags=[{"Key": "a", "Value": "1"}])
        self.assertEqual(error_code(c), "ValidationException")
        with self.assertRaises(self.ssm.exceptions.TooManyTagsError):
            self.ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/t",
                                          Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
        self.assertEqual(len(self.ssm.list_tags_for_resource(
            ResourceType="Parameter", ResourceId="/t")["TagList"]), 1)

    def test_region_scoping(self):
        self.ssm.put_parameter(Name="/r", Value="east", Type="String")
        west = self.server.client("ssm", region="us-west-2")
        with self.assertRaises(west.exceptions.ParameterNotFound):
            west.get_parameter(Name="/r")
        west.put_parameter(Name="/r", Value="west", Type="String")
        self.assertEqual(self.ssm.get_parameter(Name="/r")["Parameter"]["Value"], "east")
        p = west.get_parameter(Name="/r")["Parameter"]
        self.assertEqual(p["ARN"], "arn:aws:ssm:us-west-2:123456789012:parameter/r")

    # The real AWS CLI
    def test_aws_cli(self):
        cli = self.server.cli
        self.assertEqual(cli("ssm", "put-parameter", "--name", "/cli/a", "--value", "1",
                             "--type", "String")["Version"], 1)
        cli("ssm", "put-parameter", "--name", "/cli/b/c", "--value", "2", "--type", "SecureString")
        cli("ssm", "put-parameter", "--name", "/cli/a", "--value", "3", "--overwrite")
        got = cli("ssm", "get-parameter", "--name", "/cli/a")["Parameter"]
        self.assertEqual((got["Value"], got["Version"]), ("3", 2))
        by_path = cli("ssm", "get-parameters-by-path", "--path", "/cli", "--recursive",
                      "--with-decryption")["Parameters"]
        self.assertEqual(sorted((p["Name"], p["Value"]) for p in by_path),
                         [("/cli/a", "3"), ("/cli/b/c", "2")])
        desc = cli("ssm", "describe-parameters", "--parameter-filters",
                   "Key=Type,Values=SecureString")["Parameters"]
        self.assertEqual([p["Name"] for p in desc], ["/cli/b/c"])
        lab = cli("ssm", "label-parameter-version", "--name", "/cli/a", "--parameter-version",
                  "1", "--labels", "first")
        self.assertEqual(lab["ParameterVersion"], 1)
        hist = cli("ssm", "get-parameter-history", "--name", "/cli/a")["Parameters"]
        self.assertEqual([(h["Version"], h["Labels"]) for h in hist], [(1, ["first"]), (2, [])])
        got = cli("ssm", "get-parameters", "--names", "/cli/a:first", "/cli/zz")
        self.assertEqual(got["InvalidParameters"], ["/cli/zz"])
        self.assertEqual(got["Parameters"][0]["Value"], "1")
        deleted = cli("ssm", "delete-parameters", "--names", "/cli/a", "/cli/b/c")
        self.assertEqual(sorted(deleted["DeletedParameters"]), ["/cli/a", "/cli/b/c"])
        rc, _, err = cli("ssm", "get-parameter", "--name", "/cli/a", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("ParameterNotFound", err)


if __name__ == "__main__":
    harness.main()
