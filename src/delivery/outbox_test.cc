// Tests of the delivery outbox with real parts: a real HTTP server (poll loop in a thread) on
// 127.0.0.1 port 0, a real SMTP server (aiosmtpd, tests/tools/smtp_sink.py), a real HTTPS server
// (Python's http.server with a throwaway certificate), real stores (SQLite in a temp dir, and a
// throwaway PostgreSQL from src/store/pg_test_server.sh), a real crashed process (this binary
// re-executed, killing itself with _exit mid-delivery), and a FakeClock for the retry schedule.
// For measuring: GC_OUTBOX_BURST=N sizes the burst test; GC_OUTBOX_PRELOAD=1 enqueues it all
// before starting the workers (delivery alone).
#include "delivery/outbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/crypto.h"
#include "delivery/email_message.h"
#include "store/store.h"

extern char** environ;

namespace gc::delivery {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Millis = std::chrono::milliseconds;

#define ASSERT_OK(expr)                                            \
  do {                                                             \
    auto _st = (expr);                                             \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.error().message; \
  } while (0)

constexpr char kDlqArn[] = "arn:aws:sqs:us-east-1:123456789012:dead-letters";

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void SkipBanner(const std::string& what) {
  std::fprintf(stderr,
               "\n**********************************************************************\n"
               "*** %s\n"
               "**********************************************************************\n\n",
               what.c_str());
}

// Polls `pred` every 5 ms until it holds or `timeout_ms` passes.
template <class Pred>
bool WaitUntil(Pred pred, int timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + Millis(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(Millis(5));
  }
  return true;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

int RunShell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : (WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc));
}

// ---------------------------------------------------------------------------------------------
// A real HTTP/1.1 server: one thread, poll(), keep-alive, Content-Length bodies. It records
// every request, answers with the configured status, and can be taken down (listener and every
// connection closed, so connecting is refused) and brought back on the same port.

struct HttpRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int answered = 0;

  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
    }
    return "";
  }
};

class TestHttpServer {
 public:
  TestHttpServer() {
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2");
    if (!Listen()) throw std::runtime_error("cannot listen on 127.0.0.1");
    thread_ = std::thread([this] { Loop(); });
  }
  ~TestHttpServer() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    Wake();
    thread_.join();
    for (auto& [fd, conn] : conns_) close(fd);
    if (listen_fd_ >= 0) close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
  }

  int port() const { return port_; }
  std::string Url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void SetStatus(int status) { status_ = status; }
  // Down: the port refuses connections and open connections are closed. Returns once applied.
  void SetDown(bool down) {
    std::unique_lock lock(mu_);
    want_down_ = down;
    ++command_seq_;
    const uint64_t seq = command_seq_;
    lock.unlock();
    Wake();
    lock.lock();
    cv_.wait(lock, [&] { return applied_seq_ >= seq; });
  }
  size_t Count() {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  std::vector<HttpRequest> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  bool WaitForCount(size_t n, int timeout_ms = 10000) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, Millis(timeout_ms), [&] { return requests_.size() >= n; });
  }

 private:
  struct Conn {
    std::string in;
    std::string out;
  };

  bool Listen() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return false;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    socklen_t len = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(fd);
      return false;
    }
    port_ = ntohs(addr.sin_port);
    listen_fd_ = fd;
    return true;
  }

  void Wake() {
    const char b = 1;
    [[maybe_unused]] ssize_t n = write(wake_[1], &b, 1);
  }

  void CloseAll() {
    for (auto& [fd, conn] : conns_) close(fd);
    conns_.clear();
    if (listen_fd_ >= 0) close(listen_fd_);
    listen_fd_ = -1;
  }

  // Parses complete requests out of c.in; queues their answers on c.out.
  void Serve(Conn& c) {
    while (true) {
      const size_t head_end = c.in.find("\r\n\r\n");
      if (head_end == std::string::npos) return;
      HttpRequest req;
      std::istringstream head(c.in.substr(0, head_end));
      std::string line;
      std::getline(head, line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::istringstream first(line);
      first >> req.method >> req.target;
      size_t length = 0;
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (strcasecmp(name.c_str(), "Content-Length") == 0) length = std::stoul(value);
        req.headers.emplace_back(std::move(name), std::move(value));
      }
      if (c.in.size() < head_end + 4 + length) return;  // the body is not all here yet
      req.body = c.in.substr(head_end + 4, length);
      c.in.erase(0, head_end + 4 + length);
      const int status = status_.load();
      req.answered = status;
      const std::string reason = status == 200 ? "OK" : "Internal Server Error";
      const std::string body = status == 200 ? "ok" : "failing on purpose";
      c.out += "HTTP/1.1 " + std::to_string(status) + " " + reason +
               "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(req));
      }
      cv_.notify_all();
    }
  }

  void Loop() {
    std::vector<pollfd> fds;
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (quit_) return;
        if (applied_seq_ < command_seq_) {
          if (want_down_ && listen_fd_ >= 0) CloseAll();
          if (!want_down_ && listen_fd_ < 0) Listen();
          applied_seq_ = command_seq_;
          cv_.notify_all();
        }
      }
      fds.clear();
      fds.push_back({wake_[0], POLLIN, 0});
      if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
      for (auto& [fd, conn] : conns_) {
        fds.push_back({fd, static_cast<short>(POLLIN | (conn.out.empty() ? 0 : POLLOUT)), 0});
      }
      if (poll(fds.data(), fds.size(), 1000) < 0) continue;
      for (const pollfd& p : fds) {
        if (p.revents == 0) continue;
        if (p.fd == wake_[0]) {
          char buf[64];
          while (read(wake_[0], buf, sizeof(buf)) > 0) {
          }
        } else if (p.fd == listen_fd_) {
          while (true) {
            const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) break;
            conns_[fd] = Conn{};
          }
        } else {
          auto it = conns_.find(p.fd);
          if (it == conns_.end()) continue;
          Conn& c = it->second;
          bool dead = (p.revents & (POLLERR | POLLHUP)) != 0 && (p.revents & POLLIN) == 0;
          if (!dead && (p.revents & POLLIN)) {
            char buf[65536];
            const ssize_t n = read(p.fd, buf, sizeof(buf));
            if (n <= 0) {
              dead = n == 0 || (errno != EAGAIN && errno != EINTR);
            } else {
              c.in.append(buf, static_cast<size_t>(n));
              Serve(c);
            }
          }
          if (!dead && !c.out.empty()) {
            const ssize_t n = send(p.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
            if (n > 0) {
              c.out.erase(0, static_cast<size_t>(n));
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
              dead = true;
            }
          }
          if (dead) {
            close(p.fd);
            conns_.erase(it);
          }
        }
      }
    }
  }

  int wake_[2] = {-1, -1};
  int listen_fd_ = -1;  // used by the loop thread (and the constructor before it starts)
  int port_ = 0;
  std::map<int, Conn> conns_;  // loop thread only
  std::thread thread_;
  std::atomic<int> status_{200};

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HttpRequest> requests_;  // guarded by mu_
  bool quit_ = false;                  // guarded by mu_
  bool want_down_ = false;             // guarded by mu_
  uint64_t command_seq_ = 0;           // guarded by mu_
  uint64_t applied_seq_ = 0;           // guarded by mu_
};

