#include "wire/http_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

namespace gc::wire {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// Escapes a string for a JSON log line.
std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

// The access log: lines are gathered in memory and written to stderr by one thread every 50 ms
// (or at 64 KiB), so a request costs no write system call of its own. Thread-safe.
class AccessLog {
 public:
  AccessLog() : thread_([this] { Run(); }) {}
  ~AccessLog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Append(std::string_view line) {
    std::lock_guard lock(mu_);
    buf_.append(line);
    if (buf_.size() >= 64 * 1024) cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      std::string out;
      out.swap(buf_);
      bool stop = stop_;
      lock.unlock();
      if (!out.empty()) fwrite(out.data(), 1, out.size(), stderr);
      if (stop) return;
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string buf_;    // GUARDED_BY(mu_)
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is waiting for a request; otherwise it closes after its response.
  virtual void CloseIfIdle() = 0;
};

struct Shared {
  HttpServerOptions options;
  std::unique_ptr<AccessLog> access_log;  // set when options.access_log
  HttpHandler handler;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::unordered_set<SessionBase*> sessions;  // GUARDED_BY(mu)
};

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, Shared& shared, std::string remote)
      : stream_(std::move(stream)), shared_(shared), remote_(std::move(remote)) {}

  ~Session() override {
    std::lock_guard lock(shared_.mu);
    shared_.sessions.erase(this);
  }

  void Start() {
    {
      std::lock_guard lock(shared_.mu);
      shared_.sessions.insert(this);
    }
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->Read();
                              });
    } else {
      Read();
    }
  }

  void CloseIfIdle() override {
    asio::post(beast::get_lowest_layer(stream_).get_executor(),
               [self = this->shared_from_this()] {
                 if (self->idle_) {
                   beast::error_code ec;
                   beast::get_lowest_layer(self->stream_).socket().shutdown(
                       tcp::socket::shutdown_both, ec);
                   beast::get_lowest_layer(self->stream_).close();
                 }
               });
  }

 private:
  void Read() {
    if (shared_.stopping) return Close();
    parser_.emplace();
    parser_->body_limit(shared_.options.body_limit);
    parser_->header_limit(64 * 1024);
    idle_ = true;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(120));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    idle_ = false;
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout) {
      return Close();
    }
    if (ec == http::error::body_limit) {
      return SendSimple(413, "{\"__type\":\"RequestEntityTooLarge\",\"message\":\"Request too large\"}",
                        false);
    }
    if (ec) {
      if (ec == http::error::bad_method || ec == http::error::bad_target ||
          ec == http::error::bad_version || ec == http::error::header_limit) {
        return SendSimple(400, "{\"__type\":\"BadRequest\",\"message\":\"Malformed HTTP request\"}",
                          false);
      }
      return Close();
    }
    auto start = std::chrono::steady_clock::now();
    http::request<http::string_body> msg = parser_->release();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.headers.reserve(16);
    for (const auto& field : msg) {
      req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    req.remote = remote_;
    req.tls = !std::is_same_v<Stream, beast::tcp_stream>;
    bool keep_alive = msg.keep_alive() && !shared_.stopping;
    // The handler may take the request apart; keep what the access log needs.
    std::string log_method, log_path;
    size_t bytes_in = req.body.size();
    if (shared_.options.access_log) {
      log_method = req.method;
      log_path = std::string(req.Path());
    }

    // The handler answers through `respond`, now or later (long polls), from any thread; the
    // response is written on this connection's strand.
    auto responded = std::make_shared<std::atomic<bool>>(false);
    unsigned version = msg.version();
    Responder respond = [self = this->shared_from_this(), responded, version, keep_alive, start,
                         bytes_in, log_method = std::move(log_method),
                         log_path = std::move(log_path)](HttpResponse resp) mutable {
      if (responded->exchange(true)) return;
      auto executor = beast::get_lowest_layer(self->stream_).get_executor();
      asio::dispatch(executor, [self, resp = std::move(resp), version, keep_alive, start, bytes_in,
                                log_method = std::move(log_method),
                                log_path = std::move(log_path)]() mutable {
        self->Respond(std::move(resp), version, keep_alive, start, bytes_in, log_method,
                      log_path);
      });
    };
    try {
      shared_.handler(req, respond);
    } catch (const std::exception& e) {
      HttpResponse resp;
      resp.status = 500;
      resp.body = fmt::format("{{\"__type\":\"InternalFailure\",\"message\":\"{}\"}}",
                              JsonEscape(e.what()));
      resp.log_error = "InternalFailure";
      respond(std::move(resp));
    }
  }

  void Respond(HttpResponse resp, unsigned version, bool keep_alive,
               std::chrono::steady_clock::time_point start, size_t bytes_in,
               const std::string& log_method, const std::string& log_path) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version);
    res->result(static_cast<unsigned>(resp.status));
    res->set(http::field::server, "groundcrewd");
    res->set(http::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->insert(k, v);
    res->body() = std::move(resp.body);
    res->keep_alive(keep_alive && !shared_.stopping);
    res->prepare_payload();

    if (shared_.options.access_log) {
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                            start)
                      .count();
      auto now = std::chrono::system_clock::now();
      int64_t epoch_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
      std::string line = fmt::format(
          "{{\"ts\":{}.{:03d},\"remote\":\"{}\",\"method\":\"{}\",\"path\":\"{}\",\"op\":\"{}\","
          "\"status\":{},\"error\":\"{}\",\"ms\":{:.3f},\"bytes_in\":{},\"bytes_out\":{},"
          "\"request_id\":\"{}\"}}\n",
          epoch_ms / 1000, static_cast<int>(epoch_ms % 1000), JsonEscape(remote_),
          JsonEscape(log_method), JsonEscape(log_path), JsonEscape(resp.log_operation),
          resp.status, JsonEscape(resp.log_error), ms, bytes_in, res->body().size(),
          resp.request_id);
      shared_.access_log->Append(line);
    }
    Write(std::move(res));
  }

  void SendSimple(int status, std::string body, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(status));
    res->set(http::field::server, "groundcrewd");
    res->set(http::field::content_type, "application/json");
    res->body() = std::move(body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    Write(std::move(res));
  }

  void Write(std::shared_ptr<http::response<http::string_body>> res) {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(60));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    } else {
      beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  Shared& shared_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::atomic<bool> idle_{false};
};

}  // namespace

