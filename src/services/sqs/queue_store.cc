#include "services/sqs/queue_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "common/crypto.h"
#include "services/sqs/request_util.h"
#include "services/sqs/sqs_errors.h"

namespace gc::sqs {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
using store::Row;
using store::Tx;
using store::Value;
using util::OptInt;
using util::Str;

constexpr int64_t kPurgeIntervalMs = 60000;
constexpr size_t kMaxTagsPerQueue = 50;
constexpr int64_t kMaxListResults = 1000;

constexpr const char* kQueueColumns =
    "id, account, region, name, fifo, visibility_timeout, delay_seconds, max_message_size, "
    "retention_period, receive_wait, content_dedup, dedup_per_group, max_receive_count, dlq_arn, "
    "created_ms, modified_ms, purged_ms";

Queue QueueFromRow(const Row& r) {
  Queue q;
  q.id = r.Int(0);
  q.ref = {r.Str(1), r.Str(2), r.Str(3)};
  QueueSettings& s = q.settings;
  s.fifo = r.Int(4) != 0;
  s.visibility_timeout = r.Int(5);
  s.delay_seconds = r.Int(6);
  s.max_message_size = r.Int(7);
  s.retention_period = r.Int(8);
  s.receive_wait = r.Int(9);
  s.content_based_dedup = r.Int(10) != 0;
  s.dedup_per_group = r.Int(11) != 0;
  s.max_receive_count = r.Int(12);
  s.dead_letter_arn = r.Str(13);
  q.created_ms = r.Int(14);
  q.modified_ms = r.Int(15);
  q.purged_ms = r.Int(16);
  return q;
}

std::string AttributesJson(const AttributeMap& attrs) {
  Json j = Json::object();
  for (const auto& [k, v] : attrs) j[k] = v;
  return j.dump();
}

int64_t NewQueueId() {
  std::string raw = crypto::RandomBytes(8);
  uint64_t v = 0;
  std::memcpy(&v, raw.data(), sizeof v);
  v &= 0x7FFFFFFFFFFFFFFFull;
  return v == 0 ? 1 : static_cast<int64_t>(v);
}

bool ValidQueueNameChars(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

Status ValidateQueueName(const std::string& name, bool fifo) {
  constexpr std::string_view kSuffix = ".fifo";
  bool has_suffix = name.size() > kSuffix.size() &&
                    name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
  if (fifo) {
    std::string_view base = std::string_view(name).substr(0, name.size() - kSuffix.size());
    if (!has_suffix || name.size() > 80 || !ValidQueueNameChars(base)) {
      return errors::InvalidParameterValue(
          "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
          "underscores, must end with .fifo suffix and be 1 to 80 in length.");
    }
    return Ok{};
  }
  if (name.size() > 80 || !ValidQueueNameChars(name)) {
    return errors::InvalidParameterValue(
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
  }
  return Ok{};
}

// NextToken for ListQueues / ListDeadLetterSourceQueues: base64 of the last name returned.
std::string EncodeToken(const std::string& last) { return crypto::Base64Encode("q:" + last); }

Result<std::string> DecodeToken(const Json& in) {
  std::string token = Str(in, "NextToken");
  if (token.empty()) return std::string();
  auto raw = crypto::Base64Decode(token);
  if (!raw || raw->rfind("q:", 0) != 0) {
    return errors::InvalidParameterValue("Invalid NextToken value.");
  }
  return raw->substr(2);
}

Result<int64_t> MaxResults(const Json& in) {
  auto max = OptInt(in, "MaxResults");
  if (!max) return int64_t{0};
  if (*max < 1 || *max > kMaxListResults) {
    return errors::InvalidParameter("MaxResults", std::to_string(*max),
                                    "MaxResults must be an integer between 1 and 1000.");
  }
  return *max;
}

// Counts for ApproximateNumberOfMessages / ...NotVisible / ...Delayed at `now_ms`.
struct Counts {
  int64_t visible = 0;
  int64_t in_flight = 0;
  int64_t delayed = 0;
};

Result<Counts> CountMessages(Tx& tx, const Queue& q, int64_t now_ms) {
  int64_t cutoff = now_ms - q.settings.retention_period * 1000;
  auto rows = tx.Query(
      "SELECT SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END), "
      "SUM(CASE WHEN visible_at > ? AND receive_count > 0 THEN 1 ELSE 0 END), "
      "SUM(CASE WHEN visible_at > ? AND receive_count = 0 THEN 1 ELSE 0 END) "
      "FROM sqs_message WHERE queue_id = ? AND sent_ms > ?",
      {now_ms, now_ms, now_ms, q.id, cutoff});
  if (!rows.ok()) return rows.take_error();
  Counts c;
  if (!rows->empty()) {
    c.visible = rows->front().Int(0);
    c.in_flight = rows->front().Int(1);
    c.delayed = rows->front().Int(2);
  }
  return c;
}

// Removes every message of queue `id` and the FIFO bookkeeping that refers to them.
Status DeleteQueueMessages(Tx& tx, int64_t id) {
  for (const char* sql :
       {"DELETE FROM sqs_message WHERE queue_id = ?", "DELETE FROM sqs_dedup WHERE queue_id = ?",
        "DELETE FROM sqs_receive_attempt WHERE queue_id = ?"}) {
    auto r = tx.Exec(sql, {id});
    if (!r.ok()) return r.take_error();
  }
  return Ok{};
}

// AddPermission: actions another account may be granted; the others are the owner's only.
const std::set<std::string, std::less<>>& GrantableActions() {
  static const std::set<std::string, std::less<>> kActions = {
      "*",
      "ChangeMessageVisibility",
      "ChangeMessageVisibilityBatch",
      "DeleteMessage",
      "DeleteMessageBatch",
      "GetQueueAttributes",
      "GetQueueUrl",
      "ListDeadLetterSourceQueues",
      "PurgeQueue",
      "ReceiveMessage",
      "SendMessage",
      "SendMessageBatch",
      "ListQueueTags",
  };
  return kActions;
}

const std::set<std::string, std::less<>>& OwnerOnlyActions() {
  static const std::set<std::string, std::less<>> kActions = {
      "AddPermission",        "CancelMessageMoveTask",
      "CreateQueue",          "DeleteQueue",
      "ListMessageMoveTasks", "ListQueues",
      "RemovePermission",     "SetQueueAttributes",
      "StartMessageMoveTask", "TagQueue",
      "UntagQueue",
  };
  return kActions;
}

}  // namespace

std::string QueueArn(const QueueRef& ref) {
  return fmt::format("arn:aws:sqs:{}:{}:{}", ref.region, ref.account, ref.name);
}

std::string QueueKey(const QueueRef& ref) {
  return fmt::format("{}/{}/{}", ref.account, ref.region, ref.name);
}

std::string Queue::Arn() const { return QueueArn(ref); }

std::string Queue::Url(std::string_view endpoint) const {
  return fmt::format("{}/{}/{}", endpoint, ref.account, ref.name);
}

Result<AttributeMap> LoadAttributes(Tx& tx, const Queue& q) {
  auto rows = tx.Query("SELECT attrs FROM sqs_queue WHERE id = ?", {q.id});
  if (!rows.ok()) return rows.take_error();
  AttributeMap out;
  if (rows->empty()) return out;
  Json doc = Json::parse(rows->front().Str(0), nullptr, false);
  if (!doc.is_object()) return out;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  }
  return out;
}

Result<QueueRef> ParseQueueUrl(const wire::CallContext& ctx, const std::string& url) {
  if (url.find('/') == std::string::npos) {
    if (url.empty()) return errors::QueueDoesNotExist();
    return QueueRef{ctx.account_id, ctx.region, url};
  }
  std::string_view path = url;
  if (size_t scheme = path.find("://"); scheme != std::string_view::npos) {
    path.remove_prefix(scheme + 3);
    size_t slash = path.find('/');
    if (slash == std::string_view::npos) return errors::QueueDoesNotExist();
    path.remove_prefix(slash);
  }
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t last = path.rfind('/');
  if (last == std::string_view::npos || last == 0) return errors::QueueDoesNotExist();
  std::string_view name = path.substr(last + 1);
  std::string_view rest = path.substr(0, last);
  std::string_view account = rest.substr(rest.rfind('/') + 1);
  if (name.empty() || account != ctx.account_id) return errors::QueueDoesNotExist();
  return QueueRef{std::string(account), ctx.region, std::string(name)};
}

std::optional<QueueRef> ParseQueueArn(const std::string& arn) {
  // arn:<partition>:sqs:<region>:<account>:<name>
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = arn.find(':', start);
    parts.push_back(arn.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[3].empty() ||
      parts[4].empty() || parts[5].empty()) {
    return std::nullopt;
  }
  return QueueRef{parts[4], parts[3], parts[5]};
}

Result<std::optional<Queue>> LoadQueue(Tx& tx, const QueueRef& ref) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM sqs_queue WHERE account = ? AND region = ? "
                                   "AND name = ?",
                                   kQueueColumns),
                       {ref.account, ref.region, ref.name});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<Queue>();
  return std::optional<Queue>(QueueFromRow(rows->front()));
}

