// document_content: JSON and YAML parsing and rendering, document validation per schema version
// and type, parameter definitions, and the Run Command helpers (ResolveParameters, Substitute).
#include "services/ssm/document_content.h"

#include <gtest/gtest.h>

#include <string>

namespace gc::ssm {
namespace {

using Json = nlohmann::json;

OrderedJson Parse(const std::string& text, DocumentFormat f = DocumentFormat::kJson) {
  auto r = ParseContent(text, f);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : OrderedJson();
}

// The error code and message of analysing `text` as a `type` document ("" when valid).
std::pair<std::string, std::string> Check(const std::string& text,
                                          const std::string& type = "Command") {
  auto parsed = ParseContent(text, DocumentFormat::kJson);
  if (!parsed.ok()) return {parsed.error().code, parsed.error().message};
  auto info = AnalyzeContent(*parsed, type);
  if (!info.ok()) return {info.error().code, info.error().message};
  return {"", ""};
}

constexpr const char* kShellScript = R"json({
  "schemaVersion": "1.2",
  "description": "Run a shell script.",
  "parameters": {
    "commands": {"type": "StringList", "description": "Commands", "minItems": 1},
    "workingDirectory": {"type": "String", "default": "", "maxChars": 4096},
    "executionTimeout": {"type": "String", "default": "3600",
                         "allowedPattern": "([1-9][0-9]{0,4})|(172800)"}
  },
  "runtimeConfig": {"aws:runShellScript": {"properties": [{
    "id": "0.aws:runShellScript", "runCommand": "{{ commands }}",
    "workingDirectory": "{{ workingDirectory }}", "timeoutSeconds": "{{ executionTimeout }}"}]}}
})json";

TEST(DocumentContentTest, ParsesJsonAndReportsWhereItBreaks) {
  EXPECT_EQ(Parse(R"({"a": [1, "x", true, null]})").dump(), R"({"a":[1,"x",true,null]})");
  auto bad = ParseContent("{\n  \"a\": 1,\n  \"b\" 2\n}", DocumentFormat::kJson);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "InvalidDocumentContent");
  EXPECT_EQ(bad.error().message, "JSON not well-formed. at Line: 3, Column: 7");
  auto not_object = ParseContent("[1, 2]", DocumentFormat::kJson);
  ASSERT_FALSE(not_object.ok());
  EXPECT_EQ(not_object.error().code, "InvalidDocumentContent");
}

TEST(DocumentContentTest, YamlScalarsAreTypedByTheCoreSchema) {
  OrderedJson j = Parse(
      "schemaVersion: '2.2'\n"
      "plain: 2.2\n"
      "count: 3\n"
      "hex: 0x1f\n"
      "yes_is_a_string: yes\n"
      "flag: true\n"
      "quoted_flag: \"true\"\n"
      "nothing: ~\n"
      "empty:\n"
      "list: [a, 'b', 1]\n"
      "block: |\n"
      "  line 1\n"
      "  line 2\n",
      DocumentFormat::kYaml);
  EXPECT_EQ(j["schemaVersion"], "2.2");
  EXPECT_DOUBLE_EQ(j["plain"].get<double>(), 2.2);
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["hex"], 31);
  EXPECT_EQ(j["yes_is_a_string"], "yes");
  EXPECT_EQ(j["flag"], true);
  EXPECT_EQ(j["quoted_flag"], "true");
  EXPECT_TRUE(j["nothing"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["list"].dump(), R"(["a","b",1])");
  EXPECT_EQ(j["block"], "line 1\nline 2\n");
  // Key order is kept.
  EXPECT_EQ(j.begin().key(), "schemaVersion");

  auto bad = ParseContent("a: [1, 2\nb: 3\n", DocumentFormat::kYaml);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "InvalidDocumentContent");
  EXPECT_EQ(bad.error().message.rfind("YAML not well-formed. at Line: ", 0), 0u);
  EXPECT_FALSE(ParseContent("just a string", DocumentFormat::kYaml).ok());
}

