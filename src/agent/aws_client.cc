#include "agent/aws_client.h"

#include <cctype>
#include <vector>

#include "agent/files.h"
#include "wire/sigv4.h"

namespace gc::agent {

Result<Endpoint> ParseEndpoint(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return LocalError("endpoint must start with http:// or https://: " + std::string(url));
  }
  std::string scheme(url.substr(0, scheme_end));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") {
    return LocalError("endpoint must start with http:// or https://: " + std::string(url));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find_first_of("/?#");
  Endpoint ep;
  ep.authority = std::string(rest.substr(0, path_start));
  if (ep.authority.empty() || ep.authority.find('@') != std::string::npos) {
    return LocalError("endpoint has no host: " + std::string(url));
  }
  std::string path =
      path_start == std::string_view::npos ? std::string() : std::string(rest.substr(path_start));
  if (path.find_first_of("?#") != std::string::npos) {
    return LocalError("endpoint must not have a query or fragment: " + std::string(url));
  }
  ep.path = path.empty() ? "/" : path;
  ep.url = scheme + "://" + ep.authority + ep.path;
  return ep;
}

Result<nlohmann::json> AwsJsonClient::Call(std::string_view target, const nlohmann::json& body,
                                           std::string_view service, const RequestSigner& signer,
                                           int timeout_ms) {
  sigv4::Request req;
  req.method = "POST";
  req.target = endpoint_.path;
  req.body = DumpJson(body);
  req.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                 {"Host", endpoint_.authority},
                 {"X-Amz-Target", std::string(target)},
                 {"Content-Length", std::to_string(req.body.size())}};
  if (Status s = signer.Sign(req, region_, service, clock_.NowMillis()); !s.ok()) {
    return s.take_error();
  }
  auto resp = http_.Post(endpoint_.url, req.headers, req.body, timeout_ms);
  if (!resp.ok()) return resp.take_error();

  nlohmann::json parsed = nlohmann::json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (resp->status >= 200 && resp->status < 300) {
    if (resp->body.empty()) return nlohmann::json::object();
    if (parsed.is_discarded()) {
      return AwsError{"InvalidResponse", "the answer is not JSON", static_cast<int>(resp->status)};
    }
    return parsed;
  }
  AwsError err{"", "", static_cast<int>(resp->status), resp->status < 500};
  if (parsed.is_object()) {
    std::string type;
    if (auto it = parsed.find("__type"); it != parsed.end() && it->is_string()) type = *it;
    if (size_t hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
    err.code = type;
    for (const char* key : {"message", "Message"}) {
      if (auto it = parsed.find(key); it != parsed.end() && it->is_string()) {
        err.message = *it;
        break;
      }
    }
  }
  if (err.code.empty()) err.code = resp->status >= 500 ? "ServiceUnavailable" : "HttpError";
  if (err.message.empty()) err.message = "HTTP " + std::to_string(resp->status);
  return err;
}

bool IsRetryable(const AwsError& e) {
  if (e.http_status == 0) return e.code != "AgentError";
  if (e.http_status >= 500 || e.http_status == 429) return true;
  for (std::string_view code :
       {"ThrottlingException", "Throttling", "TooManyRequestsException", "TooManyUpdates",
        "RequestLimitExceeded", "ServiceUnavailable", "RequestTimeoutException"}) {
    if (e.code == code) return true;
  }
  return false;
}

bool IsCredentialError(const AwsError& e) {
  for (std::string_view code : {"UnrecognizedClientException", "ExpiredTokenException",
                                "ExpiredToken", "InvalidClientTokenId"}) {
    if (e.code == code) return true;
  }
  return false;
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string DumpJson(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace gc::agent