// One io_context per thread, each run by exactly one thread: a connection lives on one loop from
// accept to close, so its handlers never hop threads and need no strand (a shared io_context with
// several threads handed every completion between them, which cost more than the request).
struct HttpServer::Impl {
  Shared shared;
  std::vector<std::unique_ptr<asio::io_context>> loops;  // loops[0] also accepts and signals
  size_t next_loop = 0;                                  // used by the accept handler only
  std::optional<asio::ssl::context> ssl;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;

  asio::io_context& main() { return *loops.front(); }

  // Once no session is left, cancels the grace timer so that the loops stop.
  void DrainThenStop(std::shared_ptr<asio::steady_timer> grace) {
    bool empty;
    {
      std::lock_guard lock(shared.mu);
      empty = shared.sessions.empty();
    }
    if (empty) {
      grace->cancel();
      StopLoops();
      return;
    }
    auto check = std::make_shared<asio::steady_timer>(main(), std::chrono::milliseconds(20));
    check->async_wait([this, grace, check](beast::error_code) { DrainThenStop(grace); });
  }

  void StopLoops() {
    for (auto& loop : loops) loop->stop();
  }

  std::chrono::steady_clock::time_point last_fd_warning{};  // accept loop only

  void Accept() {
    asio::io_context& target = *loops[next_loop++ % loops.size()];
    acceptor->async_accept(target, [this](beast::error_code ec, tcp::socket sock) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
          // Out of file descriptors: retrying at once would spin a core. Say so (once a
          // minute) and try again shortly, when connections have closed.
          const auto now = std::chrono::steady_clock::now();
          if (now - last_fd_warning > std::chrono::minutes(1)) {
            last_fd_warning = now;
            fmt::print(stderr, "groundcrewd: cannot accept: {} (raise ulimit -n)\n",
                       ec.message());
          }
          auto retry = std::make_shared<asio::steady_timer>(main(), std::chrono::milliseconds(100));
          retry->async_wait([this, retry](beast::error_code) {
            if (acceptor->is_open()) Accept();
          });
          return;
        }
        Accept();
        return;
      }
      sock.set_option(tcp::no_delay(true), ec);
      std::string remote;
      auto ep = sock.remote_endpoint(ec);
      if (!ec) remote = fmt::format("{}:{}", ep.address().to_string(), ep.port());
      // The session starts on its own loop.
      asio::post(sock.get_executor(), [this, sock = std::move(sock),
                                       remote = std::move(remote)]() mutable {
        if (ssl) {
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(sock)), *ssl),
              shared, std::move(remote))
              ->Start();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(sock)),
                                                       shared, std::move(remote))
              ->Start();
        }
      });
      Accept();
    });
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared.options = std::move(options);
  impl_->shared.handler = std::move(handler);
  if (impl_->shared.options.access_log) impl_->shared.access_log = std::make_unique<AccessLog>();
  int n = impl_->shared.options.threads;
  if (n <= 0) n = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    impl_->loops.push_back(std::make_unique<asio::io_context>(1));  // 1: run by one thread
    impl_->work.push_back(asio::make_work_guard(*impl_->loops.back()));
  }
}

