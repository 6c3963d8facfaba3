// gc_loadgen: an HTTP/1.1 load generator for groundcrewd and its comparisons (moto_server, nginx).
//
// One thread per connection, blocking sockets, keep-alive. Closed loop by default (each
// connection sends its next request as soon as the previous response is in); with --rate the
// total rate is split evenly over the connections and each one sends on a fixed schedule, and
// latency is then measured from the scheduled send time (so a stalled server is not hidden by
// the generator waiting for it: no coordinated omission).
//
// SSM requests (JSON 1.1 protocol) are SigV4-signed before the timed part: GetParameter is one
// signed request reused by every connection; PutParameter needs distinct names, so each connection
// signs a pool of distinct requests up front and signs inline only if its pool runs out (the
// "signing" field of the output says which happened). A signature stays valid for 5 minutes;
// a run is capped at 120 s plus warm-up.
//
// Output: one line of JSON on stdout. Diagnostics (and the first error body) go to stderr.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <future>
#include <iostream>
#include <latch>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_client.h"
#include "wire/sigv4.h"

namespace {

namespace sigv4 = gc::sigv4;

using namespace gc::bench;  // NOLINT(google-build-using-namespace): the shared client

using SteadyClock = std::chrono::steady_clock;
using Nanos = std::chrono::nanoseconds;

constexpr int kMaxDurationSeconds = 120;
constexpr int kMaxWarmupSeconds = 30;
constexpr int kMixedPutEvery = 10;  // mixed: every 10th request of a connection is a put

enum class Op { kGet, kPut, kMixed, kNginx };


struct Config {
  Endpoint endpoint;
  std::string label;
  Op op = Op::kGet;
  std::string op_name;
  sigv4::Credentials creds;
  std::string region;
  int connections = 4;
  double duration = 10;
  double warmup = 1;
  double rate = 0;    // 0: closed loop
  long put_pool = 0;  // per connection; 0: automatic
  std::string name_prefix;
};

std::string BuildSsmRequest(const Config& cfg, std::string_view action, std::string body,
                            std::string_view amz_date) {
  sigv4::Request req;
  req.method = "POST";
  req.target = "/";
  req.headers = {{"Host", cfg.endpoint.host_header},
                 {"Content-Type", "application/x-amz-json-1.1"},
                 {"X-Amz-Target", "AmazonSSM." + std::string(action)}};
  req.body = std::move(body);
  sigv4::SignHeaders(req, cfg.creds, cfg.region, "ssm", amz_date);
  std::string out;
  out.reserve(512 + req.body.size());
  out += "POST / HTTP/1.1\r\n";
  for (const auto& [name, value] : req.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "Content-Length: ";
  out += std::to_string(req.body.size());
  out += "\r\n\r\n";
  out += req.body;
  return out;
}

std::string GetBody() { return R"({"Name":"/bench/p0"})"; }

std::string PutBody(const Config& cfg, int conn, long i) {
  return R"({"Name":")" + cfg.name_prefix + "/" + std::to_string(conn) + "/" + std::to_string(i) +
         R"(","Value":"v","Type":"String"})";
}

std::string NginxRequest(const Config& cfg) {
  return "GET / HTTP/1.1\r\nHost: " + cfg.endpoint.host_header + "\r\n\r\n";
}

struct WorkerStats {
  uint64_t responses = 0;   // in the measured window, any status
  uint64_t ok = 0;          // 200 responses in the window
  uint64_t errors = 0;      // non-200 responses and transport failures in the window
  uint64_t reconnects = 0;  // connections re-opened (after the first) in the window
  uint64_t connect_failures = 0;
  uint64_t late_sends = 0;           // paced mode: sends that started >1 ms after their schedule
  long presigned = 0;                // put requests signed before the start
  long signed_inline = 0;            // put requests signed during the run (pool exhausted)
  std::vector<uint64_t> latency_ns;  // 200 responses in the window
  std::vector<uint64_t> service_ns;  // paced mode: the same, measured from the actual send
  std::string first_error;
};

struct Timing {
  SteadyClock::time_point start;     // warm-up begins
  SteadyClock::time_point measured;  // measured window begins
  SteadyClock::time_point end;       // measured window ends
};

