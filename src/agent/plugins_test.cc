// aws:runShellScript with the real /bin/sh: exit codes, stderr, timeouts that kill the whole
// process group, cancel, working directories, parameters, environment; and RunJob's replies.
#include "agent/plugins.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/document.h"
#include "agent/files.h"
#include "agent/job.h"

namespace gc::agent {
namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

class PluginsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_agent_plugins_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ctx_.orchestration_dir = dir_ + "/job/step";
    ctx_.env = {{"AWS_SSM_INSTANCE_ID", "mi-0123456789abcdef0"},
                {"AWS_SSM_REGION_NAME", "eu-west-1"},
                {"GC_AGENT_ROOT", "/srv/root"}};
    ctx_.min_timeout_seconds = 1;
    ctx_.clock = &clock_;
  }
  void TearDown() override { RemoveTree(dir_); }

  // A 2.2 step running `commands`.
  static Step Shell(std::string commands, ojson extra = ojson::object()) {
    Step s;
    s.id = "run";
    s.action = "aws:runShellScript";
    s.inputs = {{"runCommand", ojson::array({commands})}};
    for (auto& [k, v] : extra.items()) s.inputs[k] = v;
    return s;
  }

  PluginResult Run(const Step& s) {
    CancelToken cancel;
    return RunStep(s, ctx_, cancel);
  }

  std::string dir_;
  SystemClock clock_;
  PluginContext ctx_;
};

TEST_F(PluginsTest, SuccessCapturesStdout) {
  PluginResult r = Run(Shell("echo hello\necho there"));
  EXPECT_EQ(r.status, "Success");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.stdout_text, "hello\nthere\n");
  EXPECT_EQ(r.stderr_text, "");
  EXPECT_EQ(r.id, "run");
  EXPECT_EQ(r.name, "aws:runShellScript");
  EXPECT_LE(r.start_millis, r.end_millis);
  EXPECT_TRUE(FileExists(ctx_.orchestration_dir + "/_script.sh"));
}

TEST_F(PluginsTest, ExitCodeAndStderr) {
  PluginResult r = Run(Shell("echo out; echo oops >&2; exit 3"));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.stdout_text, "out\n");
  EXPECT_EQ(r.stderr_text, "oops\n\nfailed to run commands: exit status 3");
}

TEST_F(PluginsTest, CommandListRunsAsOneScript) {
  Step s = Shell("");
  s.inputs["runCommand"] = ojson::array({"x=41", ojson::array({"x=$((x+1))"}), "echo $x"});
  PluginResult r = Run(s);
  EXPECT_EQ(r.stdout_text, "42\n");
}

TEST_F(PluginsTest, TimeoutKillsTheProcessGroup) {
  const std::string pid_file = dir_ + "/bg.pid";
  const auto start = std::chrono::steady_clock::now();
  PluginResult r = Run(Shell("sleep 60 & echo $! > " + pid_file + "\necho started\nwait",
                             {{"timeoutSeconds", "1"}}));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, "TimedOut");
  EXPECT_EQ(r.code, 137);
  EXPECT_EQ(r.stdout_text, "started\n");
  EXPECT_LT(elapsed, std::chrono::seconds(10));
  // The background child was in the group and died with it (gone, or a zombie awaiting init).
  auto pid_text = ReadFile(pid_file);
  ASSERT_TRUE(pid_text);
  const pid_t bg = static_cast<pid_t>(std::atoi(pid_text->c_str()));
  ASSERT_GT(bg, 0);
  bool dead = false;
  for (int i = 0; i < 50 && !dead; ++i) {
    auto stat = ReadFile("/proc/" + std::to_string(bg) + "/stat");
    dead = !stat || stat->find(") Z") != std::string::npos;
    if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(dead);
}

TEST_F(PluginsTest, TimeoutOutsideTheRangeUsesTheDefault) {
  PluginContext ctx;
  EXPECT_EQ(TimeoutSeconds("3600", ctx), 3600);
  EXPECT_EQ(TimeoutSeconds("20", ctx), 20);
  EXPECT_EQ(TimeoutSeconds(20.7, ctx), 20);
  EXPECT_EQ(TimeoutSeconds("2", ctx), 3600);  // below amazon-ssm-agent's minimum of 5
  EXPECT_EQ(TimeoutSeconds("abc", ctx), 3600);
  EXPECT_EQ(TimeoutSeconds(nullptr, ctx), 3600);
  EXPECT_EQ(TimeoutSeconds(172801, ctx), 3600);
}