HttpServer::~HttpServer() {
  Shutdown();
  Wait();
}

bool HttpServer::tls() const { return impl_->ssl.has_value(); }

Result<uint16_t> HttpServer::Start() {
  const auto& opt = impl_->shared.options;
  beast::error_code ec;
  if (!opt.tls_cert_file.empty() || !opt.tls_key_file.empty()) {
    impl_->ssl.emplace(asio::ssl::context::tls_server);
    impl_->ssl->set_options(asio::ssl::context::default_workarounds |
                            asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                            asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    impl_->ssl->use_certificate_chain_file(opt.tls_cert_file, ec);
    if (ec) return AwsError::Internal("cannot load TLS certificate " + opt.tls_cert_file);
    impl_->ssl->use_private_key_file(opt.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return AwsError::Internal("cannot load TLS key " + opt.tls_key_file);
  }
  auto addr = asio::ip::make_address(opt.host, ec);
  if (ec) return AwsError::Internal("bad listen address " + opt.host);
  tcp::endpoint ep(addr, opt.port);
  impl_->acceptor.emplace(impl_->main());
  impl_->acceptor->open(ep.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(ep, ec);
  if (!ec) impl_->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return AwsError::Internal(fmt::format("cannot listen on {}:{}: {}", opt.host, opt.port,
                                                ec.message()));
  uint16_t port = impl_->acceptor->local_endpoint().port();
  impl_->Accept();
  for (auto& loop : impl_->loops) {
    impl_->threads.emplace_back([l = loop.get()] { l->run(); });
  }
  return port;
}

void HttpServer::HandleSignals() {
  impl_->signals.emplace(impl_->main(), SIGTERM, SIGINT);
  impl_->signals->async_wait([this](beast::error_code ec, int) {
    if (!ec) Shutdown();
  });
}

void HttpServer::Shutdown() {
  if (impl_->shared.stopping.exchange(true)) return;
  asio::post(impl_->main(), [this] {
    beast::error_code ec;
    if (impl_->acceptor) impl_->acceptor->close(ec);
    if (impl_->signals) impl_->signals->cancel(ec);
    if (impl_->shared.options.on_shutdown) impl_->shared.options.on_shutdown();
    {
      std::lock_guard lock(impl_->shared.mu);
      for (SessionBase* s : impl_->shared.sessions) s->CloseIfIdle();
    }
    // The loops keep their work guards until the drain is over: a loop whose connections all
    // wait for answers from other threads has nothing queued, and must not return before
    // those answers are written. Requests still running get the grace period; then the loops
    // are stopped.
    auto timer = std::make_shared<asio::steady_timer>(
        impl_->main(), std::chrono::seconds(impl_->shared.options.shutdown_grace_seconds));
    timer->async_wait([this, timer](beast::error_code ec) {
      if (!ec) impl_->StopLoops();
    });
    impl_->DrainThenStop(timer);
  });
}

void HttpServer::Wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

}  // namespace gc::wire