TEST(DocumentContentTest, YamlRenderingRoundTrips) {
  OrderedJson doc = Parse(kShellScript);
  doc["tricky"] = {"",
                   "2.2",
                   "true",
                   "null",
                   "~",
                   "yes",
                   "a: b",
                   "- x",
                   "#c",
                   "multi\nline",
                   "  padded ",
                   "{{ x }}",
                   "ünïcode",
                   7,
                   1.5,
                   false,
                   nullptr,
                   OrderedJson::object(),
                   OrderedJson::array()};
  std::string yaml = RenderContent(doc, DocumentFormat::kYaml);
  EXPECT_NE(yaml.find("schemaVersion: \"1.2\""), std::string::npos) << yaml;
  OrderedJson back = Parse(yaml, DocumentFormat::kYaml);
  EXPECT_EQ(back, doc) << yaml;
  // And JSON rendering parses back to the same value.
  EXPECT_EQ(Parse(RenderContent(doc, DocumentFormat::kJson)), doc);
}

TEST(DocumentContentTest, CommandSchema12) {
  auto parsed = ParseContent(kShellScript, DocumentFormat::kJson);
  ASSERT_TRUE(parsed.ok());
  auto info = AnalyzeContent(*parsed, "Command");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->schema_version, "1.2");
  EXPECT_EQ(info->description, "Run a shell script.");
  EXPECT_EQ(info->platform_types, (std::vector<std::string>{"Linux", "MacOS"}));
  ASSERT_EQ(info->parameters.size(), 3u);
  EXPECT_EQ(info->parameters[0].name, "commands");  // document order, not sorted
  EXPECT_EQ(info->parameters[0].min_items, 1);
  EXPECT_EQ(ParameterListJson(info->parameters).dump(),
            R"([{"Description":"Commands","Name":"commands","Type":"StringList"},)"
            R"({"DefaultValue":"","Name":"workingDirectory","Type":"String"},)"
            R"({"DefaultValue":"3600","Name":"executionTimeout","Type":"String"}])");

  EXPECT_EQ(Check(R"({"schemaVersion": "1.2", "runtimeConfig": {"aws:bogus": {"properties": []}}})")
                .first,
            "InvalidDocumentContent");
  EXPECT_EQ(Check(R"({"schemaVersion": "1.2", "runtimeConfig": {"aws:runShellScript":
                      {"properties": [{"id": "0"}]}}})")
                .second,
            "runCommand is required in runtimeConfig (aws:runShellScript).");
  EXPECT_EQ(Check(R"({"schemaVersion": "1.2", "mainSteps": []})").first, "InvalidDocumentContent");
}

TEST(DocumentContentTest, CommandSchema22PlatformsFollowPluginsAndPreconditions) {
  auto platforms = [](const std::string& steps) {
    auto parsed = ParseContent(R"({"schemaVersion": "2.2", "mainSteps": )" + steps + "}",
                               DocumentFormat::kJson);
    EXPECT_TRUE(parsed.ok());
    auto info = AnalyzeContent(*parsed, "Command");
    EXPECT_TRUE(info.ok()) << info.error().message;
    return info.ok() ? info->platform_types : std::vector<std::string>{"error"};
  };
  EXPECT_EQ(platforms(R"([{"action": "aws:runShellScript", "name": "a",
                           "inputs": {"runCommand": ["echo"]}}])"),
            (std::vector<std::string>{"Linux", "MacOS"}));
  EXPECT_EQ(platforms(R"([{"action": "aws:runPowerShellScript", "name": "w",
                           "inputs": {"runCommand": ["dir"]}},
                          {"action": "aws:runShellScript", "name": "l",
                           "precondition": {"StringEquals": ["platformType", "Linux"]},
                           "inputs": {"runCommand": "ls"}}])"),
            (std::vector<std::string>{"Windows", "Linux"}));
  EXPECT_EQ(platforms(R"([{"action": "aws:softwareInventory", "name": "i", "inputs": {}}])"),
            (std::vector<std::string>{"Windows", "Linux", "MacOS"}));

  const std::string head = R"({"schemaVersion": "2.2", "mainSteps": )";
  EXPECT_EQ(Check(head + R"([]})").first, "InvalidDocumentContent");
  EXPECT_EQ(Check(head + R"([{"action": "aws:nope", "name": "x", "inputs": {}}]})").second,
            "Action aws:nope in step x is not supported.");
  EXPECT_EQ(
      Check(head + R"([{"action": "aws:runShellScript", "inputs": {"runCommand": "x"}}]})").second,
      "Step with action aws:runShellScript needs a name.");
  EXPECT_EQ(Check(head + R"([{"action": "aws:runShellScript", "name": "a", "inputs":
                              {"runCommand": "x"}}, {"action": "aws:runShellScript", "name": "a",
                              "inputs": {"runCommand": "y"}}]})")
                .second,
            "Duplicate step name: a.");
  EXPECT_EQ(Check(head + R"([{"action": "aws:runShellScript", "name": "a", "inputs":
                              {"runCommand": "x"}, "precondition": {"StringEquals":
                              ["platformType", "Solaris"]}}]})")
                .first,
            "InvalidDocumentContent");
  EXPECT_EQ(Check(head + R"([{"action": "aws:runShellScript", "name": "a",
                              "inputs": {"runCommand": "echo {{ who }}"}}]})")
                .second,
            "Parameter \"who\" is not declared.");
  // {{ ssm:… }} and other qualified names are resolved later, not declared.
  EXPECT_EQ(Check(head + R"([{"action": "aws:runShellScript", "name": "a",
                              "inputs": {"runCommand": "echo {{ ssm:/app/x }}"}}]})")
                .first,
            "");
}

