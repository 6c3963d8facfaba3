#include "services/ssm/node_credentials.h"

#include <algorithm>
#include <chrono>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/rsa_pss.h"
#include "services/ssm/node_rules.h"

namespace gc::ssm {
namespace {

using store::Row;
using store::Tx;

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

wire::NodeIdentity Identity(const std::string& node_id, const std::string& account,
                            const std::string& region, const std::string& iam_role) {
  return {node_id, account, region, nodes::NodeCallerArn(account, iam_role, node_id)};
}

// Expired credentials stay cached this long so that their use is answered ExpiredTokenException
// without a store read; after it they are swept.
constexpr int64_t kExpiredKeepMillis = 3600 * 1000;

}  // namespace

NodeCredentials::NodeCredentials(store::Store& store, std::string sealing_key)
    : store_(store), key_(std::move(sealing_key)) {}

std::vector<store::Migration> NodeCredentials::Migrations() {
  return {{"ssm.node_credentials", 1,
           "CREATE TABLE ssm_node_credential ("
           " access_key_id TEXT PRIMARY KEY, node_id TEXT NOT NULL,"
           " secret_sealed TEXT NOT NULL, token_sha256 TEXT NOT NULL,"
           " expires_ms BIGINT NOT NULL, issued_ms BIGINT NOT NULL);"
           "CREATE INDEX ssm_node_credential_node ON ssm_node_credential (node_id)"}};
}

NodeCredentials::Issued NodeCredentials::Mint(int64_t now_millis) {
  Issued c;
  c.access_key_id = "ASIA" + crypto::RandomAlnum(16, /*upper=*/true);
  // 30 random bytes in base64: 40 characters, the length of an AWS secret access key.
  c.secret_access_key = crypto::Base64Encode(crypto::RandomBytes(30));
  c.session_token = crypto::Base64Encode(crypto::RandomBytes(96));
  c.expires_millis = now_millis + kLifetimeMillis;
  return c;
}

Status NodeCredentials::Save(Tx& tx, const std::string& node_id, const Issued& issued,
                             int64_t now_millis) const {
  auto gone = tx.Exec("DELETE FROM ssm_node_credential WHERE node_id = ? AND expires_ms < ?",
                      {node_id, now_millis});
  if (!gone.ok()) return gone.take_error();
  auto r = tx.Exec(
      "INSERT INTO ssm_node_credential (access_key_id, node_id, secret_sealed, token_sha256, "
      "expires_ms, issued_ms) VALUES (?, ?, ?, ?, ?, ?)",
      {issued.access_key_id, node_id,
       crypto::Base64Encode(crypto::AesGcmEncrypt(key_, issued.secret_access_key)),
       crypto::Base64Encode(crypto::Sha256(issued.session_token)), issued.expires_millis,
       now_millis});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Status NodeCredentials::RevokeAll(Tx& tx, const std::string& node_id) {
  auto r = tx.Exec("DELETE FROM ssm_node_credential WHERE node_id = ?", {node_id});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

void NodeCredentials::Forget(const std::string& node_id) {
  std::unique_lock lock(mu_);
  // Deregistration is rare; a scan keeps the per-request path free of a second index.
  std::erase_if(cache_, [&](const auto& e) { return e.second.credential.node.node_id == node_id; });
}

void NodeCredentials::ForgetAll() {
  std::unique_lock lock(mu_);
  cache_.clear();
}

std::optional<wire::NodeCredential> NodeCredentials::FindCredential(
    std::string_view access_key_id) const {
  const int64_t now = SteadyMillis();
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(std::string(access_key_id));
    if (it != cache_.end() && now - it->second.loaded_steady_millis < kRevalidateMillis) {
      return it->second.credential;
    }
  }
  std::optional<wire::NodeCredential> loaded = Load(access_key_id);
  std::unique_lock lock(mu_);
  if (!loaded) {
    cache_.erase(std::string(access_key_id));
    return std::nullopt;
  }
  cache_.insert_or_assign(std::string(access_key_id), Cached{*loaded, now});
  if (cache_.size() >= sweep_at_) {
    // Every refresh adds a key; long-expired ones go once the cache has doubled (amortised O(1)).
    const int64_t wall = SystemClock().NowMillis();
    std::erase_if(cache_, [&](const auto& e) {
      return e.second.credential.expires_millis + kExpiredKeepMillis < wall;
    });
    sweep_at_ = std::max(kMinSweepSize, cache_.size() * 2);
  }
  return loaded;
}

std::optional<wire::NodeCredential> NodeCredentials::Load(std::string_view access_key_id) const {
  std::optional<wire::NodeCredential> out;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        "SELECT c.secret_sealed, c.token_sha256, c.expires_ms, n.node_id, n.account, n.region, "
        "n.iam_role FROM ssm_node_credential c JOIN ssm_node n ON n.node_id = c.node_id "
        "WHERE c.access_key_id = ? AND n.deregistered_ms IS NULL",
        {std::string(access_key_id)});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return Ok{};
    const Row& r = rows->front();
    auto sealed = crypto::Base64Decode(r.Str(0));
    auto secret = sealed ? crypto::AesGcmDecrypt(key_, *sealed) : std::nullopt;
    auto token_hash = crypto::Base64Decode(r.Str(1));
    // Undecryptable (a replaced nodes.key): the node must ask for new credentials.
    if (!secret || !token_hash) return Ok{};
    out = wire::NodeCredential{Identity(r.Str(3), r.Str(4), r.Str(5), r.Str(6)), *secret,
                               *token_hash, r.Int(2)};
    return Ok{};
  });
  if (!st.ok()) return std::nullopt;  // a store failure must not authenticate anyone
  return out;
}

wire::NodeSignature NodeCredentials::CheckNodeSignature(std::string_view node_id,
                                                        std::string_view string_to_sign,
                                                        std::string_view signature,
                                                        int64_t now_millis) const {
  wire::NodeSignature result;
  if (!nodes::IsNodeId(node_id)) return result;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        "SELECT account, region, iam_role, public_key, previous_public_key, key_rotated_ms "
        "FROM ssm_node WHERE node_id = ? AND deregistered_ms IS NULL",
        {std::string(node_id)});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return Ok{};
    const Row& r = rows->front();
    const std::string previous = r.Str(4);
    const bool previous_valid =
        !previous.empty() && now_millis - r.Int(5) <= kPreviousKeyGraceMillis;
    const bool ok = crypto::RsaPssVerify(r.Str(3), string_to_sign, signature) ||
                    (previous_valid && crypto::RsaPssVerify(previous, string_to_sign, signature));
    result.check = ok ? wire::NodeSignatureCheck::kMatch : wire::NodeSignatureCheck::kMismatch;
    if (ok) result.node = Identity(std::string(node_id), r.Str(0), r.Str(1), r.Str(2));
    return Ok{};
  });
  if (!st.ok()) return {};
  return result;
}

}  // namespace gc::ssm
