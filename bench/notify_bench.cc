// gc_notify_bench: SNS and SQS load for groundcrewd and moto_server (see bench/README.md).
//
//   --op publish  SNS Publish (query protocol) to a topic without subscriptions; closed loop, or
//                 paced with --rate (latency then from the scheduled send: no coordinated omission).
//   --op deliver  starts --subscribers tiny HTTP/1.1 keep-alive servers on 127.0.0.1, subscribes
//                 them (Protocol http, confirmed by GETting the SubscribeURL), publishes --messages
//                 messages and times from the first publish until every delivery has arrived.
//   --op sqs      SQS: each connection loops SendMessage x10 (or, with --sqs-send batch, one
//                 SendMessageBatch of 10), ReceiveMessage (max 10), DeleteMessageBatch; counts
//                 deleted messages. JSON 1.0 protocol, or the query
//                 protocol with --sqs-protocol query (auto: JSON if CreateQueue in JSON works).
//
// The HTTP client (blocking sockets, keep-alive, reconnect on Connection: close) is copied from
// loadgen.cc. Requests that do not change are signed once before the timed part; DeleteMessageBatch
// (receipt handles) is signed inline. Output: one JSON line on stdout.
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


// --- Requests ---------------------------------------------------------------------------------

enum class Op { kPublish, kDeliver, kSqs };

struct Config {
  Endpoint endpoint;
  std::string label;
  Op op = Op::kPublish;
  std::string op_name;
  sigv4::Credentials creds;
  std::string region;
  int connections = 4;
  double duration = 10;
  double warmup = 1;
  double rate = 0;  // publish: 0 = closed loop
  long messages = 2000;
  int subscribers = 10;
  double deliver_timeout = 60;
  std::string sqs_protocol = "auto";
  bool sqs_send_batch = false;  // one SendMessageBatch of 10 instead of 10 SendMessage
  bool sqs_json = true;
  std::string tag;  // makes topic and queue names unique per run
};

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) {
      out += '&';
    }
    out += UrlEncode(k);
    out += '=';
    out += UrlEncode(v);
  }
  return out;
}

std::string Serialize(const sigv4::Request& req) {
  std::string out;
  out.reserve(512 + req.body.size());
  out += req.method + " " + req.target + " HTTP/1.1\r\n";
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

// A signed POST /: the query protocol when `target` is empty, else JSON 1.0 with X-Amz-Target.
std::string SignedPost(const Config& cfg, std::string_view service, std::string_view target,
                       std::string body, std::string_view amz_date) {
  sigv4::Request req;
  req.method = "POST";
  req.target = "/";
  req.headers = {{"Host", cfg.endpoint.host_header}};
  if (target.empty()) {
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  } else {
    req.headers.emplace_back("Content-Type", "application/x-amz-json-1.0");
    req.headers.emplace_back("X-Amz-Target", std::string(target));
  }
  req.body = std::move(body);
  sigv4::SignHeaders(req, cfg.creds, cfg.region, service, amz_date);
  return Serialize(req);
}

std::string SnsQuery(const Config& cfg, std::vector<std::pair<std::string, std::string>> fields) {
  fields.emplace_back("Version", "2010-03-31");
  return SignedPost(cfg, "sns", "", Form(fields), AmzDateNow());
}

// SQS in the configured protocol: JSON body `json` (JSON 1.0) or the same members as a form.
std::string SqsRequest(const Config& cfg, const std::string& action, const nlohmann::json& json) {
  if (cfg.sqs_json) {
    return SignedPost(cfg, "sqs", "AmazonSQS." + action, json.dump(), AmzDateNow());
  }
  std::vector<std::pair<std::string, std::string>> f{{"Action", action}};
  for (const auto& [k, v] : json.items()) {
    if (v.is_array()) {  // batch entries: flattened members of <Action>RequestEntry
      int i = 1;
      for (const auto& e : v) {
        const std::string p = action + "RequestEntry." + std::to_string(i++) + ".";
        for (const auto& [member, value] : e.items()) {
          f.emplace_back(p + member, value.get<std::string>());
        }
      }
    } else if (v.is_string()) {
      f.emplace_back(k, v.get<std::string>());
    } else {
      f.emplace_back(k, v.dump());
    }
  }
  f.emplace_back("Version", "2012-11-05");
  return SignedPost(cfg, "sqs", "", Form(f), AmzDateNow());
}

std::string XmlUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      static const std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [ent, ch] : kEntities) {
        if (s.substr(i, ent.size()) == ent) {
          out += ch;
          i += ent.size() - 1;
          done = true;
          break;
        }
      }
      if (done) {
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// Every <tag>value</tag> in an XML document (no nesting inside value).
std::vector<std::string> XmlValues(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    pos += open.size();
    const size_t end = xml.find(close, pos);
    if (end == std::string_view::npos) {
      break;
    }
    out.push_back(XmlUnescape(xml.substr(pos, end - pos)));
    pos = end + close.size();
  }
  return out;
}

