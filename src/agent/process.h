// RunProcess: runs one program in its own process group with fork/exec, stdin from /dev/null,
// stdout and stderr captured through pipes and poll(2) (up to a cap each), a timeout and a
// cancel token; either kills the whole process group with SIGKILL. No busy waiting: the thread
// sleeps in poll on the pipes, a pidfd for the child's exit and the token's eventfd.
// Thread-safe: several threads may run processes at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace gc::agent {

// Wakes a running RunProcess (and anything else polling fd()). Thread-safe.
class CancelToken {
 public:
  enum class Reason { kNone = 0, kCancel = 1, kShutdown = 2 };
  CancelToken();
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  void Cancel(Reason reason);  // the first reason wins
  Reason reason() const { return static_cast<Reason>(reason_.load()); }
  bool cancelled() const { return reason() != Reason::kNone; }
  int fd() const { return fd_; }  // readable once cancelled

 private:
  std::atomic<int> reason_{0};
  int fd_ = -1;
};

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is the program path
  std::string cwd;                // "" = inherit
  std::vector<std::string> env;   // "NAME=value" entries: the whole environment
  int64_t timeout_millis = 0;     // <= 0: none
  size_t max_capture = 1 << 20;   // bytes kept per stream; the rest is read and counted
};

struct ProcessResult {
  bool started = false;
  std::string error;       // why it did not start (exec failure, bad cwd, ...)
  int exit_code = -1;      // exit status, or 128 + signal number when killed by a signal
  bool timed_out = false;  // killed because the timeout passed
  bool cancelled = false;  // killed because the token was cancelled
  std::string stdout_text;
  std::string stderr_text;
  uint64_t stdout_bytes = 0;  // total produced, kept or not
  uint64_t stderr_bytes = 0;
};

ProcessResult RunProcess(const ProcessSpec& spec, CancelToken* cancel);

// The current environment as "NAME=value" entries, with `overrides` replacing or adding names.
std::vector<std::string> EnvironmentWith(
    const std::vector<std::pair<std::string, std::string>>& overrides);

}  // namespace gc::agent
