// gc_fleet_sim: many simulated managed nodes in one process, speaking the agent protocol
// (docs/AGENT_PROTOCOL.md) to groundcrewd, to measure registration, fan-out and the cost of
// thousands of parked long polls (see bench/README.md, "Fleet"), and inventory ingest and
// queries at fleet scale ("Inventory").
//
//   --op fleet  creates activations (RegistrationLimit 1000 each), then per node:
//               RegisterManagedInstance (unsigned), RequestManagedInstanceRoleToken (RSA-PSS),
//               one UpdateInstanceInformation heartbeat (SigV4 with the node's credentials), then
//               GetMessages long polls for ever (re-polled at once when one returns empty). A
//               sendCommand message is acknowledged and answered with a final Success reply
//               built by src/agent/reply.cc, nothing is run. Then: an idle window (server RSS and
//               CPU with every node parked), AddTagsToResource for every node, SendCommand to
//               the tag with MaxConcurrency 100% timed until ListCommands shows Success with
//               CompletedCount == nodes, and optionally the SendCommand / ListCommands latency.
//   --op api    only the SendCommand / ListCommands latency, to --instance-ids (for moto_server,
//               which accepts any ids and runs nothing).
//   --op inventory  registers --nodes nodes as --op fleet does (no polling afterwards), then
//               each node uploads one PutInventory signed with its own credentials, as the agent
//               does: AWS:Application with --inv-apps Debian-like packages and
//               AWS:InstanceDetailedInformation, over --inv-connections connections; timed from
//               the first PutInventory sent to the last accepted. Then, with the operator's
//               credentials: a filtered GetInventory page (Name Equal openssl AND Version Equal
//               one of its 7 versions), the same with ResultAttributes AWS:Application, an
//               aggregator on AWS:Application.Name and ListInventoryEntries (p50/p99 each), and a
//               check that paging the filter finds exactly the nodes given that version.
//               --inv-register 0: made-up instance ids and the operator's credentials (moto).
//
// One process, one I/O thread (Boost.Asio, C++20 coroutines, non-blocking sockets, one
// coroutine and one keep-alive connection per node) plus one thread for the RSA signatures.
// Every node shares ONE RSA key pair (10,000 2048-bit keys would take half an hour or more); the server
// does not mind, each node still has its own fingerprint, instance id and credentials.
// Output: progress on stderr, one JSON document on stdout.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <dirent.h>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/document.h"
#include "agent/reply.h"
#include "agent/signing.h"
#include "common/crypto.h"
#include "common/rsa_pss.h"
#include "wire/sigv4.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace sigv4 = gc::sigv4;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

constexpr std::string_view kSsm = "AmazonSSM.";
constexpr std::string_view kMds = "EC2WindowsMessageDeliveryService.";
constexpr int kActivationLimit = 1000;  // CreateActivation's RegistrationLimit maximum
constexpr auto kCallTimeout = std::chrono::seconds(30);
constexpr auto kPollTimeout = std::chrono::seconds(20);  // the agent's Mds.StopTimeoutMillis
constexpr int kSetupAttempts = 4;
constexpr auto kIngestTimeout = std::chrono::seconds(120);  // one PutInventory

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(SteadyTime a, SteadyTime b) { return std::chrono::duration<double>(b - a).count(); }
uint64_t Nanos(SteadyTime a, SteadyTime b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}
double R3(double v) { return std::round(v * 1000.0) / 1000.0; }
double R1(double v) { return std::round(v * 10.0) / 10.0; }

std::string AmzDate(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// --- Latency samples ---------------------------------------------------------------------------

struct Sample {
  std::vector<uint64_t> ns;
  uint64_t errors = 0;
  std::string first_error;

  void Add(uint64_t v) { ns.push_back(v); }
  void Error(const std::string& e) {
    if (errors++ == 0) first_error = e.substr(0, 300);
  }
  json ToJson() {
    std::sort(ns.begin(), ns.end());
    auto pct = [&](double q) {
      if (ns.empty()) return 0.0;
      size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(ns.size())));
      rank = std::clamp<size_t>(rank, 1, ns.size());
      return R3(static_cast<double>(ns[rank - 1]) / 1e6);
    };
    double sum = 0;
    for (uint64_t v : ns) sum += static_cast<double>(v);
    json j = {{"count", ns.size()},
              {"errors", errors},
              {"p50_ms", pct(0.50)},
              {"p90_ms", pct(0.90)},
              {"p99_ms", pct(0.99)},
              {"max_ms", ns.empty() ? 0.0 : R3(static_cast<double>(ns.back()) / 1e6)},
              {"mean_ms", ns.empty() ? 0.0 : R3(sum / static_cast<double>(ns.size()) / 1e6)}};
    if (errors > 0) j["first_error"] = first_error;
    return j;
  }
};

// --- /proc ---------------------------------------------------------------------------------------

struct ProcStat {
  bool ok = false;
  double rss_mb = 0;
  double hwm_mb = 0;
  long threads = 0;
  long fds = 0;
  uint64_t cpu_ticks = 0;  // utime + stime
};

ProcStat ReadProc(int pid) {
  ProcStat s;
  if (pid <= 0) return s;
  const std::string base = "/proc/" + std::to_string(pid);
  std::ifstream status(base + "/status");
  std::string line;
  while (std::getline(status, line)) {
    auto kb = [&](std::string_view key) {
      return std::strtod(line.c_str() + key.size(), nullptr) / 1024.0;
    };
    if (line.rfind("VmRSS:", 0) == 0) {
      s.rss_mb = kb("VmRSS:");
      s.ok = true;
    } else if (line.rfind("VmHWM:", 0) == 0) {
      s.hwm_mb = kb("VmHWM:");
    } else if (line.rfind("Threads:", 0) == 0) {
      s.threads = std::strtol(line.c_str() + 8, nullptr, 10);
    }
  }
  std::ifstream stat(base + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  if (size_t close = all.rfind(')'); close != std::string::npos) {
    std::istringstream in(all.substr(close + 2));
    std::string field;
    // Fields after comm start at 3 (state); utime is 14 and stime 15.
    for (int i = 3; i <= 15 && (in >> field); ++i) {
      if (i == 14 || i == 15) s.cpu_ticks += std::strtoull(field.c_str(), nullptr, 10);
    }
  }
  if (DIR* d = opendir((base + "/fd").c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++s.fds;
    }
    closedir(d);
  }
  return s;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds every core of the machine has spent busy (all but idle and iowait), /proc/stat.
double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[10] = {};
  in >> cpu;
  for (auto& x : v) in >> x;
  const uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // user nice system irq softirq steal
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

json ProcJson(const ProcStat& s) {
  if (!s.ok) return nullptr;
  return {{"rss_mb", R1(s.rss_mb)}, {"hwm_mb", R1(s.hwm_mb)}, {"threads", s.threads},
          {"fds", s.fds}};
}

// --- Configuration -----------------------------------------------------------------------------

struct Config {
  std::string op = "fleet";
  std::string endpoint;
  std::string host_header;
  tcp::endpoint server;
  sigv4::Credentials admin;
  std::string region = "us-east-1";
  int nodes = 100;
  int concurrency = 64;  // nodes registering at the same time
  double idle_seconds = 20;
  bool fanout = true;
  std::string tag_key = "Fleet";
  std::string tag_value = "bench";
  int tag_concurrency = 8;
  double fanout_timeout = 300;
  std::string replies = "minimal";  // minimal: ack + final; agent: InProgress, ack, plugin, final
  int api_calls = 0;
  int api_targets = 5;
  int api_warmup = 5;
  std::vector<std::string> instance_ids;  // --op api
  int server_pid = 0;
  double deadline_seconds = 1800;
  int sign_threads = 1;
  std::string label;
  // --op inventory
  int inv_apps = 500;          // AWS:Application entries per node
  int inv_connections = 32;    // PutInventory connections in parallel
  int inv_calls = 50;          // timed GetInventory / ListInventoryEntries calls
  int inv_agg_calls = 20;      // timed aggregator calls
  int inv_warmup = 3;          // unmeasured calls before each series
  double ingest_timeout = 900;  // seconds allowed for all PutInventory calls
  bool inv_register = true;    // 0: made-up instance ids, operator credentials (moto_server)
  uint64_t inv_seed = 1;
};

// --- HTTP ----------------------------------------------------------------------------------------

struct CallResult {
  int status = 0;  // 0: transport failure (error says which)
  std::string body;
  std::string error;
  bool timed_out = false;
};

struct Conn {
  explicit Conn(asio::any_io_executor ex) : stream(ex) {}
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  bool open = false;
  long served = 0;

  void Close() {
    if (!open) return;
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
    buf.clear();
    open = false;
  }
};

struct Stats {
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  uint64_t stale_retries = 0;
  std::string first_connect_error;
};
Stats g_stats;
bool g_stopping = false;  // the I/O thread only: no reconnects once the simulation ends

sigv4::Request JsonRequest(const Config& cfg, std::string_view target, std::string body) {
  sigv4::Request r;
  r.method = "POST";
  r.target = "/";
  r.body = std::move(body);
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"Host", cfg.host_header},
               {"X-Amz-Target", std::string(target)},
               {"Content-Length", std::to_string(r.body.size())}};
  return r;
}

// One request/response on `c`: connects when needed; a kept-alive connection that fails before
// any answer is reopened and the request resent once.
// `sreq` is taken by value: it lives in the coroutine frame.
awaitable<CallResult> Exchange(const Config& cfg, Conn& c, sigv4::Request sreq,
                               std::chrono::seconds timeout) {
  CallResult out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    if (!c.open) {
      if (g_stopping) {
        out.error = "stopping";
        co_return out;
      }
      c.stream.expires_after(std::chrono::seconds(10));
      co_await c.stream.async_connect(cfg.server, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        ++g_stats.connect_failures;
        if (g_stats.first_connect_error.empty()) g_stats.first_connect_error = ec.message();
        c.stream.close();
        out.error = "connect: " + ec.message();
        co_return out;
      }
      ++g_stats.connects;
      c.stream.socket().set_option(tcp::no_delay(true), ec);
      c.open = true;
      c.served = 0;
    }
    http::request<http::string_body> req{http::verb::post, sreq.target, 11};
    for (const auto& [k, v] : sreq.headers) req.set(k, v);
    req.set(http::field::user_agent, "gc-fleet-sim");
    req.body() = sreq.body;
    c.stream.expires_after(timeout);
    co_await http::async_write(c.stream, req, asio::redirect_error(use_awaitable, ec));
    if (!ec) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      co_await http::async_read(c.stream, c.buf, parser, asio::redirect_error(use_awaitable, ec));
      if (!ec) {
        auto res = parser.release();
        out.status = static_cast<int>(res.result_int());
        out.body = std::move(res.body());
        ++c.served;
        if (!res.keep_alive()) c.Close();
        co_return out;
      }
      const bool nothing_read = !parser.got_some();
      const bool stale = c.served > 0 && nothing_read && ec != beast::error::timeout &&
                         ec != asio::error::operation_aborted && !g_stopping && attempt == 0;
      out.timed_out = ec == beast::error::timeout;
      out.error = (out.timed_out ? std::string("timeout: ") : std::string("read: ")) + ec.message();
      c.Close();
      if (stale) {
        ++g_stats.stale_retries;
        continue;
      }
      co_return out;
    }
    const bool stale = c.served > 0 && ec != asio::error::operation_aborted && !g_stopping &&
                       attempt == 0;
    out.error = "write: " + ec.message();
    c.Close();
    if (stale) {
      ++g_stats.stale_retries;
      continue;
    }
    co_return out;
  }
  co_return out;
}

std::string Describe(const CallResult& r) {
  if (r.status == 0) return r.error;
  return "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300);
}