// ---------------------------------------------------------------------------------------------
// Child processes: spawned with fork + exec, stdout on a pipe.

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout

  // Reads one line of its stdout (without the newline); "" on EOF or after `timeout_ms`.
  std::string ReadLine(int timeout_ms) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + Millis(timeout_ms);
    while (true) {
      const auto left =
          std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char c;
      const ssize_t n = read(out, &c, 1);
      if (n <= 0) return "";
      if (c == '\n') return line;
      line += c;
    }
  }
  // Waits for it to exit; returns the exit status (128 + signal if killed), -1 on timeout.
  int Wait(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + Millis(timeout_ms);
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(Millis(10));
    }
  }
  void Stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      if (Wait(5000) == -1) {
        kill(pid, SIGKILL);
        Wait(5000);
      }
    }
    if (out >= 0) close(out);
    out = -1;
  }
  ~Child() { Stop(); }
};

// Starts argv[0] with `extra_env` added; its stdout goes to a pipe (or /dev/null).
std::unique_ptr<Child> Spawn(const std::vector<std::string>& argv,
                             const std::vector<std::string>& extra_env = {},
                             bool capture_stdout = true) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings(extra_env);
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  std::vector<char*> env;
  for (std::string& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  int fds[2] = {-1, -1};
  if (capture_stdout && pipe2(fds, O_CLOEXEC) != 0) return nullptr;
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid == 0) {  // async-signal-safe calls only
    dup2(capture_stdout ? fds[1] : devnull, 1);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  if (devnull >= 0) close(devnull);
  if (capture_stdout) close(fds[1]);
  if (pid < 0) {
    if (capture_stdout) close(fds[0]);
    return nullptr;
  }
  auto child = std::make_unique<Child>();
  child->pid = pid;
  child->out = capture_stdout ? fds[0] : -1;
  return child;
}

// A throwaway self-signed certificate for 127.0.0.1 (its own CA).
struct TestCert {
  std::string cert;
  std::string key;
};
std::optional<TestCert> MakeCert(const std::string& dir) {
  TestCert c{dir + "/cert.pem", dir + "/key.pem"};
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      c.key + " -out " + c.cert + " >/dev/null 2>&1";
  if (RunShell(cmd) != 0) return std::nullopt;
  return c;
}

// ---------------------------------------------------------------------------------------------
// A throwaway PostgreSQL (src/store/pg_test_server.sh), started on first use.

struct PgServer {
  std::string skip;
  std::string error;
  std::string url;  // postgresql://postgres@127.0.0.1:PORT/postgres
  std::string dir;
};

PgServer& Pg() {
  static PgServer pg;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string cmd = std::string("bash ") + GC_PG_TEST_SERVER_SH + " start 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) {
      pg.error = "popen failed";
      return;
    }
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
    const int rc = pclose(p);
    const int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (code == 77) {
      pg.skip = out;
      SkipBanner("POSTGRESQL TESTS SKIPPED: " + out);
      return;
    }
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.starts_with("postgresql://")) pg.url = line;
      if (line.starts_with("/")) pg.dir = line;
    }
    if (code != 0 || pg.url.empty()) {
      pg.error = "pg_test_server.sh start failed: " + out;
      return;
    }
    std::atexit([] {
      if (!pg.dir.empty()) {
        RunShell(std::string("bash ") + GC_PG_TEST_SERVER_SH + " stop " + pg.dir +
                 " >/dev/null 2>&1");
      }
    });
  });
  return pg;
}