Result<Queue> RequireQueue(Tx& tx, const QueueRef& ref) {
  auto q = LoadQueue(tx, ref);
  if (!q.ok()) return q.take_error();
  if (!q->has_value()) return errors::QueueDoesNotExist();
  return std::move(**q);
}

QueueStore::QueueStore(store::Store& store, std::function<void(const std::string&)> on_queue_gone)
    : store_(store), on_queue_gone_(std::move(on_queue_gone)) {}

std::vector<store::Migration> QueueStore::Migrations() {
  return {{"sqs.queues", 1,
           "CREATE TABLE sqs_queue ("
           " account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,"
           " id BIGINT NOT NULL, fifo BIGINT NOT NULL, visibility_timeout BIGINT NOT NULL,"
           " delay_seconds BIGINT NOT NULL, max_message_size BIGINT NOT NULL,"
           " retention_period BIGINT NOT NULL, receive_wait BIGINT NOT NULL,"
           " content_dedup BIGINT NOT NULL, dedup_per_group BIGINT NOT NULL,"
           " max_receive_count BIGINT NOT NULL, dlq_arn TEXT NOT NULL,"
           " created_ms BIGINT NOT NULL, modified_ms BIGINT NOT NULL, purged_ms BIGINT NOT NULL,"
           " attrs TEXT NOT NULL,"
           " PRIMARY KEY (account, region, name));"
           "CREATE UNIQUE INDEX sqs_queue_id ON sqs_queue (id);"
           "CREATE INDEX sqs_queue_dlq ON sqs_queue (dlq_arn);"
           "CREATE TABLE sqs_tag ("
           " queue_id BIGINT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL,"
           " PRIMARY KEY (queue_id, tag_key))"}};
}