// --- Inventory data (--op inventory) -------------------------------------------------------------
//
// A deterministic Debian-like package universe. Every node has the same "core" packages (80% of
// its applications) and picks the rest from an optional pool four times that size (each optional
// package is on ~25% of the nodes). Versions vary a little: a package has 1, 2, 3 or 7 Debian
// revisions in the fleet and each node gets one of them (the filter package, openssl, has 7, so
// one of its versions is on about 1 node in 7). Field sizes are those of `dpkg-query` on Debian
// 12 as the agent reports them (docs/AGENT_PROTOCOL.md 3.4): Summary is the first line of the
// description, PackageId `<name>_<version>_amd64.deb`, Publisher the Maintainer field.

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Rng {
  uint64_t s;
  uint64_t Next() { return Mix64(s++); }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  template <typename T, size_t N>
  const T& Pick(const T (&a)[N]) {
    return a[Below(N)];
  }
};

struct Package {
  std::string name, section, publisher, url, summary, upstream;
  int variants = 1;
  std::string Version(int k) const {
    return variants == 1 ? upstream : upstream + "+deb12u" + std::to_string(k + 1);
  }
};

// Appends `s` as a JSON string.
void JsonStr(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

class Catalog {
 public:
  static constexpr const char* kFilterPackage = "openssl";
  static constexpr int kFilterVariant = 2;

  Catalog(int apps, uint64_t seed) : apps_(apps), seed_(seed) {
    core_ = apps - apps / 5;
    optional_ = apps / 5;
    pool_ = 4 * optional_;
    Build(static_cast<size_t>(core_ + pool_));
    std::vector<size_t> order(packages_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return packages_[a].name < packages_[b].name; });
    rank_.resize(order.size());
    for (size_t r = 0; r < order.size(); ++r) rank_[order[r]] = r;
  }

  std::string FilterVersion() const { return packages_[0].Version(kFilterVariant); }

  // The AWS:Application content (a JSON array) of node `node`; *has_filter_version says whether
  // it has openssl at FilterVersion().
  std::string Applications(int node, bool* has_filter_version) const {
    std::vector<size_t> pick;
    pick.reserve(static_cast<size_t>(apps_));
    for (int i = 0; i < core_; ++i) pick.push_back(static_cast<size_t>(i));
    if (optional_ > 0) {
      std::vector<size_t> pool(static_cast<size_t>(pool_));
      for (size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<size_t>(core_) + i;
      Rng rng{Mix64(seed_ ^ (0x51ed270b27fe1a4dULL * static_cast<uint64_t>(node + 1)))};
      for (size_t i = 0; i < static_cast<size_t>(optional_); ++i) {
        std::swap(pool[i], pool[i + rng.Below(pool.size() - i)]);
        pick.push_back(pool[i]);
      }
    }
    std::sort(pick.begin(), pick.end(), [&](size_t a, size_t b) { return rank_[a] < rank_[b]; });
    *has_filter_version = false;
    std::string out;
    out.reserve(pick.size() * 400);
    out.push_back('[');
    for (size_t p : pick) {
      const Package& pkg = packages_[p];
      const int variant = static_cast<int>(
          Mix64(seed_ ^ (static_cast<uint64_t>(node) << 20) ^ (p * 0x9e3779b97f4a7c15ULL)) %
          static_cast<uint64_t>(pkg.variants));
      const std::string version = pkg.Version(variant);
      if (p == 0 && variant == kFilterVariant) *has_filter_version = true;
      if (out.size() > 1) out.push_back(',');
      out += "{\"Name\":";
      JsonStr(out, pkg.name);
      out += ",\"Publisher\":";
      JsonStr(out, pkg.publisher);
      out += ",\"Version\":";
      JsonStr(out, version);
      out += ",\"ApplicationType\":";
      JsonStr(out, pkg.section);
      out += ",\"Architecture\":\"x86_64\",\"URL\":";
      JsonStr(out, pkg.url);
      out += ",\"Summary\":";
      JsonStr(out, pkg.summary);
      out += ",\"PackageId\":";
      JsonStr(out, pkg.name + "_" + version + "_amd64.deb");
      out.push_back('}');
    }
    out.push_back(']');
    return out;
  }

  // The AWS:InstanceDetailedInformation content of node `node`.
  static std::string Details(int node) {
    static const char* kModels[] = {"Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
                                    "AMD EPYC 7R13 Processor",
                                    "Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz",
                                    "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz"};
    static const char* kSpeeds[] = {"2500", "2650", "2300", "3000"};
    const int m = node % 4;
    const int cpus = 2 << (node % 3);
    std::string out = "[{\"CPUModel\":";
    JsonStr(out, kModels[m]);
    out += ",\"CPUSpeedMHz\":\"" + std::string(kSpeeds[m]) + "\",\"CPUs\":\"" +
           std::to_string(cpus) + "\",\"CPUSockets\":\"1\",\"CPUCores\":\"" +
           std::to_string(cpus / 2) +
           "\",\"CPUHyperThreadEnabled\":\"true\",\"OSServicePack\":\"\",\"KernelVersion\":\"6.1.0-" +
           std::to_string(18 + node % 4) + "-amd64\"}]";
    return out;
  }

 private:
  void Build(size_t universe);

  int apps_, core_ = 0, optional_ = 0, pool_ = 0;
  uint64_t seed_;
  std::vector<Package> packages_;
  std::vector<size_t> rank_;
};

void Catalog::Build(size_t universe) {
  // Real Debian 12 packages first (the base system every node has); openssl must stay first.
  struct Real {
    const char *name, *section, *publisher, *url, *summary, *upstream;
  };
  static const Real kReal[] = {
      {"openssl", "utils", "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
       "https://www.openssl.org/", "Secure Sockets Layer toolkit - cryptographic utility",
       "3.0.11-1"},
      {"bash", "shells", "Matthias Klose <doko@debian.org>",
       "http://tiswww.case.edu/php/chet/bash/bashtop.html", "GNU Bourne Again SHell", "5.2.15-2"},
      {"coreutils", "utils", "Michael Stone <mstone@debian.org>",
       "https://www.gnu.org/software/coreutils/", "GNU core utilities", "9.1-1"},
      {"libc6", "libs", "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
       "https://www.gnu.org/software/libc/libc.html", "GNU C Library: Shared libraries",
       "2.36-9"},
      {"libssl3", "libs", "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>",
       "https://www.openssl.org/", "Secure Sockets Layer toolkit - shared libraries", "3.0.11-1"},
      {"curl", "web", "Debian Curl Maintainers <team+curl@tracker.debian.org>",
       "https://curl.se/", "command line tool for transferring data with URL syntax",
       "7.88.1-10"},
      {"libcurl4", "libs", "Debian Curl Maintainers <team+curl@tracker.debian.org>",
       "https://curl.se/", "easy-to-use client-side URL transfer library (OpenSSL flavour)",
       "7.88.1-10"},
      {"systemd", "admin", "Debian systemd Maintainers <pkg-systemd-maintainers@lists.alioth.debian.org>",
       "https://www.freedesktop.org/wiki/Software/systemd", "system and service manager",
       "252.22-1"},
      {"openssh-server", "net", "Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>",
       "https://www.openssh.com/",
       "secure shell (SSH) server, for secure access from remote machines", "9.2p1-2"},
      {"openssh-client", "net", "Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>",
       "https://www.openssh.com/",
       "secure shell (SSH) client, for secure access to remote machines", "9.2p1-2"},
      {"apt", "admin", "APT Development Team <deity@lists.debian.org>",
       "https://salsa.debian.org/apt-team/apt", "commandline package manager", "2.6.1"},
      {"dpkg", "admin", "Dpkg Developers <debian-dpkg@lists.debian.org>",
       "https://wiki.debian.org/Teams/Dpkg", "Debian package management system", "1.21.22"},
      {"tar", "utils", "Janos Lenart <ocsi@debian.org>", "https://www.gnu.org/software/tar/",
       "GNU version of the tar archiving utility", "1.34+dfsg-1.2"},
      {"gzip", "utils", "Milan Kupcevic <milan@debian.org>", "https://www.gnu.org/software/gzip/",
       "GNU compression utilities", "1.12-1"},
      {"sudo", "admin", "Sudo Maintainers <sudo@packages.debian.org>", "https://www.sudo.ws/",
       "Provide limited super user privileges to specific users", "1.9.13p3-1"},
      {"python3", "python", "Matthias Klose <doko@debian.org>", "https://www.python.org/",
       "interactive high-level object-oriented language (default python3 version)",
       "3.11.2-1"},
      {"python3.11", "python", "Matthias Klose <doko@debian.org>", "https://www.python.org/",
       "Interactive high-level object-oriented language (version 3.11)", "3.11.2-6"},
      {"perl-base", "perl", "Niko Tyni <ntyni@debian.org>", "http://dev.perl.org/perl5/",
       "minimal Perl system", "5.36.0-7"},
      {"zlib1g", "libs", "Mark Brown <broonie@debian.org>", "http://zlib.net/",
       "compression library - runtime", "1.2.13.dfsg-1"},
      {"libsystemd0", "libs",
       "Debian systemd Maintainers <pkg-systemd-maintainers@lists.alioth.debian.org>",
       "https://www.freedesktop.org/wiki/Software/systemd", "systemd utility library",
       "252.22-1"},
      {"ca-certificates", "misc", "Julien Cristau <jcristau@debian.org>",
       "https://tracker.debian.org/pkg/ca-certificates", "Common CA certificates", "20230311"},
      {"tzdata", "localization", "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
       "https://www.iana.org/time-zones", "time zone and daylight-saving time data",
       "2024a-0"},
      {"vim-tiny", "editors", "Debian Vim Maintainers <team+vim@tracker.debian.org>",
       "https://www.vim.org/", "Vi IMproved - enhanced vi editor - compact version",
       "9.0.1378-2"},
      {"rsyslog", "admin", "Michael Biebl <biebl@debian.org>", "https://www.rsyslog.com/",
       "reliable system and kernel logging daemon", "8.2302.0-1"},
      {"cron", "admin", "Javier Fernandez-Sanguino Pena <jfs@debian.org>",
       "https://ftp.isc.org/isc/cron/", "process scheduling daemon", "3.0pl1-162"},
      {"iproute2", "net", "Debian iproute2 Maintainers <ah-iproute2@debian.org>",
       "https://wiki.linuxfoundation.org/networking/iproute2",
       "networking and traffic control tools", "6.1.0-3"},
      {"iptables", "net", "Debian Netfilter Packaging Team <pkg-netfilter-team@lists.alioth.debian.org>",
       "https://www.netfilter.org/", "administration tools for packet filtering and NAT",
       "1.8.9-2"},
      {"nftables", "net", "Debian Netfilter Packaging Team <pkg-netfilter-team@lists.alioth.debian.org>",
       "https://netfilter.org/projects/nftables/",
       "Program to control packet filtering rules by Netfilter project", "1.0.6-2"},
      {"grep", "utils", "Anibal Monsalve Salazar <anibal@debian.org>",
       "https://www.gnu.org/software/grep/", "GNU grep, egrep and fgrep", "3.8-5"},
      {"sed", "utils", "Clint Adams <clint@debian.org>", "https://www.gnu.org/software/sed/",
       "GNU stream editor for filtering/transforming text", "4.9-1"},
      {"util-linux", "utils", "util-linux packagers <util-linux@packages.debian.org>",
       "https://www.kernel.org/pub/linux/utils/util-linux/", "miscellaneous system utilities",
       "2.38.1-5"},
      {"e2fsprogs", "admin", "Theodore Y. Ts'o <tytso@mit.edu>", "http://e2fsprogs.sourceforge.net",
       "ext2/ext3/ext4 file system utilities", "1.47.0-2"},
      {"libgnutls30", "libs", "Debian GnuTLS Maintainers <pkg-gnutls-maint@lists.alioth.debian.org>",
       "https://www.gnutls.org/", "GNU TLS library - main runtime library", "3.7.9-2"},
      {"libsqlite3-0", "libs", "Laszlo Boszormenyi (GCS) <gcs@debian.org>",
       "https://www.sqlite.org/", "SQLite 3 shared library", "3.40.1-2"},
      {"libxml2", "libs", "Debian XML/SGML Group <debian-xml-sgml-pkgs@lists.alioth.debian.org>",
       "http://xmlsoft.org", "GNOME XML library", "2.9.14+dfsg-1.3"},
      {"git", "vcs", "Jonathan Nieder <jrnieder@gmail.com>", "https://git-scm.com/",
       "fast, scalable, distributed revision control system", "2.39.2-1.1"},
      {"nginx-light", "httpd", "Debian Nginx Maintainers <pkg-nginx-maintainers@alioth-lists.debian.net>",
       "https://nginx.org", "nginx web/proxy server (basic version)", "1.22.1-9"},
      {"postgresql-client-15", "database",
       "Debian PostgreSQL Maintainers <team+postgresql@tracker.debian.org>",
       "http://www.postgresql.org/", "front-end programs for PostgreSQL 15", "15.6-0"},
      {"linux-image-6.1.0-18-amd64", "kernel", "Debian Kernel Team <debian-kernel@lists.debian.org>",
       "https://www.kernel.org/", "Linux 6.1 for 64-bit PCs (signed)", "6.1.76-1"},
      {"amazon-ssm-agent", "admin", "Amazon Web Services <ec2-ssm-feedback@amazon.com>",
       "https://github.com/aws/amazon-ssm-agent", "Manage EC2 Instances using the SSM APIs",
       "3.3.1142.0-1"},
  };
  static const char* kSyl[] = {"ab", "ac", "al", "an", "ar", "ba", "be", "bi", "bo", "ca", "ce",
                               "ci", "co", "da", "de", "di", "do", "el", "en", "er", "ex", "fa",
                               "fi", "fo", "ga", "ge", "gi", "go", "ha", "he", "hi", "ho", "il",
                               "im", "in", "ka", "ke", "ki", "ko", "la", "le", "li", "lo", "lu",
                               "ma", "me", "mi", "mo", "mu", "na", "ne", "ni", "no", "or", "os",
                               "pa", "pe", "pi", "po", "ra", "re", "ri", "ro", "sa", "se", "si",
                               "so", "ta", "te", "ti", "to", "tu", "un", "ur", "va", "ve", "vi",
                               "xa", "xe", "za", "ze", "zo"};
  static const char* kEnd[] = {"", "", "x", "t", "k", "d", "n", "s", "m", "l", "r", "z", "b"};
  static const char* kSoname[] = {"0", "1", "2", "3", "4", "5", "6", "-1.0-0", "-2.0-0", "c2", "8"};
  static const char* kLibKind[] = {"shared", "runtime", "compression", "parsing", "graphics",
                                   "cryptographic", "networking", "audio", "XML", "font rendering",
                                   "database client", "image loading", "Unicode",
                                   "regular expression", "configuration file"};
  static const char* kLibTail[] = {" library", " library - runtime files", " library (shared)",
                                   " support library", " library - shared library"};
  static const char* kTopic[] = {"parsing and generating JSON", "handling HTTP requests",
                                 "reading compressed archives", "managing network interfaces",
                                 "logging and tracing", "terminal user interfaces",
                                 "date and time arithmetic", "configuration files",
                                 "YAML serialization", "SSL/TLS connections", "asynchronous I/O",
                                 "command line option parsing", "Unicode text segmentation",
                                 "image processing", "unit testing", "template rendering",
                                 "filesystem monitoring", "DNS resolution", "process supervision",
                                 "statistics collection"};
  static const char* kTool[] = {"utilities", "command line tool", "daemon", "helper programs",
                                "tools for system administrators", "client", "server"};
  static const char* kSection[] = {"utils", "admin", "net", "text", "misc", "devel", "web",
                                   "database", "sound", "graphics", "editors", "mail",
                                   "interpreters", "kernel", "doc"};
  static const char* kFirst[] = {"Andreas", "Matthias", "Bastian", "Christoph", "Sebastian",
                                 "Aurelien", "Guillem", "Helmut", "Jonas", "Marco", "Salvatore",
                                 "Thomas", "Ondrej", "Steve", "Colin", "Ben", "Julien",
                                 "Laurent", "Michael", "Timo"};
  static const char* kLast[] = {"Klose", "Blank", "Berg", "Jarno", "Ramacher", "Henriksen",
                                "Schauer", "Smedegaard", "Hutchings", "Watson", "Cristau",
                                "Bigonville", "Biebl", "Aurich", "Sury", "Langasek", "Vogt",
                                "Stapelberg", "Jaakola", "Grohne"};
  Rng rng{seed_};
  std::set<std::string> names;
  auto word = [&] {
    std::string w;
    const size_t n = 2 + rng.Below(2);
    for (size_t i = 0; i < n; ++i) w += rng.Pick(kSyl);
    return w + rng.Pick(kEnd);
  };
  auto upstream = [&] {
    std::string v = std::to_string(rng.Below(12)) + "." + std::to_string(rng.Below(30));
    if (rng.Below(3)) v += "." + std::to_string(rng.Below(20));
    if (rng.Below(5) == 0) v += "+dfsg";
    return v + "-" + std::to_string(1 + rng.Below(4));
  };
  auto person = [&] {
    std::string first = rng.Pick(kFirst), last = rng.Pick(kLast);
    std::string mail = first;
    std::transform(mail.begin(), mail.end(), mail.begin(), ::tolower);
    return first + " " + last + " <" + mail + "@debian.org>";
  };
  auto capital = [](std::string s) {
    if (!s.empty()) s[0] = static_cast<char>(::toupper(s[0]));
    return s;
  };
  for (const Real& r : kReal) {
    if (packages_.size() >= universe) break;
    Package p{r.name, r.section, r.publisher, r.url, r.summary, r.upstream, 1};
    names.insert(p.name);
    packages_.push_back(std::move(p));
  }
  while (packages_.size() < universe) {
    Package p;
    const std::string w = word(), w2 = word();
    const size_t kind = rng.Below(100);
    if (kind < 45) {
      p.name = "lib" + w + rng.Pick(kSoname);
      p.section = "libs";
      p.summary = capital(w) + " " + rng.Pick(kLibKind) + rng.Pick(kLibTail);
      p.publisher = rng.Below(2) ? person()
                                 : "Debian " + capital(w) + " Maintainers <pkg-" + w +
                                       "-devel@lists.alioth.debian.org>";
      p.url = rng.Below(2) ? "https://github.com/" + w2 + "/" + w : "https://" + w + ".org/";
    } else if (kind < 55) {
      p.name = "python3-" + w;
      p.section = "python";
      p.summary = "Python 3 module for " + std::string(rng.Pick(kTopic));
      p.publisher = "Debian Python Team <team+python@tracker.debian.org>";
      p.url = "https://pypi.org/project/" + w + "/";
    } else if (kind < 60) {
      p.name = "node-" + w;
      p.section = "javascript";
      p.summary = capital(rng.Pick(kTopic)) + " module for Node.js";
      p.publisher = "Debian Javascript Maintainers <pkg-javascript-devel@lists.alioth.debian.org>";
      p.url = "https://github.com/" + w2 + "/" + w + "#readme";
    } else if (kind < 65) {
      p.name = "golang-github-" + w2 + "-" + w + "-dev";
      p.section = "golang";
      p.summary = "Go library for " + std::string(rng.Pick(kTopic));
      p.publisher = "Debian Go Packaging Team <team+pkg-go@tracker.debian.org>";
      p.url = "https://github.com/" + w2 + "/" + w;
    } else if (kind < 70) {
      p.name = "lib" + w + "-perl";
      p.section = "perl";
      p.summary = "Perl module for " + std::string(rng.Pick(kTopic));
      p.publisher = "Debian Perl Group <pkg-perl-maintainers@lists.alioth.debian.org>";
      p.url = "https://metacpan.org/release/" + capital(w) + "-" + capital(w2);
    } else if (kind < 73) {
      p.name = "fonts-" + w;
      p.section = "fonts";
      p.summary = capital(w) + " TrueType font family";
      p.publisher = "Debian Fonts Task Force <debian-fonts@lists.debian.org>";
      p.url = "https://github.com/" + w2 + "/" + w + "-fonts";
    } else {
      static const char* kSuffix[] = {"", "", "", "-utils", "-tools", "-common", "-data",
                                      "-bin", "d"};
      p.name = w + rng.Pick(kSuffix);
      p.section = rng.Pick(kSection);
      p.summary = capital(rng.Pick(kTopic)) + " " + rng.Pick(kTool);
      p.publisher = person();
      p.url = rng.Below(3) ? "https://www." + w + ".org/" : "https://gitlab.com/" + w2 + "/" + w;
    }
    if (!names.insert(p.name).second) continue;
    p.upstream = upstream();
    if (p.summary.size() > 100) p.summary.resize(100);
    packages_.push_back(std::move(p));
  }
  for (size_t i = 0; i < packages_.size(); ++i) {
    const size_t r = rng.Below(100);
    packages_[i].variants = r < 50 ? 1 : (r < 80 ? 2 : (r < 95 ? 3 : 7));
  }
  packages_[0].variants = 7;  // openssl: each of its versions on ~1 node in 7
}

// --- The simulation ----------------------------------------------------------------------------

struct Node {
  int index = 0;
  std::string fingerprint;
  std::string instance_id;
  std::string activation_id;
  std::string activation_code;
  sigv4::Credentials creds;
  std::unique_ptr<Conn> conn;
  bool failed = false;
  bool polling = false;  // a GetMessages is outstanding
  uint64_t polls = 0;
  uint64_t empty_polls = 0;
  uint64_t poll_errors = 0;
  std::set<std::string> seen;  // message ids taken
  bool inventory_ok = false;   // --op inventory: its PutInventory was accepted
};

struct FanoutProbe {
  std::string command_id;
  SteadyTime sent{};
  bool active = false;
  Sample to_message;  // SendCommand sent -> message in a node's hands
  Sample to_reply;    // SendCommand sent -> the final reply accepted (200)
  uint64_t messages = 0;
  uint64_t replies_ok = 0;
  SteadyTime first_message{}, last_message{}, last_reply{};
};

class Sim {
 public:
  Sim(Config cfg, asio::io_context& ioc)
      : cfg_(std::move(cfg)), ioc_(ioc), sign_pool_(static_cast<size_t>(std::max(1, cfg_.sign_threads))) {}
  ~Sim() {
    sign_pool_.stop();
    sign_pool_.join();
  }

  awaitable<void> Main();
  json& out() { return out_; }
  bool clean() const { return clean_; }

 private:
  // Admin (root credentials) call on `c`. Plain functions: the signed request is moved into
  // Exchange's frame. (Call sites keep JSON bodies in named variables: GCC 12 miscompiles
  // braced initialiser lists inside a co_await expression, "array used as initializer".)
  awaitable<CallResult> Admin(Conn& c, const std::string& op, const json& body) {
    sigv4::Request r = JsonRequest(cfg_, std::string(kSsm) + op, body.dump());
    sigv4::SignHeaders(r, cfg_.admin, cfg_.region, "ssm", AmzDate(NowMillis()));
    return Exchange(cfg_, c, std::move(r), kCallTimeout);
  }

  awaitable<CallResult> NodeCall(Node& n, const std::string& target, const std::string& service,
                                 const json& body, std::chrono::seconds timeout) {
    sigv4::Request r = JsonRequest(cfg_, target, body.dump());
    gc::agent::CredentialsSigner(n.creds).Sign(r, cfg_.region, service, NowMillis());
    return Exchange(cfg_, *n.conn, std::move(r), timeout);
  }

  // RSA-PSS signing on the signing thread; the handler runs back on its own executor (the I/O
  // thread). A plain async operation: no lambda coroutines (GCC 12 mishandles their captures).
  template <typename Token>
  auto AsyncRsaSign(sigv4::Request r, std::string instance_id, Token&& token) {
    return asio::async_initiate<Token, void(sigv4::Request)>(
        [this](auto handler, sigv4::Request req, std::string id) {
          auto ex = asio::get_associated_executor(handler, ioc_.get_executor());
          asio::post(sign_pool_, [this, handler = std::move(handler), req = std::move(req),
                                  id = std::move(id), ex]() mutable {
            gc::agent::RsaSigner(keys_.private_key, id).Sign(req, cfg_.region, "ssm", NowMillis());
            asio::post(ex, [handler = std::move(handler), req = std::move(req)]() mutable {
              std::move(handler)(std::move(req));
            });
          });
        },
        token, std::move(r), std::move(instance_id));
  }

  void CheckDeadline(const char* what) {
    if (SteadyClock::now() > deadline_) {
      throw std::runtime_error(std::string("deadline reached during ") + what);
    }
  }

  awaitable<void> Sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(ioc_, d);
    co_await t.async_wait(use_awaitable);
  }

  awaitable<void> CreateActivations();
  awaitable<void> SetupWorker();
  enum class SetupStep { kRegister, kToken, kHeartbeat };
  sigv4::Request SetupRequest(const Node& n, SetupStep step);
  awaitable<std::optional<json>> SetupCall(Node& n, Sample& sample, SetupStep step);
  awaitable<bool> SetupNode(Node& n);
  awaitable<void> PollLoop(Node& n);
  awaitable<void> HandleMessage(Node& n, const json& m);
  awaitable<void> Idle();
  awaitable<void> TagWorker(size_t* next, Sample* s);
  awaitable<void> Tag();
  awaitable<void> Fanout();
  awaitable<void> ApiLatency(const std::vector<std::string>& ids);
  awaitable<void> Register();
  std::string InventoryBody(const Node& n, bool* has_filter_version) const;
  awaitable<void> IngestWorker();
  awaitable<void> Ingest();
  awaitable<void> TimeCalls(Conn& c, const std::string& op, const json& body, int calls,
                            const std::string& name);
  awaitable<void> InventoryQueries();
  awaitable<void> InventoryRun();
  void Snapshot(const char* name);

  const std::string op_create_activation_ = "CreateActivation";
  const std::string op_add_tags_ = "AddTagsToResource";
  const std::string op_send_command_ = "SendCommand";
  const std::string op_list_commands_ = "ListCommands";
  const std::string mds_send_reply_ = std::string(kMds) + "SendReply";
  const std::string mds_ack_ = std::string(kMds) + "AcknowledgeMessage";
  const std::string ec2messages_ = "ec2messages";
  Config cfg_;
  asio::io_context& ioc_;
  asio::thread_pool sign_pool_;
  gc::crypto::RsaKeyPair keys_;
  std::vector<std::unique_ptr<Node>> nodes_;
  size_t next_setup_ = 0;
  size_t setup_done_ = 0;
  size_t setup_failed_ = 0;
  size_t polling_ = 0;
  bool stopping_ = false;
  bool clean_ = false;     // every node coroutine ended
  int live_coroutines_ = 0;  // setup workers and poll loops still running
  struct Live {
    explicit Live(int& n) : n_(n) { ++n_; }
    ~Live() { --n_; }
    int& n_;
  };
  Sample reg_, token_, heartbeat_, poll_fail_;
  Sample poll_hold_;           // how long the server held an empty GetMessages
  uint64_t poll_timeouts_ = 0;  // polls the server held past the agent's 20 s client timeout
  uint64_t setup_retries_ = 0;
  uint64_t acks_ok_ = 0, ack_errors_ = 0, reply_errors_ = 0, duplicates_ = 0;
  uint64_t unexpected_messages_ = 0;
  std::string first_message_error_;
  FanoutProbe probe_;
  std::unique_ptr<Catalog> catalog_;
  struct IngestState {
    size_t next = 0;  // next node to upload
    bool stop = false, abandoned = false;
    uint64_t accepted = 0, failed_nodes = 0, retries = 0, sent_nodes = 0, bytes = 0;
    uint64_t expected_matches = 0;  // accepted nodes with openssl at the filter's version
    Sample put;
    SteadyTime first_send{}, last_accepted{};
  } ingest_;
  json queries_ = json::object();
  SteadyTime start_{}, deadline_{};
  json out_ = json::object();
  json snapshots_ = json::object();
};