size_t Count(std::string_view s, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = 0; (pos = s.find(needle, pos)) != std::string_view::npos; pos += needle.size()) {
    ++n;
  }
  return n;
}

// One request on `conn`: connects if needed, resends once on a stale keep-alive connection,
// closes after `Connection: close`. `reconnects` counts re-opened connections.
bool Call(Connection& conn, std::string_view request, Response* resp, std::string* err,
          uint64_t* reconnects = nullptr) {
  if (!conn.open()) {
    if (!conn.Connect(err)) {
      return false;
    }
    if (reconnects != nullptr) {
      ++*reconnects;
    }
  }
  err->clear();
  IoResult rc = conn.RoundTrip(request, resp, err);
  if (rc == IoResult::kNoResponse && conn.served() > 0) {
    if (!conn.Connect(err)) {
      return false;
    }
    if (reconnects != nullptr) {
      ++*reconnects;
    }
    err->clear();
    rc = conn.RoundTrip(request, resp, err);
  }
  if (rc != IoResult::kOk) {
    conn.Close();
    return false;
  }
  if (resp->close) {
    conn.Close();
  }
  return true;
}

// A setup call that must answer 200; throws otherwise.
std::string MustCall(const Config& cfg, std::string_view what, std::string_view request) {
  Connection conn(cfg.endpoint, /*keep_all_bodies=*/true);
  Response resp;
  std::string err;
  if (!Call(conn, request, &resp, &err)) {
    throw std::runtime_error(std::string(what) + ": " + err);
  }
  if (resp.status != 200) {
    throw std::runtime_error(std::string(what) + ": HTTP " + std::to_string(resp.status) + ": " +
                             resp.body.substr(0, 500));
  }
  return resp.body;
}

std::string CreateTopic(const Config& cfg, const std::string& name) {
  const std::string body =
      MustCall(cfg, "CreateTopic", SnsQuery(cfg, {{"Action", "CreateTopic"}, {"Name", name}}));
  const auto arns = XmlValues(body, "TopicArn");
  if (arns.empty()) {
    throw std::runtime_error("CreateTopic: no TopicArn in " + body.substr(0, 300));
  }
  return arns.front();
}

std::string PublishRequest(const Config& cfg, const std::string& topic_arn) {
  return SnsQuery(cfg, {{"Action", "Publish"},
                        {"TopicArn", topic_arn},
                        {"Message", "benchmark message from gc_notify_bench"}});
}

// --- Statistics -------------------------------------------------------------------------------

struct Timing {
  SteadyClock::time_point start;     // warm-up begins
  SteadyClock::time_point measured;  // measured window begins
  SteadyClock::time_point end;       // measured window ends
};

Timing MakeTiming(const Config& cfg) {
  Timing t;
  t.start = SteadyClock::now() + std::chrono::milliseconds(5);
  t.measured =
      t.start + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(cfg.warmup));
  t.end =
      t.measured + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(cfg.duration));
  return t;
}

struct Stats {
  uint64_t requests = 0;  // responses in the window
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t reconnects = 0;
  uint64_t late_sends = 0;
  uint64_t sent = 0, received = 0, deleted = 0;  // sqs messages
  std::vector<uint64_t> latency_ns;
  std::vector<uint64_t> service_ns;
  std::string first_error;

