#include "server/local_agent.h"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <vector>

extern char** environ;

namespace gc::server {

LocalAgent::LocalAgent(LocalAgentOptions options, Activate activate)
    : options_(std::move(options)), activate_(std::move(activate)) {}

LocalAgent::~LocalAgent() { Stop(); }

void LocalAgent::Start() {
  thread_ = std::thread([this] { Supervise(); });
}

void LocalAgent::Stop() {
  int child = -1;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    child = child_;
  }
  cv_.notify_all();
  if (child > 0) {
    ::kill(child, SIGTERM);
    // The supervisor reaps it; after 10 s it gets SIGKILL.
    for (int i = 0; i < 100; ++i) {
      {
        std::lock_guard lock(mu_);
        if (child_ != child) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (i == 99) ::kill(child, SIGKILL);
    }
  }
  if (thread_.joinable()) thread_.join();
}

bool LocalAgent::StopRequested(int ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
  return stopping_;
}

bool LocalAgent::Registered() const {
  const std::string path = options_.state_dir + "/identity.json";
  std::ifstream in(path);
  if (!in) return false;
  auto identity = nlohmann::json::parse(in, nullptr, false);
  std::string registered_at = identity.is_object() ? identity.value("Endpoint", "") : "";
  while (!registered_at.empty() && registered_at.back() == '/') registered_at.pop_back();
  if (registered_at == options_.endpoint) return true;
  // groundcrewd listens elsewhere now: the old identity points at nothing. Keep it aside and
  // register again (the old node shows ConnectionLost until deregistered).
  fmt::print(stderr, "groundcrewd: local agent registered with {}, now {}; registering again\n",
             registered_at, options_.endpoint);
  std::error_code ec;
  std::filesystem::remove_all(options_.state_dir + ".previous", ec);
  std::filesystem::rename(options_.state_dir, options_.state_dir + ".previous", ec);
  return false;
}

int LocalAgent::Spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The agent's output goes to groundcrewd's stderr (its log), never to stdout, which scripts
  // read for the ready line.
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = -1;
  std::lock_guard lock(mu_);
  if (stopping_) {
    posix_spawn_file_actions_destroy(&actions);
    return -1;
  }
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    fmt::print(stderr, "groundcrewd: local agent: cannot start {}: {}\n", argv[0],
               std::strerror(rc));
    return -1;
  }
  child_ = pid;
  return pid;
}

Status LocalAgent::Register() {
  auto activation = activate_();
  if (!activation.ok()) return activation.take_error();
  std::vector<std::string> argv = {options_.agent_binary, "register",  "--endpoint",
                                   options_.endpoint,     "--code",    activation->first,
                                   "--id",                activation->second, "--region",
                                   options_.region,       "--state-dir", options_.state_dir};
  if (!options_.ca_file.empty()) {
    argv.push_back("--ca-file");
    argv.push_back(options_.ca_file);
  }
  int pid = Spawn(argv);
  if (pid < 0) return AwsError::Internal("the local agent could not be started");
  int status = 0;
  ::waitpid(pid, &status, 0);
  {
    std::lock_guard lock(mu_);
    child_ = -1;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return AwsError::Internal("groundcrew-agent register failed");
  }
  return Ok{};
}

void LocalAgent::Supervise() {
  if (::access(options_.agent_binary.c_str(), X_OK) != 0) {
    fmt::print(stderr, "groundcrewd: local agent: {} not found; no local agent\n",
               options_.agent_binary);
    return;
  }
  while (!Registered()) {
    Status st = Register();
    if (st.ok()) break;
    fmt::print(stderr, "groundcrewd: local agent: {}; retrying in 5 s\n", st.error().message);
    if (StopRequested(5000)) return;
  }
  while (true) {
    int pid = Spawn({options_.agent_binary, "run", "--state-dir", options_.state_dir, "--root",
                     options_.root});
    if (pid < 0) {
      if (StopRequested(5000)) return;
      continue;
    }
    fmt::print(stderr, "groundcrewd: local agent running (pid {}, state {})\n", pid,
               options_.state_dir);
    int status = 0;
    ::waitpid(pid, &status, 0);
    {
      std::lock_guard lock(mu_);
      child_ = -1;
    }
    if (StopRequested(0)) return;
    fmt::print(stderr, "groundcrewd: local agent exited ({}); restarting in 5 s\n",
               WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                                 : fmt::format("signal {}", WTERMSIG(status)));
    if (StopRequested(5000)) return;
  }
}

}  // namespace gc::server