void Sim::Snapshot(const char* name) {
  const ProcStat s = ReadProc(cfg_.server_pid);
  const ProcStat self = ReadProc(static_cast<int>(getpid()));
  uint64_t polls = 0;
  for (const auto& n : nodes_) polls += n->polls;
  json j = {{"t_s", R3(Seconds(start_, SteadyClock::now()))},
            {"server", ProcJson(s)},
            {"sim_rss_mb", R1(self.rss_mb)},
            {"sim_maxrss_mb", R1(self.hwm_mb)},
            {"sim_cpu_s", R3(SelfCpuSeconds())},
            {"polls_completed", polls},
            {"poll_client_timeouts", poll_timeouts_}};
  if (s.ok) {
    j["server_cpu_s"] = R3(static_cast<double>(s.cpu_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK)));
  }
  snapshots_[name] = j;
}

awaitable<void> Sim::CreateActivations() {
  Conn c(ioc_.get_executor());
  std::vector<std::pair<std::string, std::string>> acts;
  for (int left = cfg_.nodes; left > 0; left -= kActivationLimit) {
    const int limit = std::min(left, kActivationLimit);
    const json body = {{"IamRole", "SSMServiceRole"},
                       {"RegistrationLimit", limit},
                       {"DefaultInstanceName", "fleet"},
                       {"Description", "gc_fleet_sim"}};
    CallResult r = co_await Admin(c, op_create_activation_, body);
    if (r.status != 200) throw std::runtime_error("CreateActivation: " + Describe(r));
    json a = json::parse(r.body);
    acts.emplace_back(a.at("ActivationId").get<std::string>(),
                      a.at("ActivationCode").get<std::string>());
  }
  c.Close();
  for (int i = 0; i < cfg_.nodes; ++i) {
    auto n = std::make_unique<Node>();
    n->index = i;
    n->fingerprint = gc::crypto::FastUuid4();
    n->activation_id = acts[static_cast<size_t>(i / kActivationLimit)].first;
    n->activation_code = acts[static_cast<size_t>(i / kActivationLimit)].second;
    n->conn = std::make_unique<Conn>(ioc_.get_executor());
    nodes_.push_back(std::move(n));
  }
  out_["activations"] = acts.size();
}