Status QueueStore::CheckDeadLetterTarget(Tx& tx, const QueueRef& source, bool source_fifo,
                                         const AttributeMap& attrs) {
  auto rp = attrs.find("RedrivePolicy");
  if (rp == attrs.end()) return Ok{};
  QueueSettings s = SettingsFrom(attrs);
  auto invalid = [&](const char* reason) {
    return errors::InvalidParameter("RedrivePolicy", rp->second, reason);
  };
  auto target = ParseQueueArn(s.dead_letter_arn);
  if (!target || target->account != source.account || target->region != source.region) {
    return invalid("Dead-letter target owner should be same as the source.");
  }
  auto dlq = LoadQueue(tx, *target);
  if (!dlq.ok()) return dlq.take_error();
  if (!dlq->has_value()) return invalid("Dead-letter target does not exist.");
  const Queue& d = **dlq;
  if (d.settings.fifo != source_fifo) {
    return invalid(source_fifo ? "Dead-letter queue for a FIFO queue must also be a FIFO queue."
                               : "Dead-letter queue for a standard queue must also be a "
                                 "standard queue.");
  }
  auto dattrs = LoadAttributes(tx, d);
  if (!dattrs.ok()) return dattrs.take_error();
  auto allow = dattrs->find("RedriveAllowPolicy");
  if (allow != dattrs->end()) {
    Json policy = Json::parse(allow->second, nullptr, false);
    std::string perm = policy.is_object() ? policy.value("redrivePermission", "") : "";
    bool allowed = perm != "denyAll";
    if (perm == "byQueue") {
      allowed = false;
      std::string arn = QueueArn(source);
      for (const auto& a : policy.value("sourceQueueArns", Json::array())) {
        allowed = allowed || (a.is_string() && a.get<std::string>() == arn);
      }
    }
    if (!allowed) {
      return invalid(
          "Dead-letter target's RedriveAllowPolicy does not allow this queue as a "
          "source.");
    }
  }
  return Ok{};
}