std::string PgAdmin(const std::string& sql) {
  PGconn* c = PQconnectdb(Pg().url.c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

// ---------------------------------------------------------------------------------------------
// Helpers over a store and an outbox.

Delivery HttpDelivery(const std::string& url, const std::string& body) {
  Delivery d;
  d.kind = "http";
  d.endpoint = url;
  d.body = body;
  d.headers = {{"Content-Type", "text/plain; charset=UTF-8"},
               {"x-amz-sns-message-type", "Notification"}};
  d.account = "123456789012";
  d.region = "us-east-1";
  d.source = "arn:aws:sns:us-east-1:123456789012:topic:sub";
  return d;
}

Status EnqueueAll(store::Store& store, Outbox& outbox, const std::vector<Delivery>& ds) {
  Status st = store.Write([&](store::Tx& tx) { return outbox.Enqueue(tx, ds); });
  if (st.ok()) outbox.Notify();
  return st;
}

int64_t QueryInt(store::Store& store, const std::string& sql) {
  int64_t v = -1;
  Status st = store.Read([&](store::Tx& tx) -> Status {
    auto r = tx.Query(sql);
    if (!r) return r.take_error();
    v = r->empty() ? 0 : (*r)[0].Int(0);
    return Ok{};
  });
  if (!st) ADD_FAILURE() << sql << ": " << st.error().message;
  return v;
}

int64_t Rows(store::Store& store) {
  return QueryInt(store, "SELECT COUNT(*) FROM delivery_outbox");
}

// Waits until exactly one row matches `where` and is not claimed: an attempt's outcome is
// recorded (a worker counts and answers before it records, so a test must wait for this before
// it moves the clock on).
bool WaitForRecorded(store::Store& store, const std::string& where) {
  return WaitUntil([&] {
    return QueryInt(store, "SELECT COUNT(*) FROM delivery_outbox WHERE claim_token IS NULL AND " +
                               where) == 1;
  });
}

std::string LastError(store::Store& store) {
  std::string v;
  Status st = store.Read([&](store::Tx& tx) -> Status {
    auto r = tx.Query("SELECT last_error FROM delivery_outbox");
    if (!r) return r.take_error();
    if (!r->empty()) v = (*r)[0].Str(0);
    return Ok{};
  });
  if (!st) ADD_FAILURE() << st.error().message;
  return v;
}

// Stores a test uses: SQLite in a temp dir, or a fresh database on the throwaway PostgreSQL.
class TestStore {
 public:
  // Returns "" when ready, else why not (skip: starts with "SKIP ").
  std::string Init(const std::string& backend) {
    if (backend == "sqlite") {
      dir_ = MakeTempDir("gc_outbox_test_");
      url_ = "sqlite://" + dir_ + "/outbox.db";
    } else {
      PgServer& pg = Pg();
      if (!pg.skip.empty()) return "SKIP POSTGRESQL TESTS SKIPPED: " + pg.skip;
      if (!pg.error.empty()) return pg.error;
      static std::atomic<int> counter{0};
      db_ = "gc_outbox_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
      if (std::string e = PgAdmin("CREATE DATABASE " + db_); !e.empty()) return e;
      url_ = pg.url.substr(0, pg.url.rfind('/')) + "/" + db_;
    }
    store = Open();
    if (store == nullptr) return "cannot open " + url_;
    if (auto st = store->Migrate(Outbox::Migrations()); !st) return st.error().message;
    return "";
  }
  std::unique_ptr<store::Store> Open() {
    auto r = store::Store::Open(url_);
    if (!r) {
      ADD_FAILURE() << "Store::Open(" << url_ << "): " << r.error().message;
      return nullptr;
    }
    return std::move(*r);
  }
  ~TestStore() {
    store.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    if (!db_.empty()) PgAdmin("DROP DATABASE " + db_ + " WITH (FORCE)");
  }
  const std::string& url() const { return url_; }

  std::unique_ptr<store::Store> store;

 private:
  std::string dir_;
  std::string db_;
  std::string url_;
};

// ---------------------------------------------------------------------------------------------
// RetryPolicy and message text (pure).

TEST(RetryPolicyTest, DefaultsAreThreeRetriesTwentySecondsApart) {
  RetryPolicy p;
  EXPECT_EQ(p.num_retries, 3);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(p.DelaySeconds(i), 20) << i;
}

TEST(RetryPolicyTest, FollowsTheFourPhasesOfTheAwsExample) {
  // The AWS documentation's example: 3 immediate, 2 at 1 s, 10 backing off from 1 s to 60 s,
  // 35 at 60 s: 50 retries.
  RetryPolicy p = RetryPolicy::FromDeliveryPolicy(json::parse(R"({"healthyRetryPolicy": {
      "minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": 50, "numNoDelayRetries": 3,
      "numMinDelayRetries": 2, "numMaxDelayRetries": 35, "backoffFunction": "exponential"}})"));
  EXPECT_EQ(p.num_retries, 50);
  EXPECT_EQ(p.backoff_function, "exponential");
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(p.DelaySeconds(i), 0) << i;
  for (int i = 4; i <= 5; ++i) EXPECT_EQ(p.DelaySeconds(i), 1) << i;
  int64_t previous = 1;
  for (int i = 6; i <= 15; ++i) {
    const int64_t d = p.DelaySeconds(i);
    EXPECT_GE(d, previous) << i;
    EXPECT_LE(d, 60) << i;
    previous = d;
  }
  EXPECT_EQ(p.DelaySeconds(15), 60);
  for (int i = 16; i <= 50; ++i) EXPECT_EQ(p.DelaySeconds(i), 60) << i;
}

TEST(RetryPolicyTest, BackoffFunctionsRiseFromMinToMaxWithTheirShapes) {
  std::map<std::string, std::vector<int64_t>> curves;
  for (const char* f : {"linear", "arithmetic", "geometric", "exponential"}) {
    RetryPolicy p;
    p.num_retries = 10;
    p.min_delay_target_s = 10;
    p.max_delay_target_s = 1000;
    p.backoff_function = f;
    int64_t previous = 10;
    for (int i = 1; i <= 10; ++i) {
      const int64_t d = p.DelaySeconds(i);
      EXPECT_GE(d, previous) << f << " retry " << i;
      previous = d;
      curves[f].push_back(d);
    }
    EXPECT_EQ(p.DelaySeconds(10), 1000) << f;
    EXPECT_GT(p.DelaySeconds(1), 10) << f;
  }
  EXPECT_EQ(curves["linear"][0], 109);  // 10 + 990 / 10
  // Halfway through, the convex curves are still far below the straight line.
  EXPECT_LT(curves["arithmetic"][4], curves["linear"][4]);
  EXPECT_LT(curves["geometric"][4], curves["arithmetic"][4]);
  EXPECT_LT(curves["exponential"][4], curves["geometric"][4]);
}

TEST(RetryPolicyTest, ParsesBothPolicyFormsAndSurvivesGarbage) {
  // A topic's DeliveryPolicy: the http part holds defaultHealthyRetryPolicy.
  RetryPolicy topic = RetryPolicy::FromDeliveryPolicy(json::parse(
      R"({"http": {"defaultHealthyRetryPolicy": {"numRetries": 7, "minDelayTarget": "5",
          "maxDelayTarget": 9, "backoffFunction": "GEOMETRIC"}, "disableSubscriptionOverrides":
          false}})"));
  EXPECT_EQ(topic.num_retries, 7);
  EXPECT_EQ(topic.min_delay_target_s, 5);
  EXPECT_EQ(topic.max_delay_target_s, 9);
  EXPECT_EQ(topic.backoff_function, "geometric");
  // Wrong types and unknown functions keep the defaults; out-of-range values are clamped.
  RetryPolicy bad = RetryPolicy::FromDeliveryPolicy(json::parse(
      R"({"healthyRetryPolicy": {"numRetries": [], "minDelayTarget": "x",
          "maxDelayTarget": 99999, "backoffFunction": "cubic", "numNoDelayRetries": -4}})"));
  EXPECT_EQ(bad.num_retries, 3);
  EXPECT_EQ(bad.min_delay_target_s, 20);
  EXPECT_EQ(bad.max_delay_target_s, 3600);
  EXPECT_EQ(bad.backoff_function, "linear");
  EXPECT_EQ(bad.num_no_delay_retries, 0);
  for (const json& j : {json(), json(42), json::array(), json{{"healthyRetryPolicy", "no"}}}) {
    EXPECT_EQ(RetryPolicy::FromDeliveryPolicy(j).num_retries, 3) << j.dump();
  }
}

TEST(EmailMessageTest, HasTheRfc5322HeadersAndEncodesNonAscii) {
  const std::string m = internal::BuildEmailMessage(
      "Groundcrew <alerts@example.org>", "ops@example.net", "Patch run f\xC3\xA4rdig \xE2\x9C\x93",
      "line 1\nline 2\n", 1764064200000, "abc-123");
  EXPECT_NE(m.find("From: Groundcrew <alerts@example.org>\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("To: ops@example.net\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Subject: =?UTF-8?B?" +
                   crypto::Base64Encode("Patch run f\xC3\xA4rdig \xE2\x9C\x93") + "?=\r\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("Date: Tue, 25 Nov 2025 09:50:00 +0000\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Message-ID: <abc-123@example.org>\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("MIME-Version: 1.0\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Content-Type: text/plain; charset=UTF-8\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Content-Transfer-Encoding: 7bit\r\n\r\nline 1\r\nline 2\r\n"),
            std::string::npos)
      << m;
  // Non-ASCII bodies go quoted-printable; header injection through the subject is impossible.
  const std::string q = internal::BuildEmailMessage("a@b.c", "d@e.f", "x\r\nBcc: evil@x.y",
                                                    "gr\xC3\xBC\xC3\x9F"
                                                    "e = 1",
                                                    0, "id");
  EXPECT_NE(q.find("Subject: x  Bcc: evil@x.y\r\n"), std::string::npos) << q;
  EXPECT_NE(q.find("quoted-printable\r\n\r\ngr=C3=BC=C3=9Fe =3D 1\r\n"), std::string::npos) << q;
  // Long subjects become several encoded words of at most 75 characters.
  const std::string long_subject = internal::EncodeHeaderText(std::string(100, 'x') + "\xC3\xA9");
  EXPECT_NE(long_subject.find("\r\n =?UTF-8?B?"), std::string::npos);
  std::istringstream words(long_subject);
  for (std::string w; words >> w;) EXPECT_LE(w.size(), 75u) << w;
  EXPECT_EQ(internal::AddressOf("Name <a@b.c>"), "a@b.c");
}

// ---------------------------------------------------------------------------------------------
// Delivery behaviour on SQLite with a fake clock.

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string err = ts_.Init("sqlite");
    ASSERT_EQ(err, "");
    store_ = ts_.store.get();
  }

  std::unique_ptr<Outbox> MakeOutbox(OutboxOptions options = {}) {
    return std::make_unique<Outbox>(*store_, clock_, std::move(options));
  }

  TestStore ts_;
  store::Store* store_ = nullptr;
  FakeClock clock_{1'700'000'000'000};
  TestHttpServer http_;
};

