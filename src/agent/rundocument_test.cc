// aws:runDocument: nested documents from SSM (a fake GetDocument) and from files under the root,
// documentParameters (map or JSON string) over the nested defaults, combined output and status,
// the depth limit, bad inputs, cancel, and the one reply a runDocument step makes in a job.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/document.h"
#include "agent/files.h"
#include "agent/job.h"
#include "agent/plugins.h"

namespace gc::agent {
namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

// A Command document of two shell steps using a parameter with a default.
const char* kGreeter = R"({"schemaVersion":"2.2","description":"greets",
  "parameters":{"who":{"type":"String","default":"nobody"},
                "punct":{"type":"String","default":"!"}},
  "mainSteps":[
    {"action":"aws:runShellScript","name":"hello","inputs":{"runCommand":["echo hello {{ who }}{{punct}}"]}},
    {"action":"aws:runShellScript","name":"bye","inputs":{"runCommand":["echo bye {{ who }}"]}}]})";

class RunDocumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_agent_rundoc_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    ASSERT_TRUE(MakePrivateDir(root_ + "/etc/docs").ok());
    ctx_.orchestration_dir = dir_ + "/job/outer";
    ctx_.min_timeout_seconds = 1;
    ctx_.clock = &clock_;
    ctx_.root = root_;
    ctx_.get_document = [this](const std::string& name,
                               const std::string& version) -> Result<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      fetched_.push_back(version.empty() ? name : name + ":" + version);
      auto it = ssm_docs_.find(name);
      if (it == ssm_docs_.end()) {
        return AwsError{"InvalidDocument", "Document " + name + " does not exist.", 400};
      }
      return it->second;
    };
  }
  void TearDown() override { RemoveTree(dir_); }

  static Step RunDoc(ojson inputs) {
    Step s;
    s.id = "nested";
    s.action = "aws:runDocument";
    s.inputs = std::move(inputs);
    return s;
  }

  PluginResult Run(const Step& s) {
    CancelToken cancel;
    return RunStep(s, ctx_, cancel);
  }

  void WriteDoc(const std::string& rel, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomic(root_ + "/" + rel, text).ok());
  }

  std::string dir_;
  std::string root_;
  SystemClock clock_;
  PluginContext ctx_;
  std::mutex mu_;
  std::map<std::string, std::string> ssm_docs_;  // GUARDED_BY(mu_)
  std::vector<std::string> fetched_;             // GUARDED_BY(mu_)
};

TEST_F(RunDocumentTest, SsmDocumentWithParametersMap) {
  ssm_docs_["Greeter"] = kGreeter;
  PluginResult r = Run(RunDoc({{"documentType", "SSMDocument"},
                               {"documentPath", "Greeter"},
                               {"documentParameters", {{"who", "world"}}}}));
  EXPECT_EQ(r.status, "Success") << r.stderr_text;
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.id, "nested");
  EXPECT_EQ(r.name, "aws:runDocument");
  // Each nested step's stdout, appended on a new line (PluginOutput.AppendInfo).
  EXPECT_EQ(r.stdout_text, "hello world!\n\nbye world\n");
  EXPECT_EQ(r.stderr_text, "");
  EXPECT_EQ(fetched_, std::vector<std::string>({"Greeter"}));
  // Nested steps run in directories under the step's own.
  EXPECT_TRUE(FileExists(ctx_.orchestration_dir + "/hello/_script.sh"));
  EXPECT_TRUE(FileExists(ctx_.orchestration_dir + "/bye/_script.sh"));
}

TEST_F(RunDocumentTest, ParametersAsJsonStringAndNameVersionFromArn) {
  ssm_docs_["Greeter"] = kGreeter;
  PluginResult r =
      Run(RunDoc({{"documentType", "SSMDocument"},
                  {"documentPath", "arn:aws:ssm:us-east-1:123456789012:document/Greeter:3"},
                  {"documentParameters", R"({"who":"json","punct":"?"})"}}));
  EXPECT_EQ(r.status, "Success") << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "hello json?\n\nbye json\n");
  EXPECT_EQ(fetched_, std::vector<std::string>({"Greeter:3"}));

  // No parameters at all: the nested document's defaults.
  r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Greeter"}}));
  EXPECT_EQ(r.stdout_text, "hello nobody!\n\nbye nobody\n");
  r = Run(RunDoc(
      {{"documentType", "SSMDocument"}, {"documentPath", "Greeter"}, {"documentParameters", ""}}));
  EXPECT_EQ(r.stdout_text, "hello nobody!\n\nbye nobody\n");
}