TEST_F(PluginsTest, WorkingDirectory) {
  PluginResult r = Run(Shell("pwd", {{"workingDirectory", dir_}}));
  EXPECT_EQ(r.status, "Success");
  EXPECT_EQ(r.stdout_text, dir_ + "\n");

  // Default: the step's own directory.
  r = Run(Shell("pwd"));
  EXPECT_EQ(r.stdout_text, std::filesystem::canonical(ctx_.orchestration_dir).string() + "\n");

  r = Run(Shell("pwd", {{"workingDirectory", dir_ + "/missing"}}));
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.stderr_text.find("does not exist"), std::string::npos) << r.stderr_text;
}

TEST_F(PluginsTest, EnvironmentForScripts) {
  PluginResult r = Run(
      Shell("echo $AWS_SSM_INSTANCE_ID $AWS_SSM_REGION_NAME $GC_AGENT_ROOT; echo ${HOME:+home}"));
  EXPECT_EQ(r.stdout_text, std::string("mi-0123456789abcdef0 eu-west-1 /srv/root\n") +
                               (std::getenv("HOME") != nullptr ? "home\n" : "\n"));
}

TEST_F(PluginsTest, StdinIsEmptyAndAgentFdsDoNotLeak) {
  PluginResult r = Run(Shell("cat; ls /proc/self/fd | wc -l"));
  EXPECT_EQ(r.status, "Success");
  // 0, 1, 2 and the directory ls reads: nothing of the test process leaks in.
  EXPECT_EQ(r.stdout_text, "4\n");
}

