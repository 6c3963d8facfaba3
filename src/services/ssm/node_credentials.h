// NodeCredentials: managed nodes' temporary credentials (RequestManagedInstanceRoleToken) and the
// dispatcher's view of nodes (wire::NodeAuthority). Table ssm_node_credential; node identities and
// registration keys are read from ManagedNodes' ssm_node.
//
// At rest, a secret access key is sealed with AES-256-GCM under DATA_DIR/keys/nodes.key (SigV4
// needs the secret itself, so it cannot be hashed); a session token is kept only as its SHA-256.
// In memory, credentials found by access key are cached so that a node's request costs a map
// lookup. An entry is dropped when its node is deregistered here and re-read after
// kRevalidateMillis, so that a deregistration by another replica sharing a PostgreSQL store takes
// effect within that time. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.h"
#include "wire/node_authority.h"

namespace gc::ssm {

class NodeCredentials final : public wire::NodeAuthority {
 public:
  // `sealing_key`: 32 bytes.
  NodeCredentials(store::Store& store, std::string sealing_key);

  static std::vector<store::Migration> Migrations();

  // One set of temporary credentials: AccessKeyId ASIA + 16, a 40-character secret, a session
  // token, valid for kLifetimeMillis from `now_millis`.
  struct Issued {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;
    int64_t expires_millis = 0;
  };
  static Issued Mint(int64_t now_millis);
  // Stores `issued` for `node_id` in the caller's transaction and drops the node's expired ones.
  Status Save(store::Tx& tx, const std::string& node_id, const Issued& issued,
              int64_t now_millis) const;
  // Removes every credential of `node_id` (deregistration), in the caller's transaction; call
  // Forget(node_id) once it has committed.
  static Status RevokeAll(store::Tx& tx, const std::string& node_id);
  // Drops the node's cached credentials (after RevokeAll committed).
  void Forget(const std::string& node_id);
  // Drops every cached credential (the store was reset).
  void ForgetAll();

  static constexpr int64_t kLifetimeMillis = 3600 * 1000;  // the agent refreshes at half of it
  static constexpr int64_t kRevalidateMillis = 30 * 1000;
  // After UpdateManagedInstancePublicKey the previous key still signs for this long, since the
  // agent may not have saved the new one (docs/AGENT_PROTOCOL.md 1.4).
  static constexpr int64_t kPreviousKeyGraceMillis = 3600 * 1000;

  // wire::NodeAuthority
  std::optional<wire::NodeCredential> FindCredential(std::string_view access_key_id) const override;
  wire::NodeSignature CheckNodeSignature(std::string_view node_id, std::string_view string_to_sign,
                                         std::string_view signature,
                                         int64_t now_millis) const override;

 private:
  std::optional<wire::NodeCredential> Load(std::string_view access_key_id) const;

  struct Cached {
    wire::NodeCredential credential;
    int64_t loaded_steady_millis = 0;  // steady clock: cache freshness, not behaviour
  };

  store::Store& store_;
  const std::string key_;
  mutable std::shared_mutex mu_;
  mutable std::unordered_map<std::string, Cached> cache_;  // GUARDED_BY(mu_), by access key id
  static constexpr size_t kMinSweepSize = 1024;
  mutable size_t sweep_at_ = kMinSweepSize;  // GUARDED_BY(mu_): cache size that triggers a sweep
};

}  // namespace gc::ssm
