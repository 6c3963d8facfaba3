#include "agent/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

extern char** environ;

namespace gc::agent {
namespace {

// After the child exits, how long to keep reading output that background processes it left
// behind may still hold open.
constexpr int64_t kDrainAfterExitMillis = 500;
// Poll slice when the kernel has no pidfd_open (Linux < 5.3).
constexpr int kFallbackSliceMillis = 100;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
  }
#endif
  return -1;
}

struct Stream {
  int fd = -1;
  std::string* text = nullptr;
  uint64_t* total = nullptr;
};

// Reads what is available; false at end of file or on error.
bool ReadSome(Stream& s, size_t cap) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(s.fd, buf, sizeof buf);
    if (n > 0) {
      *s.total += static_cast<uint64_t>(n);
      if (s.text->size() < cap) {
        s.text->append(buf, std::min(static_cast<size_t>(n), cap - s.text->size()));
      }
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// dup2 that also works when `from` already is `to` (then only FD_CLOEXEC is cleared).
// Async-signal-safe.
void MoveFd(int from, int to) {
  if (from == to) {
    ::fcntl(to, F_SETFD, 0);
  } else {
    ::dup2(from, to);
  }
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

CancelToken::CancelToken() { fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

CancelToken::~CancelToken() {
  if (fd_ >= 0) ::close(fd_);
}

void CancelToken::Cancel(Reason reason) {
  int expected = 0;
  reason_.compare_exchange_strong(expected, static_cast<int>(reason));
  if (fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
  }
}

std::vector<std::string> EnvironmentWith(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [k, v] : overrides) replaced = replaced || name == k;
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [k, v] : overrides) env.push_back(k + "=" + v);
  return env;
}

ProcessResult RunProcess(const ProcessSpec& spec, CancelToken* cancel) {
  ProcessResult result;
  if (spec.argv.empty()) {
    result.error = "nothing to run";
    return result;
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  const long max_fd = std::min<long>(::sysconf(_SC_OPEN_MAX), 65536);

  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int exec_pipe[2] = {-1, -1};  // the child writes errno here if exec fails
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + std::strerror(errno);
    for (int* p : {out_pipe, err_pipe, exec_pipe}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
    return result;
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    result.error = std::string("fork: ") + std::strerror(errno);
    for (int* p : {out_pipe, err_pipe, exec_pipe}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
    return result;
  }
  if (pid == 0) {
    // Child. Own process group, so a timeout or cancel can kill everything it starts.
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the agent blocks SIGTERM/SIGINT
    ::signal(SIGPIPE, SIG_DFL);                  // ignored dispositions survive exec
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in >= 0) MoveFd(in, 0);
    MoveFd(out_pipe[1], 1);
    MoveFd(err_pipe[1], 2);
    // Nothing of the agent's (its HTTP connections above all) leaks into the script.
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
#endif
    {
      for (long fd = 3; fd < max_fd; ++fd) ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    }
    int err = 0;
    if (cwd != nullptr && ::chdir(cwd) != 0) {
      err = errno;
    } else {
      ::execve(argv[0], argv.data(), envp.data());
      err = errno;
    }
    const char tag = cwd != nullptr && err != 0 && ::access(cwd, X_OK) != 0 ? 'd' : 'e';
    char msg[1 + sizeof(int)];
    msg[0] = tag;
    std::memcpy(msg + 1, &err, sizeof(int));
    [[maybe_unused]] ssize_t n = ::write(exec_pipe[1], msg, sizeof msg);
    ::_exit(127);
  }

  // Parent.
  ::setpgid(pid, pid);  // also here, so the group exists before any kill below
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  CloseFd(exec_pipe[1]);
  {
    char msg[1 + sizeof(int)];
    ssize_t n;
    do {
      n = ::read(exec_pipe[0], msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    CloseFd(exec_pipe[0]);
    if (n == static_cast<ssize_t>(sizeof msg)) {
      int err = 0;
      std::memcpy(&err, msg + 1, sizeof(int));
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      CloseFd(out_pipe[0]);
      CloseFd(err_pipe[0]);
      result.error = msg[0] == 'd'
                         ? "cannot change to directory " + spec.cwd + ": " + std::strerror(err)
                         : "cannot run " + spec.argv[0] + ": " + std::strerror(err);
      return result;
    }
  }
  result.started = true;
  ::fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  Stream streams[2] = {{out_pipe[0], &result.stdout_text, &result.stdout_bytes},
                       {err_pipe[0], &result.stderr_text, &result.stderr_bytes}};
  int pidfd = PidfdOpen(pid);

  const int64_t start = NowMillis();
  const int64_t deadline = spec.timeout_millis > 0 ? start + spec.timeout_millis : -1;
  bool exited = false;
  bool killed = false;
  int status = 0;
  int64_t drain_until = -1;

  auto kill_group = [&] {
    if (!killed) {
      ::kill(-pid, SIGKILL);
      killed = true;
    }
  };
  auto try_reap = [&] {
    if (exited) return;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      exited = true;
      drain_until = NowMillis() + kDrainAfterExitMillis;
    }
  };

  for (;;) {
    const bool streams_open = streams[0].fd >= 0 || streams[1].fd >= 0;
    if (exited && (!streams_open || NowMillis() >= drain_until)) break;

    pollfd fds[4];
    int n = 0;
    int idx_stream[2] = {-1, -1};
    for (int i = 0; i < 2; ++i) {
      if (streams[i].fd >= 0) {
        idx_stream[i] = n;
        fds[n++] = {streams[i].fd, POLLIN, 0};
      }
    }
    int idx_pid = -1;
    if (!exited && pidfd >= 0) {
      idx_pid = n;
      fds[n++] = {pidfd, POLLIN, 0};
    }
    int idx_cancel = -1;
    if (cancel != nullptr && cancel->fd() >= 0 && !killed) {
      idx_cancel = n;
      fds[n++] = {cancel->fd(), POLLIN, 0};
    }

    const int64_t now = NowMillis();
    int64_t wait = -1;
    if (deadline >= 0 && !killed) wait = std::max<int64_t>(0, deadline - now);
    if (exited) {
      const int64_t left = std::max<int64_t>(0, drain_until - now);
      wait = wait < 0 ? left : std::min(wait, left);
    } else if (pidfd < 0) {
      wait = wait < 0 ? kFallbackSliceMillis : std::min<int64_t>(wait, kFallbackSliceMillis);
    }
    const int rc = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(wait));
    if (rc < 0 && errno != EINTR) break;

    for (int i = 0; i < 2; ++i) {
      if (idx_stream[i] >= 0 && rc > 0 && fds[idx_stream[i]].revents != 0) {
        if (!ReadSome(streams[i], spec.max_capture)) CloseFd(streams[i].fd);
      }
    }
    if (idx_cancel >= 0 && rc > 0 && fds[idx_cancel].revents != 0) {
      if (!exited) result.cancelled = true;
      kill_group();
    }
    if (deadline >= 0 && !killed && !exited && NowMillis() >= deadline) {
      result.timed_out = true;
      kill_group();
    }
    if (cancel != nullptr && cancel->cancelled() && !killed && !exited) {
      result.cancelled = true;
      kill_group();
    }
    if (!exited) {
      const bool pid_ready = idx_pid >= 0 && rc > 0 && fds[idx_pid].revents != 0;
      const bool streams_done = streams[0].fd < 0 && streams[1].fd < 0;
      if (pidfd < 0 || pid_ready || streams_done) try_reap();
    }
    if (killed && !exited) {
      // The group is dead or dying: wait for the child itself, then drain briefly.
      int st = 0;
      pid_t r;
      do {
        r = ::waitpid(pid, &st, 0);
      } while (r < 0 && errno == EINTR);
      if (r == pid) status = st;
      exited = true;
      drain_until = NowMillis() + kDrainAfterExitMillis;
    }
  }
  if (!exited) {
    kill_group();
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  for (auto& s : streams) CloseFd(s.fd);
  if (pidfd >= 0) ::close(pidfd);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace gc::agent