TEST_F(PluginsTest, CancelKillsTheScript) {
  CancelToken cancel;
  PluginResult r;
  std::thread t([&] { r = RunStep(Shell("echo begun; sleep 60"), ctx_, cancel); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  cancel.Cancel(CancelToken::Reason::kCancel);
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(r.status, "Cancelled");
  EXPECT_EQ(r.code, 137);
  EXPECT_EQ(r.stdout_text, "begun\n");
}

TEST_F(PluginsTest, ShutdownMarksTheScriptFailed) {
  CancelToken cancel;
  PluginResult r;
  std::thread t([&] { r = RunStep(Shell("sleep 60"), ctx_, cancel); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  cancel.Cancel(CancelToken::Reason::kShutdown);
  t.join();
  EXPECT_EQ(r.status, "Failed");
}

TEST_F(PluginsTest, OutputIsCappedButCounted) {
  ctx_.max_capture = 100000;
  PluginResult r = Run(Shell("head -c 300000 /dev/zero | tr '\\0' a"));
  EXPECT_EQ(r.status, "Success");
  EXPECT_EQ(r.stdout_text.size(), 100000u);
  EXPECT_TRUE(r.stdout_capped);
  EXPECT_FALSE(r.stderr_capped);
}

TEST_F(PluginsTest, PreconditionNotMetIsSkipped) {
  Step s = Shell("echo never");
  s.precondition = ojson::parse(R"({"StringEquals":["platformType","Windows"]})");
  PluginResult r = Run(s);
  EXPECT_EQ(r.status, "Skipped");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.stdout_text.find("skipped"), std::string::npos);
  EXPECT_FALSE(FileExists(ctx_.orchestration_dir + "/_script.sh"));
}

TEST_F(PluginsTest, UnsupportedPluginsFailClearly) {
  Step s;
  s.id = "nested";
  s.action = "aws:runPowerShellScript";
  PluginResult r = Run(s);
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.stderr_text.find("aws:runPowerShellScript"), std::string::npos);
}

// A whole sendCommand through RunJob: parameter substitution, replies in order.
TEST_F(PluginsTest, JobSendsAReplyPerPluginThenTheFinal) {
  const std::string payload = R"({"CommandId":"c-1","DocumentName":"Doc",
    "DocumentContent":{"schemaVersion":"2.2",
      "parameters":{"who":{"type":"String","default":"nobody"},"code":{"type":"String"}},
      "mainSteps":[
        {"action":"aws:runShellScript","name":"greet","inputs":{"runCommand":["echo hello {{ who }}"]}},
        {"action":"aws:runShellScript","name":"fail","inputs":{"runCommand":["exit {{code}}"]}},
        {"action":"aws:runShellScript","name":"win","precondition":{"StringEquals":["platformType","Windows"]},
         "inputs":{"runCommand":["echo no"]}}]},
    "Parameters":{"who":"world","code":"4"}})";
  auto plan = ParseSendCommand(payload);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::vector<std::string> replies;
  std::mutex mu;
  CancelToken cancel;
  ctx_.orchestration_dir = dir_ + "/jobs/c-1";
  const std::string final_status = RunJob(*plan, ctx_, cancel, [&](std::string p) {
    std::lock_guard<std::mutex> lock(mu);
    replies.push_back(std::move(p));
  });
  EXPECT_EQ(final_status, "Failed");
  ASSERT_EQ(replies.size(), 4u);
  json first = json::parse(replies[0]);
  EXPECT_EQ(first["documentStatus"], "InProgress");
  EXPECT_EQ(first["runtimeStatus"]["greet"]["standardOutput"], "hello world\n");
  EXPECT_EQ(first["additionalInfo"]["runtimeStatusCounts"], json({{"Success", 1}}));
  json second = json::parse(replies[1]);
  EXPECT_EQ(second["runtimeStatus"]["fail"]["status"], "Failed");
  EXPECT_EQ(second["runtimeStatus"]["fail"]["code"], 4);
  json third = json::parse(replies[2]);
  EXPECT_EQ(third["runtimeStatus"]["win"]["status"], "Skipped");
  json last = json::parse(replies[3]);
  EXPECT_EQ(last["documentStatus"], "Failed");
  EXPECT_TRUE(last["runtimeStatus"].empty());
  EXPECT_EQ(last["additionalInfo"]["runtimeStatusCounts"],
            json({{"Success", 1}, {"Failed", 1}, {"Skipped", 1}}));
  EXPECT_TRUE(FileExists(dir_ + "/jobs/c-1/greet/_script.sh"));
}

TEST_F(PluginsTest, CancelledJobCancelsTheRest) {
  auto plan = ParseSendCommand(R"({"CommandId":"c-2","DocumentContent":{"schemaVersion":"2.2",
    "mainSteps":[{"action":"aws:runShellScript","name":"long","inputs":{"runCommand":"sleep 60"}},
                 {"action":"aws:runShellScript","name":"after","inputs":{"runCommand":"echo x"}}]}})");
  ASSERT_TRUE(plan.ok());
  CancelToken cancel;
  std::vector<std::string> replies;
  std::thread t([&] {
    RunJob(*plan, ctx_, cancel, [&](std::string p) { replies.push_back(std::move(p)); });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  cancel.Cancel(CancelToken::Reason::kCancel);
  t.join();
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(json::parse(replies[0])["runtimeStatus"]["long"]["status"], "Cancelled");
  EXPECT_EQ(json::parse(replies[1])["runtimeStatus"]["after"]["status"], "Cancelled");
  EXPECT_EQ(json::parse(replies[2])["documentStatus"], "Cancelled");
}

TEST_F(PluginsTest, Schema12PropertiesMerge) {
  auto plan = ParseSendCommand(R"({"CommandId":"c-3","DocumentContent":{"schemaVersion":"1.2",
    "runtimeConfig":{"aws:runShellScript":{"properties":[
      {"runCommand":["echo one"]},{"runCommand":["echo two; exit 5"]}]}}}})");
  ASSERT_TRUE(plan.ok());
  CancelToken cancel;
  PluginResult r = RunStep(plan->steps[0], ctx_, cancel);
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(r.stdout_text, "one\n\ntwo\n");
  EXPECT_EQ(r.id, "aws:runShellScript");
}

}  // namespace
}  // namespace gc::agent
