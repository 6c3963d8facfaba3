// NodeAuthority: how the dispatcher authenticates managed nodes, whose identities a service module
// owns (SSM's hybrid activations): a node's temporary credentials (SigV4 with X-Amz-Security-Token)
// and its registration key (RSA-signed agent calls). Implementations must be thread-safe and cheap:
// FindCredential runs on every request signed with an ASIA key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gc::wire {

// Who a managed node is, for the CallContext.
struct NodeIdentity {
  std::string node_id;  // mi- + 17 hex digits: CallContext::caller_user_id
  std::string account_id;
  std::string region;  // the node's region: a node's calls are served there
  std::string arn;     // arn:aws:sts::<account>:assumed-role/<role>/<node id>
};

// Temporary credentials issued to a node (RequestManagedInstanceRoleToken).
struct NodeCredential {
  NodeIdentity node;
  std::string secret_access_key;
  std::string session_token_sha256;  // raw 32 bytes; the token itself is never kept
  int64_t expires_millis = 0;
};

enum class NodeSignatureCheck { kMatch, kMismatch, kUnknownNode };

struct NodeSignature {
  NodeSignatureCheck check = NodeSignatureCheck::kUnknownNode;
  NodeIdentity node;  // set when check is kMatch
};

class NodeAuthority {
 public:
  virtual ~NodeAuthority() = default;

  // The credential issued under `access_key_id`, expired or not (the caller tells expiry apart);
  // nullopt when there is none (never issued, or revoked with its node's deregistration).
  virtual std::optional<NodeCredential> FindCredential(std::string_view access_key_id) const = 0;

  // Whether `signature` (base64 RSASSA-PSS-SHA256) signs `string_to_sign` under the registration
  // key of node `node_id`. kUnknownNode for an unknown or deregistered node.
  virtual NodeSignature CheckNodeSignature(std::string_view node_id,
                                           std::string_view string_to_sign,
                                           std::string_view signature,
                                           int64_t now_millis) const = 0;
};

}  // namespace gc::wire