sigv4::Request Sim::SetupRequest(const Node& n, SetupStep step) {
  json body;
  std::string op;
  switch (step) {
    case SetupStep::kRegister:
      op = "RegisterManagedInstance";
      body = {{"ActivationCode", n.activation_code}, {"ActivationId", n.activation_id},
              {"PublicKey", keys_.public_key},       {"PublicKeyType", "Rsa"},
              {"Fingerprint", n.fingerprint}};
      break;
    case SetupStep::kToken:
      op = "RequestManagedInstanceRoleToken";
      body = {{"Fingerprint", n.fingerprint}};
      break;
    case SetupStep::kHeartbeat:
      op = "UpdateInstanceInformation";
      body = {{"AgentName", "amazon-ssm-agent"},
              {"AgentStatus", "Active"},
              {"AgentVersion", "3.3.1142.0"},
              {"AvailabilityZone", ""},
              {"AvailabilityZoneId", ""},
              {"SSMConnectionChannel", "ec2messages"},
              {"PlatformType", "Linux"},
              {"IPAddress", "10.1." + std::to_string(n.index / 250) + "." +
                                std::to_string(n.index % 250 + 1)},
              {"ComputerName", "fleet-" + std::to_string(n.index) + ".sim.internal"},
              {"InstanceId", n.instance_id},
              {"PlatformName", "Debian GNU/Linux"},
              {"PlatformVersion", "12"}};
      break;
  }
  sigv4::Request r = JsonRequest(cfg_, std::string(kSsm) + op, body.dump());
  if (step == SetupStep::kHeartbeat) {
    gc::agent::CredentialsSigner(n.creds).Sign(r, cfg_.region, "ssm", NowMillis());
  }
  return r;  // kRegister: unsigned; kToken: signed with RSA on the signing thread
}

// One setup call, retried on 5xx, throttling and transport failures (as the agent does), at
// most kSetupAttempts times. The parsed answer, or nullopt.
awaitable<std::optional<json>> Sim::SetupCall(Node& n, Sample& sample, SetupStep step) {
  for (int i = 1;; ++i) {
    sigv4::Request r = SetupRequest(n, step);
    if (step == SetupStep::kToken) {
      r = co_await AsyncRsaSign(std::move(r), n.instance_id, use_awaitable);
    }
    const SteadyTime t0 = SteadyClock::now();
    CallResult res = co_await Exchange(cfg_, *n.conn, std::move(r), kCallTimeout);
    const SteadyTime t1 = SteadyClock::now();
    if (res.status == 200) {
      sample.Add(Nanos(t0, t1));
      json j = json::parse(res.body, nullptr, false);
      if (j.is_discarded()) j = json::object();
      co_return j;
    }
    sample.Error(Describe(res));
    const bool retry = res.status == 0 || res.status >= 500 ||
                       res.body.find("Throttl") != std::string::npos ||
                       res.body.find("TooManyUpdates") != std::string::npos;
    if (!retry || i >= kSetupAttempts || stopping_) co_return std::nullopt;
    ++setup_retries_;
    co_await Sleep(std::chrono::milliseconds(250 * i));
  }
}

// One node from nothing to its first GetMessages: register, token, heartbeat.
awaitable<bool> Sim::SetupNode(Node& n) {
  std::optional<json> reg = co_await SetupCall(n, reg_, SetupStep::kRegister);
  if (!reg || !reg->contains("InstanceId")) co_return false;
  n.instance_id = (*reg)["InstanceId"].get<std::string>();
  std::optional<json> tok = co_await SetupCall(n, token_, SetupStep::kToken);
  if (!tok) co_return false;
  n.creds.access_key_id = tok->value("AccessKeyId", "");
  n.creds.secret_access_key = tok->value("SecretAccessKey", "");
  n.creds.session_token = tok->value("SessionToken", "");
  if (n.creds.access_key_id.empty()) co_return false;
  std::optional<json> hb = co_await SetupCall(n, heartbeat_, SetupStep::kHeartbeat);
  co_return hb.has_value();
}

awaitable<void> Sim::SetupWorker() {
  Live live(live_coroutines_);
  while (!stopping_ && next_setup_ < nodes_.size()) {
    Node& n = *nodes_[next_setup_++];
    bool ok = false;
    try {
      ok = co_await SetupNode(n);
    } catch (const std::exception& e) {
      reg_.Error(std::string("exception: ") + e.what());
    }
    if (!ok) {
      n.failed = true;
      n.conn->Close();
      ++setup_failed_;
    } else {
      ++setup_done_;
      if (cfg_.op == "fleet") {
        asio::co_spawn(ioc_, PollLoop(n), asio::detached);
      } else {
        n.conn->Close();  // inventory: uploads go over a few shared connections
      }
    }
  }
}