TEST(DocumentContentTest, SchemaVersionsPerType) {
  EXPECT_EQ(Check(R"({"mainSteps": []})").first, "InvalidDocumentSchemaVersion");
  EXPECT_EQ(Check(R"({"schemaVersion": "0.3", "mainSteps": [{"name": "s", "action": "aws:sleep",
                      "inputs": {"Duration": "PT1S"}}]})")
                .second,
            "Document schema version, 0.3, is not supported for document type Command.");
  EXPECT_EQ(Check(R"({"schemaVersion": "0.3", "mainSteps": [{"name": "s", "action": "aws:sleep",
                      "inputs": {"Duration": "PT1S"}}]})",
                  "Automation")
                .first,
            "");
  EXPECT_EQ(Check(R"({"schemaVersion": "1.0", "sessionType": "Standard_Stream"})", "Session").first,
            "");
  // YAML's unquoted schemaVersion is a number; it is read as its text.
  auto yaml = ParseContent(
      "schemaVersion: 2.2\nmainSteps:\n- action: aws:runShellScript\n"
      "  name: a\n  inputs:\n    runCommand: [ls]\n",
      DocumentFormat::kYaml);
  ASSERT_TRUE(yaml.ok());
  auto info = AnalyzeContent(*yaml, "Command");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->schema_version, "2.2");
  EXPECT_EQ(info->content["schemaVersion"], "2.2");
}

TEST(DocumentContentTest, AutomationSteps) {
  const std::string ok = R"({"schemaVersion": "0.3", "assumeRole": "{{ AutomationAssumeRole }}",
    "parameters": {"AutomationAssumeRole": {"type": "AWS::IAM::Role::Arn", "default": ""},
                   "InstanceIds": {"type": "List<AWS::EC2::Instance::Id>"}},
    "mainSteps": [
      {"name": "stop", "action": "aws:changeInstanceState", "onFailure": "step:report",
       "inputs": {"InstanceIds": "{{ InstanceIds }}", "DesiredState": "stopped"},
       "nextStep": "report"},
      {"name": "report", "action": "aws:executeScript", "isEnd": true,
       "inputs": {"Payload": "{{ stop.Output }} {{ automation:EXECUTION_ID }}"}}]})";
  EXPECT_EQ(Check(ok, "Automation").first, "") << Check(ok, "Automation").second;
  std::string bad_next = ok;
  bad_next.replace(bad_next.find("\"nextStep\": \"report\""), 20, "\"nextStep\": \"nowhere\"");
  EXPECT_EQ(Check(bad_next, "Automation").second,
            "Step stop refers to step nowhere, which does not exist.");
  EXPECT_EQ(Check(R"({"schemaVersion": "0.3", "mainSteps": [{"name": "a", "action": "sleep"}]})",
                  "Automation")
                .first,
            "InvalidDocumentContent");
  // The AWS resource types are Automation's only.
  EXPECT_EQ(
      Check(R"({"schemaVersion": "2.2", "parameters": {"i": {"type": "AWS::EC2::Instance::Id"}},
                      "mainSteps": [{"action": "aws:runShellScript", "name": "a",
                      "inputs": {"runCommand": "{{ i }}"}}]})")
          .first,
      "InvalidDocumentContent");
}