  void Error(const std::string& e) {
    if (first_error.empty()) {
      first_error = e;
    }
  }
  void Merge(const Stats& s) {
    requests += s.requests;
    ok += s.ok;
    errors += s.errors;
    reconnects += s.reconnects;
    late_sends += s.late_sends;
    sent += s.sent;
    received += s.received;
    deleted += s.deleted;
    latency_ns.insert(latency_ns.end(), s.latency_ns.begin(), s.latency_ns.end());
    service_ns.insert(service_ns.end(), s.service_ns.begin(), s.service_ns.end());
    Error(s.first_error);
  }
};

template <typename WorkerFn>
Stats RunWorkers(const Config& cfg, WorkerFn fn) {
  std::vector<Stats> stats(static_cast<size_t>(cfg.connections));
  std::promise<Timing> go_promise;
  std::shared_future<Timing> go = go_promise.get_future().share();
  std::vector<std::thread> threads;
  for (int i = 0; i < cfg.connections; ++i) {
    threads.emplace_back([&, i] { fn(i, go.get(), &stats[static_cast<size_t>(i)]); });
  }
  go_promise.set_value(MakeTiming(cfg));
  for (auto& th : threads) {
    th.join();
  }
  Stats total;
  for (const auto& s : stats) {
    total.Merge(s);
  }
  std::sort(total.latency_ns.begin(), total.latency_ns.end());
  std::sort(total.service_ns.begin(), total.service_ns.end());
  return total;
}

// --- publish ----------------------------------------------------------------------------------