Status QueueStore::StoreAttributes(Tx& tx, int64_t id, const AttributeMap& attrs, int64_t now_ms) {
  QueueSettings s = SettingsFrom(attrs);
  auto r = tx.Exec(
      "UPDATE sqs_queue SET fifo = ?, visibility_timeout = ?, delay_seconds = ?, "
      "max_message_size = ?, retention_period = ?, receive_wait = ?, content_dedup = ?, "
      "dedup_per_group = ?, max_receive_count = ?, dlq_arn = ?, modified_ms = ?, attrs = ? "
      "WHERE id = ?",
      {int64_t{s.fifo}, s.visibility_timeout, s.delay_seconds, s.max_message_size,
       s.retention_period, s.receive_wait, int64_t{s.content_based_dedup},
       int64_t{s.dedup_per_group}, s.max_receive_count, s.dead_letter_arn, now_ms,
       AttributesJson(attrs), id});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Result<Json> QueueStore::CreateQueue(const Ctx& ctx, const Json& in) {
  const std::string name = Str(in, "QueueName");
  AttributeMap requested = util::StrMap(in, "Attributes");
  auto fifo_attr = requested.find("FifoQueue");
  bool fifo =
      fifo_attr != requested.end() && NormalizedAttribute("FifoQueue", fifo_attr->second) == "true";
  if (Status st = ValidateQueueName(name, fifo); !st.ok()) return st.take_error();
  AttributeMap attrs = DefaultAttributes(fifo);
  if (Status st = ApplyAttributes(fifo, /*creating=*/true, requested, &attrs); !st.ok()) {
    return st.take_error();
  }
  std::map<std::string, std::string> tags = util::StrMap(in, "tags");
  if (tags.size() > kMaxTagsPerQueue) {
    return errors::InvalidParameterValue(fmt::format("Too many tags added for queue {}.", name));
  }
  QueueRef ref{ctx.account_id, ctx.region, name};
  const int64_t id = NewQueueId();
  std::string url;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto existing = LoadQueue(tx, ref);
    if (!existing.ok()) return existing.take_error();
    if (existing->has_value()) {
      const Queue& q = **existing;
      auto current = LoadAttributes(tx, q);
      if (!current.ok()) return current.take_error();
      for (const auto& [k, v] : requested) {
        auto it = current->find(k);
        std::string have = it == current->end() ? "" : it->second;
        if (have != NormalizedAttribute(k, v)) return errors::QueueAlreadyExists(k);
      }
      url = q.Url(ctx.endpoint);
      return Ok{};
    }
    if (Status c = CheckDeadLetterTarget(tx, ref, fifo, attrs); !c.ok()) return c;
    QueueSettings s = SettingsFrom(attrs);
    auto r = tx.Exec(
        "INSERT INTO sqs_queue (account, region, name, id, fifo, visibility_timeout, "
        "delay_seconds, max_message_size, retention_period, receive_wait, content_dedup, "
        "dedup_per_group, max_receive_count, dlq_arn, created_ms, modified_ms, purged_ms, attrs) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        {ref.account, ref.region, ref.name, id, int64_t{s.fifo}, s.visibility_timeout,
         s.delay_seconds, s.max_message_size, s.retention_period, s.receive_wait,
         int64_t{s.content_based_dedup}, int64_t{s.dedup_per_group}, s.max_receive_count,
         s.dead_letter_arn, ctx.now_millis, ctx.now_millis, AttributesJson(attrs)});
    if (!r.ok()) return r.take_error();
    for (const auto& [k, v] : tags) {
      auto t = tx.Exec("INSERT INTO sqs_tag (queue_id, tag_key, tag_value) VALUES (?, ?, ?)",
                       {id, k, v});
      if (!t.ok()) return t.take_error();
    }
    url = fmt::format("{}/{}/{}", ctx.endpoint, ref.account, ref.name);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"QueueUrl", url}};
}