TEST_F(OutboxTest, RetriesFollowThePolicyThenGoToTheDeadLetterQueue) {
  auto outbox = MakeOutbox();
  std::mutex mu;
  std::vector<Delivery> dead;  // guarded by mu
  outbox->RegisterSink("sqs", [&](const Delivery& d) -> Status {
    std::lock_guard lock(mu);
    dead.push_back(d);
    return Ok{};
  });
  http_.SetStatus(500);
  Delivery d = HttpDelivery(http_.Url(), "{\"Message\":\"hello\"}");
  // 3 retries: immediately, after the 5 s minimum, then after the 20 s maximum.
  d.retry.num_retries = 3;
  d.retry.num_no_delay_retries = 1;
  d.retry.num_min_delay_retries = 1;
  d.retry.min_delay_target_s = 5;
  d.retry.max_delay_target_s = 20;
  d.dead_letter_arn = kDlqArn;
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, {d}));

  ASSERT_TRUE(http_.WaitForCount(2)) << "the first attempt and the immediate retry";
  ASSERT_TRUE(WaitForRecorded(*store_, "attempts = 2"));
  std::this_thread::sleep_for(Millis(300));
  EXPECT_EQ(http_.Count(), 2u);
  EXPECT_NE(LastError(*store_).find("HTTP 500"), std::string::npos) << LastError(*store_);

  clock_.Advance(4999);
  outbox->Notify();
  std::this_thread::sleep_for(Millis(300));
  EXPECT_EQ(http_.Count(), 2u) << "retry 2 is not due before 5 s";
  clock_.Advance(1);
  outbox->Notify();
  ASSERT_TRUE(http_.WaitForCount(3));
  ASSERT_TRUE(WaitForRecorded(*store_, "attempts = 3"));

  clock_.Advance(19'999);
  outbox->Notify();
  std::this_thread::sleep_for(Millis(300));
  EXPECT_EQ(http_.Count(), 3u) << "retry 3 is not due before 20 s";
  clock_.Advance(1);
  outbox->Notify();
  ASSERT_TRUE(http_.WaitForCount(4));

  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lock(mu);
    return !dead.empty();
  })) << "exhausted: handed to the dead-letter queue";
  std::this_thread::sleep_for(Millis(300));
  EXPECT_EQ(http_.Count(), 4u) << "1 + num_retries attempts, no more";
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].kind, "sqs");
    EXPECT_EQ(dead[0].endpoint, kDlqArn);
    EXPECT_EQ(dead[0].body, d.body);
    EXPECT_EQ(dead[0].source, d.source);
    EXPECT_EQ(dead[0].region, "us-east-1");
  }
  for (const HttpRequest& r : http_.Requests()) EXPECT_EQ(r.body, d.body);
  ASSERT_TRUE(WaitUntil([&] { return Rows(*store_) == 0; }));
  const Outbox::Stats s = outbox->stats();
  EXPECT_EQ(s.failed_attempts, 4);
  EXPECT_EQ(s.dead_lettered, 1);
  EXPECT_EQ(s.delivered, 0);
  EXPECT_EQ(s.dropped, 0);
}

TEST_F(OutboxTest, DeadLetterHandOffIsRetriedUntilItSucceeds) {
  auto outbox = MakeOutbox();
  std::atomic<int> calls{0};
  outbox->RegisterSink("sqs", [&](const Delivery&) -> Status {
    if (++calls <= 2) return AwsError{"QueueDoesNotExist", "not yet", 400, true};
    return Ok{};
  });
  http_.SetStatus(500);
  Delivery d = HttpDelivery(http_.Url(), "x");
  d.retry.num_retries = 0;
  d.dead_letter_arn = kDlqArn;
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, {d}));
  ASSERT_TRUE(WaitForRecorded(*store_, "state = 'dead_letter' AND attempts = 1"));
  std::this_thread::sleep_for(Millis(300));
  EXPECT_EQ(calls, 1);
  clock_.Advance(1000);  // 1 s after the first failed hand-off
  outbox->Notify();
  ASSERT_TRUE(WaitForRecorded(*store_, "state = 'dead_letter' AND attempts = 2"));
  EXPECT_EQ(calls, 2);
  clock_.Advance(2000);  // then 2 s
  outbox->Notify();
  ASSERT_TRUE(WaitUntil([&] { return outbox->stats().dead_lettered == 1; }));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(http_.Count(), 1u);
  ASSERT_TRUE(WaitUntil([&] { return Rows(*store_) == 0; }));
}

TEST_F(OutboxTest, ExhaustedWithoutDeadLetterQueueIsDropped) {
  auto outbox = MakeOutbox();
  http_.SetStatus(500);
  Delivery d = HttpDelivery(http_.Url(), "x");
  d.retry.num_retries = 1;
  d.retry.min_delay_target_s = d.retry.max_delay_target_s = 10;
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, {d}));
  ASSERT_TRUE(WaitForRecorded(*store_, "attempts = 1"));
  EXPECT_EQ(http_.Count(), 1u);
  clock_.Advance(10'000);
  outbox->Notify();
  ASSERT_TRUE(http_.WaitForCount(2));
  ASSERT_TRUE(WaitUntil([&] { return outbox->stats().dropped == 1; }));
  EXPECT_EQ(Rows(*store_), 0);
  EXPECT_EQ(outbox->stats().failed_attempts, 2);
}

TEST_F(OutboxTest, EndpointDownIsAFailedAttemptAndTheRetryReachesItOnceUp) {
  auto outbox = MakeOutbox();
  http_.SetDown(true);
  Delivery d = HttpDelivery(http_.Url(), "down then up");
  d.retry.min_delay_target_s = d.retry.max_delay_target_s = 10;
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, {d}));
  ASSERT_TRUE(WaitForRecorded(*store_, "attempts = 1"));
  EXPECT_EQ(outbox->stats().failed_attempts, 1);
  EXPECT_NE(LastError(*store_).find("HTTP failed"), std::string::npos) << LastError(*store_);
  http_.SetDown(false);
  clock_.Advance(10'000);
  outbox->Notify();
  ASSERT_TRUE(http_.WaitForCount(1));
  EXPECT_EQ(http_.Requests()[0].body, "down then up");
  ASSERT_TRUE(WaitUntil([&] { return Rows(*store_) == 0; }));
  EXPECT_EQ(outbox->stats().delivered, 1);
}