TEST(DocumentContentTest, ParameterDefinitions) {
  auto params = [](const std::string& section) {
    return Check(R"({"schemaVersion": "2.2", "parameters": )" + section +
                 R"(, "mainSteps": [{"action": "aws:runShellScript", "name": "a",
                    "inputs": {"runCommand": "x"}}]})");
  };
  EXPECT_EQ(params(R"({"event_type": {"type": "String"}})").second,
            "Parameter name \"event_type\" is not alpha-numeric.");
  EXPECT_EQ(params(R"({"x": {"type": "Text"}})").second,
            "Parameter \"x\" has an unsupported type: Text.");
  EXPECT_EQ(params(R"({"x": {"description": "no type"}})").first, "InvalidDocumentContent");
  EXPECT_EQ(params(R"({"x": {"type": "String", "allowedPattern": "(["}})").first,
            "InvalidDocumentContent");
  EXPECT_EQ(
      params(R"({"x": {"type": "String", "default": "c", "allowedValues": ["a", "b"]}})").first,
      "InvalidDocumentContent");
  EXPECT_EQ(params(R"({"x": {"type": "Integer", "default": "many"}})").first,
            "InvalidDocumentContent");
  EXPECT_EQ(params(R"({"x": {"type": "StringList", "default": [], "minItems": 1}})").first,
            "InvalidDocumentContent");
  EXPECT_EQ(params(R"({"x": {"type": "String", "maxChars": -1}})").first, "InvalidDocumentContent");
  EXPECT_EQ(params(R"({"a": {"type": "String", "default": "{{ ssm:/a/b }}", "allowedValues": ["x"]},
                       "b": {"type": "Integer", "default": 5},
                       "c": {"type": "Boolean", "default": true},
                       "d": {"type": "StringMap", "default": {"k": "v"}},
                       "e": {"type": "MapList", "default": [{"k": "v"}]},
                       "f": {"type": "StringList", "default": ["x", "y"], "maxItems": 2}})")
                .first,
            "");
}

std::vector<ParameterDef> Defs(const std::string& section) {
  auto parsed = ParseContent(section, DocumentFormat::kJson);
  EXPECT_TRUE(parsed.ok());
  auto defs = ParseParameterDefs(*parsed, false);
  EXPECT_TRUE(defs.ok()) << defs.error().message;
  return defs.ok() ? *defs : std::vector<ParameterDef>{};
}

TEST(DocumentContentTest, ResolveParametersFillsDefaultsAndTypesValues) {
  auto defs = Defs(R"({
    "commands": {"type": "StringList", "minItems": 1},
    "workingDirectory": {"type": "String", "default": ""},
    "executionTimeout": {"type": "String", "default": "3600", "allowedPattern": "[1-9][0-9]{0,4}"},
    "retries": {"type": "Integer", "default": 2},
    "verbose": {"type": "Boolean", "default": false},
    "env": {"type": "StringMap", "default": {}},
    "items": {"type": "MapList", "default": []},
    "secret": {"type": "String", "default": "{{ ssm:/db/password }}"}
  })");
  auto v = ResolveParameters(defs, {{"commands", {"echo hi", "uname -a"}},
                                    {"retries", {"5"}},
                                    {"verbose", {"TRUE"}},
                                    {"env", {R"({"A": "1"})"}},
                                    {"items", {R"([{"k": "v"}])"}}});
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ((*v)["commands"], Json({"echo hi", "uname -a"}));
  EXPECT_EQ((*v)["workingDirectory"], "");
  EXPECT_EQ((*v)["executionTimeout"], "3600");
  EXPECT_EQ((*v)["retries"], 5);
  EXPECT_EQ((*v)["verbose"], true);
  EXPECT_EQ((*v)["env"], Json({{"A", "1"}}));
  EXPECT_EQ((*v)["items"], Json::parse(R"([{"k": "v"}])"));
  EXPECT_EQ((*v)["secret"], "{{ ssm:/db/password }}");  // for the agent to resolve
  EXPECT_EQ(v->size(), defs.size());
}

