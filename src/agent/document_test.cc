// sendCommand payloads (§2.4) to steps: schemas 1.2 and 2.2, parameters, preconditions.
#include "agent/document.h"

#include <gtest/gtest.h>

namespace gc::agent {
namespace {

using ojson = nlohmann::ordered_json;

// The AWS-RunShellScript payload of AGENT_PROTOCOL §2.4.
const char* kRunShellScript12 = R"({
  "CommandId":"1f2e3d4c-5b6a-4789-8abc-0123456789ab","DocumentName":"AWS-RunShellScript",
  "DocumentContent":{"schemaVersion":"1.2","description":"Run a shell script.",
    "runtimeConfig":{"aws:runShellScript":{"properties":[{"id":"0.aws:runShellScript",
      "runCommand":"{{ commands }}","workingDirectory":"{{ workingDirectory }}",
      "timeoutSeconds":"{{ executionTimeout }}"}]}},
    "parameters":{"commands":{"type":"StringList","description":"Commands"},
      "workingDirectory":{"type":"String","default":""},
      "executionTimeout":{"type":"String","default":"3600"}}},
  "Parameters":{"commands":["echo hello","echo two"],"workingDirectory":""},
  "OutputS3BucketName":"","OutputS3KeyPrefix":"","CloudWatchLogGroupName":"",
  "CloudWatchOutputEnabled":"false"})";

TEST(DocumentTest, Schema12RunShellScript) {
  auto plan = ParseSendCommand(kRunShellScript12);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->command_id, "1f2e3d4c-5b6a-4789-8abc-0123456789ab");
  EXPECT_EQ(plan->document_name, "AWS-RunShellScript");
  ASSERT_EQ(plan->steps.size(), 1u);
  const Step& s = plan->steps[0];
  EXPECT_EQ(s.id, "aws:runShellScript");
  EXPECT_EQ(s.action, "aws:runShellScript");
  ASSERT_TRUE(s.inputs.is_array());
  ASSERT_EQ(s.inputs.size(), 1u);
  EXPECT_EQ(s.inputs[0]["runCommand"], ojson::array({"echo hello", "echo two"}));
  EXPECT_EQ(s.inputs[0]["workingDirectory"], "");
  EXPECT_EQ(s.inputs[0]["timeoutSeconds"], "3600");  // the document's default
}

TEST(DocumentTest, Schema22StepsInOrderWithPreconditions) {
  const char* payload = R"({"CommandId":"c1","DocumentName":"Two",
    "DocumentContent":{"schemaVersion":"2.2","parameters":{"msg":{"type":"String","default":"d"}},
      "mainSteps":[
        {"action":"aws:runShellScript","name":"zeta","precondition":{"StringEquals":["platformType","Linux"]},
         "inputs":{"runCommand":["echo {{ msg }}"],"timeoutSeconds":10}},
        {"action":"aws:runPowerShellScript","name":"alpha","precondition":{"StringEquals":["platformType","Windows"]},
         "inputs":{"runCommand":["Write-Host hi"]},"onFailure":"exit"}]},
    "Parameters":{"msg":["hello world"]}})";
  auto plan = ParseSendCommand(payload);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->steps.size(), 2u);
  EXPECT_EQ(plan->steps[0].id, "zeta");
  EXPECT_EQ(plan->steps[1].id, "alpha");
  EXPECT_EQ(plan->steps[1].action, "aws:runPowerShellScript");
  EXPECT_EQ(plan->steps[1].on_failure, "exit");
  // Embedded in a longer string, a list parameter becomes its JSON text.
  EXPECT_EQ(plan->steps[0].inputs["runCommand"][0], R"(echo ["hello world"])");
  EXPECT_EQ(plan->steps[0].inputs["timeoutSeconds"], 10);
  EXPECT_EQ(EvaluatePrecondition(plan->steps[0].precondition, "Linux", nullptr),
            Precondition::kMet);
  EXPECT_EQ(EvaluatePrecondition(plan->steps[1].precondition, "Linux", nullptr),
            Precondition::kNotMet);
}

