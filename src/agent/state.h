// What the agent keeps in its state directory (mode 0700, files 0600):
//   identity.json      the registration: instance id, region, endpoint, keys, fingerprint, CA file
//   replies/           SendReply payloads not yet accepted by the server (§2.8), resent in order
//                      with the same ReplyId
//   messages/          one file per message id taken: "started" or "done", so a message is never
//                      run twice, even across restarts
//   jobs/<command>/    scripts and working directories of commands (pruned after a week)
//   inventory/         aws:softwareInventory: contentHash (the last uploaded hash per type) and
//                      custom/*.json (custom inventory, written by the node's owners)
// Identity functions are pure file I/O; ReplyOutbox and MessageLog are thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace gc::agent {

struct Identity {
  std::string instance_id;  // mi-…
  std::string region;
  std::string endpoint;     // URL serving ssm and ec2messages
  std::string public_key;   // base64 DER SubjectPublicKeyInfo
  std::string private_key;  // base64 DER PKCS#1
  std::string fingerprint;  // UUID v4
  std::string ca_file;      // "" = system trust store
  int64_t registered_millis = 0;
};

// Writes DIR/identity.json (0600) atomically; DIR is created 0700.
Status SaveIdentity(const std::string& state_dir, const Identity& id);
// AgentError "not registered" when the file is missing or damaged.
Result<Identity> LoadIdentity(const std::string& state_dir);

struct PendingReply {
  std::string message_id;
  std::string reply_id;
  std::string payload;
  int64_t created_millis = 0;
  std::string file;  // name inside the replies directory ("" when it could not be written)
};

class ReplyOutbox {
 public:
  explicit ReplyOutbox(std::string dir) : dir_(std::move(dir)) {}
  // Creates the directory and loads the replies a previous run left, oldest first.
  Status Open();
  // Writes the reply to disk, then queues it (kept in memory alone if the disk refuses).
  void Add(std::string message_id, std::string reply_id, std::string payload, int64_t now_millis);
  std::optional<PendingReply> Front() const;
  // Replaces the payload of a queued reply (same ReplyId), on disk too.
  void Replace(const std::string& reply_id, std::string payload);
  void Remove(const std::string& reply_id);
  size_t size() const;

 private:
  Status Write(const PendingReply& r);

  const std::string dir_;
  mutable std::mutex mu_;
  std::deque<PendingReply> queue_;  // GUARDED_BY(mu_)
  uint64_t seq_ = 0;                // GUARDED_BY(mu_)
};

class MessageLog {
 public:
  enum class State { kUnknown, kStarted, kDone };

  explicit MessageLog(std::string dir) : dir_(std::move(dir)) {}
  // Creates the directory and loads the record; entries older than `max_age_seconds` go.
  Status Open(int64_t max_age_seconds);
  State Get(const std::string& message_id) const;
  void MarkStarted(const std::string& message_id);
  void MarkDone(const std::string& message_id);
  // Messages started but never finished (by a previous run that died).
  std::vector<std::string> Unfinished() const;
  // Forgets entries older than `max_age_seconds`.
  void Prune(int64_t max_age_seconds);

 private:
  void Set(const std::string& message_id, State state);

  const std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, State> states_;  // GUARDED_BY(mu_)
};

}  // namespace gc::agent