void Worker(const Config& cfg, int id, const std::string& get_request, long pool_size,
            std::latch& ready, const std::shared_future<Timing>& go, WorkerStats* st) {
  // Pre-sign this connection's pool of distinct PutParameter requests.
  std::vector<std::string> pool;
  const bool puts = cfg.op == Op::kPut || cfg.op == Op::kMixed;
  if (puts) {
    const std::string date = AmzDateNow();
    pool.reserve(static_cast<size_t>(pool_size));
    for (long i = 0; i < pool_size; ++i) {
      pool.push_back(BuildSsmRequest(cfg, "PutParameter", PutBody(cfg, id, i), date));
    }
    st->presigned = pool_size;
  }
  const std::string nginx_request = cfg.op == Op::kNginx ? NginxRequest(cfg) : std::string();
  if (cfg.rate <= 0) {
    st->latency_ns.reserve(1 << 20);
  } else {
    st->latency_ns.reserve(static_cast<size_t>(cfg.rate / cfg.connections * cfg.duration) + 64);
    st->service_ns.reserve(st->latency_ns.capacity());
  }

  ready.count_down();
  const Timing t = go.get();

  Connection conn(cfg.endpoint);
  Response resp;
  std::string err;
  std::string inline_request;
  long next_put = 0;
  long seq = 0;  // requests issued by this connection
  bool first_connect = true;
  const bool paced = cfg.rate > 0;
  const Nanos interval(paced ? static_cast<int64_t>(1e9 * cfg.connections / cfg.rate) : 0);
  const Nanos phase(paced ? static_cast<int64_t>(1e9 * id / cfg.rate) : 0);

  auto note_error = [&](const std::string& what) {
    if (st->first_error.empty()) {
      st->first_error = what;
    }
  };

  for (;;) {
    SteadyClock::time_point scheduled;
    if (paced) {
      scheduled = t.start + phase + interval * seq;
      if (scheduled >= t.end) {
        break;
      }
      std::this_thread::sleep_until(scheduled);
    } else {
      scheduled = SteadyClock::now();
      if (scheduled >= t.end) {
        break;
      }
    }
    const bool in_window_start = scheduled >= t.measured;

    // Pick the request.
    std::string_view request;
    bool is_put = false;
    switch (cfg.op) {
      case Op::kGet:
        request = get_request;
        break;
      case Op::kNginx:
        request = nginx_request;
        break;
      case Op::kPut:
        is_put = true;
        break;
      case Op::kMixed:
        is_put = seq % kMixedPutEvery == kMixedPutEvery - 1;
        if (!is_put) {
          request = get_request;
        }
        break;
    }
    ++seq;
    if (is_put) {
      if (next_put < static_cast<long>(pool.size())) {
        request = pool[static_cast<size_t>(next_put)];
      } else {
        inline_request =
            BuildSsmRequest(cfg, "PutParameter", PutBody(cfg, id, next_put), AmzDateNow());
        request = inline_request;
        ++st->signed_inline;
      }
      ++next_put;
    }

    // Connect (or reconnect) when needed.
    if (!conn.open()) {
      if (!conn.Connect(&err)) {
        ++st->connect_failures;
        if (in_window_start) {
          ++st->errors;
        }
        note_error(err);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      if (!first_connect && in_window_start) {
        ++st->reconnects;
      }
      first_connect = false;
    }

    const SteadyClock::time_point sent_at = SteadyClock::now();
    if (paced && sent_at - scheduled > std::chrono::milliseconds(1)) {
      ++st->late_sends;
    }
    err.clear();
    IoResult rc = conn.RoundTrip(request, &resp, &err);
    if (rc == IoResult::kNoResponse && conn.served() > 0) {
      // The server closed an idle keep-alive connection: reconnect and resend once.
      if (conn.Connect(&err)) {
        if (in_window_start) {
          ++st->reconnects;
        }
        err.clear();
        rc = conn.RoundTrip(request, &resp, &err);
      }
    }
    const SteadyClock::time_point done = SteadyClock::now();
    const bool in_window = in_window_start && done <= t.end;
    if (rc != IoResult::kOk) {
      conn.Close();
      if (in_window) {
        ++st->errors;
      }
      note_error(err);
      continue;
    }
    if (resp.close) {
      conn.Close();
    }
    if (!in_window) {
      continue;
    }
    ++st->responses;
    if (resp.status != 200) {
      ++st->errors;
      note_error("HTTP " + std::to_string(resp.status) + ": " + resp.body);
      continue;
    }
    ++st->ok;
    const auto from = paced ? scheduled : sent_at;
    st->latency_ns.push_back(
        static_cast<uint64_t>(std::chrono::duration_cast<Nanos>(done - from).count()));
    if (paced) {
      st->service_ns.push_back(
          static_cast<uint64_t>(std::chrono::duration_cast<Nanos>(done - sent_at).count()));
    }
  }
}

// One request on a fresh connection, outside the measurement (setup).
bool Setup(const Config& cfg) {
  Connection conn(cfg.endpoint);
  std::string err;
  if (!conn.Connect(&err)) {
    std::cerr << "gc_loadgen: " << cfg.endpoint.url << ": " << err << "\n";
    return false;
  }
  const std::string req = BuildSsmRequest(
      cfg, "PutParameter", R"({"Name":"/bench/p0","Value":"v","Type":"String","Overwrite":true})",
      AmzDateNow());
  Response resp;
  if (conn.RoundTrip(req, &resp, &err) != IoResult::kOk) {
    std::cerr << "gc_loadgen: setup PutParameter /bench/p0: " << err << "\n";
    return false;
  }
  if (resp.status != 200) {
    std::cerr << "gc_loadgen: setup PutParameter /bench/p0: HTTP " << resp.status << ": "
              << resp.body << "\n";
    return false;
  }
  return true;
}

}  // namespace