TEST_F(RunDocumentTest, LocalPathIsReadUnderTheRoot) {
  WriteDoc("etc/docs/greeter.json", kGreeter);
  PluginResult r = Run(RunDoc({{"documentType", "LocalPath"},
                               {"documentPath", "/etc/docs/greeter.json"},
                               {"documentParameters", {{"who", "local"}}}}));
  EXPECT_EQ(r.status, "Success") << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "hello local!\n\nbye local\n");
  // Relative paths are under the root too.
  r = Run(RunDoc({{"documentType", "LocalPath"}, {"documentPath", "etc/docs/greeter.json"}}));
  EXPECT_EQ(r.stdout_text, "hello nobody!\n\nbye nobody\n");
  EXPECT_TRUE(fetched_.empty());

  r = Run(RunDoc({{"documentType", "LocalPath"}, {"documentPath", "/etc/docs/missing.json"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.stderr_text.find(root_ + "/etc/docs/missing.json"), std::string::npos)
      << r.stderr_text;
  r = Run(RunDoc({{"documentType", "LocalPath"}, {"documentPath", "/etc/docs/../../x.json"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.stderr_text.find("'..'"), std::string::npos) << r.stderr_text;
}

TEST_F(RunDocumentTest, LocalDocumentPaths) {
  EXPECT_EQ(*LocalDocumentPath("/", "/etc/d.json"), "/etc/d.json");
  EXPECT_EQ(*LocalDocumentPath("/", "etc/d.json"), "/etc/d.json");
  EXPECT_EQ(*LocalDocumentPath("/srv/root/", "/etc/d.json"), "/srv/root/etc/d.json");
  EXPECT_EQ(*LocalDocumentPath("/srv/root", "d..json"), "/srv/root/d..json");
  EXPECT_FALSE(LocalDocumentPath("/srv/root", "..").ok());
  EXPECT_FALSE(LocalDocumentPath("/srv/root", "a/../../b").ok());
  EXPECT_FALSE(LocalDocumentPath("/srv/root", "").ok());
}

TEST_F(RunDocumentTest, Schema12NestedDocument) {
  // AWS-RunShellScript's own shape: a StringList parameter given as a list.
  ssm_docs_["Shell"] = R"({"schemaVersion":"1.2","runtimeConfig":{"aws:runShellScript":{
    "properties":[{"id":"0.aws:runShellScript","runCommand":"{{ commands }}"}]}},
    "parameters":{"commands":{"type":"StringList"}}})";
  PluginResult r = Run(RunDoc({{"documentType", "SSMDocument"},
                               {"documentPath", "Shell"},
                               {"documentParameters", {{"commands", {"echo one", "echo two"}}}}}));
  EXPECT_EQ(r.status, "Success") << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "one\ntwo\n");
}

TEST_F(RunDocumentTest, AnyFailedNestedStepFailsTheStep) {
  ssm_docs_["Mixed"] = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"bad","inputs":{"runCommand":["echo before; echo oops >&2; exit 4"]}},
    {"action":"aws:runShellScript","name":"good","inputs":{"runCommand":["echo after"]}}]})";
  PluginResult r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Mixed"}}));
  // amazon-ssm-agent would keep only the last plugin's status; any failure fails here.
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.stdout_text, "before\n\nafter\n");
  EXPECT_EQ(r.stderr_text, "oops\n\nfailed to run commands: exit status 4");

  // onFailure: exit inside the nested document skips its remaining steps.
  ssm_docs_["Exit"] = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"bad","onFailure":"exit","inputs":{"runCommand":["exit 2"]}},
    {"action":"aws:runShellScript","name":"never","inputs":{"runCommand":["echo never"]}}]})";
  r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Exit"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(r.stdout_text.find("never\n"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("skipped"), std::string::npos) << r.stdout_text;

  // Steps skipped by a precondition count as success.
  ssm_docs_["Windows"] = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"win","precondition":{"StringEquals":["platformType","Windows"]},
     "inputs":{"runCommand":["echo no"]}}]})";
  r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Windows"}}));
  EXPECT_EQ(r.status, "Success");
  EXPECT_EQ(r.code, 0);
}

TEST_F(RunDocumentTest, FetchAndDocumentErrors) {
  PluginResult r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Nope"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.stderr_text.find("InvalidDocument: Document Nope does not exist."), std::string::npos)
      << r.stderr_text;

  ssm_docs_["Yaml"] = "schemaVersion: '2.2'\nmainSteps: []\n";
  r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Yaml"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.stderr_text.find("not a JSON document"), std::string::npos) << r.stderr_text;

  ssm_docs_["Automation"] = R"({"schemaVersion":"0.3","mainSteps":[]})";
  r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Automation"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.stderr_text.find("schema version '0.3'"), std::string::npos) << r.stderr_text;

  ctx_.get_document = nullptr;
  r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Greeter"}}));
  EXPECT_EQ(r.status, "Failed");
}