TEST(SubstituteTest, AsAmazonSsmAgentDoes) {
  ojson params = {{"commands", ojson::array({"a", "b"})}, {"name", "web"}, {"n", 3}};
  EXPECT_EQ(SubstituteParameters("{{ commands }}", params), ojson::array({"a", "b"}));
  EXPECT_EQ(SubstituteParameters("{{commands}}", params), ojson::array({"a", "b"}));
  EXPECT_EQ(SubstituteParameters("{{   name\t}}", params), "web");
  EXPECT_EQ(SubstituteParameters("host {{ name }}-{{name}}", params), "host web-web");
  EXPECT_EQ(SubstituteParameters("count={{ n }}", params), "count=3");
  EXPECT_EQ(SubstituteParameters("{{ n }}", params), 3);
  EXPECT_EQ(SubstituteParameters("{{ missing }}", params), "{{ missing }}");
  EXPECT_EQ(SubstituteParameters("{{ ssm:/a/b }}", params), "{{ ssm:/a/b }}");
  EXPECT_EQ(SubstituteParameters("{{ name", params), "{{ name");
  ojson nested = {{"list", ojson::array({"x {{ name }}", "{{ n }}"})}, {"k", 1}};
  EXPECT_EQ(SubstituteParameters(nested, params),
            ojson({{"list", ojson::array({"x web", 3})}, {"k", 1}}));
}

TEST(DocumentTest, RefusesWhatItCannotRun) {
  EXPECT_FALSE(ParseSendCommand("not json").ok());
  EXPECT_FALSE(ParseSendCommand(R"({"CommandId":"x"})").ok());
  auto bad_schema = ParseSendCommand(
      R"({"CommandId":"x","DocumentContent":{"schemaVersion":"0.3","mainSteps":[]}})");
  ASSERT_FALSE(bad_schema.ok());
  EXPECT_NE(bad_schema.error().message.find("0.3"), std::string::npos);
  EXPECT_FALSE(
      ParseSendCommand(
          R"({"CommandId":"x","DocumentContent":{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript"}]}})")
          .ok());
}

// The nested documents of aws:runDocument: the same planning without a sendCommand around it.
TEST(DocumentTest, PlanDocumentWithGivenParameters) {
  const ojson doc = ojson::parse(R"({"schemaVersion":"2.2",
    "parameters":{"who":{"type":"String","default":"nobody"},"n":{"type":"String","default":"1"}},
    "mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":["echo {{who}} {{ n }}"]}}]})");
  auto defaults = PlanDocument(doc, nullptr);
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_EQ(defaults->steps[0].inputs["runCommand"][0], "echo nobody 1");
  EXPECT_TRUE(defaults->command_id.empty());
  auto given = PlanDocument(doc, ojson({{"who", "me"}, {"bad-name", "x"}}));
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->steps[0].inputs["runCommand"][0], "echo me 1");
  EXPECT_FALSE(given->parameters.contains("bad-name"));
  // Wrong types are errors, never exceptions.
  EXPECT_FALSE(PlanDocument(ojson::array(), nullptr).ok());
  const ojson numeric_action =
      ojson::parse(R"({"schemaVersion":"2.2","mainSteps":[{"action":7,"name":"s"}]})");
  EXPECT_FALSE(PlanDocument(numeric_action, nullptr).ok());
}

TEST(PreconditionTest, Forms) {
  EXPECT_EQ(EvaluatePrecondition(nullptr, "Linux", nullptr), Precondition::kMet);
  EXPECT_EQ(EvaluatePrecondition(ojson::parse(R"({"StringEquals":["Linux","platformType"]})"),
                                 "Linux", nullptr),
            Precondition::kMet);
  EXPECT_EQ(EvaluatePrecondition(ojson::parse(R"({"StringEquals":["platformType","linux"]})"),
                                 "Linux", nullptr),
            Precondition::kMet);
  EXPECT_EQ(EvaluatePrecondition(ojson::parse(R"({"StringEquals":["platformType","MacOS"]})"),
                                 "Linux", nullptr),
            Precondition::kNotMet);
  EXPECT_EQ(EvaluatePrecondition(ojson::parse(R"({"StringLike":["platformType","Linux"]})"),
                                 "Linux", nullptr),
            Precondition::kInvalid);
  EXPECT_EQ(EvaluatePrecondition(ojson::parse(R"({"StringEquals":["a","b"]})"), "Linux", nullptr),
            Precondition::kInvalid);
}

}  // namespace
}  // namespace gc::agent
