// HttpClient: blocking HTTP(S) POSTs over one libcurl easy handle, which keeps its connection
// alive between calls (one long-poll connection, one for everything else). HTTPS is verified
// against the system trust store, or against the CA file given at registration instead; the
// certificates are parsed once per process and shared by every connection.
// Thread-compatible: each thread that talks to the server owns its own client.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gc::agent {

// Transport failures carry http_status 0 and one of these codes.
inline constexpr std::string_view kNetworkError = "NetworkError";      // connect, TLS, reset, ...
inline constexpr std::string_view kRequestTimeout = "RequestTimeout";  // the whole call timed out
inline constexpr std::string_view kAborted = "Aborted";                // the abort flag was raised

struct HttpOptions {
  std::string ca_file;     // "" = the system trust store
  std::string user_agent;  // e.g. "groundcrew-agent/0.1.0"
  int connect_timeout_ms = 10000;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // When `*abort` becomes true, a running call ends within about a second with kAborted.
  // `abort` must outlive the client.
  void set_abort_flag(const std::atomic<bool>* abort) { abort_ = abort; }

  // POSTs `body` to `url` with exactly `headers` (curl adds none of its own: no Accept, no
  // Expect). Any HTTP answer is a value, whatever its status; a transport failure is an
  // AwsError with http_status 0 and code kNetworkError, kRequestTimeout or kAborted.
  Result<HttpResponse> Post(const std::string& url,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string_view body, int timeout_ms);

 private:
  HttpOptions options_;
  void* curl_ = nullptr;  // CURL*
  const std::atomic<bool>* abort_ = nullptr;
};

// Calls curl_global_init once; call before starting threads.
void GlobalHttpInit();

}  // namespace gc::agent