TEST_F(RunDocumentTest, BadInputsFailWithAmazonSsmAgentsMessages) {
  ssm_docs_["Greeter"] = kGreeter;
  struct Case {
    ojson inputs;
    std::string message;
  } cases[] = {
      {ojson::object(), "Document Type must be specified"},
      {{{"documentType", "S3"}, {"documentPath", "x"}}, "Document type specified in invalid"},
      {{{"documentType", "SSMDocument"}}, "Document Path must be provided"},
      {{{"documentType", "SSMDocument"},
        {"documentPath", "Greeter"},
        {"documentParameters", "who: yaml"}},
       "documentParameters is not a JSON object"},
      {{{"documentType", "SSMDocument"}, {"documentPath", "Greeter"}, {"documentParameters", 42}},
       "parameter type specified to run document is unknown"},
      {"a string", "invalid format in plugin properties"},
  };
  for (const Case& c : cases) {
    PluginResult r = Run(RunDoc(c.inputs));
    EXPECT_EQ(r.status, "Failed") << c.inputs.dump();
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.stderr_text.find(c.message), std::string::npos)
        << c.inputs.dump() << ": " << r.stderr_text;
  }
  EXPECT_TRUE(fetched_.empty());
}

TEST_F(RunDocumentTest, DepthIsLimitedToThree) {
  // A document that runs itself: levels 1, 2 and 3 run, the fourth fails.
  ssm_docs_["Loop"] = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"say","inputs":{"runCommand":["echo level"]}},
    {"action":"aws:runDocument","name":"again","inputs":{"documentType":"SSMDocument","documentPath":"Loop"}}]})";
  PluginResult r = Run(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Loop"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(fetched_.size(), 3u);
  EXPECT_EQ(r.stdout_text, "level\n\nlevel\n\nlevel\n");
  EXPECT_NE(r.stderr_text.find("Maximum depth permitted - 3 and current depth - 4"),
            std::string::npos)
      << r.stderr_text;
}

TEST_F(RunDocumentTest, CancelStopsTheNestedSteps) {
  ssm_docs_["Long"] = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"long","inputs":{"runCommand":["echo begun; sleep 60"]}},
    {"action":"aws:runShellScript","name":"after","inputs":{"runCommand":["echo after"]}}]})";
  CancelToken cancel;
  PluginResult r;
  std::thread t([&] {
    r = RunStep(RunDoc({{"documentType", "SSMDocument"}, {"documentPath", "Long"}}), ctx_, cancel);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const auto start = std::chrono::steady_clock::now();
  cancel.Cancel(CancelToken::Reason::kCancel);
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(r.status, "Cancelled");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.stdout_text, "begun\n");
}

TEST_F(RunDocumentTest, MergeResultStatus) {
  EXPECT_EQ(MergeResultStatus("", "Failed"), "Failed");
  EXPECT_EQ(MergeResultStatus("Success", ""), "Success");
  EXPECT_EQ(MergeResultStatus("Success", "Skipped"), "Success");
  EXPECT_EQ(MergeResultStatus("Success", "Failed"), "Failed");
  EXPECT_EQ(MergeResultStatus("Failed", "Success"), "Failed");
  EXPECT_EQ(MergeResultStatus("Failed", "Cancelled"), "Cancelled");
  EXPECT_EQ(MergeResultStatus("TimedOut", "Cancelled"), "TimedOut");
  EXPECT_EQ(MergeResultStatus("Success", "SuccessAndReboot"), "SuccessAndReboot");
}

// In a job the runDocument step is one plugin: one reply for it, then the final, as
// amazon-ssm-agent (the nested steps' replies never reach the service).
TEST_F(RunDocumentTest, JobRepliesOnceForTheStep) {
  ssm_docs_["Greeter"] = kGreeter;
  auto plan = ParseSendCommand(R"({"CommandId":"c-9","DocumentName":"Outer",
    "DocumentContent":{"schemaVersion":"2.2",
      "parameters":{"name":{"type":"String","default":"x"}},
      "mainSteps":[{"action":"aws:runDocument","name":"runGreeter",
        "inputs":{"documentType":"SSMDocument","documentPath":"Greeter",
                  "documentParameters":{"who":"{{ name }}"}}}]},
    "Parameters":{"name":"outer"}})");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::vector<std::string> replies;
  CancelToken cancel;
  ctx_.orchestration_dir = dir_ + "/jobs/c-9";
  const std::string final_status =
      RunJob(*plan, ctx_, cancel, [&](std::string p) { replies.push_back(std::move(p)); });
  EXPECT_EQ(final_status, "Success");
  ASSERT_EQ(replies.size(), 2u);
  json last = json::parse(replies[1]);
  EXPECT_EQ(last["documentStatus"], "Success");
  const json& rs = last["runtimeStatus"]["runGreeter"];
  EXPECT_EQ(rs["name"], "aws:runDocument");
  EXPECT_EQ(rs["status"], "Success");
  EXPECT_EQ(rs["code"], 0);
  EXPECT_EQ(rs["standardOutput"], "hello outer!\n\nbye outer\n");
  EXPECT_TRUE(FileExists(dir_ + "/jobs/c-9/runGreeter/hello/_script.sh"));
}

}  // namespace
}  // namespace gc::agent