void PublishWorker(const Config& cfg, const std::string& request, int id, const Timing& t,
                   Stats* st) {
  Connection conn(cfg.endpoint, /*keep_all_bodies=*/true);
  Response resp;
  std::string err;
  const bool paced = cfg.rate > 0;
  const Nanos interval(paced ? static_cast<int64_t>(1e9 * cfg.connections / cfg.rate) : 0);
  const Nanos phase(paced ? static_cast<int64_t>(1e9 * id / cfg.rate) : 0);
  st->latency_ns.reserve(paced ? static_cast<size_t>(cfg.rate * cfg.duration) + 64 : 1 << 20);
  bool first = true;
  for (long seq = 0;; ++seq) {
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
    const auto sent_at = SteadyClock::now();
    if (paced && sent_at - scheduled > std::chrono::milliseconds(1)) {
      ++st->late_sends;
    }
    uint64_t reconnects = 0;
    const bool ok = Call(conn, request, &resp, &err, &reconnects);
    if (first) {
      reconnects = reconnects > 0 ? reconnects - 1 : 0;
      first = false;
    }
    const auto done = SteadyClock::now();
    const bool in_window = in_window_start && done <= t.end;
    if (in_window) {
      st->reconnects += reconnects;
    }
    if (!ok) {
      if (in_window) {
        ++st->errors;
      }
      st->Error(err);
      if (!conn.open()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      continue;
    }
    if (!in_window) {
      continue;
    }
    ++st->requests;
    if (resp.status != 200) {
      ++st->errors;
      st->Error("HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 300));
      continue;
    }
    ++st->ok;
    st->latency_ns.push_back(static_cast<uint64_t>((done - (paced ? scheduled : sent_at)).count()));
    if (paced) {
      st->service_ns.push_back(static_cast<uint64_t>((done - sent_at).count()));
    }
  }
}

nlohmann::ordered_json RunPublish(const Config& cfg) {
  const std::string arn = CreateTopic(cfg, "bench-nosub-" + cfg.tag);
  const std::string request = PublishRequest(cfg, arn);
  MustCall(cfg, "Publish (check)", request);
  const Stats s = RunWorkers(
      cfg, [&](int id, const Timing& t, Stats* st) { PublishWorker(cfg, request, id, t, st); });
  nlohmann::ordered_json out;
  out["requests"] = s.requests;
  out["errors"] = s.errors;
  out["rps"] = Round3(static_cast<double>(s.ok) / cfg.duration);
  out["p50_ms"] = PercentileMs(s.latency_ns, 0.50);
  out["p99_ms"] = PercentileMs(s.latency_ns, 0.99);
  out["p999_ms"] = PercentileMs(s.latency_ns, 0.999);
  out["max_ms"] = PercentileMs(s.latency_ns, 1.0);
  out["reconnects"] = s.reconnects;
  if (cfg.rate > 0) {
    out["rate"] = cfg.rate;
    out["latency_from"] = "schedule";
    out["late_sends"] = s.late_sends;
    out["p50_send_ms"] = PercentileMs(s.service_ns, 0.50);
    out["p99_send_ms"] = PercentileMs(s.service_ns, 0.99);
  } else {
    out["rate"] = nullptr;
    out["latency_from"] = "send";
  }
  out["topic_arn"] = arn;
  if (!s.first_error.empty()) {
    out["first_error"] = s.first_error.substr(0, 300);
  }
  return out;
}

// --- deliver: HTTP subscribers ----------------------------------------------------------------

struct Subscribers {
  std::atomic<uint64_t> notifications{0};
  std::atomic<uint64_t> confirmations{0};   // SubscribeURL GETs that answered 200
  std::atomic<uint64_t> other_posts{0};     // any other POST
  std::atomic<uint64_t> target{0};          // notifications that end the measurement
  std::atomic<int64_t> reached_ns{0};       // steady-clock time the target was reached
  std::atomic<int> connections{0};          // connections accepted from the server
  std::mutex mu;
  std::string first_error;

  void Error(const std::string& e) {
    std::lock_guard lock(mu);
    if (first_error.empty()) {
      first_error = e;
    }
  }
};

// GETs a SubscribeURL (http only) on a new connection.
void Confirm(Subscribers* subs, const std::string& url) {
  Endpoint ep;
  std::string err;
  if (!ParseEndpoint(url, &ep, &err)) {
    subs->Error("SubscribeURL " + url + ": " + err);
    return;
  }
  const size_t path_at = url.find('/', std::string_view("http://").size());
  const std::string path = path_at == std::string::npos ? "/" : url.substr(path_at);
  Connection conn(ep, /*keep_all_bodies=*/true);
  Response resp;
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + ep.host_header + "\r\n\r\n";
  if (!Call(conn, req, &resp, &err)) {
    subs->Error("GET SubscribeURL: " + err);
  } else if (resp.status != 200) {
    subs->Error("GET SubscribeURL: HTTP " + std::to_string(resp.status) + ": " + resp.body);
  } else {
    ++subs->confirmations;
  }
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Serves one keep-alive connection from the server: answers every request 200.
void ServeConnection(Subscribers* subs, int fd) {
  std::string buf;
  char chunk[16384];
  auto fill = [&]() {
    for (;;) {
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return false;
      }
      buf.append(chunk, static_cast<size_t>(n));
      return true;
    }
  };
  for (;;) {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        ::close(fd);
        return;
      }
    }
    const std::string_view head(buf.data(), head_end);
    const bool is_post = head.rfind("POST ", 0) == 0;
    long content_length = 0;
    bool expect_continue = false;
    std::string type;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      pos += 2;
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string_view::npos) {
        eol = head.size();
      }
      const std::string_view line = head.substr(pos, eol - pos);
      pos = eol;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        continue;
      }
      const std::string_view name = Trim(line.substr(0, colon));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (IEquals(name, "content-length")) {
        content_length = std::atol(std::string(value).c_str());
      } else if (IEquals(name, "expect")) {
        expect_continue = IEquals(value, "100-continue");
      } else if (IEquals(name, "x-amz-sns-message-type")) {
        type = value;
      }
    }
    buf.erase(0, head_end + 4);
    if (expect_continue && !SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
      ::close(fd);
      return;
    }
    while (buf.size() < static_cast<size_t>(content_length)) {
      if (!fill()) {
        ::close(fd);
        return;
      }
    }
    std::string body = buf.substr(0, static_cast<size_t>(content_length));
    buf.erase(0, static_cast<size_t>(content_length));
    if (is_post && type == "Notification") {
      const uint64_t n = ++subs->notifications;
      if (n == subs->target.load()) {
        subs->reached_ns = SteadyClock::now().time_since_epoch().count();
      }
    } else if (is_post && type == "SubscriptionConfirmation") {
      try {
        std::string url = nlohmann::json::parse(body).at("SubscribeURL").get<std::string>();
        std::thread(Confirm, subs, std::move(url)).detach();
      } catch (const std::exception& e) {
        subs->Error(std::string("SubscriptionConfirmation body: ") + e.what());
      }
    } else {
      ++subs->other_posts;
    }
    if (!SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) {
      ::close(fd);
      return;
    }
  }
}