TEST_F(OutboxTest, SinksGetTheirDeliveriesAndTheirErrorsAreRetried) {
  auto outbox = MakeOutbox();
  std::mutex mu;
  std::vector<Delivery> got;  // guarded by mu
  std::atomic<int> flaky_calls{0};
  outbox->RegisterSink("sqs", [&](const Delivery& d) -> Status {
    std::lock_guard lock(mu);
    got.push_back(d);
    return Ok{};
  });
  outbox->RegisterSink("flaky", [&](const Delivery&) -> Status {
    if (++flaky_calls == 1) return AwsError::Internal("first call fails");
    throw std::runtime_error("second call throws");  // an exception is a failed attempt too
  });
  Delivery sqs;
  sqs.kind = "sqs";
  sqs.endpoint = "arn:aws:sqs:us-east-1:123456789012:q";
  sqs.body = "to the queue";
  sqs.extra = {{"MessageAttributes", {{"a", {{"DataType", "String"}, {"StringValue", "1"}}}}}};
  Delivery flaky = sqs;
  flaky.kind = "flaky";
  flaky.retry.num_retries = 1;
  flaky.retry.min_delay_target_s = flaky.retry.max_delay_target_s = 1;
  Delivery unknown = sqs;
  unknown.kind = "nowhere";
  unknown.retry.num_retries = 0;
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, {sqs, flaky, unknown}));
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lock(mu);
    return !got.empty();
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(got[0].endpoint, sqs.endpoint);
    EXPECT_EQ(got[0].body, "to the queue");
    EXPECT_EQ(got[0].extra, sqs.extra);
  }
  ASSERT_TRUE(WaitUntil([&] { return flaky_calls == 1 && outbox->stats().dropped == 1; }));
  clock_.Advance(1000);
  outbox->Notify();
  ASSERT_TRUE(WaitUntil([&] { return outbox->stats().dropped == 2; }));
  EXPECT_EQ(flaky_calls, 2);
  EXPECT_EQ(outbox->stats().delivered, 1);
  EXPECT_EQ(outbox->stats().failed_attempts, 3);
  EXPECT_EQ(Rows(*store_), 0);
}

TEST_F(OutboxTest, StopFinishesTheAttemptInProgressAndPutsTheRestBack) {
  std::atomic<int> calls{0};
  std::atomic<bool> slow{true};
  auto slow_sink = [&](const Delivery&) -> Status {
    ++calls;
    if (slow) std::this_thread::sleep_for(Millis(200));
    return Ok{};
  };
  OutboxOptions one_worker;
  one_worker.workers = 1;
  auto outbox = MakeOutbox(one_worker);
  outbox->RegisterSink("slow", slow_sink);
  std::vector<Delivery> ds(10);
  for (Delivery& d : ds) d.kind = "slow";
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, ds));
  ASSERT_TRUE(WaitUntil([&] { return calls >= 1; }));
  outbox->Stop();
  const int done = calls;
  EXPECT_LE(done, 2);
  EXPECT_EQ(outbox->stats().delivered, done);
  EXPECT_EQ(Rows(*store_), 10 - done);
  EXPECT_EQ(QueryInt(*store_,
                     "SELECT COUNT(*) FROM delivery_outbox WHERE claim_token IS NULL "
                     "AND attempts = 0 AND next_attempt_at <= " +
                         std::to_string(clock_.NowMillis())),
            10 - done)
      << "released, due at once";
  slow = false;
  auto next = MakeOutbox();  // the clock has not moved: no lease to wait for
  next->RegisterSink("slow", slow_sink);
  next->Start();
  ASSERT_TRUE(WaitUntil([&] { return Rows(*store_) == 0; }));
  EXPECT_EQ(calls, 10);
}

TEST_F(OutboxTest, HttpsVerifiesThePeerAgainstTheSystemStoreAndCaFile) {
  const std::string dir = MakeTempDir("gc_outbox_tls_");
  auto cert = MakeCert(dir);
  ASSERT_TRUE(cert.has_value()) << "openssl req failed";
  const std::string script =
      "import http.server, ssl, sys\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "    protocol_version = 'HTTP/1.1'\n"
      "    def do_POST(self):\n"
      "        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))\n"
      "        print('POST ' + body.decode(), flush=True)\n"
      "        self.send_response(200)\n"
      "        self.send_header('Content-Length', '2')\n"
      "        self.end_headers()\n"
      "        self.wfile.write(b'ok')\n"
      "    def log_message(self, *a): pass\n"
      "class S(http.server.ThreadingHTTPServer):\n"
      "    daemon_threads = True\n"
      "    def handle_error(self, *a): pass\n"
      "srv = S(('127.0.0.1', 0), H)\n"
      "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
      "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
      "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
      "print('READY', srv.server_address[1], flush=True)\n"
      "srv.serve_forever()\n";
  auto server = Spawn({"/usr/bin/python3", "-c", script, cert->cert, cert->key});
  ASSERT_NE(server, nullptr);
  const std::string ready = server->ReadLine(10000);
  ASSERT_TRUE(ready.starts_with("READY ")) << "python https server did not start";
  const std::string url = "https://127.0.0.1:" + ready.substr(6) + "/hook";

  {  // Without the CA: the certificate is not trusted, a failed attempt.
    auto outbox = MakeOutbox();
    Delivery d = HttpDelivery(url, "untrusted");
    d.retry.num_retries = 0;
    outbox->Start();
    ASSERT_OK(EnqueueAll(*store_, *outbox, {d}));
    ASSERT_TRUE(WaitUntil([&] { return outbox->stats().dropped == 1; }));
    EXPECT_EQ(outbox->stats().failed_attempts, 1);
  }
  OutboxOptions options;
  options.ca_file = cert->cert;
  auto outbox = MakeOutbox(options);
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, {HttpDelivery(url, "trusted")}));
  EXPECT_EQ(server->ReadLine(10000), "POST trusted");
  ASSERT_TRUE(WaitUntil([&] { return outbox->stats().delivered == 1; }));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// ---------------------------------------------------------------------------------------------
// Email over a real SMTP server (aiosmtpd).

class SmtpSink {
 public:
  // Returns "" when running, "SKIP ..." when aiosmtpd is missing, else the error.
  std::string Start(const std::vector<std::string>& extra_args = {}) {
    dir = MakeTempDir("gc_outbox_smtp_");
    port = FreeLoopbackPort();
    std::vector<std::string> argv = {"/usr/bin/python3",   GC_SMTP_SINK_PY, "--port",
                                     std::to_string(port), "--dir",         dir + "/mail"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    if (!fs::exists("/usr/bin/python3")) return "SKIP /usr/bin/python3 is missing";
    child = Spawn(argv);
    if (child == nullptr) return "cannot spawn smtp_sink.py";
    const std::string line = child->ReadLine(15000);
    if (line.starts_with("READY")) return "";
    const int rc = child->Wait(5000);
    if (rc == 77) return "SKIP aiosmtpd is not installed for /usr/bin/python3";
    return "smtp_sink.py did not start (exit " + std::to_string(rc) + ")";
  }
  std::vector<json> Messages() {
    std::vector<json> out;
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir + "/mail", ec)) {
      if (e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) out.push_back(json::parse(ReadFile(f), nullptr, false));
    return out;
  }
  ~SmtpSink() {
    child.reset();
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }

  std::string dir;
  int port = 0;
  std::unique_ptr<Child> child;
};

#define START_SMTP_OR_SKIP(sink, ...)                       \
  do {                                                      \
    const std::string _err = (sink).Start(__VA_ARGS__);     \
    if (_err.starts_with("SKIP ")) {                        \
      SkipBanner("EMAIL TESTS SKIPPED: " + _err.substr(5)); \
      GTEST_SKIP() << _err;                                 \
    }                                                       \
    ASSERT_EQ(_err, "");                                    \
  } while (0)