awaitable<void> Sim::PollLoop(Node& n) {
  Live live(live_coroutines_);
  while (!stopping_) {
    json body = {{"Destination", n.instance_id},
                 {"MessagesRequestId", gc::crypto::FastUuid4()},
                 {"VisibilityTimeoutInSeconds", 10}};
    sigv4::Request r = JsonRequest(cfg_, std::string(kMds) + "GetMessages", body.dump());
    gc::agent::CredentialsSigner(n.creds).Sign(r, cfg_.region, "ec2messages", NowMillis());
    n.polling = true;
    ++polling_;
    const SteadyTime t0 = SteadyClock::now();
    CallResult res = co_await Exchange(cfg_, *n.conn, r, kPollTimeout);
    const SteadyTime t1 = SteadyClock::now();
    n.polling = false;
    --polling_;
    ++n.polls;
    if (stopping_) break;
    if (res.status != 200) {
      // The agent: a timeout after >= 10 s is a normal empty poll; a fast failure is followed by
      // a ~2 s pause.
      if (res.timed_out && Seconds(t0, t1) >= 10) {
        ++n.empty_polls;
        ++poll_timeouts_;
        continue;
      }
      ++n.poll_errors;
      poll_fail_.Error(Describe(res));
      if (Seconds(t0, t1) < 1) co_await Sleep(std::chrono::milliseconds(2000));
      continue;
    }
    json j = json::parse(res.body, nullptr, false);
    size_t count = 0;
    if (j.is_object()) {
      if (auto it = j.find("Messages"); it != j.end() && it->is_array()) {
        for (const json& m : *it) {
          if (stopping_) break;
          if (!m.is_object()) continue;
          ++count;
          co_await HandleMessage(n, m);
        }
      }
    }
    if (count == 0) {
      ++n.empty_polls;
      poll_hold_.Add(Nanos(t0, t1));
      if (Seconds(t0, t1) < 1) co_await Sleep(std::chrono::milliseconds(2000));
    }
  }
}

awaitable<void> Sim::HandleMessage(Node& n, const json& m) {
  const SteadyTime got = SteadyClock::now();
  const std::string message_id = m.value("MessageId", "");
  const std::string topic = m.value("Topic", "");
  const std::string payload = m.value("Payload", "");
  auto note_error = [&](const std::string& e) {
    if (first_message_error_.empty()) first_message_error_ = e.substr(0, 300);
  };
  if (message_id.empty() || topic.rfind("aws.ssm.sendCommand", 0) != 0) {
    ++unexpected_messages_;
    note_error("unexpected message: " + m.dump().substr(0, 200));
    co_return;
  }
  const bool first_time = n.seen.insert(message_id).second;
  if (!first_time) ++duplicates_;
  auto plan = gc::agent::ParseSendCommand(payload);
  // While the fan-out runs no other command is sent, so a message that arrives before
  // SendCommand's answer names the command is the fan-out's too.
  const bool probed = probe_.active && plan.ok() &&
                      (probe_.command_id.empty() || plan->command_id == probe_.command_id);
  if (probed && first_time) {
    ++probe_.messages;
    probe_.to_message.Add(Nanos(probe_.sent, got));
    if (probe_.messages == 1) probe_.first_message = got;
    probe_.last_message = got;
  }

  auto send_reply = [&](std::string reply_payload) -> awaitable<bool> {
    json body = {{"MessageId", message_id},
                 {"ReplyId", gc::crypto::FastUuid4()},
                 {"Payload", std::move(reply_payload)}};
    CallResult r = co_await NodeCall(n, mds_send_reply_, ec2messages_, body, kCallTimeout);
    if (r.status != 200) {
      ++reply_errors_;
      note_error("SendReply: " + Describe(r));
      co_return false;
    }
    co_return true;
  };
  auto ack = [&]() -> awaitable<void> {
    const json body = {{"MessageId", message_id}};
    CallResult r = co_await NodeCall(n, mds_ack_, ec2messages_, body, kCallTimeout);
    if (r.status == 200) {
      ++acks_ok_;
    } else {
      ++ack_errors_;
      note_error("AcknowledgeMessage: " + Describe(r));
    }
  };

  if (!first_time) {  // as the agent: a message already taken is only acknowledged again
    co_await ack();
    co_return;
  }
  if (!plan.ok()) {
    // §2.3 step 2: a Failed reply with the reason, no acknowledgement.
    note_error("payload: " + plan.error().message);
    co_await send_reply(gc::agent::TracePayload("Failed", plan.error().message, NowMillis()));
    co_return;
  }
  const bool agent_like = cfg_.replies == "agent";
  if (agent_like) co_await send_reply(gc::agent::InProgressPayload(NowMillis()));
  co_await ack();
  // Nothing runs: every step "succeeds" at once with empty output.
  std::vector<gc::agent::PluginResult> results;
  const int64_t now = NowMillis();
  for (const auto& step : plan->steps) {
    gc::agent::PluginResult pr;
    pr.id = step.id;
    pr.name = step.action;
    pr.status = "Success";
    pr.start_millis = now;
    pr.end_millis = now;
    results.push_back(std::move(pr));
    if (agent_like) co_await send_reply(gc::agent::PluginDonePayload(results, NowMillis()));
  }
  const bool ok = co_await send_reply(gc::agent::FinalPayload(results, NowMillis()));
  if (probed && ok) {
    const SteadyTime done = SteadyClock::now();
    ++probe_.replies_ok;
    probe_.to_reply.Add(Nanos(probe_.sent, done));
    probe_.last_reply = done;
  }
}

awaitable<void> Sim::Idle() {
  const ProcStat s0 = ReadProc(cfg_.server_pid);
  const double sim0 = SelfCpuSeconds();
  const uint64_t timeouts0 = poll_timeouts_;
  uint64_t polls0 = 0;
  for (const auto& n : nodes_) polls0 += n->polls;
  const SteadyTime t0 = SteadyClock::now();
  const auto until = t0 + std::chrono::milliseconds(static_cast<int64_t>(cfg_.idle_seconds * 1000));
  size_t min_polling = polling_;
  while (SteadyClock::now() < until) {
    CheckDeadline("idle");
    co_await Sleep(std::chrono::milliseconds(100));
    min_polling = std::min(min_polling, polling_);
  }
  const SteadyTime t1 = SteadyClock::now();
  const ProcStat s1 = ReadProc(cfg_.server_pid);
  uint64_t polls1 = 0;
  for (const auto& n : nodes_) polls1 += n->polls;
  const double secs = Seconds(t0, t1);
  json j = {{"seconds", R3(secs)},
            {"polling_at_end", polling_},
            {"polling_min", min_polling},
            {"polls_completed", polls1 - polls0},
            {"polls_per_s", R1(static_cast<double>(polls1 - polls0) / secs)},
            {"sim_cpu_pct", R1((SelfCpuSeconds() - sim0) / secs * 100.0)},
            {"poll_client_timeouts", poll_timeouts_ - timeouts0}};
  if (s0.ok && s1.ok) {
    j["server_cpu_pct"] = R1(static_cast<double>(s1.cpu_ticks - s0.cpu_ticks) /
                             static_cast<double>(sysconf(_SC_CLK_TCK)) / secs * 100.0);
    j["server"] = ProcJson(s1);
  }
  out_["idle"] = j;
  std::cerr << "gc_fleet_sim: idle " << R1(secs) << " s with " << polling_ << " parked polls; "
            << j.dump() << "\n";
}

awaitable<void> Sim::TagWorker(size_t* next, Sample* s) {
  Conn c(ioc_.get_executor());
  while (*next < nodes_.size()) {
    Node& n = *nodes_[(*next)++];
    if (n.failed) continue;
    const SteadyTime t0 = SteadyClock::now();
    const json body = {{"ResourceType", "ManagedInstance"},
                       {"ResourceId", n.instance_id},
                       {"Tags", {{{"Key", cfg_.tag_key}, {"Value", cfg_.tag_value}}}}};
    CallResult r = co_await Admin(c, op_add_tags_, body);
    if (r.status == 200) {
      s->Add(Nanos(t0, SteadyClock::now()));
    } else {
      s->Error(Describe(r));
    }
  }
  c.Close();
}

awaitable<void> Sim::Tag() {
  Sample s;
  size_t next = 0;
  const SteadyTime t0 = SteadyClock::now();
  int workers = std::max(1, cfg_.tag_concurrency);
  int done = 0;
  for (int i = 0; i < workers; ++i) {
    asio::co_spawn(ioc_, TagWorker(&next, &s), [&done](std::exception_ptr) { ++done; });
  }
  while (done < workers) {
    CheckDeadline("tagging");
    co_await Sleep(std::chrono::milliseconds(20));
  }
  const double secs = Seconds(t0, SteadyClock::now());
  json j = s.ToJson();
  j["seconds"] = R3(secs);
  j["per_s"] = R1(static_cast<double>(s.ns.size()) / secs);
  out_["tagging"] = j;
  std::cerr << "gc_fleet_sim: tagged " << s.ns.size() << " nodes in " << R3(secs) << " s ("
            << s.errors << " errors)\n";
}

