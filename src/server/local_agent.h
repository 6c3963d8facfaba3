// LocalAgent: `groundcrewd --local-agent` runs a groundcrew-agent for the machine groundcrewd is
// on, as a child process, so that the embedded default manages its own host from the first
// start. The first time (or when groundcrewd's endpoint changed), it makes a one-use
// activation in-process and runs `groundcrew-agent register`; then it runs `groundcrew-agent
// run` and restarts it (after 5 s) if it exits, until Stop(). The agent talks to groundcrewd over its public endpoint with its
// own node credentials, exactly as a remote agent does.
//
// Thread-safe: Start and Stop from one thread; the supervision runs on a thread of its own.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gc::server {

struct LocalAgentOptions {
  std::string agent_binary;  // groundcrew-agent
  std::string state_dir;     // the agent's --state-dir (DATA_DIR/local-agent)
  std::string endpoint;      // groundcrewd's URL
  std::string ca_file;       // the CA to trust for HTTPS ("" : the system's)
  std::string region = "us-east-1";
  std::string root = "/";
};

class LocalAgent {
 public:
  // `activate` returns a fresh activation {code, id} for the one registration.
  using Activate = std::function<Result<std::pair<std::string, std::string>>()>;
  LocalAgent(LocalAgentOptions options, Activate activate);
  ~LocalAgent();  // Stop()

  void Start();
  // Stops the agent (SIGTERM, then SIGKILL after 10 s) and the supervision.
  void Stop();

 private:
  void Supervise();
  bool Registered() const;
  Status Register();
  // Runs `argv` as a child; returns its pid or -1.
  int Spawn(const std::vector<std::string>& argv);
  // Waits up to `ms` for Stop(); true when stopping.
  bool StopRequested(int ms);

  const LocalAgentOptions options_;
  Activate activate_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  int child_ = -1;         // GUARDED_BY(mu_)
};

}  // namespace gc::server
