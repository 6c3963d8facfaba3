// Dispatcher step 2: who signed the request. Three kinds of callers:
//  - access keys: the root credentials, or a managed node's temporary credentials (ASIA…, with the
//    X-Amz-Security-Token they were issued with), both plain SigV4;
//  - a managed node's registration key, for the operations a service lists in
//    node_key_operations (SigV4 canonicalisation, RSASSA-PSS signature, the node id as key id);
//  - nobody, for an operation the model marks "authtype":"none" sent without any signature.
#include <fmt/format.h>
#include <strings.h>

#include "common/crypto.h"
#include "server/dispatcher.h"
#include "wire/model.h"

namespace gc::server {
namespace {

constexpr int64_t kMaxSkewSeconds = 300;
constexpr std::string_view kTemporaryKeyPrefix = "ASIA";

bool HasSignature(const sigv4::Request& req) {
  for (const auto& [k, v] : req.headers) {
    if (k.size() == 13 && strncasecmp(k.c_str(), "authorization", 13) == 0) return true;
  }
  return req.target.find("X-Amz-Algorithm=") != std::string::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    int hi = v[i] == '%' && i + 2 < v.size() ? HexValue(v[i + 1]) : -1;
    int lo = hi >= 0 ? HexValue(v[i + 2]) : -1;
    if (lo >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

// The session token sent with the request: the X-Amz-Security-Token header, or the presigned
// query parameter of the same name (percent-decoded); nullopt when neither is present.
std::optional<std::string> SessionToken(const sigv4::Request& req) {
  for (const auto& [k, v] : req.headers) {
    if (k.size() == 20 && strncasecmp(k.c_str(), "x-amz-security-token", 20) == 0) return v;
  }
  size_t q = req.target.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::string_view query = std::string_view(req.target).substr(q + 1);
  constexpr std::string_view kParam = "X-Amz-Security-Token=";
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    if (pair.substr(0, kParam.size()) == kParam) {
      return PercentDecode(pair.substr(kParam.size()));
    }
    start = end + 1;
  }
  return std::nullopt;
}

Principal NodePrincipal(const wire::NodeIdentity& node, std::string access_key_id,
                        std::string secret) {
  Principal p;
  p.access_key_id = std::move(access_key_id);
  p.secret_access_key = std::move(secret);
  p.account_id = node.account_id;
  p.arn = node.arn;
  p.user_id = node.node_id;
  p.is_node = true;
  p.region = node.region;
  return p;
}

// As STS words it when a session token is unknown or does not belong to the access key.
AwsError InvalidToken() {
  return {"UnrecognizedClientException", "The security token included in the request is invalid.",
          400};
}

}  // namespace

AwsError SigV4Error(const sigv4::Error& e) {
  switch (e.failure) {
    case sigv4::Failure::kMissingAuthentication:
      return {"MissingAuthenticationTokenException", e.message, 403};
    case sigv4::Failure::kIncompleteSignature:
      return {"IncompleteSignatureException", e.message, 400};
    case sigv4::Failure::kUnknownAccessKey:
      return {"UnrecognizedClientException", e.message, 400};
    case sigv4::Failure::kSignatureMismatch:
      return {"InvalidSignatureException", e.message, 400};
    case sigv4::Failure::kExpired:
      return {"InvalidSignatureException", e.message, 400};
  }
  return {"InvalidSignatureException", e.message, 400};
}

std::variant<sigv4::Identity, AwsError> Dispatcher::Authenticate(
    const sigv4::Request& req, const wire::ServiceDef& svc, const model::Operation* op,
    bool json_protocol, std::optional<Principal>& principal) const {
  if (op != nullptr && op->no_auth && !HasSignature(req)) {
    // The caller holds no credentials yet (RegisterManagedInstance: only an activation code). It
    // acts in the root account with no region; the handler authenticates it by its input.
    principal = Principal{};
    principal->account_id = credentials_.root().account_id;
    sigv4::Identity anonymous;
    anonymous.service = svc.name;
    return anonymous;
  }
  if (op != nullptr && svc.node_key_operations.count(op->name) > 0) {
    return AuthenticateNodeKey(req, principal);
  }
  return AuthenticateAccessKey(req, json_protocol, principal);
}

std::variant<sigv4::Identity, AwsError> Dispatcher::AuthenticateAccessKey(
    const sigv4::Request& req, bool json_protocol, std::optional<Principal>& principal) const {
  const int64_t now = clock_.NowMillis();
  bool token_invalid = false;
  bool token_expired = false;
  auto lookup = [&](std::string_view key) -> std::optional<std::string> {
    principal = credentials_.Lookup(key);
    if (principal) return principal->secret_access_key;
    // Only temporary keys can be a node's: other unknown keys never reach the store.
    if (options_.nodes == nullptr ||
        key.substr(0, kTemporaryKeyPrefix.size()) != kTemporaryKeyPrefix) {
      return std::nullopt;
    }
    std::optional<wire::NodeCredential> cred = options_.nodes->FindCredential(key);
    if (!cred) return std::nullopt;
    // Temporary credentials are only valid with their session token (X-Amz-Security-Token).
    std::optional<std::string> token = SessionToken(req);
    if (!token || !crypto::ConstantTimeEquals(crypto::Sha256(*token), cred->session_token_sha256)) {
      token_invalid = true;
      return std::nullopt;
    }
    if (now >= cred->expires_millis) {
      token_expired = true;
      return std::nullopt;
    }
    principal = NodePrincipal(cred->node, std::string(key), cred->secret_access_key);
    return principal->secret_access_key;
  };
  auto verified = sigv4::Verify(req, lookup, {now, kMaxSkewSeconds, false});
  if (auto* e = std::get_if<sigv4::Error>(&verified)) {
    if (token_expired) {
      return AwsError{"ExpiredTokenException",
                      "The security token included in the request is expired", 400};
    }
    if (token_invalid) return InvalidToken();
    AwsError err = SigV4Error(*e);
    if (!json_protocol && e->failure == sigv4::Failure::kExpired) err.code = "RequestExpired";
    return err;
  }
  return std::get<sigv4::Identity>(std::move(verified));
}

std::variant<sigv4::Identity, AwsError> Dispatcher::AuthenticateNodeKey(
    const sigv4::Request& req, std::optional<Principal>& principal) const {
  const int64_t now = clock_.NowMillis();
  std::string unknown_node;
  auto check = [&](std::string_view node_id, std::string_view string_to_sign,
                   std::string_view signature) {
    if (options_.nodes == nullptr) return sigv4::SignatureCheckResult::kUnknownKey;
    wire::NodeSignature result =
        options_.nodes->CheckNodeSignature(node_id, string_to_sign, signature, now);
    switch (result.check) {
      case wire::NodeSignatureCheck::kMatch:
        principal = NodePrincipal(result.node, std::string(node_id), "");
        return sigv4::SignatureCheckResult::kMatch;
      case wire::NodeSignatureCheck::kMismatch:
        return sigv4::SignatureCheckResult::kMismatch;
      case wire::NodeSignatureCheck::kUnknownNode:
        break;
    }
    unknown_node.assign(node_id);
    return sigv4::SignatureCheckResult::kUnknownKey;
  };
  auto verified = sigv4::VerifyWithSignatureCheck(req, check, {now, kMaxSkewSeconds, false});
  if (auto* e = std::get_if<sigv4::Error>(&verified)) {
    // The agent waits 25-30 minutes after AccessDeniedException for an unknown or deregistered
    // node (docs/AGENT_PROTOCOL.md 1.3) instead of retrying at once.
    if (e->failure == sigv4::Failure::kUnknownAccessKey) {
      return AwsError{"AccessDeniedException",
                      fmt::format("The managed node {} is not registered.", unknown_node), 400};
    }
    return SigV4Error(*e);
  }
  return std::get<sigv4::Identity>(std::move(verified));
}

}  // namespace gc::server