Delivery EmailDelivery(const std::string& to, const std::string& subject, const std::string& body) {
  Delivery d;
  d.kind = "email";
  d.endpoint = to;
  d.subject = subject;
  d.body = body;
  d.source = "arn:aws:sns:us-east-1:123456789012:alerts:sub";
  return d;
}

TEST_F(OutboxTest, EmailArrivesOverSmtpAsAProperMessage) {
  SmtpSink sink;
  START_SMTP_OR_SKIP(sink);
  OutboxOptions options;
  options.smtp.host = "127.0.0.1";
  options.smtp.port = sink.port;
  options.smtp.from = "Groundcrew <no-reply@groundcrew.example>";
  auto outbox = MakeOutbox(options);
  outbox->Start();
  const std::string subject = "Maintenance window f\xC3\xA4rdig \xE2\x9C\x93";
  const std::string body =
      "Patch run finished.\n.\n..leading dots survive\nGr\xC3\xBC\xC3\x9F"
      "e\n";
  ASSERT_OK(EnqueueAll(*store_, *outbox, {EmailDelivery("ops@example.net", subject, body)}));
  ASSERT_TRUE(WaitUntil([&] { return sink.Messages().size() == 1; }));
  const json m = sink.Messages()[0];
  EXPECT_EQ(m["mail_from"], "no-reply@groundcrew.example");
  EXPECT_EQ(m["rcpt_tos"], json::array({"ops@example.net"}));
  EXPECT_EQ(m["from"], "Groundcrew <no-reply@groundcrew.example>");
  EXPECT_EQ(m["to"], "ops@example.net");
  EXPECT_EQ(m["subject"], subject);
  EXPECT_EQ(m["body"], body);
  EXPECT_EQ(m["content_type"], "text/plain; charset=UTF-8");
  EXPECT_TRUE(m["date"].get<std::string>().ends_with(" +0000")) << m["date"];
  EXPECT_TRUE(m["message_id"].get<std::string>().ends_with("@groundcrew.example>"))
      << m["message_id"];
  ASSERT_TRUE(WaitUntil([&] { return outbox->stats().delivered == 1 && Rows(*store_) == 0; }));
}

TEST_F(OutboxTest, EmailWithStartTlsAndLogin) {
  const std::string dir = MakeTempDir("gc_outbox_smtp_tls_");
  auto cert = MakeCert(dir);
  ASSERT_TRUE(cert.has_value());
  SmtpSink sink;
  START_SMTP_OR_SKIP(sink, {"--tls-cert", cert->cert, "--tls-key", cert->key, "--auth",
                            "mailer:s3cret", "--fail-rcpt", "nobody@example.net"});
  OutboxOptions options;
  options.smtp.host = "127.0.0.1";
  options.smtp.port = sink.port;
  options.smtp.starttls = true;
  options.smtp.username = "mailer";
  options.smtp.password = "s3cret";
  options.ca_file = cert->cert;
  auto outbox = MakeOutbox(options);
  outbox->Start();
  Delivery rejected = EmailDelivery("nobody@example.net", "x", "y");
  rejected.retry.num_retries = 0;
  ASSERT_OK(EnqueueAll(*store_, *outbox,
                       {EmailDelivery("ops@example.net", "Over TLS", "secret body"), rejected}));
  ASSERT_TRUE(WaitUntil([&] { return sink.Messages().size() == 1; }));
  const json m = sink.Messages()[0];
  EXPECT_EQ(m["tls"], true);
  EXPECT_EQ(m["auth_user"], "mailer");
  EXPECT_EQ(m["subject"], "Over TLS");
  EXPECT_EQ(m["body"], "secret body\n");
  ASSERT_TRUE(WaitUntil([&] { return outbox->stats().dropped == 1; }))
      << "a recipient the relay refuses is a failed attempt";
  EXPECT_EQ(outbox->stats().delivered, 1);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_F(OutboxTest, EmailWithoutARelayIsAFailedAttempt) {
  auto outbox = MakeOutbox();  // no smtp.host
  outbox->Start();
  ASSERT_OK(EnqueueAll(*store_, *outbox, {EmailDelivery("ops@example.net", "s", "b")}));
  ASSERT_TRUE(WaitForRecorded(*store_, "attempts = 1"));
  EXPECT_EQ(outbox->stats().failed_attempts, 1);
  EXPECT_NE(LastError(*store_).find("no SMTP relay"), std::string::npos) << LastError(*store_);
  EXPECT_EQ(Rows(*store_), 1) << "kept for its retries";
}

// ---------------------------------------------------------------------------------------------
// Durability and throughput, on SQLite and PostgreSQL.

class OutboxStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string err = ts_.Init(GetParam());
    if (err.starts_with("SKIP ")) GTEST_SKIP() << err.substr(5);
    ASSERT_EQ(err, "");
  }
  TestStore ts_;
  TestHttpServer http_;
};

