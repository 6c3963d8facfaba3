#include "agent/state.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "agent/aws_client.h"
#include "agent/files.h"
#include "agent/log.h"

namespace gc::agent {

using json = nlohmann::json;

Status SaveIdentity(const std::string& state_dir, const Identity& id) {
  if (Status s = MakePrivateDir(state_dir); !s.ok()) return s;
  json j;
  j["InstanceId"] = id.instance_id;
  j["Region"] = id.region;
  j["Endpoint"] = id.endpoint;
  j["PublicKey"] = id.public_key;
  j["PrivateKey"] = id.private_key;
  j["PrivateKeyType"] = "Rsa";
  j["Fingerprint"] = id.fingerprint;
  j["CaFile"] = id.ca_file;
  j["RegisteredAt"] = id.registered_millis;
  return WriteFileAtomic(state_dir + "/identity.json", j.dump(2) + "\n", 0600);
}

Result<Identity> LoadIdentity(const std::string& state_dir) {
  const std::string path = state_dir + "/identity.json";
  auto text = ReadFile(path);
  if (!text) {
    return LocalError("not registered: no " + path + " (run `groundcrew-agent register` first)");
  }
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return LocalError(path + " is damaged");
  Identity id;
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  id.instance_id = str("InstanceId");
  id.region = str("Region");
  id.endpoint = str("Endpoint");
  id.public_key = str("PublicKey");
  id.private_key = str("PrivateKey");
  id.fingerprint = str("Fingerprint");
  id.ca_file = str("CaFile");
  if (auto it = j.find("RegisteredAt"); it != j.end() && it->is_number_integer()) {
    id.registered_millis = it->get<int64_t>();
  }
  if (id.instance_id.empty() || id.region.empty() || id.endpoint.empty() ||
      id.private_key.empty() || id.fingerprint.empty()) {
    return LocalError(path + " is incomplete; register again");
  }
  return id;
}

// ---------------------------------------------------------------------------------------------

Status ReplyOutbox::Open() {
  if (Status s = MakePrivateDir(dir_); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& name : ListDir(dir_)) {
    if (!name.ends_with(".json")) {
      RemoveFile(dir_ + "/" + name);  // a torn temporary file
      continue;
    }
    auto text = ReadFile(dir_ + "/" + name);
    json j = text ? json::parse(*text, nullptr, false) : json();
    if (!j.is_object() || !j.contains("MessageId") || !j.contains("ReplyId") ||
        !j.contains("Payload")) {
      LogWarn("dropping unreadable pending reply {}", name);
      RemoveFile(dir_ + "/" + name);
      continue;
    }
    PendingReply r;
    r.message_id = j.value("MessageId", "");
    r.reply_id = j.value("ReplyId", "");
    r.payload = j.value("Payload", "");
    r.created_millis = j.value("Created", int64_t{0});
    r.file = name;
    queue_.push_back(std::move(r));
  }
  seq_ = queue_.size();
  return Ok{};
}

Status ReplyOutbox::Write(const PendingReply& r) {
  json j;
  j["MessageId"] = r.message_id;
  j["ReplyId"] = r.reply_id;
  j["Payload"] = r.payload;
  j["Created"] = r.created_millis;
  return WriteFileAtomic(dir_ + "/" + r.file, DumpJson(j), 0600);
}

void ReplyOutbox::Add(std::string message_id, std::string reply_id, std::string payload,
                      int64_t now_millis) {
  PendingReply r;
  r.message_id = std::move(message_id);
  r.reply_id = std::move(reply_id);
  r.payload = std::move(payload);
  r.created_millis = now_millis;
  std::lock_guard<std::mutex> lock(mu_);
  // Names sort in the order replies were made: creation time, then a per-run sequence.
  r.file = fmt::format("{:013}-{:08}-{}.json", now_millis, seq_++, SafeFileName(r.reply_id));
  if (Status s = Write(r); !s.ok()) {
    LogWarn("cannot keep reply {} on disk ({}); it stays in memory", r.reply_id, s.error().message);
    r.file.clear();
  }
  queue_.push_back(std::move(r));
}

std::optional<PendingReply> ReplyOutbox::Front() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return std::nullopt;
  return queue_.front();
}

void ReplyOutbox::Replace(const std::string& reply_id, std::string payload) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : queue_) {
    if (r.reply_id != reply_id) continue;
    r.payload = std::move(payload);
    if (!r.file.empty()) (void)Write(r);
    return;
  }
}

void ReplyOutbox::Remove(const std::string& reply_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->reply_id != reply_id) continue;
    if (!it->file.empty()) RemoveFile(dir_ + "/" + it->file);
    queue_.erase(it);
    return;
  }
}

size_t ReplyOutbox::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

// ---------------------------------------------------------------------------------------------

Status MessageLog::Open(int64_t max_age_seconds) {
  if (Status s = MakePrivateDir(dir_); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& name : ListDir(dir_)) {
    const std::string path = dir_ + "/" + name;
    if (name.ends_with(".tmp")) {
      RemoveFile(path);
      continue;
    }
    auto text = ReadFile(path);
    if (!text) continue;
    // "<state>\n<message id>\n"
    const size_t nl = text->find('\n');
    const std::string state = text->substr(0, nl);
    std::string id = nl == std::string::npos ? std::string() : text->substr(nl + 1);
    while (!id.empty() && id.back() == '\n') id.pop_back();
    if (id.empty()) continue;
    if (state == "done" && AgeSeconds(path) > max_age_seconds) {
      RemoveFile(path);
      continue;
    }
    states_[id] = state == "done" ? State::kDone : State::kStarted;
  }
  return Ok{};
}

MessageLog::State MessageLog::Get(const std::string& message_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(message_id);
  return it == states_.end() ? State::kUnknown : it->second;
}

void MessageLog::Set(const std::string& message_id, State state) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    states_[message_id] = state;
  }
  const std::string text =
      std::string(state == State::kDone ? "done" : "started") + "\n" + message_id + "\n";
  if (Status s = WriteFileAtomic(dir_ + "/" + SafeFileName(message_id), text, 0600); !s.ok()) {
    LogWarn("cannot record message {}: {}", message_id, s.error().message);
  }
}

void MessageLog::MarkStarted(const std::string& message_id) { Set(message_id, State::kStarted); }
void MessageLog::MarkDone(const std::string& message_id) { Set(message_id, State::kDone); }

std::vector<std::string> MessageLog::Unfinished() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, state] : states_) {
    if (state == State::kStarted) out.push_back(id);
  }
  return out;
}

void MessageLog::Prune(int64_t max_age_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = states_.begin(); it != states_.end();) {
    const std::string path = dir_ + "/" + SafeFileName(it->first);
    if (it->second == State::kDone && AgeSeconds(path) > max_age_seconds) {
      RemoveFile(path);
      it = states_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace gc::agent