awaitable<void> Sim::Fanout() {
  size_t live = 0;
  for (const auto& n : nodes_) live += n->failed ? 0 : 1;
  Conn c(ioc_.get_executor());
  json body = {{"DocumentName", "AWS-RunShellScript"},
               {"Targets", {{{"Key", "tag:" + cfg_.tag_key}, {"Values", {cfg_.tag_value}}}}},
               {"MaxConcurrency", "100%"},
               {"MaxErrors", "0"},
               {"TimeoutSeconds", 600},
               {"Comment", "gc_fleet_sim fan-out"},
               {"Parameters", {{"commands", {"echo fleet"}}}}};
  const ProcStat s0 = ReadProc(cfg_.server_pid);
  const uint64_t timeouts0 = poll_timeouts_;
  probe_ = FanoutProbe{};
  probe_.sent = SteadyClock::now();
  probe_.active = true;
  CallResult r = co_await Admin(c, op_send_command_, body);
  const SteadyTime answered = SteadyClock::now();
  if (r.status != 200) throw std::runtime_error("SendCommand (fan-out): " + Describe(r));
  json cmd = json::parse(r.body).at("Command");
  probe_.command_id = cmd.at("CommandId").get<std::string>();
  const int64_t target_count = cmd.value("TargetCount", int64_t{-1});
  std::cerr << "gc_fleet_sim: fan-out command " << probe_.command_id << " to " << target_count
            << " targets (SendCommand answered in " << R3(Seconds(probe_.sent, answered))
            << " s)\n";
  const auto fanout_deadline =
      probe_.sent + std::chrono::milliseconds(static_cast<int64_t>(cfg_.fanout_timeout * 1000));
  json last;
  std::string status;
  int64_t completed = 0;
  uint64_t list_calls = 0;
  Sample list_lat;
  SteadyTime done_at{};
  double last_print = 0;
  while (true) {
    if (SteadyClock::now() > fanout_deadline) {
      status = "timeout (" + std::to_string(static_cast<int>(cfg_.fanout_timeout)) + " s)";
      break;
    }
    CheckDeadline("fan-out");
    const SteadyTime t0 = SteadyClock::now();
    const json list_body = {{"CommandId", probe_.command_id}};
    CallResult l = co_await Admin(c, op_list_commands_, list_body);
    const SteadyTime t1 = SteadyClock::now();
    ++list_calls;
    if (l.status == 200) {
      list_lat.Add(Nanos(t0, t1));
      json j = json::parse(l.body, nullptr, false);
      if (j.is_object() && j.contains("Commands") && !j["Commands"].empty()) {
        last = j["Commands"][0];
        status = last.value("Status", "");
        completed = last.value("CompletedCount", int64_t{0});
        if (status != "Pending" && status != "InProgress") {
          done_at = t1;
          break;
        }
      }
    } else {
      list_lat.Error(Describe(l));
    }
    const double el = Seconds(probe_.sent, t1);
    if (el - last_print >= 5) {
      last_print = el;
      std::cerr << "gc_fleet_sim:   " << R1(el) << " s: " << status << ", completed " << completed
                << "/" << target_count << ", messages at nodes " << probe_.messages
                << ", final replies " << probe_.replies_ok << "\n";
    }
    co_await Sleep(std::chrono::milliseconds(50));
  }
  const ProcStat s1 = ReadProc(cfg_.server_pid);
  probe_.active = false;
  c.Close();
  const bool success = status == "Success" && completed == static_cast<int64_t>(live) &&
                       target_count == static_cast<int64_t>(live);
  json j = {{"command_id", probe_.command_id},
            {"target_count", target_count},
            {"expected", live},
            {"status", status},
            {"completed_count", completed},
            {"error_count", last.value("ErrorCount", int64_t{-1})},
            {"delivery_timed_out_count", last.value("DeliveryTimedOutCount", int64_t{-1})},
            {"success", success},
            {"send_command_s", R3(Seconds(probe_.sent, answered))},
            {"list_commands_calls", list_calls},
            {"list_commands", list_lat.ToJson()},
            {"messages_at_nodes", probe_.messages},
            {"final_replies_ok", probe_.replies_ok},
            {"to_message", probe_.to_message.ToJson()},
            {"to_final_reply", probe_.to_reply.ToJson()},
            {"poll_client_timeouts", poll_timeouts_ - timeouts0}};
  if (done_at != SteadyTime{}) j["seconds"] = R3(Seconds(probe_.sent, done_at));
  if (probe_.messages > 0) {
    j["first_message_s"] = R3(Seconds(probe_.sent, probe_.first_message));
    j["last_message_s"] = R3(Seconds(probe_.sent, probe_.last_message));
  }
  if (probe_.replies_ok > 0) j["last_final_reply_s"] = R3(Seconds(probe_.sent, probe_.last_reply));
  if (s0.ok && s1.ok && done_at != SteadyTime{}) {
    j["server_cpu_s"] = R3(static_cast<double>(s1.cpu_ticks - s0.cpu_ticks) /
                           static_cast<double>(sysconf(_SC_CLK_TCK)));
  }
  out_["fanout"] = j;
  std::cerr << "gc_fleet_sim: fan-out " << status << " completed " << completed << "/" << live
            << (j.contains("seconds") ? " in " + std::to_string(j["seconds"].get<double>()) + " s"
                                      : std::string())
            << "\n";
}

awaitable<void> Sim::ApiLatency(const std::vector<std::string>& ids) {
  Conn c(ioc_.get_executor());
  Sample send, list;
  std::vector<std::string> command_ids;
  auto body_for = [&](int i) {
    return json{{"DocumentName", "AWS-RunShellScript"},
                {"InstanceIds", ids},
                {"Comment", "gc_fleet_sim api " + std::to_string(i)},
                {"Parameters", {{"commands", {"echo api"}}}}};
  };
  for (int i = 0; i < cfg_.api_warmup + cfg_.api_calls; ++i) {
    CheckDeadline("SendCommand latency");
    const bool measured = i >= cfg_.api_warmup;
    const SteadyTime t0 = SteadyClock::now();
    const json body = body_for(i);
    CallResult r = co_await Admin(c, op_send_command_, body);
    const SteadyTime t1 = SteadyClock::now();
    if (r.status == 200) {
      json j = json::parse(r.body, nullptr, false);
      if (j.is_object() && j.contains("Command")) {
        command_ids.push_back(j["Command"].value("CommandId", ""));
      }
      if (measured) send.Add(Nanos(t0, t1));
    } else if (measured) {
      send.Error(Describe(r));
    }
  }
  if (command_ids.empty()) command_ids.push_back("00000000-0000-4000-8000-000000000000");
  for (int i = 0; i < cfg_.api_warmup + cfg_.api_calls; ++i) {
    CheckDeadline("ListCommands latency");
    const bool measured = i >= cfg_.api_warmup;
    const std::string& id = command_ids[static_cast<size_t>(i) % command_ids.size()];
    const SteadyTime t0 = SteadyClock::now();
    const json body = {{"CommandId", id}};
    CallResult r = co_await Admin(c, op_list_commands_, body);
    const SteadyTime t1 = SteadyClock::now();
    if (!measured) continue;
    if (r.status == 200) {
      list.Add(Nanos(t0, t1));
    } else {
      list.Error(Describe(r));
    }
  }
  c.Close();
  out_["api"] = {{"instance_ids", ids.size()},
                 {"calls", cfg_.api_calls},
                 {"send_command", send.ToJson()},
                 {"list_commands", list.ToJson()}};
  std::cerr << "gc_fleet_sim: api latency " << out_["api"].dump() << "\n";
}

// --- Inventory (--op inventory) ------------------------------------------------------------------