TEST_P(OutboxStoreTest, DeliversHttpWithItsHeadersAndBody) {
  SystemClock clock;
  Outbox outbox(*ts_.store, clock, {});
  outbox.Start();
  Delivery d = HttpDelivery(http_.Url("/sns/endpoint?x=1"), "{\"Type\":\"Notification\"}");
  d.headers.emplace_back("x-amz-sns-topic-arn", "arn:aws:sns:us-east-1:123456789012:topic");
  d.headers.emplace_back("X-Evil", "a\r\nInjected: yes");  // never sent
  Delivery plain = HttpDelivery(http_.Url("/plain"), std::string(5000, 'b'));
  plain.headers.clear();
  ASSERT_OK(EnqueueAll(*ts_.store, outbox, {d, plain}));
  ASSERT_TRUE(http_.WaitForCount(2));
  std::map<std::string, HttpRequest> by_target;
  for (HttpRequest& r : http_.Requests()) by_target[r.target] = r;
  const HttpRequest& r = by_target["/sns/endpoint?x=1"];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.body, d.body);
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(r.Header("x-amz-sns-message-type"), "Notification");
  EXPECT_EQ(r.Header("x-amz-sns-topic-arn"), "arn:aws:sns:us-east-1:123456789012:topic");
  EXPECT_EQ(r.Header("X-Evil"), "");
  EXPECT_EQ(r.Header("Injected"), "");
  const HttpRequest& p = by_target["/plain"];
  EXPECT_EQ(p.body, plain.body);
  EXPECT_EQ(p.Header("Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(p.Header("Expect"), "");
  ASSERT_TRUE(WaitUntil([&] { return Rows(*ts_.store) == 0; }));
  EXPECT_EQ(outbox.stats().delivered, 2);
}

TEST_P(OutboxStoreTest, UndeliveredRowsSurviveAStopAndAreDeliveredAfterRestart) {
  constexpr int kCount = 50;
  FakeClock clock(1'700'000'000'000);
  http_.SetDown(true);
  std::vector<Delivery> ds;
  for (int i = 0; i < kCount; ++i) {
    Delivery d = HttpDelivery(http_.Url(), "restart-" + std::to_string(i));
    d.retry.min_delay_target_s = d.retry.max_delay_target_s = 30;
    ds.push_back(d);
  }
  {
    Outbox outbox(*ts_.store, clock, {});
    outbox.Start();
    ASSERT_OK(EnqueueAll(*ts_.store, outbox, ds));
    ASSERT_TRUE(WaitUntil([&] { return outbox.stats().failed_attempts == kCount; }));
  }                        // stopped
  ts_.store.reset();       // the whole process goes away...
  ts_.store = ts_.Open();  // ... and comes back
  ASSERT_NE(ts_.store, nullptr);
  EXPECT_EQ(Rows(*ts_.store), kCount);
  EXPECT_EQ(QueryInt(*ts_.store,
                     "SELECT COUNT(*) FROM delivery_outbox WHERE attempts = 1 AND "
                     "claim_token IS NULL"),
            kCount);
  http_.SetDown(false);
  clock.Advance(30'000);
  Outbox outbox(*ts_.store, clock, {});
  outbox.Start();
  ASSERT_TRUE(http_.WaitForCount(kCount));
  std::set<std::string> bodies;
  for (const HttpRequest& r : http_.Requests()) bodies.insert(r.body);
  EXPECT_EQ(bodies.size(), static_cast<size_t>(kCount));
  ASSERT_TRUE(WaitUntil([&] { return Rows(*ts_.store) == 0; }));
}

// Publish's path: rows written for a hand-off, then given to the workers in memory after the
// commit. On PostgreSQL nothing is handed off and the store path delivers them.
TEST_P(OutboxStoreTest, HandedOffDeliveriesArriveOnceAndTheirRowsGo) {
  constexpr int kCount = 200;
  SystemClock clock;
  Outbox outbox(*ts_.store, clock, {});
  outbox.Start();
  for (int i = 0; i < kCount; i += 10) {
    auto ds = std::make_shared<std::vector<Delivery>>();
    for (int j = i; j < i + 10; ++j) {
      ds->push_back(HttpDelivery(http_.Url(), "handed-" + std::to_string(j)));
    }
    std::vector<int64_t> ids;
    ASSERT_OK(ts_.store->Write([&](store::Tx& tx) { return outbox.Enqueue(tx, *ds, &ids); }));
    ASSERT_EQ(ids.size(), ds->size());
    const bool handed = GetParam() == "sqlite";
    for (int64_t id : ids) EXPECT_EQ(id != 0, handed);
    outbox.HandOff(ids, std::move(*ds));
  }
  ASSERT_TRUE(http_.WaitForCount(kCount));
  ASSERT_TRUE(WaitUntil([&] { return Rows(*ts_.store) == 0; }));
  std::set<std::string> bodies;
  for (const HttpRequest& r : http_.Requests()) bodies.insert(r.body);
  EXPECT_EQ(bodies.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(http_.Count(), static_cast<size_t>(kCount)) << "no duplicates";
  EXPECT_EQ(outbox.stats().delivered, kCount);
}

// An endpoint that never answers: it listens, so connections complete in the kernel and requests
// are sent, but nothing is ever accepted or read; every attempt waits out the timeout.
class SilentEndpoint {
 public:
  SilentEndpoint() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 1024) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentEndpoint() { close(fd_); }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Once an attempt at an unresponsive endpoint has timed out, its deliveries go to the slow lane:
// the deliveries to everyone else arrive at once instead of waiting, batch after batch, for its
// timeouts (with 2 workers of 64, the later batches would each wait 3 s).
TEST_P(OutboxStoreTest, AnUnresponsiveEndpointHoldsUpOnlyItsOwnDeliveries) {
  SilentEndpoint silent;
  SystemClock clock;
  OutboxOptions options;
  options.workers = 2;
  options.http_timeout_ms = 3000;
  Outbox outbox(*ts_.store, clock, options);
  outbox.Start();
  ASSERT_OK(EnqueueAll(*ts_.store, outbox, {HttpDelivery(silent.Url(), "first")}));
  ASSERT_TRUE(WaitUntil([&] { return outbox.stats().failed_attempts == 1; }))
      << "the first attempt times out and marks the host slow";

  constexpr int kHealthy = 200;
  constexpr int kSilent = 40;  // one in six
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kHealthy + kSilent; i += 12) {
    auto ds = std::make_shared<std::vector<Delivery>>();
    for (int j = i; j < i + 12; ++j) {
      const bool to_silent = j % 6 == 5;
      ds->push_back(HttpDelivery(to_silent ? silent.Url() : http_.Url(), std::to_string(j)));
    }
    std::vector<int64_t> ids;
    ASSERT_OK(ts_.store->Write([&](store::Tx& tx) { return outbox.Enqueue(tx, *ds, &ids); }));
    outbox.HandOff(ids, std::move(*ds));  // SQLite; on PostgreSQL the store path claims them
  }
  ASSERT_TRUE(http_.WaitForCount(kHealthy, 20000));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, Millis(2000)) << "the healthy endpoint's deliveries waited for timeouts";
  EXPECT_EQ(outbox.stats().failed_attempts, 1) << "no timeout yet in the slow lane";
  // The slow lane attempts the others, 16 at a time: 3 rounds of the timeout.
  ASSERT_TRUE(WaitUntil([&] { return outbox.stats().failed_attempts == 1 + kSilent; }, 30000));
  EXPECT_EQ(outbox.stats().delivered, kHealthy);
  EXPECT_EQ(http_.Count(), static_cast<size_t>(kHealthy));
  // Their retries are scheduled under their claims; nothing is left claimed.
  ASSERT_TRUE(WaitUntil([&] {
    return QueryInt(*ts_.store, "SELECT COUNT(*) FROM delivery_outbox WHERE attempts = 1 AND "
                                "claim_token IS NULL") == 1 + kSilent;
  }));
  EXPECT_EQ(Rows(*ts_.store), 1 + kSilent);
}

// Committed but never handed off (the process died in between): the claims are released at the
// next start and the store path delivers the rows.
TEST_P(OutboxStoreTest, RowsWrittenForAHandOffThatNeverCameAreDeliveredAfterRestart) {
  if (GetParam() != "sqlite") GTEST_SKIP() << "hand-off is SQLite only";
  constexpr int kCount = 20;
  SystemClock clock;
  std::vector<Delivery> ds;
  for (int i = 0; i < kCount; ++i) {
    ds.push_back(HttpDelivery(http_.Url(), "lost-" + std::to_string(i)));
  }
  {
    Outbox outbox(*ts_.store, clock, {});
    std::vector<int64_t> ids;
    ASSERT_OK(ts_.store->Write([&](store::Tx& tx) { return outbox.Enqueue(tx, ds, &ids); }));
  }  // no HandOff, no Start: as if killed after the commit
  EXPECT_EQ(
      QueryInt(*ts_.store, "SELECT COUNT(*) FROM delivery_outbox WHERE claim_token IS NOT NULL"),
      kCount);
  Outbox outbox(*ts_.store, clock, {});
  outbox.Start();
  ASSERT_TRUE(http_.WaitForCount(kCount));
  ASSERT_TRUE(WaitUntil([&] { return Rows(*ts_.store) == 0; }));
  EXPECT_EQ(http_.Count(), static_cast<size_t>(kCount));
}

// The child half of CrashedProcessLeavesNothingBehind: runs only when that test spawns it.
TEST(OutboxCrashChild, EnqueuesStartsDeliveringAndDiesAbruptly) {
  const char* spec = std::getenv("GC_OUTBOX_CRASH_CHILD");  // store-url \t endpoint \t count
  if (spec == nullptr) GTEST_SKIP() << "helper process of OutboxStoreTest.CrashedProcess...";
  std::istringstream in(spec);
  std::string url, endpoint, count_text;
  std::getline(in, url, '\t');
  std::getline(in, endpoint, '\t');
  std::getline(in, count_text, '\t');
  const int count = std::stoi(count_text);
  auto store = store::Store::Open(url);
  if (!store) _exit(2);
  SystemClock clock;
  OutboxOptions options;
  options.workers = 2;
  auto* outbox = new Outbox(**store, clock, options);  // never destroyed: the process dies
  for (int i = 0; i < count; i += 100) {
    std::vector<Delivery> ds;
    for (int j = i; j < std::min(count, i + 100); ++j) {
      ds.push_back(HttpDelivery(endpoint, "crash-" + std::to_string(j)));
    }
    if (!EnqueueAll(**store, *outbox, ds).ok()) _exit(3);
  }
  outbox->Start();
  outbox->Notify();
  if (!WaitUntil([&] { return outbox->stats().delivered >= count / 4; }, 20000)) _exit(4);
  _exit(0);  // like kill -9: no Stop, claims and unrecorded outcomes left behind
}

TEST_P(OutboxStoreTest, CrashedProcessLeavesNothingBehind) {
  constexpr int kCount = 2000;
  auto child = Spawn(
      {"/proc/self/exe", "--gtest_filter=OutboxCrashChild.EnqueuesStartsDeliveringAndDiesAbruptly"},
      {"GC_OUTBOX_CRASH_CHILD=" + ts_.url() + "\t" + http_.Url() + "\t" + std::to_string(kCount)},
      /*capture_stdout=*/false);
  ASSERT_NE(child, nullptr);
  ASSERT_EQ(child->Wait(40000), 0) << "the child should enqueue, deliver some, and _exit(0)";
  const size_t by_child = http_.Count();
  const int64_t left = Rows(*ts_.store);
  const int64_t claimed =
      QueryInt(*ts_.store, "SELECT COUNT(*) FROM delivery_outbox WHERE claim_token IS NOT NULL");
  std::printf("[ INFO ] crashed child delivered %zu; %lld rows left, %lld of them claimed\n",
              by_child, static_cast<long long>(left), static_cast<long long>(claimed));
  EXPECT_GE(by_child, static_cast<size_t>(kCount / 4));
  EXPECT_GT(left, 0);

  // A new process starts later: the dead one's leases (at least a minute) have run out.
  FakeClock clock(SystemClock().NowMillis() + 10 * 60'000);
  Outbox outbox(*ts_.store, clock, {});
  outbox.Start();
  std::set<std::string> bodies;
  ASSERT_TRUE(WaitUntil(
      [&] {
        bodies.clear();
        for (const HttpRequest& r : http_.Requests()) bodies.insert(r.body);
        return bodies.size() == static_cast<size_t>(kCount);
      },
      30000))
      << bodies.size() << " of " << kCount << " distinct deliveries arrived";
  ASSERT_TRUE(WaitUntil([&] { return Rows(*ts_.store) == 0; }));
  std::printf("[ INFO ] all %d delivered; %zu duplicates (at-least-once after the crash)\n", kCount,
              http_.Count() - bodies.size());
}

TEST_P(OutboxStoreTest, BurstArrivesCompletely) {
  const char* env = std::getenv("GC_OUTBOX_BURST");  // a bigger burst for measuring
  const int count = env != nullptr ? std::atoi(env) : 2000;
  const bool preload = std::getenv("GC_OUTBOX_PRELOAD") != nullptr;  // measure delivery alone
  SystemClock clock;
  Outbox outbox(*ts_.store, clock, {});
  if (!preload) outbox.Start();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < count; i += 100) {  // e.g. 100 publishes to a topic of 100 subscriptions
    std::vector<Delivery> ds;
    for (int j = i; j < std::min(count, i + 100); ++j) {
      ds.push_back(HttpDelivery(http_.Url(), "burst-" + std::to_string(j)));
    }
    ASSERT_OK(EnqueueAll(*ts_.store, outbox, ds));
  }
  const auto t1 = std::chrono::steady_clock::now();
  if (preload) {
    std::printf("[ INFO ] enqueued %d in %.3f s\n", count,
                std::chrono::duration<double>(t1 - t0).count());
    t0 = std::chrono::steady_clock::now();
    outbox.Start();
  }
  ASSERT_TRUE(http_.WaitForCount(static_cast<size_t>(count), 60000))
      << http_.Count() << " of " << count;
  const auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return Rows(*ts_.store) == 0; }));
  const auto t3 = std::chrono::steady_clock::now();
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::printf(
      "[ INFO ] %s: %d deliveries: enqueued in %.3f s, all arrived after %.3f s "
      "(%.0f deliveries/s), all rows deleted after %.3f s\n",
      GetParam().c_str(), count, secs(t1 - t0), secs(t2 - t0), count / secs(t2 - t0),
      secs(t3 - t0));
  std::set<std::string> bodies;
  for (const HttpRequest& r : http_.Requests()) bodies.insert(r.body);
  EXPECT_EQ(bodies.size(), static_cast<size_t>(count));
  EXPECT_EQ(http_.Count(), static_cast<size_t>(count)) << "no duplicates without a crash";
}