// Listens on 127.0.0.1:0; returns the port. The accept thread runs until the process exits.
int StartSubscriber(Subscribers* subs) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("subscriber listen: ") + std::strerror(errno));
  }
  std::thread([subs, fd] {
    for (;;) {
      const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) {
          continue;
        }
        return;
      }
      int nd = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, sizeof nd);
      ++subs->connections;
      std::thread(ServeConnection, subs, c).detach();
    }
  }).detach();
  return ntohs(addr.sin_port);
}

nlohmann::ordered_json RunDeliver(const Config& cfg) {
  static Subscribers subs;  // outlives the detached subscriber threads
  const std::string arn = CreateTopic(cfg, "bench-deliver-" + cfg.tag);
  for (int i = 0; i < cfg.subscribers; ++i) {
    const int port = StartSubscriber(&subs);
    MustCall(cfg, "Subscribe",
             SnsQuery(cfg, {{"Action", "Subscribe"},
                            {"TopicArn", arn},
                            {"Protocol", "http"},
                            {"Endpoint", "http://127.0.0.1:" + std::to_string(port) + "/s" +
                                             std::to_string(i)}}));
  }
  const auto confirm_deadline = SteadyClock::now() + std::chrono::seconds(15);
  while (subs.confirmations.load() < static_cast<uint64_t>(cfg.subscribers)) {
    if (SteadyClock::now() > confirm_deadline) {
      throw std::runtime_error("only " + std::to_string(subs.confirmations.load()) + " of " +
                               std::to_string(cfg.subscribers) +
                               " subscriptions confirmed in 15 s; first error: " +
                               subs.first_error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Let ConfirmSubscription settle before publishing.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  const uint64_t expected = static_cast<uint64_t>(cfg.messages) * cfg.subscribers;
  subs.target = expected;
  const std::string request = PublishRequest(cfg, arn);
  std::atomic<long> next{0};
  std::vector<Stats> stats(static_cast<size_t>(cfg.connections));
  std::vector<std::thread> threads;
  const auto t0 = SteadyClock::now();
  for (int i = 0; i < cfg.connections; ++i) {
    threads.emplace_back([&, i] {
      Connection conn(cfg.endpoint, /*keep_all_bodies=*/true);
      Response resp;
      std::string err;
      Stats& st = stats[static_cast<size_t>(i)];
      while (next.fetch_add(1) < cfg.messages) {
        ++st.requests;
        if (!Call(conn, request, &resp, &err, &st.reconnects)) {
          ++st.errors;
          st.Error(err);
        } else if (resp.status != 200) {
          ++st.errors;
          st.Error("HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 300));
        } else {
          ++st.ok;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  const auto t_published = SteadyClock::now();
  Stats pub;
  for (const auto& s : stats) {
    pub.Merge(s);
  }
  const auto deadline = t0 + std::chrono::duration_cast<Nanos>(
                                 std::chrono::duration<double>(cfg.deliver_timeout));
  while (subs.notifications.load() < expected && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const uint64_t got = subs.notifications.load();
  const bool complete = got >= expected;
  const auto t_end = complete ? SteadyClock::time_point(Nanos(subs.reached_ns.load()))
                              : SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // late duplicates, if any
  const double publish_s = std::chrono::duration<double>(t_published - t0).count();
  const double total_s = std::chrono::duration<double>(t_end - t0).count();

  nlohmann::ordered_json out;
  out["messages"] = cfg.messages;
  out["subscribers"] = cfg.subscribers;
  out["publish_ok"] = pub.ok;
  out["errors"] = pub.errors;
  out["expected_deliveries"] = expected;
  out["deliveries"] = got;
  out["complete"] = complete;
  out["deliveries_per_s"] = Round3(static_cast<double>(std::min(got, expected)) / total_s);
  out["total_s"] = Round3(total_s);
  out["publish_s"] = Round3(publish_s);
  out["publish_rps"] = Round3(static_cast<double>(pub.ok) / publish_s);
  out["deliveries_after_end"] = subs.notifications.load() - got;
  out["other_posts"] = subs.other_posts.load();
  out["subscriber_connections"] = subs.connections.load();
  out["reconnects"] = pub.reconnects;
  out["topic_arn"] = arn;
  std::string first_error = pub.first_error.empty() ? subs.first_error : pub.first_error;
  if (!first_error.empty()) {
    out["first_error"] = first_error.substr(0, 300);
  }
  return out;
}

// --- sqs --------------------------------------------------------------------------------------

constexpr int kSqsSendsPerRound = 10;

// Receipt handles of a ReceiveMessage answer.
std::vector<std::string> ReceiptHandles(const Config& cfg, const std::string& body) {
  if (!cfg.sqs_json) {
    return XmlValues(body, "ReceiptHandle");
  }
  std::vector<std::string> out;
  const auto j = nlohmann::json::parse(body);
  if (auto it = j.find("Messages"); it != j.end()) {
    for (const auto& m : *it) {
      out.push_back(m.at("ReceiptHandle").get<std::string>());
    }
  }
  return out;
}

size_t DeletedCount(const Config& cfg, const std::string& body) {
  if (!cfg.sqs_json) {
    return Count(body, "<DeleteMessageBatchResultEntry>");
  }
  const auto j = nlohmann::json::parse(body);
  const auto it = j.find("Successful");
  return it == j.end() ? 0 : it->size();
}

void SqsWorker(const Config& cfg, const std::string& send, const std::string& receive,
               const std::string& queue_url, const Timing& t, Stats* st) {
  Connection conn(cfg.endpoint, /*keep_all_bodies=*/true);
  Response resp;
  std::string err;
  bool first = true;
  // One request; returns the body of a 200 answer (nullopt otherwise) and counts it.
  auto call = [&](std::string_view request) -> std::optional<std::string> {
    const auto start = SteadyClock::now();
    uint64_t reconnects = 0;
    const bool ok = Call(conn, request, &resp, &err, &reconnects);
    if (first) {
      reconnects = reconnects > 0 ? reconnects - 1 : 0;
      first = false;
    }
    const auto done = SteadyClock::now();
    const bool in_window = start >= t.measured && done <= t.end;
    if (in_window) {
      st->reconnects += reconnects;
      ++st->requests;
    }
    if (!ok || resp.status != 200) {
      if (in_window) {
        ++st->errors;
      }
      st->Error(ok ? "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 300) : err);
      return std::nullopt;
    }
    if (in_window) {
      ++st->ok;
      st->latency_ns.push_back(static_cast<uint64_t>((done - start).count()));
    }
    return std::move(resp.body);
  };
  auto in_window_now = [&] {
    const auto now = SteadyClock::now();
    return now >= t.measured && now <= t.end;
  };
  while (SteadyClock::now() < t.start) {
    std::this_thread::sleep_until(t.start);
  }
  while (SteadyClock::now() < t.end) {
    if (cfg.sqs_send_batch) {
      if (call(send) && in_window_now()) {
        st->sent += kSqsSendsPerRound;
      }
    } else {
      for (int i = 0; i < kSqsSendsPerRound; ++i) {
        if (call(send) && in_window_now()) {
          ++st->sent;
        }
      }
    }
    const auto body = call(receive);
    if (!body) {
      continue;
    }
    std::vector<std::string> handles;
    try {
      handles = ReceiptHandles(cfg, *body);
    } catch (const std::exception& e) {
      st->Error(std::string("ReceiveMessage answer: ") + e.what());
      continue;
    }
    if (in_window_now()) {
      st->received += handles.size();
    }
    if (handles.empty()) {
      continue;
    }
    nlohmann::json entries = nlohmann::json::array();
    for (size_t i = 0; i < handles.size(); ++i) {
      entries.push_back({{"Id", "m" + std::to_string(i)}, {"ReceiptHandle", handles[i]}});
    }
    const auto del = call(SqsRequest(cfg, "DeleteMessageBatch",
                                     {{"QueueUrl", queue_url}, {"Entries", entries}}));
    if (del && in_window_now()) {
      try {
        st->deleted += DeletedCount(cfg, *del);
      } catch (const std::exception& e) {
        st->Error(std::string("DeleteMessageBatch answer: ") + e.what());
      }
    }
  }
}

nlohmann::ordered_json RunSqs(Config cfg) {
  const std::string name = "bench-sqs-" + cfg.tag;
  std::string queue_url;
  std::string json_error;
  if (cfg.sqs_protocol != "query") {
    cfg.sqs_json = true;
    try {
      const std::string body =
          MustCall(cfg, "CreateQueue (JSON)", SqsRequest(cfg, "CreateQueue", {{"QueueName", name}}));
      queue_url = nlohmann::json::parse(body).at("QueueUrl").get<std::string>();
    } catch (const std::exception& e) {
      if (cfg.sqs_protocol == "json") {
        throw;
      }
      json_error = e.what();
    }
  }
  if (queue_url.empty()) {
    cfg.sqs_json = false;
    const std::string body =
        MustCall(cfg, "CreateQueue (query)", SqsRequest(cfg, "CreateQueue", {{"QueueName", name}}));
    const auto urls = XmlValues(body, "QueueUrl");
    if (urls.empty()) {
      throw std::runtime_error("CreateQueue: no QueueUrl in " + body.substr(0, 300));
    }
    queue_url = urls.front();
  }
  nlohmann::json batch = nlohmann::json::array();
  for (int i = 0; i < kSqsSendsPerRound; ++i) {
    batch.push_back({{"Id", "m" + std::to_string(i)}, {"MessageBody", "benchmark message"}});
  }
  const std::string send =
      cfg.sqs_send_batch
          ? SqsRequest(cfg, "SendMessageBatch", {{"QueueUrl", queue_url}, {"Entries", batch}})
          : SqsRequest(cfg, "SendMessage",
                       {{"QueueUrl", queue_url}, {"MessageBody", "benchmark message"}});
  const std::string receive = SqsRequest(
      cfg, "ReceiveMessage",
      {{"QueueUrl", queue_url}, {"MaxNumberOfMessages", 10}, {"WaitTimeSeconds", 0}});
  const Stats s = RunWorkers(cfg, [&](int, const Timing& t, Stats* st) {
    SqsWorker(cfg, send, receive, queue_url, t, st);
  });
  nlohmann::ordered_json out;
  out["protocol"] = cfg.sqs_json ? "json" : "query";
  out["send"] = cfg.sqs_send_batch ? "SendMessageBatch x10" : "SendMessage x10";
  out["messages_per_s"] = Round3(static_cast<double>(s.deleted) / cfg.duration);
  out["sent_per_s"] = Round3(static_cast<double>(s.sent) / cfg.duration);
  out["received_per_s"] = Round3(static_cast<double>(s.received) / cfg.duration);
  out["requests"] = s.requests;
  out["errors"] = s.errors;
  out["rps"] = Round3(static_cast<double>(s.ok) / cfg.duration);
  out["p50_ms"] = PercentileMs(s.latency_ns, 0.50);
  out["p99_ms"] = PercentileMs(s.latency_ns, 0.99);
  out["reconnects"] = s.reconnects;
  out["queue_url"] = queue_url;
  if (!json_error.empty()) {
    out["json_protocol_error"] = json_error.substr(0, 300);
  }
  if (!s.first_error.empty()) {
    out["first_error"] = s.first_error.substr(0, 300);
  }
  return out;
}

int Run(int argc, char** argv) {
  CLI::App app{"gc_notify_bench: SNS Publish, SNS HTTP deliveries and SQS load (SigV4)"};
  Config cfg;
  std::string endpoint;
  app.add_option("--endpoint", endpoint, "http://HOST:PORT")->required();
  app.add_option("--access-key", cfg.creds.access_key_id)->default_val("test");
  app.add_option("--secret-key", cfg.creds.secret_access_key)->default_val("test");
  app.add_option("--region", cfg.region)->default_val("us-east-1");
  app.add_option("--op", cfg.op_name, "publish | deliver | sqs")
      ->check(CLI::IsMember({"publish", "deliver", "sqs"}))
      ->required();
  app.add_option("--connections", cfg.connections)->check(CLI::Range(1, 256))->default_val(4);
  app.add_option("--duration", cfg.duration, "measured seconds (publish, sqs)")
      ->check(CLI::Range(0.1, 120.0))
      ->default_val(10);
  app.add_option("--warmup", cfg.warmup)->check(CLI::Range(0.0, 30.0))->default_val(1);
  app.add_option("--rate", cfg.rate, "publish: fixed total rate (0: closed loop)")
      ->check(CLI::Range(0.0, 1e7))
      ->default_val(0);
  app.add_option("--messages", cfg.messages, "deliver: messages to publish")
      ->check(CLI::Range(1L, 10'000'000L))
      ->default_val(2000);
  app.add_option("--subscribers", cfg.subscribers, "deliver: HTTP subscribers")
      ->check(CLI::Range(1, 100))
      ->default_val(10);
  app.add_option("--deliver-timeout", cfg.deliver_timeout, "deliver: seconds to wait at most")
      ->check(CLI::Range(1.0, 600.0))
      ->default_val(60);
  app.add_option_function<std::string>(
         "--sqs-send", [&cfg](const std::string& v) { cfg.sqs_send_batch = v == "batch"; },
         "single (10 SendMessage per round, default) | batch (one SendMessageBatch of 10)")
      ->check(CLI::IsMember({"single", "batch"}));
  app.add_option("--sqs-protocol", cfg.sqs_protocol, "json | query | auto")
      ->check(CLI::IsMember({"json", "query", "auto"}))
      ->default_val("auto");
  app.add_option("--label", cfg.label, "the \"target\" field of the output");
  CLI11_PARSE(app, argc, argv);

  std::string err;
  if (!ParseEndpoint(endpoint, &cfg.endpoint, &err)) {
    std::cerr << "gc_notify_bench: " << err << "\n";
    return 2;
  }
  cfg.op = cfg.op_name == "publish" ? Op::kPublish
           : cfg.op_name == "deliver" ? Op::kDeliver
                                      : Op::kSqs;
  if (cfg.label.empty()) {
    cfg.label = endpoint;
  }
  cfg.tag = NewRunTag();
  nlohmann::ordered_json out;
  out["target"] = cfg.label;
  out["op"] = cfg.op_name;
  out["connections"] = cfg.connections;
  if (cfg.op != Op::kDeliver) {
    out["duration_s"] = cfg.duration;
    out["warmup_s"] = cfg.warmup;
  }
  out.update(cfg.op == Op::kPublish   ? RunPublish(cfg)
             : cfg.op == Op::kDeliver ? RunDeliver(cfg)
                                      : RunSqs(cfg));
  out["endpoint"] = cfg.endpoint.url;
  if (out.contains("first_error")) {
    std::cerr << "gc_notify_bench: first error (" << cfg.label << ", " << cfg.op_name
              << "): " << out["first_error"].get<std::string>() << "\n";
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int rc = Run(argc, argv);
    std::cout.flush();
    std::_Exit(rc);  // detached subscriber threads may still be blocked in accept/recv
  } catch (const std::exception& e) {
    std::cerr << "gc_notify_bench: " << e.what() << "\n";
    std::cout.flush();
    std::_Exit(1);
  }
}
