// Credentials: the principals groundcrewd knows — the root credentials made at first start (in
// <data-dir>/credentials.json, mode 0600) and, later, per-node credentials. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace gc::server {

struct Principal {
  std::string access_key_id;
  std::string secret_access_key;
  std::string account_id;
  std::string arn;      // arn:aws:iam::<account>:root for the root credentials
  std::string user_id;  // the account id for root, the node id for a managed node
  bool is_node = false;
  std::string region;  // a managed node's own region (its calls are served there); else empty
};

class Credentials {
 public:
  // Loads <data_dir>/credentials.json, or creates it with random keys and a random 12-digit
  // account id. `account_id_override` (from --account-id) replaces the account id when set.
  static Result<std::unique_ptr<Credentials>> LoadOrCreate(const std::string& data_dir,
                                                          const std::string& account_id_override);

  std::optional<Principal> Lookup(std::string_view access_key_id) const;
  const Principal& root() const { return root_; }
  void Add(Principal p);

 private:
  Principal root_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Principal> by_key_;  // GUARDED_BY(mu_)
};

// Reads a whole file; nullopt if it cannot be read.
std::optional<std::string> ReadFile(const std::string& path);
// Writes a file atomically (temp + fsync + rename) with the given mode.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode);

}  // namespace gc::server