// Two outboxes on two connections to one database, as two groundcrewd processes would be.
TEST_P(OutboxStoreTest, TwoProcessesShareTheWorkWithoutDuplicates) {
  // Several servers share one PostgreSQL database. A SQLite file belongs to one server, whose
  // Start() releases every claim left by a crashed run (see Outbox::Start), so two outboxes on
  // one SQLite file is not a supported set-up.
  if (std::string(GetParam()) == "sqlite") GTEST_SKIP() << "one server per SQLite file";
  constexpr int kCount = 1000;
  auto other_store = ts_.Open();
  ASSERT_NE(other_store, nullptr);
  SystemClock clock;
  Outbox a(*ts_.store, clock, {});
  Outbox b(*other_store, clock, {});
  std::vector<Delivery> ds;
  for (int i = 0; i < kCount; ++i)
    ds.push_back(HttpDelivery(http_.Url(), "two-" + std::to_string(i)));
  ASSERT_OK(EnqueueAll(*ts_.store, a, ds));
  a.Start();
  b.Start();
  b.Notify();
  ASSERT_TRUE(http_.WaitForCount(kCount, 30000)) << http_.Count();
  ASSERT_TRUE(WaitUntil([&] { return Rows(*ts_.store) == 0; }));
  std::printf("[ INFO ] %s: process A delivered %lld, process B %lld\n", GetParam().c_str(),
              static_cast<long long>(a.stats().delivered),
              static_cast<long long>(b.stats().delivered));
  EXPECT_EQ(a.stats().delivered + b.stats().delivered, kCount);
  EXPECT_EQ(http_.Count(), static_cast<size_t>(kCount));
}

INSTANTIATE_TEST_SUITE_P(Backends, OutboxStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace gc::delivery
