// HttpServer: HTTP/1.1 (keep-alive) and HTTPS server on Boost.Asio/Beast. One io_context run by
// several threads; handlers run on those threads and may block on the store, or answer later
// through their Responder (long polls hold no thread). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "wire/http_types.h"

namespace gc::wire {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 4566;  // 0 picks a free port
  int threads = 0;       // event loops, one thread each; 0: one per core
  uint64_t body_limit = 8 * 1024 * 1024;
  std::string tls_cert_file;  // PEM; TLS when both are set
  std::string tls_key_file;
  bool access_log = true;  // one JSON line per request on stderr
  int shutdown_grace_seconds = 25;
  // Called once when shutdown begins, before waiting for in-flight requests: services answer
  // their long polls early here.
  std::function<void()> on_shutdown;
};

// Answers one request; call exactly once (later calls are ignored), from any thread.
using Responder = std::function<void(HttpResponse)>;
// Handles a request: answers now or later (long polls) through the Responder. May throw: the
// server then answers 500 InternalFailure.
using HttpHandler = std::function<void(HttpRequest&, Responder)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the worker threads. Returns the bound port, or an error (address in use,
  // bad TLS files).
  Result<uint16_t> Start();
  // Blocks until the server has stopped (after Shutdown or SIGTERM/SIGINT when enabled).
  void Wait();
  // Stops accepting; in-flight requests finish, idle connections close; then the threads end.
  void Shutdown();
  // Makes SIGTERM and SIGINT call Shutdown().
  void HandleSignals();
  bool tls() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gc::wire
