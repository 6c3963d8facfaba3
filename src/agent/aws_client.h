// AwsJsonClient: AWS JSON 1.1 calls (POST /, X-Amz-Target, application/x-amz-json-1.1) to the
// one endpoint that serves both ssm and ec2messages (AGENT_PROTOCOL §0), signed by a
// RequestSigner. Server errors ({"__type","message"}) become AwsError values.
// Thread-compatible (owns one HttpClient): one per thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/http_client.h"
#include "agent/signing.h"
#include "common/clock.h"
#include "common/status.h"

namespace gc::agent {

// "http(s)://host[:port][/path]" split for signing: the Host header is the authority as given.
struct Endpoint {
  std::string url;        // as given, without a trailing '/' after the authority
  std::string authority;  // host[:port]
  std::string path;       // "/" when none
};

// AgentError unless `url` is http:// or https:// with a host.
Result<Endpoint> ParseEndpoint(std::string_view url);

class AwsJsonClient {
 public:
  AwsJsonClient(Endpoint endpoint, std::string region, HttpOptions options, const Clock& clock)
      : endpoint_(std::move(endpoint)),
        region_(std::move(region)),
        http_(std::move(options)),
        clock_(clock) {}

  void set_abort_flag(const std::atomic<bool>* abort) { http_.set_abort_flag(abort); }

  // Calls `target` (e.g. "AmazonSSM.UpdateInstanceInformation") with `body`; `service` is the
  // SigV4 service name ("ssm" or "ec2messages"). Returns the parsed 2xx answer ({} when empty),
  // or the server's error (code after '#' in __type, its message, the HTTP status), or a
  // transport error (http_status 0, see http_client.h).
  Result<nlohmann::json> Call(std::string_view target, const nlohmann::json& body,
                              std::string_view service, const RequestSigner& signer,
                              int timeout_ms);

 private:
  Endpoint endpoint_;
  std::string region_;
  HttpClient http_;
  const Clock& clock_;
};

// Worth retrying later: transport failures, 5xx and throttling.
bool IsRetryable(const AwsError& e);
// The temporary credentials were refused (unknown or expired token): fetch new ones.
bool IsCredentialError(const AwsError& e);

// JSON text as Go's encoder writes it for our purposes: invalid UTF-8 becomes U+FFFD instead of
// throwing (script output is arbitrary bytes).
std::string DumpJson(const nlohmann::json& j);
std::string DumpJson(const nlohmann::ordered_json& j);

}  // namespace gc::agent