namespace {

int Run(int argc, char** argv) {
  CLI::App app{"gc_loadgen: HTTP/1.1 load generator for groundcrewd (SSM JSON 1.1, SigV4)"};
  Config cfg;
  std::string endpoint;
  std::string op = "get";
  std::string name_prefix;
  app.add_option("--endpoint", endpoint, "http://HOST:PORT")->required();
  app.add_option("--access-key", cfg.creds.access_key_id, "SigV4 access key id")
      ->default_val("test");
  app.add_option("--secret-key", cfg.creds.secret_access_key, "SigV4 secret access key")
      ->default_val("test");
  app.add_option("--region", cfg.region, "SigV4 region")->default_val("us-east-1");
  app.add_option("--op", op, "get | put | mixed (9 get : 1 put) | nginx (plain GET /)")
      ->check(CLI::IsMember({"get", "put", "mixed", "nginx"}))
      ->default_val("get");
  app.add_option("--connections", cfg.connections, "connections (one thread each)")
      ->check(CLI::Range(1, 256))
      ->default_val(4);
  app.add_option("--duration", cfg.duration, "measured seconds (at most 120)")
      ->check(CLI::Range(0.1, static_cast<double>(kMaxDurationSeconds)))
      ->default_val(10);
  app.add_option("--warmup", cfg.warmup, "unmeasured seconds before the measured window")
      ->check(CLI::Range(0.0, static_cast<double>(kMaxWarmupSeconds)))
      ->default_val(1);
  app.add_option("--rate", cfg.rate,
                 "fixed total request rate (req/s), paced per connection; latency is then "
                 "measured from the scheduled send time")
      ->check(CLI::Range(0.0, 1e7))
      ->default_val(0);
  app.add_option("--put-pool", cfg.put_pool,
                 "pre-signed PutParameter requests per connection (0: automatic)")
      ->check(CLI::Range(0L, 10'000'000L))
      ->default_val(0);
  app.add_option("--name-prefix", name_prefix,
                 "PutParameter names are PREFIX/<conn>/<i> (default /bench/w/<run tag>)");
  app.add_option("--label", cfg.label, "the \"target\" field of the output (default: endpoint)");
  CLI11_PARSE(app, argc, argv);

  std::string err;
  if (!ParseEndpoint(endpoint, &cfg.endpoint, &err)) {
    std::cerr << "gc_loadgen: " << err << "\n";
    return 2;
  }
  cfg.op_name = op;
  cfg.op = op == "get"     ? Op::kGet
           : op == "put"   ? Op::kPut
           : op == "mixed" ? Op::kMixed
                           : Op::kNginx;
  if (cfg.label.empty()) {
    cfg.label = endpoint;
  }
  cfg.name_prefix = name_prefix.empty() ? "/bench/w/" + NewRunTag() : name_prefix;
  while (!cfg.name_prefix.empty() && cfg.name_prefix.back() == '/') {
    cfg.name_prefix.pop_back();
  }

  const bool ssm = cfg.op != Op::kNginx;
  const bool gets = cfg.op == Op::kGet || cfg.op == Op::kMixed;
  const bool puts = cfg.op == Op::kPut || cfg.op == Op::kMixed;
  if (gets && !Setup(cfg)) {
    return 1;
  }

  // Pool size per connection: enough for the run at the given rate, or a fixed budget in closed
  // loop (about 20 MB and well under a second of signing per connection).
  long pool = 0;
  if (puts) {
    pool = cfg.put_pool;
    if (pool == 0) {
      if (cfg.rate > 0) {
        pool = static_cast<long>(
                   std::ceil(cfg.rate / cfg.connections * (cfg.duration + cfg.warmup) * 1.05)) +
               16;
      } else {
        pool = 30'000;
      }
      if (cfg.op == Op::kMixed) {
        pool = pool / kMixedPutEvery + 16;
      }
    }
  }
  const std::string get_request =
      gets ? BuildSsmRequest(cfg, "GetParameter", GetBody(), AmzDateNow()) : std::string();

  const auto sign_start = SteadyClock::now();
  std::latch ready(cfg.connections);
  std::promise<Timing> go_promise;
  std::shared_future<Timing> go = go_promise.get_future().share();
  std::vector<WorkerStats> stats(static_cast<size_t>(cfg.connections));
  std::vector<std::thread> threads;
  threads.reserve(stats.size());
  for (int i = 0; i < cfg.connections; ++i) {
    threads.emplace_back(Worker, std::cref(cfg), i, std::cref(get_request), pool, std::ref(ready),
                         go, &stats[static_cast<size_t>(i)]);
  }
  ready.wait();
  const double sign_ms =
      std::chrono::duration<double, std::milli>(SteadyClock::now() - sign_start).count();
  if (puts) {
    std::cerr << "gc_loadgen: pre-signed " << pool * cfg.connections << " PutParameter requests ("
              << pool << " per connection) in " << static_cast<long>(sign_ms) << " ms\n";
  }
  Timing t;
  t.start = SteadyClock::now() + std::chrono::milliseconds(5);
  t.measured =
      t.start + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(cfg.warmup));
  t.end =
      t.measured + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(cfg.duration));
  go_promise.set_value(t);
  for (auto& th : threads) {
    th.join();
  }

  WorkerStats total;
  size_t samples = 0;
  for (const auto& s : stats) {
    samples += s.latency_ns.size();
  }
  total.latency_ns.reserve(samples);
  for (auto& s : stats) {
    total.responses += s.responses;
    total.ok += s.ok;
    total.errors += s.errors;
    total.reconnects += s.reconnects;
    total.connect_failures += s.connect_failures;
    total.late_sends += s.late_sends;
    total.presigned += s.presigned;
    total.signed_inline += s.signed_inline;
    total.latency_ns.insert(total.latency_ns.end(), s.latency_ns.begin(), s.latency_ns.end());
    total.service_ns.insert(total.service_ns.end(), s.service_ns.begin(), s.service_ns.end());
    if (total.first_error.empty()) {
      total.first_error = s.first_error;
    }
  }
  std::sort(total.latency_ns.begin(), total.latency_ns.end());
  std::sort(total.service_ns.begin(), total.service_ns.end());
  double mean_ms = 0;
  if (!total.latency_ns.empty()) {
    long double sum = 0;
    for (uint64_t v : total.latency_ns) {
      sum += v;
    }
    mean_ms = Round3(static_cast<double>(sum / total.latency_ns.size()) / 1e6);
  }
  if (!total.first_error.empty()) {
    std::cerr << "gc_loadgen: first error (" << cfg.label << ", " << cfg.op_name
              << "): " << total.first_error << "\n";
  }

  std::string signing;
  if (!ssm) {
    signing = "none";
  } else if (!puts) {
    signing = "presigned";
  } else if (total.signed_inline == 0) {
    signing = "presigned (pool " + std::to_string(pool) + "/connection)";
  } else {
    signing = "presigned pool of " + std::to_string(pool) + "/connection exhausted; " +
              std::to_string(total.signed_inline) + " signed inline";
  }

  nlohmann::ordered_json out;
  out["target"] = cfg.label;
  out["op"] = cfg.op_name;
  out["connections"] = cfg.connections;
  out["requests"] = total.responses;
  out["errors"] = total.errors;
  out["rps"] = Round3(static_cast<double>(total.ok) / cfg.duration);
  out["p50_ms"] = PercentileMs(total.latency_ns, 0.50);
  out["p99_ms"] = PercentileMs(total.latency_ns, 0.99);
  out["reconnects"] = total.reconnects;
  out["p90_ms"] = PercentileMs(total.latency_ns, 0.90);
  out["p999_ms"] = PercentileMs(total.latency_ns, 0.999);
  out["max_ms"] = total.latency_ns.empty() ? 0.0 : PercentileMs(total.latency_ns, 1.0);
  out["mean_ms"] = mean_ms;
  out["duration_s"] = cfg.duration;
  out["warmup_s"] = cfg.warmup;
  if (cfg.rate > 0) {
    out["rate"] = cfg.rate;
    out["latency_from"] = "schedule";
    out["late_sends"] = total.late_sends;
    // The same responses timed from the actual send (leaves out the generator's own wake-up
    // delay and any queueing behind a slow previous response on the connection).
    out["p50_send_ms"] = PercentileMs(total.service_ns, 0.50);
    out["p99_send_ms"] = PercentileMs(total.service_ns, 0.99);
  } else {
    out["rate"] = nullptr;
    out["latency_from"] = "send";
  }
  out["connect_failures"] = total.connect_failures;
  out["signing"] = signing;
  out["endpoint"] = cfg.endpoint.url;
  if (!total.first_error.empty()) {
    out["first_error"] = total.first_error.substr(0, 300);
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "gc_loadgen: " << e.what() << "\n";
    return 1;
  }
}