std::string CaptureTime(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// PutInventory of node `n` as the agent sends it: AWS:Application and
// AWS:InstanceDetailedInformation with content and content hash.
std::string Sim::InventoryBody(const Node& n, bool* has_filter_version) const {
  const std::string apps = catalog_->Applications(n.index, has_filter_version);
  const std::string details = Catalog::Details(n.index);
  const std::string now = CaptureTime(NowMillis());
  auto hash = [](const std::string& text) {
    return gc::crypto::Base64Encode(gc::crypto::Md5(text));
  };
  std::string body;
  body.reserve(apps.size() + details.size() + 512);
  body += "{\"InstanceId\":";
  JsonStr(body, n.instance_id);
  body += ",\"Items\":[{\"TypeName\":\"AWS:Application\",\"SchemaVersion\":\"1.1\",\"CaptureTime\":\"" +
          now + "\",\"ContentHash\":\"" + hash(apps) + "\",\"Content\":";
  body += apps;
  body += "},{\"TypeName\":\"AWS:InstanceDetailedInformation\",\"SchemaVersion\":\"1.0\","
          "\"CaptureTime\":\"" +
          now + "\",\"ContentHash\":\"" + hash(details) + "\",\"Content\":";
  body += details;
  body += "}]}";
  return body;
}

// One of inv_connections uploaders: takes the next node, builds its PutInventory and sends it
// signed with the node's own credentials (with --inv-register 0: the operator's), retrying as the
// agent does on 5xx, throttling and transport failures.
awaitable<void> Sim::IngestWorker() {
  Conn c(ioc_.get_executor());
  while (!ingest_.stop && ingest_.next < nodes_.size()) {
    Node& n = *nodes_[ingest_.next++];
    if (n.failed) continue;
    bool has_filter_version = false;
    const std::string body = InventoryBody(n, &has_filter_version);
    ingest_.bytes += body.size();
    ++ingest_.sent_nodes;
    for (int attempt = 1;; ++attempt) {
      sigv4::Request r = JsonRequest(cfg_, std::string(kSsm) + "PutInventory", body);
      if (cfg_.inv_register) {
        gc::agent::CredentialsSigner(n.creds).Sign(r, cfg_.region, "ssm", NowMillis());
      } else {
        sigv4::SignHeaders(r, cfg_.admin, cfg_.region, "ssm", AmzDate(NowMillis()));
      }
      const SteadyTime t0 = SteadyClock::now();
      if (ingest_.first_send == SteadyTime{}) ingest_.first_send = t0;
      CallResult res = co_await Exchange(cfg_, c, std::move(r), kIngestTimeout);
      const SteadyTime t1 = SteadyClock::now();
      if (res.status == 200) {
        ingest_.put.Add(Nanos(t0, t1));
        ++ingest_.accepted;
        ingest_.last_accepted = t1;
        n.inventory_ok = true;
        if (has_filter_version) ++ingest_.expected_matches;
        break;
      }
      ingest_.put.Error(Describe(res));
      const bool retry = res.status == 0 || res.status >= 500 ||
                         res.body.find("Throttl") != std::string::npos;
      if (!retry || attempt >= kSetupAttempts || ingest_.stop || g_stopping) {
        ++ingest_.failed_nodes;
        break;
      }
      ++ingest_.retries;
      co_await Sleep(std::chrono::milliseconds(250 * attempt));
    }
    // A server that does not take PutInventory at all (moto_server): stop after a few nodes.
    if (ingest_.accepted == 0 && ingest_.failed_nodes >= 5) {
      ingest_.stop = true;
      ingest_.abandoned = true;
    }
  }
  c.Close();
}

awaitable<void> Sim::Ingest() {
  const int workers = std::max(1, std::min<int>(cfg_.inv_connections, static_cast<int>(nodes_.size())));
  std::cerr << "gc_fleet_sim: PutInventory of " << nodes_.size() << " nodes x " << cfg_.inv_apps
            << " applications over " << workers << " connections\n";
  const ProcStat s0 = ReadProc(cfg_.server_pid);
  const double cpu0 = SelfCpuSeconds();
  const SteadyTime t0 = SteadyClock::now();
  const auto until = t0 + std::chrono::milliseconds(static_cast<int64_t>(cfg_.ingest_timeout * 1000));
  int done = 0;
  for (int i = 0; i < workers; ++i) {
    asio::co_spawn(ioc_, IngestWorker(), [&done](std::exception_ptr) { ++done; });
  }
  double last_print = 0;
  bool timed_out = false;
  // Every 5 s: nodes accepted, and where the machine's CPU went (server, simulator, the rest).
  json timeline = json::array();
  const double busy0 = MachineBusySeconds();
  double prev_t = 0, prev_server = 0, prev_sim = 0, prev_busy = 0;
  uint64_t prev_accepted = 0;
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (done < workers) {
    if (SteadyClock::now() > until && !ingest_.stop) {
      ingest_.stop = true;
      timed_out = true;
    }
    if (SteadyClock::now() > deadline_) ingest_.stop = true;
    co_await Sleep(std::chrono::milliseconds(20));
    const double el = Seconds(t0, SteadyClock::now());
    if (el - last_print >= 5 || done == workers) {
      last_print = el;
      const ProcStat sp = ReadProc(cfg_.server_pid);
      const double server = sp.ok && s0.ok ? static_cast<double>(sp.cpu_ticks - s0.cpu_ticks) / tck : 0;
      const double simc = SelfCpuSeconds() - cpu0, busy = MachineBusySeconds() - busy0;
      const double dt = std::max(1e-3, el - prev_t);
      const double srv_pct = (server - prev_server) / dt * 100, sim_pct = (simc - prev_sim) / dt * 100;
      const double other_pct = std::max(0.0, (busy - prev_busy) / dt * 100 - srv_pct - sim_pct);
      const double rate = static_cast<double>(ingest_.accepted - prev_accepted) / dt;
      timeline.push_back({{"t_s", R1(el)},
                          {"accepted", ingest_.accepted},
                          {"per_s", R1(rate)},
                          {"server_cpu_pct", R1(srv_pct)},
                          {"sim_cpu_pct", R1(sim_pct)},
                          {"other_cpu_pct", R1(other_pct)}});
      std::cerr << "gc_fleet_sim:   " << R1(el) << " s: " << ingest_.accepted << " accepted ("
                << R1(rate) << "/s), " << ingest_.put.errors << " errors, "
                << R1(static_cast<double>(ingest_.bytes) / 1e6) << " MB sent; CPU % server "
                << R1(srv_pct) << ", simulator " << R1(sim_pct) << ", other processes "
                << R1(other_pct) << "\n";
      prev_t = el;
      prev_server = server;
      prev_sim = simc;
      prev_busy = busy;
      prev_accepted = ingest_.accepted;
    }
  }
  const SteadyTime t1 = SteadyClock::now();
  const ProcStat s1 = ReadProc(cfg_.server_pid);
  size_t live = 0;
  for (const auto& n : nodes_) live += n->failed ? 0 : 1;
  json j = {{"nodes", live},
            {"apps_per_node", cfg_.inv_apps},
            {"connections", workers},
            {"accepted", ingest_.accepted},
            {"failed_nodes", ingest_.failed_nodes},
            {"retries", ingest_.retries},
            {"abandoned", ingest_.abandoned},
            {"timed_out", timed_out},
            {"bytes", ingest_.bytes},
            {"body_kb_avg", ingest_.sent_nodes ? R1(static_cast<double>(ingest_.bytes) /
                                                     static_cast<double>(ingest_.sent_nodes) / 1024.0)
                                               : 0.0},
            {"wall_s", R3(Seconds(t0, t1))},
            {"put", ingest_.put.ToJson()},
            {"sim_cpu_s", R3(SelfCpuSeconds() - cpu0)},
            {"machine_busy_cpu_s", R3(MachineBusySeconds() - busy0)},
            {"timeline", timeline}};
  if (ingest_.accepted > 0) {
    // From the first PutInventory sent to the last one accepted.
    const double secs = Seconds(ingest_.first_send, ingest_.last_accepted);
    j["seconds"] = R3(secs);
    j["per_s"] = R1(static_cast<double>(ingest_.accepted) / secs);
    j["mb_per_s"] = R1(static_cast<double>(ingest_.bytes) / 1e6 / secs);
  }
  if (s0.ok && s1.ok) {
    j["server_cpu_s"] = R3(static_cast<double>(s1.cpu_ticks - s0.cpu_ticks) /
                           static_cast<double>(sysconf(_SC_CLK_TCK)));
  }
  out_["ingest"] = j;
  std::cerr << "gc_fleet_sim: ingest " << j.dump() << "\n";
}

// `warmup` unmeasured then `calls` measured calls of one operator call, in sequence on `c`.
// Keeps the sizes of the last answer and the first answer parsed.
awaitable<void> Sim::TimeCalls(Conn& c, const std::string& op, const json& body, int calls,
                               const std::string& name) {
  Sample s;
  json first;
  size_t bytes = 0;
  for (int i = 0; i < cfg_.inv_warmup + calls; ++i) {
    CheckDeadline(name.c_str());
    const bool measured = i >= cfg_.inv_warmup;
    const SteadyTime t0 = SteadyClock::now();
    CallResult r = co_await Admin(c, op, body);
    const SteadyTime t1 = SteadyClock::now();
    if (r.status == 200) {
      bytes = r.body.size();
      if (first.is_null()) first = json::parse(r.body, nullptr, false);
      if (measured) s.Add(Nanos(t0, t1));
    } else {
      if (measured || i == 0) s.Error(Describe(r));
      if (s.errors >= 5 && s.ns.empty()) break;  // not served at all: no point in more
    }
  }
  json j = s.ToJson();
  j["response_bytes"] = bytes;
  if (first.is_object()) {
    if (first.contains("Entities")) {
      j["entities"] = first["Entities"].size();
      j["next_token"] = first.contains("NextToken");
      size_t entries = 0;
      for (const auto& e : first["Entities"]) {
        if (!e.is_object() || !e.contains("Data") || !e["Data"].is_object()) continue;
        for (const auto& item : e["Data"]) {
          if (item.is_object() && item.contains("Content")) entries += item["Content"].size();
        }
      }
      j["content_rows"] = entries;
    }
    if (first.contains("Entries")) {
      j["entries"] = first["Entries"].size();
      j["next_token"] = first.contains("NextToken");
    }
  }
  queries_[name] = j;
  std::cerr << "gc_fleet_sim: " << name << " " << j.dump() << "\n";
}

awaitable<void> Sim::InventoryQueries() {
  Conn c(ioc_.get_executor());
  const std::string version = catalog_->FilterVersion();
  json filters = json::array();
  filters.push_back(json{{"Key", "AWS:Application.Name"},
                          {"Values", json::array({Catalog::kFilterPackage})},
                          {"Type", "Equal"}});
  filters.push_back(json{{"Key", "AWS:Application.Version"},
                          {"Values", json::array({version})},
                          {"Type", "Equal"}});
  json filtered = {{"Filters", filters}, {"MaxResults", 50}};
  json attrs = filtered;
  attrs["ResultAttributes"] = json::array({json{{"TypeName", "AWS:Application"}}});
  json agg = {{"Aggregators", json::array({json{{"Expression", "AWS:Application.Name"}}})}};
  out_["filter"] = {{"name", Catalog::kFilterPackage},
                    {"version", version},
                    {"expected_matches", ingest_.expected_matches}};
  const std::string get = "GetInventory", list = "ListInventoryEntries";
  co_await TimeCalls(c, get, filtered, cfg_.inv_calls, "get_filtered");
  co_await TimeCalls(c, get, attrs, cfg_.inv_calls, "get_filtered_app_only");
  co_await TimeCalls(c, get, agg, cfg_.inv_agg_calls, "aggregate_name");
  // ListInventoryEntries: one page of AWS:Application of a different node each call.
  {
    std::vector<const Node*> with;
    for (const auto& n : nodes_) {
      if (n->inventory_ok || !cfg_.inv_register) with.push_back(n.get());
    }
    if (with.empty()) with.push_back(nodes_.front().get());
    Sample s;
    size_t bytes = 0, entries = 0;
    bool next = false;
    const int total = cfg_.inv_warmup + cfg_.inv_calls;
    for (int i = 0; i < total; ++i) {
      CheckDeadline("ListInventoryEntries");
      const Node& n = *with[(static_cast<size_t>(i) * 7919) % with.size()];
      const json body = {{"InstanceId", n.instance_id}, {"TypeName", "AWS:Application"},
                         {"MaxResults", 50}};
      const SteadyTime t0 = SteadyClock::now();
      CallResult r = co_await Admin(c, list, body);
      const SteadyTime t1 = SteadyClock::now();
      if (r.status == 200) {
        if (i >= cfg_.inv_warmup) s.Add(Nanos(t0, t1));
        bytes = r.body.size();
        json j = json::parse(r.body, nullptr, false);
        if (j.is_object() && j.contains("Entries")) {
          entries = j["Entries"].size();
          next = j.contains("NextToken");
        }
      } else {
        if (i >= cfg_.inv_warmup || i == 0) s.Error(Describe(r));
        if (s.errors >= 5 && s.ns.empty()) break;
      }
    }
    json j = s.ToJson();
    j["response_bytes"] = bytes;
    j["entries"] = entries;
    j["next_token"] = next;
    queries_["list_entries"] = j;
    std::cerr << "gc_fleet_sim: list_entries " << j.dump() << "\n";
  }
  // Check (not timed): paging through the filter finds exactly the nodes that have the version.
  if (ingest_.accepted > 0 && queries_["get_filtered"].value("count", 0) > 0) {
    json body = filtered;
    body["ResultAttributes"] = json::array({json{{"TypeName", "AWS:InstanceInformation"}}});
    size_t found = 0;
    int pages = 0;
    bool ok = true;
    while (pages < 100000) {
      CheckDeadline("filter check");
      CallResult r = co_await Admin(c, get, body);
      ++pages;
      json j = json::parse(r.body, nullptr, false);
      if (r.status != 200 || !j.is_object()) {
        ok = false;
        break;
      }
      found += j.value("Entities", json::array()).size();
      if (!j.contains("NextToken")) break;
      body["NextToken"] = j["NextToken"];
    }
    // The aggregator: every node that uploaded has openssl.
    int64_t openssl = -1;
    CallResult r = co_await Admin(c, get, agg);
    json j = json::parse(r.body, nullptr, false);
    if (r.status == 200 && j.is_object()) {
      for (const auto& e : j.value("Entities", json::array())) {
        const json content = e.value("Data", json::object())
                                 .value("AWS:Application", json::object())
                                 .value("Content", json::array());
        for (const auto& row : content) {
          if (row.value("Name", "") == Catalog::kFilterPackage) {
            openssl = std::stoll(row.value("Count", "-1"));
          }
        }
      }
    }
    out_["check"] = {{"filtered_total", found},
                     {"filtered_pages", pages},
                     {"filtered_expected", ingest_.expected_matches},
                     {"aggregate_openssl", openssl},
                     {"aggregate_expected", ingest_.accepted},
                     {"ok", ok && found == ingest_.expected_matches &&
                                openssl == static_cast<int64_t>(ingest_.accepted)}};
    std::cerr << "gc_fleet_sim: check " << out_["check"].dump() << "\n";
  }
  out_["queries"] = queries_;
  c.Close();
}

awaitable<void> Sim::InventoryRun() {
  catalog_ = std::make_unique<Catalog>(cfg_.inv_apps, cfg_.inv_seed);
  out_["apps_per_node"] = cfg_.inv_apps;
  if (cfg_.inv_register) {
    co_await Register();
  } else {
    // No node credentials (moto_server): made-up instance ids, operator credentials.
    out_["nodes"] = cfg_.nodes;
    for (int i = 0; i < cfg_.nodes; ++i) {
      auto n = std::make_unique<Node>();
      n->index = i;
      char id[32];
      std::snprintf(id, sizeof id, "i-%017x", 0x100000 + i);
      n->instance_id = id;
      n->creds = cfg_.admin;
      n->conn = std::make_unique<Conn>(ioc_.get_executor());
      nodes_.push_back(std::move(n));
    }
  }
  co_await Ingest();
  Snapshot("after_ingest");
  co_await InventoryQueries();
  Snapshot("after_queries");
}

// Key pair, activations, then RegisterManagedInstance + token + heartbeat for every node,
// `concurrency` nodes at a time (fleet: each then polls; inventory: its connection is closed).
awaitable<void> Sim::Register() {
  out_["nodes"] = cfg_.nodes;
  out_["concurrency"] = cfg_.concurrency;
  if (cfg_.op == "fleet") out_["replies"] = cfg_.replies;
  const SteadyTime k0 = SteadyClock::now();
  keys_ = gc::crypto::GenerateRsaKeyPair(2048);
  if (keys_.public_key.empty()) throw std::runtime_error("RSA key generation failed");
  out_["shared_rsa_key"] = true;
  const double keygen = Seconds(k0, SteadyClock::now());
  out_["keygen_s"] = R3(keygen);
  std::cerr << "gc_fleet_sim: every node shares ONE 2048-bit RSA key pair: one took " << R3(keygen)
            << " s to generate here, " << cfg_.nodes << " would take about "
            << R1(keygen * cfg_.nodes / 60.0) << " min (fingerprints, instance ids and "
            << "credentials are still per node)\n";
  co_await CreateActivations();

  // (1) Registration: Register + token + heartbeat, `concurrency` nodes at a time.
  std::cerr << "gc_fleet_sim: registering " << cfg_.nodes << " nodes (" << cfg_.concurrency
            << " at a time)\n";
  const double cpu0 = SelfCpuSeconds();
  const ProcStat p0 = ReadProc(cfg_.server_pid);
  const SteadyTime r0 = SteadyClock::now();
  const int workers = std::max(1, std::min(cfg_.concurrency, cfg_.nodes));
  for (int i = 0; i < workers; ++i) asio::co_spawn(ioc_, SetupWorker(), asio::detached);
  double last_print = 0;
  auto record = [&] {
    const SteadyTime r1 = SteadyClock::now();
    const ProcStat p1 = ReadProc(cfg_.server_pid);
    const double reg_s = Seconds(r0, r1);
    json reg = {{"seconds", R3(reg_s)},
                {"nodes_ok", setup_done_},
                {"nodes_failed", setup_failed_},
                {"nodes_per_s", R1(static_cast<double>(setup_done_) / reg_s)},
                {"retries", setup_retries_},
                {"register", reg_.ToJson()},
                {"token", token_.ToJson()},
                {"heartbeat", heartbeat_.ToJson()},
                {"sim_cpu_s", R3(SelfCpuSeconds() - cpu0)}};
    if (p0.ok && p1.ok) {
      reg["server_cpu_s"] = R3(static_cast<double>(p1.cpu_ticks - p0.cpu_ticks) /
                               static_cast<double>(sysconf(_SC_CLK_TCK)));
    }
    if (setup_done_ + setup_failed_ < nodes_.size()) reg["unfinished"] = true;
    out_["registration"] = reg;
    return reg_s;
  };
  while (setup_done_ + setup_failed_ < nodes_.size()) {
    if (SteadyClock::now() > deadline_) record();
    CheckDeadline("registration");
    co_await Sleep(std::chrono::milliseconds(10));
    const double el = Seconds(r0, SteadyClock::now());
    if (el - last_print >= 5) {
      last_print = el;
      std::cerr << "gc_fleet_sim:   " << R1(el) << " s: " << setup_done_ << " registered, "
                << setup_failed_ << " failed, " << polling_ << " polling\n";
    }
  }
  const double reg_s = record();
  std::cerr << "gc_fleet_sim: registered " << setup_done_ << " nodes in " << R3(reg_s) << " s ("
            << R1(static_cast<double>(setup_done_) / reg_s) << "/s), " << setup_failed_
            << " failed\n";
  Snapshot("registered");
  if (setup_done_ == 0) throw std::runtime_error("no node registered: " + reg_.first_error);
}

awaitable<void> Sim::Main() {
  start_ = SteadyClock::now();
  deadline_ = start_ + std::chrono::milliseconds(static_cast<int64_t>(cfg_.deadline_seconds * 1000));
  out_["target"] = cfg_.label.empty() ? cfg_.endpoint : cfg_.label;
  out_["op"] = cfg_.op;
  out_["endpoint"] = cfg_.endpoint;
  try {
    if (cfg_.op == "api") {
      co_await ApiLatency(cfg_.instance_ids);
      co_return;
    }
    Snapshot("start");
    if (cfg_.op == "inventory") {
      co_await InventoryRun();
    } else {
      co_await Register();
      // Every live node parked in GetMessages.
      while (polling_ < setup_done_) {
        CheckDeadline("parking");
        co_await Sleep(std::chrono::milliseconds(10));
      }
      // (3) Idle window with every node parked.
      if (cfg_.idle_seconds > 0) co_await Idle();
      Snapshot("idle");

      if (cfg_.fanout) {
        co_await Tag();
        co_await Fanout();
        Snapshot("after_fanout");
      }
      if (cfg_.api_calls > 0) {
        std::vector<std::string> ids;
        for (const auto& n : nodes_) {
          if (!n->failed && static_cast<int>(ids.size()) < cfg_.api_targets) {
            ids.push_back(n->instance_id);
          }
        }
        co_await ApiLatency(ids);
        Snapshot("after_api");
      }
    }
  } catch (const std::exception& e) {
    out_["error"] = e.what();
    std::cerr << "gc_fleet_sim: " << e.what() << "\n";
  }

  if (cfg_.op == "fleet") {
    uint64_t polls = 0, empty = 0, perr = 0;
    for (const auto& n : nodes_) {
      polls += n->polls;
      empty += n->empty_polls;
      perr += n->poll_errors;
    }
    out_["polls"] = {{"completed", polls}, {"empty", empty}, {"errors", perr},
                     {"first_error", poll_fail_.first_error},
                     {"client_timeouts_20s", poll_timeouts_},
                     {"empty_hold", poll_hold_.ToJson()},
                     {"parked_at_end", polling_}};
    out_["messages"] = {{"acks_ok", acks_ok_}, {"ack_errors", ack_errors_},
                        {"reply_errors", reply_errors_}, {"duplicates", duplicates_},
                        {"unexpected", unexpected_messages_},
                        {"first_error", first_message_error_}};
  }
  out_["connections"] = {{"connects", g_stats.connects},
                         {"connect_failures", g_stats.connect_failures},
                         {"first_connect_error", g_stats.first_connect_error},
                         {"stale_retries", g_stats.stale_retries}};
  out_["snapshots"] = snapshots_;
  out_["sim_cpu_s"] = R3(SelfCpuSeconds());
  out_["elapsed_s"] = R3(Seconds(start_, SteadyClock::now()));

  // Stop: every parked poll is cancelled by closing its socket.
  stopping_ = true;
  g_stopping = true;
  for (auto& n : nodes_) n->conn->Close();
  const SteadyTime end = SteadyClock::now() + std::chrono::seconds(3);
  while (live_coroutines_ > 0 && SteadyClock::now() < end) {
    co_await Sleep(std::chrono::milliseconds(20));
  }
  clean_ = live_coroutines_ == 0;
}

bool ParseEndpoint(const std::string& url, Config* cfg, std::string* err) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    *err = "endpoint must start with http:// (the simulator speaks plain HTTP)";
    return false;
  }
  std::string rest = url.substr(kScheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) {
    *err = "endpoint needs host:port";
    return false;
  }
  std::string host = rest.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    *err = "endpoint host must be a numeric address: " + host;
    return false;
  }
  cfg->server = tcp::endpoint(addr, static_cast<unsigned short>(std::stoi(rest.substr(colon + 1))));
  cfg->host_header = rest;
  cfg->endpoint = url;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string endpoint, ids;
  CLI::App app{"gc_fleet_sim: many simulated managed nodes against groundcrewd (see bench/README.md)"};
  app.add_option("--endpoint", endpoint, "http://HOST:PORT")->required();
  app.add_option("--access-key", cfg.admin.access_key_id, "root access key id (admin calls)");
  app.add_option("--secret-key", cfg.admin.secret_access_key, "root secret access key");
  app.add_option("--region", cfg.region, "region")->default_val("us-east-1");
  app.add_option("--op", cfg.op, "fleet | api | inventory")
      ->check(CLI::IsMember({"fleet", "api", "inventory"}));
  app.add_option("--nodes", cfg.nodes, "simulated nodes")->default_val(100);
  app.add_option("--concurrency", cfg.concurrency, "nodes registering at the same time")
      ->default_val(64);
  app.add_option("--idle-seconds", cfg.idle_seconds, "idle window with every node parked")
      ->default_val(20);
  app.add_option("--fanout", cfg.fanout, "tag every node and SendCommand to the tag (1/0)")
      ->default_val(true);
  app.add_option("--tag-concurrency", cfg.tag_concurrency, "AddTagsToResource calls in flight")
      ->default_val(8);
  app.add_option("--fanout-timeout", cfg.fanout_timeout, "seconds to wait for the fan-out")
      ->default_val(300);
  app.add_option("--replies", cfg.replies,
                 "minimal (AcknowledgeMessage + final reply) | agent (InProgress reply, ack, "
                 "plugin reply, final reply, as groundcrew-agent)")
      ->check(CLI::IsMember({"minimal", "agent"}));
  app.add_option("--api-calls", cfg.api_calls, "SendCommand and ListCommands calls timed (0: none)")
      ->default_val(0);
  app.add_option("--api-targets", cfg.api_targets, "fleet nodes each timed SendCommand targets")
      ->default_val(5);
  app.add_option("--api-warmup", cfg.api_warmup, "unmeasured calls before each timed series")
      ->default_val(5);
  app.add_option("--instance-ids", ids, "--op api: comma-separated instance ids to target");
  app.add_option("--server-pid", cfg.server_pid, "server pid, for RSS and CPU from /proc");
  app.add_option("--deadline", cfg.deadline_seconds, "give up after this many seconds")
      ->default_val(1800);
  app.add_option("--sign-threads", cfg.sign_threads, "threads for RSA signatures")->default_val(1);
  app.add_option("--label", cfg.label, "the \"target\" field of the output");
  app.add_option("--inv-apps", cfg.inv_apps, "inventory: AWS:Application entries per node")
      ->default_val(500);
  app.add_option("--inv-connections", cfg.inv_connections,
                 "inventory: PutInventory connections in parallel")
      ->default_val(32);
  app.add_option("--inv-calls", cfg.inv_calls,
                 "inventory: timed GetInventory and ListInventoryEntries calls each")
      ->default_val(50);
  app.add_option("--inv-agg-calls", cfg.inv_agg_calls, "inventory: timed aggregator calls")
      ->default_val(20);
  app.add_option("--inv-warmup", cfg.inv_warmup, "inventory: unmeasured calls before each series")
      ->default_val(3);
  app.add_option("--ingest-timeout", cfg.ingest_timeout,
                 "inventory: seconds allowed for all the PutInventory calls")
      ->default_val(900);
  app.add_option("--inv-register", cfg.inv_register,
                 "inventory: register the nodes and sign with their credentials (1), or use "
                 "made-up instance ids and the operator's credentials (0, for moto_server)")
      ->default_val(true);
  app.add_option("--inv-seed", cfg.inv_seed, "inventory: seed of the package universe")
      ->default_val(1);
  CLI11_PARSE(app, argc, argv);

  std::string err;
  if (!ParseEndpoint(endpoint, &cfg, &err)) {
    std::cerr << "gc_fleet_sim: " << err << "\n";
    return 2;
  }
  if (cfg.admin.access_key_id.empty()) {  // moto accepts anything
    cfg.admin.access_key_id = "AKIAIOSFODNN7EXAMPLE";
    cfg.admin.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  }
  for (size_t pos = 0; pos < ids.size();) {
    size_t comma = ids.find(',', pos);
    if (comma == std::string::npos) comma = ids.size();
    if (comma > pos) cfg.instance_ids.push_back(ids.substr(pos, comma - pos));
    pos = comma + 1;
  }
  if (cfg.op == "api" && cfg.instance_ids.empty()) {
    std::cerr << "gc_fleet_sim: --op api needs --instance-ids\n";
    return 2;
  }
  if (cfg.op == "inventory" && (cfg.inv_apps < 1 || cfg.inv_connections < 1)) {
    std::cerr << "gc_fleet_sim: --inv-apps and --inv-connections must be at least 1\n";
    return 2;
  }
  if (cfg.nodes < 1) {
    std::cerr << "gc_fleet_sim: --nodes must be at least 1\n";
    return 2;
  }

  // One socket per node (plus a few): raise the descriptor limit to the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (cfg.op == "fleet" && rl.rlim_cur != RLIM_INFINITY &&
      static_cast<rlim_t>(cfg.nodes) + 64 > rl.rlim_cur) {
    std::cerr << "gc_fleet_sim: " << cfg.nodes << " nodes need more file descriptors than "
              << "RLIMIT_NOFILE allows (" << rl.rlim_cur << ")\n";
    return 2;
  }

  asio::io_context ioc(1);
  int rc = 0;
  Sim sim(cfg, ioc);
  asio::co_spawn(ioc, sim.Main(), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        sim.out()["error"] = std::string("unexpected: ") + ex.what();
      }
    }
    sim.out()["fd_limit"] = static_cast<uint64_t>(rl.rlim_cur);
    std::cout << sim.out().dump() << std::endl;
    rc = sim.out().contains("error") ? 1 : 0;
    // The node coroutines end as their sockets close; should one linger, do not wait for it.
    if (!sim.clean()) {
      std::cerr.flush();
      std::_Exit(rc);
    }
  });
  ioc.run();
  return rc;
}