TEST(DocumentContentTest, ResolveParametersRefusesWithAwsWording) {
  auto defs = Defs(R"({
    "Operation": {"type": "String", "allowedValues": ["Scan", "Install"]},
    "timeout": {"type": "String", "default": "3600", "allowedPattern": "[1-9][0-9]{0,4}"},
    "dir": {"type": "String", "default": "", "maxChars": 5},
    "hosts": {"type": "StringList", "default": ["a"], "maxItems": 2},
    "count": {"type": "Integer", "default": 1}
  })");
  auto refused = [&](std::map<std::string, std::vector<std::string>> given) {
    std::string why;
    auto r = ResolveParameters(defs, given, &why);
    if (r.ok()) return std::string("accepted");
    EXPECT_EQ(r.error().code, "InvalidParameters");
    EXPECT_EQ(r.error().message, "Parameters provided in document are invalid or not supported.");
    return why;
  };
  EXPECT_EQ(refused({{"Operation", {"Scan"}}}), "accepted");
  EXPECT_EQ(refused({}), "parameter Operation is required");
  EXPECT_EQ(refused({{"Operation", {"Foo"}}}),
            "parameter Operation: Foo is not one of the allowed values");
  EXPECT_EQ(refused({{"Operation", {"Scan"}}, {"runAs", {"ec2-user"}}}),
            "parameter runAs is not defined in the document");
  EXPECT_EQ(refused({{"Operation", {"Scan", "Install"}}}),
            "parameter Operation (String) takes one value, got 2");
  EXPECT_EQ(refused({{"Operation", {"Scan"}}, {"timeout", {"0"}}}),
            "parameter timeout: 0 does not match [1-9][0-9]{0,4}");
  EXPECT_EQ(refused({{"Operation", {"Scan"}}, {"timeout", {"123456"}}}),
            "parameter timeout: 123456 does not match [1-9][0-9]{0,4}");  // whole-value match
  EXPECT_EQ(refused({{"Operation", {"Scan"}}, {"dir", {"/a/long/dir"}}}),
            "parameter dir: /a/long/dir has a length outside the limits");
  EXPECT_EQ(refused({{"Operation", {"Scan"}}, {"hosts", {"a", "b", "c"}}}),
            "parameter hosts takes at most 2 items");
  EXPECT_EQ(refused({{"Operation", {"Scan"}}, {"count", {"two"}}}),
            "parameter count is not an Integer: two");
}

TEST(DocumentContentTest, SubstituteTypesWholePlaceholdersAndTextsEmbeddedOnes) {
  Json content = Json::parse(R"({
    "runtimeConfig": {"aws:runShellScript": {"properties": [{
      "runCommand": "{{ commands }}", "workingDirectory": "{{workingDirectory}}",
      "timeoutSeconds": "{{ executionTimeout }}",
      "note": "in {{ workingDirectory }} for {{ executionTimeout }}s: {{ commands }} {{ n }}",
      "secret": "{{ ssm:/db/password }}", "stepOutput": "{{ other.Output }}"}]}}})");
  ParameterValues values = {{"commands", Json({"echo a", "echo b"})},
                            {"workingDirectory", "/tmp"},
                            {"executionTimeout", "60"},
                            {"n", 3}};
  Json out = Substitute(content, values);
  const Json& p = out["runtimeConfig"]["aws:runShellScript"]["properties"][0];
  EXPECT_EQ(p["runCommand"], Json({"echo a", "echo b"}));
  EXPECT_EQ(p["workingDirectory"], "/tmp");
  EXPECT_EQ(p["timeoutSeconds"], "60");
  EXPECT_EQ(p["note"], "in /tmp for 60s: echo a,echo b 3");
  EXPECT_EQ(p["secret"], "{{ ssm:/db/password }}");
  EXPECT_EQ(p["stepOutput"], "{{ other.Output }}");
}

}  // namespace
}  // namespace gc::ssm