Result<Json> QueueStore::GetQueueUrl(const Ctx& ctx, const Json& in) {
  std::string owner = Str(in, "QueueOwnerAWSAccountId");
  if (!owner.empty() && owner != ctx.account_id) return errors::QueueDoesNotExist();
  QueueRef ref{ctx.account_id, ctx.region, Str(in, "QueueName")};
  std::string url;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, ref);
    if (!q.ok()) return q.take_error();
    url = q->Url(ctx.endpoint);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"QueueUrl", url}};
}

Result<Json> QueueStore::ListQueues(const Ctx& ctx, const Json& in) {
  auto max = MaxResults(in);
  if (!max.ok()) return max.take_error();
  auto after = DecodeToken(in);
  if (!after.ok()) return after.take_error();
  const std::string prefix = Str(in, "QueueNamePrefix");
  const int64_t limit = *max > 0 ? *max : kMaxListResults;
  Json urls = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        "SELECT name FROM sqs_queue WHERE account = ? AND region = ? AND name > ? AND name >= ? "
        "ORDER BY name LIMIT ?",
        {ctx.account_id, ctx.region, *after, prefix, limit + 1});
    if (!rows.ok()) return rows.take_error();
    std::string last;
    for (const auto& r : *rows) {
      std::string name = r.Str(0);
      if (name.rfind(prefix, 0) != 0) break;
      if (static_cast<int64_t>(urls.size()) == limit) {
        if (*max > 0) next = EncodeToken(last);
        break;
      }
      urls.push_back(fmt::format("{}/{}/{}", ctx.endpoint, ctx.account_id, name));
      last = std::move(name);
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = Json::object();
  if (!urls.empty()) out["QueueUrls"] = std::move(urls);
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

Result<Json> QueueStore::GetQueueAttributes(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  std::vector<std::string> names = util::StrList(in, "AttributeNames");
  bool all = std::find(names.begin(), names.end(), "All") != names.end();
  auto wanted = [&](const char* name) {
    return all || std::find(names.begin(), names.end(), name) != names.end();
  };
  bool want_counts = wanted("ApproximateNumberOfMessages") ||
                     wanted("ApproximateNumberOfMessagesNotVisible") ||
                     wanted("ApproximateNumberOfMessagesDelayed");
  Json attrs = Json::object();
  Status st = store_.Read([&](Tx& tx) -> Status {
    attrs = Json::object();
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    if (names.empty()) return Ok{};
    auto stored = LoadAttributes(tx, *q);
    if (!stored.ok()) return stored.take_error();
    for (const auto& [k, v] : *stored) {
      if (wanted(k.c_str())) attrs[k] = v;
    }
    if (wanted("QueueArn")) attrs["QueueArn"] = q->Arn();
    if (wanted("CreatedTimestamp"))
      attrs["CreatedTimestamp"] = std::to_string(q->created_ms / 1000);
    if (wanted("LastModifiedTimestamp")) {
      attrs["LastModifiedTimestamp"] = std::to_string(q->modified_ms / 1000);
    }
    if (want_counts) {
      auto c = CountMessages(tx, *q, ctx.now_millis);
      if (!c.ok()) return c.take_error();
      if (wanted("ApproximateNumberOfMessages")) {
        attrs["ApproximateNumberOfMessages"] = std::to_string(c->visible);
      }
      if (wanted("ApproximateNumberOfMessagesNotVisible")) {
        attrs["ApproximateNumberOfMessagesNotVisible"] = std::to_string(c->in_flight);
      }
      if (wanted("ApproximateNumberOfMessagesDelayed")) {
        attrs["ApproximateNumberOfMessagesDelayed"] = std::to_string(c->delayed);
      }
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = Json::object();
  if (!attrs.empty()) out["Attributes"] = std::move(attrs);
  return out;
}

Result<Json> QueueStore::SetQueueAttributes(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  AttributeMap requested = util::StrMap(in, "Attributes");
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    auto loaded = LoadAttributes(tx, *q);
    if (!loaded.ok()) return loaded.take_error();
    AttributeMap attrs = std::move(*loaded);
    if (Status a = ApplyAttributes(q->settings.fifo, /*creating=*/false, requested, &attrs);
        !a.ok()) {
      return a;
    }
    if (requested.count("RedrivePolicy") > 0) {
      if (Status c = CheckDeadLetterTarget(tx, q->ref, q->settings.fifo, attrs); !c.ok()) {
        return c;
      }
    }
    return StoreAttributes(tx, q->id, attrs, ctx.now_millis);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> QueueStore::DeleteQueue(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  int64_t id = 0;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    id = q->id;
    if (Status d = DeleteQueueMessages(tx, id); !d.ok()) return d;
    for (const char* sql :
         {"DELETE FROM sqs_tag WHERE queue_id = ?", "DELETE FROM sqs_queue WHERE id = ?"}) {
      auto r = tx.Exec(sql, {id});
      if (!r.ok()) return r.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (on_queue_gone_) on_queue_gone_(QueueKey(*ref));
  return Json::object();
}

Result<Json> QueueStore::PurgeQueue(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  int64_t id = 0;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    id = q->id;
    if (q->purged_ms != 0 && ctx.now_millis - q->purged_ms < kPurgeIntervalMs) {
      return errors::PurgeQueueInProgress(q->ref.name);
    }
    if (Status d = DeleteQueueMessages(tx, id); !d.ok()) return d;
    auto r = tx.Exec("UPDATE sqs_queue SET purged_ms = ? WHERE id = ?", {ctx.now_millis, id});
    if (!r.ok()) return r.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (on_queue_gone_) on_queue_gone_(QueueKey(*ref));
  return Json::object();
}

Result<Json> QueueStore::TagQueue(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  std::map<std::string, std::string> tags = util::StrMap(in, "Tags");
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    if (tags.empty()) return errors::MissingParameter("Tags");
    for (const auto& [k, v] : tags) {
      auto r = tx.Exec(
          "INSERT INTO sqs_tag (queue_id, tag_key, tag_value) VALUES (?, ?, ?) "
          "ON CONFLICT (queue_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
          {q->id, k, v});
      if (!r.ok()) return r.take_error();
    }
    auto count = tx.Query("SELECT COUNT(*) FROM sqs_tag WHERE queue_id = ?", {q->id});
    if (!count.ok()) return count.take_error();
    if (count->front().Int(0) > static_cast<int64_t>(kMaxTagsPerQueue)) {
      return errors::InvalidParameterValue(
          fmt::format("Too many tags added for queue {}.", q->ref.name));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> QueueStore::UntagQueue(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  std::vector<std::string> keys = util::StrList(in, "TagKeys");
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    if (keys.empty()) {
      return errors::InvalidParameterValue(
          "Tag keys must be between 1 and 128 characters in length.");
    }
    for (const auto& k : keys) {
      auto r = tx.Exec("DELETE FROM sqs_tag WHERE queue_id = ? AND tag_key = ?", {q->id, k});
      if (!r.ok()) return r.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> QueueStore::ListQueueTags(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  Json tags = Json::object();
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    auto rows = tx.Query("SELECT tag_key, tag_value FROM sqs_tag WHERE queue_id = ?", {q->id});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) tags[r.Str(0)] = r.Str(1);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = Json::object();
  if (!tags.empty()) out["Tags"] = std::move(tags);
  return out;
}

Result<Json> QueueStore::AddPermission(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  const std::string label = Str(in, "Label");
  std::vector<std::string> accounts = util::StrList(in, "AWSAccountIds");
  std::vector<std::string> actions = util::StrList(in, "Actions");
  if (label.empty() || label.size() > 80 || !ValidQueueNameChars(label)) {
    return errors::InvalidParameter(
        "Label", label,
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
  }
  if (actions.empty()) return errors::MissingParameter("Actions");
  if (accounts.empty()) {
    return errors::InvalidParameter("PrincipalId", "[]", "Unable to verify.");
  }
  if (actions.size() > 7) {
    return errors::OverLimit(
        fmt::format("{} Actions were found, maximum allowed is 7.", actions.size()));
  }
  for (const auto& a : actions) {
    if (OwnerOnlyActions().count(a) > 0) {
      return errors::InvalidParameter("ActionName", "SQS:" + a,
                                      "Only the queue owner is allowed to invoke this action.");
    }
    if (GrantableActions().count(a) == 0) {
      return errors::InvalidParameter(
          "ActionName", "SQS:" + a,
          "Please refer to the appropriate WSDL for a list of valid actions. ");
    }
  }
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    auto loaded = LoadAttributes(tx, *q);
    if (!loaded.ok()) return loaded.take_error();
    AttributeMap attrs = std::move(*loaded);
    const std::string arn = q->Arn();
    OrderedJson policy;
    if (auto p = attrs.find("Policy"); p != attrs.end()) {
      policy = OrderedJson::parse(p->second, nullptr, false);
    }
    if (!policy.is_object()) {
      policy = OrderedJson::object();
      policy["Version"] = "2008-10-17";
      policy["Id"] = arn + "/SQSDefaultPolicy";
    }
    if (!policy.contains("Statement") || !policy["Statement"].is_array()) {
      policy["Statement"] = OrderedJson::array();
    }
    for (const auto& s : policy["Statement"]) {
      if (s.is_object() && s.value("Sid", "") == label) {
        return errors::InvalidParameter("Label", label, "Already exists.");
      }
    }
    OrderedJson principals = OrderedJson::array();
    for (const auto& a : accounts) principals.push_back(fmt::format("arn:aws:iam::{}:root", a));
    OrderedJson acts = OrderedJson::array();
    for (const auto& a : actions) acts.push_back("SQS:" + a);
    OrderedJson statement;
    statement["Sid"] = label;
    statement["Effect"] = "Allow";
    statement["Principal"] = {{"AWS", principals.size() == 1 ? principals[0] : principals}};
    statement["Action"] = acts.size() == 1 ? acts[0] : acts;
    statement["Resource"] = arn;
    policy["Statement"].push_back(std::move(statement));
    attrs["Policy"] = policy.dump();
    return StoreAttributes(tx, q->id, attrs, ctx.now_millis);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> QueueStore::RemovePermission(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  const std::string label = Str(in, "Label");
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    auto loaded = LoadAttributes(tx, *q);
    if (!loaded.ok()) return loaded.take_error();
    AttributeMap attrs = std::move(*loaded);
    auto p = attrs.find("Policy");
    OrderedJson policy =
        p == attrs.end() ? OrderedJson() : OrderedJson::parse(p->second, nullptr, false);
    if (!policy.is_object() || !policy.contains("Statement") || !policy["Statement"].is_array()) {
      return errors::InvalidParameter("Label", label, "can't find label.");
    }
    OrderedJson kept = OrderedJson::array();
    bool found = false;
    for (const auto& s : policy["Statement"]) {
      if (s.is_object() && s.value("Sid", "") == label) {
        found = true;
      } else {
        kept.push_back(s);
      }
    }
    if (!found) return errors::InvalidParameter("Label", label, "can't find label.");
    if (kept.empty()) {
      attrs.erase("Policy");
    } else {
      policy["Statement"] = std::move(kept);
      attrs["Policy"] = policy.dump();
    }
    return StoreAttributes(tx, q->id, attrs, ctx.now_millis);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> QueueStore::ListDeadLetterSourceQueues(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  auto max = MaxResults(in);
  if (!max.ok()) return max.take_error();
  auto after = DecodeToken(in);
  if (!after.ok()) return after.take_error();
  const int64_t limit = *max > 0 ? *max : kMaxListResults;
  Json urls = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    urls = Json::array();
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    auto rows = tx.Query(
        "SELECT name FROM sqs_queue WHERE dlq_arn = ? AND account = ? AND region = ? AND "
        "name > ? ORDER BY name LIMIT ?",
        {q->Arn(), ctx.account_id, ctx.region, *after, limit + 1});
    if (!rows.ok()) return rows.take_error();
    std::string last;
    for (const auto& r : *rows) {
      if (static_cast<int64_t>(urls.size()) == limit) {
        if (*max > 0) next = EncodeToken(last);
        break;
      }
      last = r.Str(0);
      urls.push_back(fmt::format("{}/{}/{}", ctx.endpoint, ctx.account_id, last));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"queueUrls", std::move(urls)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

}  // namespace gc::sqs
