#include "services/sqs/message_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <unordered_map>

#include "common/crypto.h"
#include "services/sqs/message_attributes.h"
#include "services/sqs/request_util.h"
#include "services/sqs/sqs_errors.h"

namespace gc::sqs {

// One sqs_message row.
struct MessageRow {
  int64_t seq = 0;
  std::string message_id;
  std::string body;
  std::string md5_body;
  std::string attrs;
  std::string md5_attrs;
  std::string sys_attrs;
  std::string sender_id;
  int64_t sent_ms = 0;
  int64_t visible_at = 0;
  int64_t receive_count = 0;
  int64_t first_recv_ms = 0;
  int64_t last_recv_ms = 0;
  std::string group_id;
  std::string dedup_id;
};

namespace {

using Json = nlohmann::json;
using store::Row;
using store::Tx;
using store::Value;
using util::Has;
using util::OptInt;
using util::Str;

constexpr int64_t kDedupIntervalMs = 5 * 60 * 1000;
constexpr int64_t kReceiveAttemptMs = 5 * 60 * 1000;
constexpr int64_t kMaxBatchEntries = 10;
constexpr int64_t kMaxBatchBytes = 1048576;
constexpr int64_t kFifoWindow = 256;      // rows per read while choosing FIFO messages
constexpr int64_t kFifoScanLimit = 5000;  // rows looked at per FIFO receive, at most
constexpr size_t kFifoCandidates = 100;   // deliverable messages gathered before choosing

constexpr const char* kMessageColumns =
    "seq, message_id, body, md5_body, attrs, md5_attrs, sys_attrs, sender_id, sent_ms, "
    "visible_at, receive_count, first_recv_ms, last_recv_ms, group_id, dedup_id";

MessageRow FromRow(const Row& r) {
  MessageRow m;
  m.seq = r.Int(0);
  m.message_id = r.Str(1);
  m.body = r.Str(2);
  m.md5_body = r.Str(3);
  m.attrs = r.Str(4);
  m.md5_attrs = r.Str(5);
  m.sys_attrs = r.Str(6);
  m.sender_id = r.Str(7);
  m.sent_ms = r.Int(8);
  m.visible_at = r.Int(9);
  m.receive_count = r.Int(10);
  m.first_recv_ms = r.Int(11);
  m.last_recv_ms = r.Int(12);
  m.group_id = r.Str(13);
  m.dedup_id = r.Str(14);
  return m;
}

// Inserts `rows` into queue `queue_id` with one statement (a batch costs one statement, not ten).
Status InsertMessages(Tx& tx, int64_t queue_id, std::vector<MessageRow>&& rows) {
  if (rows.empty()) return Ok{};
  std::string sql =
      "INSERT INTO sqs_message (queue_id, seq, message_id, body, md5_body, attrs, md5_attrs, "
      "sys_attrs, sender_id, sent_ms, visible_at, receive_count, first_recv_ms, last_recv_ms, "
      "group_id, dedup_id) VALUES ";
  std::vector<Value> params;
  params.reserve(rows.size() * 16);
  for (size_t i = 0; i < rows.size(); ++i) {
    sql += i == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                  : ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    MessageRow& m = rows[i];
    params.emplace_back(queue_id);
    params.emplace_back(m.seq);
    params.emplace_back(std::move(m.message_id));
    params.emplace_back(std::move(m.body));
    params.emplace_back(std::move(m.md5_body));
    params.emplace_back(std::move(m.attrs));
    params.emplace_back(std::move(m.md5_attrs));
    params.emplace_back(std::move(m.sys_attrs));
    params.emplace_back(std::move(m.sender_id));
    params.emplace_back(m.sent_ms);
    params.emplace_back(m.visible_at);
    params.emplace_back(m.receive_count);
    params.emplace_back(m.first_recv_ms);
    params.emplace_back(m.last_recv_ms);
    params.emplace_back(std::move(m.group_id));
    params.emplace_back(std::move(m.dedup_id));
  }
  auto r = tx.Exec(sql, params);
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Status InsertMessage(Tx& tx, int64_t queue_id, MessageRow m) {
  std::vector<MessageRow> rows;
  rows.push_back(std::move(m));
  return InsertMessages(tx, queue_id, std::move(rows));
}

Status DeleteRow(Tx& tx, int64_t queue_id, int64_t seq) {
  auto r = tx.Exec("DELETE FROM sqs_message WHERE queue_id = ? AND seq = ?", {queue_id, seq});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

bool IsStoreError(const AwsError& e) { return e.code == "InternalFailure"; }

// "?, ?, ?" with `n` placeholders.
std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

// SequenceNumber: 20 digits, increasing with `seq`.
std::string FormatSequenceNumber(int64_t seq) {
  return std::to_string(10000000000000000000ull + static_cast<uint64_t>(seq));
}

// Receipt handles: base64 of "<queue id> <seq> <receive count> <message id>". The receive count
// tells the handle of the latest receive from older ones (FIFO deletes need the latest).
struct Receipt {
  int64_t queue_id = 0;
  int64_t seq = 0;
  int64_t receive_count = 0;
  std::string message_id;
};

std::string EncodeReceipt(int64_t queue_id, const MessageRow& m) {
  return crypto::Base64Encode(
      fmt::format("{} {} {} {}", queue_id, m.seq, m.receive_count, m.message_id));
}

bool ParseInt(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<Receipt> DecodeReceipt(const std::string& handle) {
  auto raw = crypto::Base64Decode(handle);
  if (!raw) return std::nullopt;
  std::vector<std::string_view> parts;
  std::string_view rest = *raw;
  while (true) {
    size_t sp = rest.find(' ');
    parts.push_back(rest.substr(0, sp));
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  Receipt r;
  if (parts.size() != 4 || !ParseInt(parts[0], &r.queue_id) || !ParseInt(parts[1], &r.seq) ||
      !ParseInt(parts[2], &r.receive_count) || parts[3].empty()) {
    return std::nullopt;
  }
  r.message_id = std::string(parts[3]);
  return r;
}

Json ParseObject(const std::string& text) {
  if (text.empty()) return Json::object();
  Json j = Json::parse(text, nullptr, false);
  return j.is_object() ? j : Json::object();
}

// The Message shape ReceiveMessage returns for `m` (already updated for this receive).
Json MessageJson(const Queue& q, const MessageRow& m, const ReceiveRequest& req) {
  Json j = {{"MessageId", m.message_id},
            {"ReceiptHandle", EncodeReceipt(q.id, m)},
            {"MD5OfBody", m.md5_body},
            {"Body", m.body}};
  const auto& names = req.system_attribute_names;
  bool all = std::find(names.begin(), names.end(), "All") != names.end();
  Json attrs = Json::object();
  auto add = [&](const char* name, std::string value) {
    if (all || std::find(names.begin(), names.end(), name) != names.end()) {
      attrs[name] = std::move(value);
    }
  };
  if (!names.empty()) {
    add("SenderId", m.sender_id);
    add("SentTimestamp", std::to_string(m.sent_ms));
    add("ApproximateReceiveCount", std::to_string(m.receive_count));
    add("ApproximateFirstReceiveTimestamp", std::to_string(m.first_recv_ms));
    if (!m.group_id.empty()) add("MessageGroupId", m.group_id);
    if (q.settings.fifo) {
      add("MessageDeduplicationId", m.dedup_id);
      add("SequenceNumber", FormatSequenceNumber(m.seq));
    }
    Json sys = ParseObject(m.sys_attrs);
    for (auto it = sys.begin(); it != sys.end(); ++it) {
      if (it->is_string()) add(it.key().c_str(), it->get<std::string>());
    }
  }
  if (!attrs.empty()) j["Attributes"] = std::move(attrs);
  if (!m.attrs.empty() && !req.message_attribute_names.empty()) {
    Json stored = ParseObject(m.attrs);
    Json picked = FilterMessageAttributes(stored, req.message_attribute_names);
    if (!picked.empty()) {
      j["MD5OfMessageAttributes"] =
          picked.size() == stored.size() ? m.md5_attrs : AttributesMd5(picked);
      j["MessageAttributes"] = std::move(picked);
    }
  }
  return j;
}

// Checks the entries of a batch request: present, at most 10, valid and distinct ids.
Status CheckBatch(const Json& entries, const char* entry_shape) {
  if (!entries.is_array() || entries.empty()) return errors::EmptyBatchRequest(entry_shape);
  if (static_cast<int64_t>(entries.size()) > kMaxBatchEntries) {
    return errors::TooManyEntriesInBatchRequest(entries.size());
  }
  std::set<std::string> seen;
  for (const auto& e : entries) {
    if (!IsValidBatchEntryId(Str(e, "Id"))) return errors::InvalidBatchEntryId();
  }
  for (const auto& e : entries) {
    std::string id = Str(e, "Id");
    if (!seen.insert(id).second) return errors::BatchEntryIdsNotDistinct(id);
  }
  return Ok{};
}

Json FailedEntry(const std::string& id, const AwsError& e) {
  return {{"Id", id}, {"SenderFault", e.sender_fault}, {"Code", e.code}, {"Message", e.message}};
}

Status CheckVisibilityTimeout(int64_t v) {
  if (v < 0 || v > kMaxVisibilityTimeout) {
    return errors::InvalidParameter("VisibilityTimeout", std::to_string(v),
                                    "Must be between 0 and 43200, if provided.");
  }
  return Ok{};
}

// DeleteMessage on `q`: a stale handle deletes on standard queues; on FIFO queues only the latest
// handle of an in-flight message does. Deleting a deleted message succeeds.
Status DeleteOne(Tx& tx, const Queue& q, const std::string& handle, int64_t now_ms) {
  auto r = DecodeReceipt(handle);
  if (!r || r->queue_id != q.id) return errors::ReceiptHandleIsInvalid(handle);
  if (!q.settings.fifo) {
    auto n = tx.Exec("DELETE FROM sqs_message WHERE queue_id = ? AND seq = ? AND message_id = ?",
                     {q.id, r->seq, r->message_id});
    if (!n.ok()) return n.take_error();
    return Ok{};
  }
  auto rows = tx.Query(
      "SELECT message_id, receive_count, visible_at FROM sqs_message WHERE queue_id = ? AND "
      "seq = ?",
      {q.id, r->seq});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty() || rows->front().Str(0) != r->message_id) return Ok{};
  if (rows->front().Int(1) != r->receive_count || rows->front().Int(2) <= now_ms) {
    return errors::ReceiptHandleExpired(handle);
  }
  return DeleteRow(tx, q.id, r->seq);
}

// ChangeMessageVisibility on `q`. Returns true when the message became visible at once.
Result<bool> ChangeOne(Tx& tx, const Queue& q, const std::string& handle, int64_t timeout,
                       int64_t now_ms) {
  auto r = DecodeReceipt(handle);
  if (!r || r->queue_id != q.id) return errors::ReceiptHandleIsInvalid(handle);
  auto rows = tx.Query(
      "SELECT message_id, receive_count, visible_at, last_recv_ms FROM sqs_message WHERE "
      "queue_id = ? AND seq = ?",
      {q.id, r->seq});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty() || rows->front().Str(0) != r->message_id) {
    return errors::MessageNotAvailableForVisibilityChange(handle);
  }
  const Row& row = rows->front();
  if (q.settings.fifo && (row.Int(1) != r->receive_count || row.Int(2) <= now_ms)) {
    return errors::ReceiptHandleExpired(handle);
  }
  if (Status st = CheckVisibilityTimeout(timeout); !st.ok()) return st.take_error();
  int64_t deadline = now_ms + timeout * 1000;
  int64_t received = row.Int(3) > 0 ? row.Int(3) : now_ms;
  if (deadline - received > kMaxVisibilityTimeout * 1000) {
    return errors::InvalidParameter(
        "VisibilityTimeout", std::to_string(timeout),
        "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]");
  }
  auto n = tx.Exec("UPDATE sqs_message SET visible_at = ? WHERE queue_id = ? AND seq = ?",
                   {deadline, q.id, r->seq});
  if (!n.ok()) return n.take_error();
  return timeout == 0;
}

}  // namespace

MessageStore::MessageStore(store::Store& store,
                           std::function<void(const std::string&, size_t)> notify)
    : store_(store),
      notify_(std::move(notify)),
      serialize_receives_(store.Backend() == "postgres") {}

std::vector<store::Migration> MessageStore::Migrations() {
  return {{"sqs.messages", 1,
           "CREATE TABLE sqs_message ("
           " queue_id BIGINT NOT NULL, seq BIGINT NOT NULL, message_id TEXT NOT NULL,"
           " body TEXT NOT NULL, md5_body TEXT NOT NULL, attrs TEXT NOT NULL,"
           " md5_attrs TEXT NOT NULL, sys_attrs TEXT NOT NULL, sender_id TEXT NOT NULL,"
           " sent_ms BIGINT NOT NULL, visible_at BIGINT NOT NULL, receive_count BIGINT NOT NULL,"
           " first_recv_ms BIGINT NOT NULL, last_recv_ms BIGINT NOT NULL, group_id TEXT NOT NULL,"
           " dedup_id TEXT NOT NULL,"
           " PRIMARY KEY (queue_id, seq));"
           "CREATE INDEX sqs_message_visible ON sqs_message (queue_id, visible_at);"
           "CREATE TABLE sqs_dedup ("
           " queue_id BIGINT NOT NULL, dedup_key TEXT NOT NULL, message_id TEXT NOT NULL,"
           " seq BIGINT NOT NULL, expires_ms BIGINT NOT NULL,"
           " PRIMARY KEY (queue_id, dedup_key));"
           "CREATE INDEX sqs_dedup_expiry ON sqs_dedup (expires_ms);"
           "CREATE TABLE sqs_receive_attempt ("
           " queue_id BIGINT NOT NULL, attempt_id TEXT NOT NULL, expires_ms BIGINT NOT NULL,"
           " handles TEXT NOT NULL,"
           " PRIMARY KEY (queue_id, attempt_id))"}};
}

Status MessageStore::Start() {
  return store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT MAX(seq) FROM sqs_message");
    if (!rows.ok()) return rows.take_error();
    int64_t max = rows->empty() ? 0 : rows->front().Int(0);
    int64_t cur = last_seq_.load();
    while (max > cur && !last_seq_.compare_exchange_weak(cur, max)) {
    }
    return Ok{};
  });
}

int64_t MessageStore::NextSeq(int64_t now_ms) {
  // Increasing, and near now_ms * 1000 so that order follows send time across restarts.
  int64_t floor = now_ms * 1000;
  int64_t cur = last_seq_.load();
  while (true) {
    int64_t next = std::max(cur + 1, floor);
    if (last_seq_.compare_exchange_weak(cur, next)) return next;
  }
}

Result<NewMessage> MessageStore::Prepare(const Json& entry, const std::string& sender_id) {
  NewMessage m;
  m.body = Str(entry, "MessageBody");
  if (m.body.empty()) return errors::MissingParameter("MessageBody");
  if (!IsValidMessageText(m.body)) return errors::InvalidMessageContents();
  const Json null_json;
  auto attrs_it = entry.find("MessageAttributes");
  const Json& attrs = attrs_it == entry.end() ? null_json : *attrs_it;
  auto size = ValidateMessageAttributes(attrs);
  if (!size.ok()) return size.take_error();
  m.attrs_size = *size;
  auto sys_it = entry.find("MessageSystemAttributes");
  const Json& sys = sys_it == entry.end() ? null_json : *sys_it;
  if (Status st = ValidateSystemAttributes(sys); !st.ok()) return st.take_error();
  for (const char* key : {"MessageGroupId", "MessageDeduplicationId"}) {
    if (!Has(entry, key)) continue;
    std::string v = Str(entry, key);
    if (!IsValidFifoId(v)) {
      return errors::InvalidParameter(
          key, v,
          fmt::format("{} can only include alphanumeric and punctuation characters. 1 to 128 in "
                      "length.",
                      key));
    }
    (std::string_view(key) == "MessageGroupId" ? m.group_id : m.dedup_id) = v;
  }
  m.delay_seconds = OptInt(entry, "DelaySeconds");
  m.id = crypto::FastUuid4();  // unique, not secret (RAND_bytes per message showed in profiles)
  m.md5_body = BodyMd5(m.body);
  if (attrs.is_object() && !attrs.empty()) {
    m.attrs = attrs.dump();
    m.md5_attrs = AttributesMd5(attrs);
  }
  if (sys.is_object() && !sys.empty()) {
    Json values = Json::object();
    for (auto it = sys.begin(); it != sys.end(); ++it) values[it.key()] = Str(*it, "StringValue");
    m.sys_attrs = values.dump();
    m.md5_sys = AttributesMd5(sys);
  }
  m.sender_id = sender_id;
  return m;
}

Result<MessageStore::SendOutcome> MessageStore::Enqueue(Tx& tx, const Queue& q, const NewMessage& m,
                                                        int64_t now_ms,
                                                        std::vector<MessageRow>* batch) {
  const bool in_batch = batch != nullptr;
  const QueueSettings& s = q.settings;
  if (static_cast<int64_t>(m.body.size()) + m.attrs_size > s.max_message_size) {
    return in_batch ? errors::BatchEntryTooLong(s.max_message_size)
                    : errors::MessageTooLong(s.max_message_size);
  }
  MessageRow row;
  row.message_id = m.id;
  row.body = m.body;
  row.md5_body = m.md5_body;
  row.attrs = m.attrs;
  row.md5_attrs = m.md5_attrs;
  row.sys_attrs = m.sys_attrs;
  row.sender_id = m.sender_id;
  row.sent_ms = now_ms;
  row.group_id = m.group_id.value_or("");
  int64_t delay = 0;
  SendOutcome out{m.id, ""};
  if (s.fifo) {
    if (m.delay_seconds && *m.delay_seconds != 0) {
      return errors::InvalidParameter(
          "DelaySeconds", std::to_string(*m.delay_seconds),
          "The request include parameter that is not valid for this queue type.");
    }
    if (!m.group_id) return errors::MissingParameter("MessageGroupId");
    std::string dedup;
    if (m.dedup_id) {
      dedup = *m.dedup_id;
    } else if (s.content_based_dedup) {
      dedup = crypto::Hex(crypto::Sha256(m.body));
    } else {
      return errors::InvalidParameterValue(
          "The queue should either have ContentBasedDeduplication enabled or "
          "MessageDeduplicationId provided explicitly");
    }
    std::string key = s.dedup_per_group ? *m.group_id + "\n" + dedup : dedup;
    auto seen = tx.Query(
        "SELECT message_id, seq, expires_ms FROM sqs_dedup WHERE queue_id = ? AND dedup_key = ?",
        {q.id, key});
    if (!seen.ok()) return seen.take_error();
    if (!seen->empty() && seen->front().Int(2) > now_ms) {
      return SendOutcome{seen->front().Str(0), FormatSequenceNumber(seen->front().Int(1))};
    }
    row.seq = NextSeq(now_ms);
    auto r = tx.Exec(
        "INSERT INTO sqs_dedup (queue_id, dedup_key, message_id, seq, expires_ms) VALUES "
        "(?, ?, ?, ?, ?) ON CONFLICT (queue_id, dedup_key) DO UPDATE SET message_id = "
        "excluded.message_id, seq = excluded.seq, expires_ms = excluded.expires_ms",
        {q.id, key, m.id, row.seq, now_ms + kDedupIntervalMs});
    if (!r.ok()) return r.take_error();
    row.dedup_id = dedup;
    delay = s.delay_seconds;
    out.sequence_number = FormatSequenceNumber(row.seq);
  } else {
    if (m.dedup_id) {
      return errors::InvalidParameter(
          "MessageDeduplicationId", *m.dedup_id,
          "The request includes a parameter that is not valid for this queue type.");
    }
    delay = m.delay_seconds.value_or(s.delay_seconds);
    if (delay < 0 || delay > kMaxDelaySeconds) {
      return errors::InvalidParameter("DelaySeconds", std::to_string(delay),
                                      "DelaySeconds must be >= 0 and <= 900.");
    }
    row.seq = NextSeq(now_ms);
  }
  row.visible_at = now_ms + delay * 1000;
  if (in_batch) {
    batch->push_back(std::move(row));
  } else if (Status st = InsertMessage(tx, q.id, std::move(row)); !st.ok()) {
    return st.take_error();
  }
  return out;
}

namespace {

const Json& EmptyArray() {
  static const Json empty = Json::array();
  return empty;
}

Json SendResultJson(const NewMessage& m, const std::string& message_id,
                    const std::string& sequence_number) {
  Json out = {{"MessageId", message_id}, {"MD5OfMessageBody", m.md5_body}};
  if (!m.md5_attrs.empty()) out["MD5OfMessageAttributes"] = m.md5_attrs;
  if (!m.md5_sys.empty()) out["MD5OfMessageSystemAttributes"] = m.md5_sys;
  if (!sequence_number.empty()) out["SequenceNumber"] = sequence_number;
  return out;
}

}  // namespace

void MessageStore::WriteThen(std::function<Status(Tx&)> body,
                             std::function<Result<Json>()> answer, wire::Done done) {
  store_.WriteAsync(std::move(body),
                    [answer = std::move(answer), done = std::move(done)](Status st) {
                      if (!st.ok()) return done(st.take_error());
                      done(answer());
                    });
}

void MessageStore::SendMessage(const Ctx& ctx, const Json& in, wire::Done done) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return done(ref.take_error());
  auto m = Prepare(in, ctx.caller_user_id);
  if (!m.ok()) return done(m.take_error());
  struct State {
    QueueRef ref;
    NewMessage m;
    SendOutcome sent;
  };
  auto s = std::make_shared<State>(State{std::move(*ref), std::move(*m), {}});
  const int64_t now = ctx.now_millis;
  WriteThen(
      [this, s, now](Tx& tx) -> Status {
        auto q = RequireQueue(tx, s->ref);
        if (!q.ok()) return q.take_error();
        auto r = Enqueue(tx, *q, s->m, now, /*batch=*/nullptr);
        if (!r.ok()) return r.take_error();
        s->sent = std::move(*r);
        return Ok{};
      },
      [this, s]() -> Result<Json> {
        notify_(QueueKey(s->ref), 1);
        return SendResultJson(s->m, s->sent.message_id, s->sent.sequence_number);
      },
      std::move(done));
}

void MessageStore::SendMessageBatch(const Ctx& ctx, const Json& in, wire::Done done) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return done(ref.take_error());
  const Json& entries = in.contains("Entries") ? in["Entries"] : EmptyArray();
  if (Status st = CheckBatch(entries, "SendMessageBatchRequestEntry"); !st.ok()) {
    return done(st.take_error());
  }
  struct State {
    QueueRef ref;
    std::vector<Result<NewMessage>> prepared;
    BatchResult result;
  };
  auto s = std::make_shared<State>(State{std::move(*ref), {}, {}});
  int64_t total = 0;
  for (const auto& e : entries) {
    s->prepared.push_back(Prepare(e, ctx.caller_user_id));
    total += static_cast<int64_t>(Str(e, "MessageBody").size());
    if (s->prepared.back().ok()) total += s->prepared.back()->attrs_size;
  }
  if (total > kMaxBatchBytes) return done(errors::BatchRequestTooLong(kMaxBatchBytes, total));
  const int64_t now = ctx.now_millis;
  WriteThen(
      [this, s, &entries, now](Tx& tx) -> Status {
        BatchResult& res = s->result = BatchResult{};
        auto q = RequireQueue(tx, s->ref);
        if (!q.ok()) return q.take_error();
        if (q->settings.fifo) {
          for (const auto& e : entries) {
            if (!Has(e, "MessageDeduplicationId") && !q->settings.content_based_dedup) {
              return errors::InvalidParameterValue(
                  "The queue should either have ContentBasedDeduplication enabled or "
                  "MessageDeduplicationId provided explicitly");
            }
            if (!Has(e, "MessageGroupId")) {
              return errors::InvalidParameterValue(
                  "The request must contain the parameter MessageGroupId.");
            }
          }
        }
        std::vector<MessageRow> rows;
        rows.reserve(entries.size());
        for (size_t i = 0; i < entries.size(); ++i) {
          const std::string id = Str(entries[i], "Id");
          if (!s->prepared[i].ok()) {
            res.failed.push_back(FailedEntry(id, s->prepared[i].error()));
            continue;
          }
          auto r = Enqueue(tx, *q, *s->prepared[i], now, &rows);
          if (!r.ok()) {
            if (IsStoreError(r.error())) return r.take_error();
            res.failed.push_back(FailedEntry(id, r.error()));
            continue;
          }
          Json ok = SendResultJson(*s->prepared[i], r->message_id, r->sequence_number);
          ok["Id"] = id;
          res.successful.push_back(std::move(ok));
        }
        return InsertMessages(tx, q->id, std::move(rows));
      },
      [this, s]() -> Result<Json> {
        if (!s->result.successful.empty()) notify_(QueueKey(s->ref), s->result.successful.size());
        return s->result.ToJson();
      },
      std::move(done));
}

Status MessageStore::ParseReceive(const Ctx& ctx, const Json& in, ReceiveRequest* out,
                                  std::optional<int64_t>* wait_seconds) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  out->ref = std::move(*ref);
  if (auto max = OptInt(in, "MaxNumberOfMessages")) {
    if (*max < 1 || *max > 10) {
      return errors::InvalidParameter("MaxNumberOfMessages", std::to_string(*max),
                                      "Must be between 1 and 10, if provided.");
    }
    out->max_messages = *max;
  }
  if (auto wait = OptInt(in, "WaitTimeSeconds")) {
    if (*wait < 0 || *wait > kMaxWaitTimeSeconds) {
      return errors::InvalidParameter("WaitTimeSeconds", std::to_string(*wait),
                                      "Must be >= 0 and <= 20, if provided.");
    }
    *wait_seconds = *wait;
  }
  if (auto vt = OptInt(in, "VisibilityTimeout")) {
    if (Status st = CheckVisibilityTimeout(*vt); !st.ok()) return st;
    out->visibility_timeout = *vt;
  }
  out->system_attribute_names = util::StrList(in, "AttributeNames");
  for (auto& n : util::StrList(in, "MessageSystemAttributeNames")) {
    out->system_attribute_names.push_back(std::move(n));
  }
  out->message_attribute_names = util::StrList(in, "MessageAttributeNames");
  out->attempt_id = Str(in, "ReceiveRequestAttemptId");
  return Ok{};
}

namespace {

// Moves `m` from `src` to its dead-letter queue `dlq` (same message id, receive count and send
// time; DeadLetterQueueSourceArn added), inside `tx`.
Status MoveToDeadLetter(Tx& tx, const Queue& src, const Queue& dlq, MessageRow m, int64_t seq,
                        int64_t now_ms) {
  Json sys = ParseObject(m.sys_attrs);
  sys["DeadLetterQueueSourceArn"] = src.Arn();
  int64_t old_seq = m.seq;
  m.sys_attrs = sys.dump();
  m.seq = seq;
  m.visible_at = now_ms;
  if (Status st = InsertMessage(tx, dlq.id, std::move(m)); !st.ok()) return st;
  return DeleteRow(tx, src.id, old_seq);
}

// FIFO choice: deliverable messages are each group's visible prefix (messages before the group's
// first hidden one, in send order). Groups are served least recently received first, then in
// order of their oldest message; as many messages of one group as possible are returned together.
// Expired messages met on the way are deleted.
Result<std::vector<MessageRow>> ChooseFifo(Tx& tx, const Queue& q, int64_t now_ms,
                                           int64_t cutoff_ms) {
  std::set<std::string> blocked;
  std::vector<MessageRow> candidates;
  int64_t after = -1;
  int64_t scanned = 0;
  while (candidates.size() < kFifoCandidates && scanned < kFifoScanLimit) {
    auto rows = tx.Query(fmt::format("SELECT {} FROM sqs_message WHERE queue_id = ? AND seq > ? "
                                     "ORDER BY seq LIMIT ?",
                                     kMessageColumns),
                         {q.id, after, kFifoWindow});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      MessageRow m = FromRow(r);
      ++scanned;
      after = m.seq;
      if (m.sent_ms <= cutoff_ms) {
        if (Status st = DeleteRow(tx, q.id, m.seq); !st.ok()) return st.take_error();
        continue;
      }
      if (m.visible_at > now_ms) {
        blocked.insert(m.group_id);
        continue;
      }
      if (blocked.count(m.group_id) > 0) continue;
      candidates.push_back(std::move(m));
    }
    if (static_cast<int64_t>(rows->size()) < kFifoWindow) break;
  }
  struct GroupOrder {
    int64_t last_received = 0;
    int64_t first_seq = 0;
  };
  std::unordered_map<std::string, GroupOrder> groups;
  for (const auto& m : candidates) {
    auto [it, fresh] = groups.try_emplace(m.group_id, GroupOrder{m.last_recv_ms, m.seq});
    if (!fresh) it->second.last_received = std::max(it->second.last_received, m.last_recv_ms);
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](const MessageRow& a, const MessageRow& b) {
                     const GroupOrder& ga = groups[a.group_id];
                     const GroupOrder& gb = groups[b.group_id];
                     if (ga.last_received != gb.last_received) {
                       return ga.last_received < gb.last_received;
                     }
                     if (ga.first_seq != gb.first_seq) return ga.first_seq < gb.first_seq;
                     return a.seq < b.seq;
                   });
  return candidates;
}

}  // namespace

// One receive attempt as a transaction body (`body`) and what to do once it is durable
// (`finish`); the state they share lives as long as either.
struct MessageStore::Receive {
  ReceiveRequest req;
  int64_t now_ms = 0;
  ReceiveOutcome out;
  std::map<std::string, size_t> redriven;  // dead-letter queue key -> messages moved there
  // The messages are turned into JSON after the transaction: the store's writer thread does only
  // the SQL.
  std::vector<MessageRow> received;
  std::optional<Queue> queue;
};

Result<ReceiveOutcome> MessageStore::ReceiveOnce(const ReceiveRequest& req, int64_t now_ms) {
  std::unique_lock<std::mutex> lock;
  if (serialize_receives_) {
    lock = std::unique_lock<std::mutex>(
        receive_locks_[std::hash<std::string>{}(QueueKey(req.ref)) % receive_locks_.size()]);
  }
  auto r = std::make_shared<Receive>();
  r->req = req;
  r->now_ms = now_ms;
  Status st = store_.Write([this, r](Tx& tx) { return ReceiveBody(tx, *r); });
  if (!st.ok()) return st.take_error();
  return FinishReceive(*r);
}

void MessageStore::ReceiveOnceAsync(const ReceiveRequest& req, int64_t now_ms,
                                    std::function<void(Result<ReceiveOutcome>)> then) {
  if (serialize_receives_) return then(ReceiveOnce(req, now_ms));
  auto r = std::make_shared<Receive>();
  r->req = req;
  r->now_ms = now_ms;
  store_.WriteAsync([this, r](Tx& tx) { return ReceiveBody(tx, *r); },
                    [this, r, then = std::move(then)](Status st) {
                      if (!st.ok()) return then(st.take_error());
                      then(FinishReceive(*r));
                    });
}

ReceiveOutcome MessageStore::FinishReceive(Receive& r) {
  for (const auto& [key, n] : r.redriven) notify_(key, n);
  for (const MessageRow& m : r.received) r.out.messages.push_back(MessageJson(*r.queue, m, r.req));
  return std::move(r.out);
}

Status MessageStore::ReceiveBody(Tx& tx, Receive& r) {
  const ReceiveRequest& req = r.req;
  const int64_t now_ms = r.now_ms;
  ReceiveOutcome& out = r.out;
  std::map<std::string, size_t>& redriven = r.redriven;
  std::vector<MessageRow>& received = r.received;
  std::optional<Queue>& queue = r.queue;
  {
    out = ReceiveOutcome{};
    redriven.clear();
    received.clear();
    auto q = RequireQueue(tx, req.ref);
    if (!q.ok()) return q.take_error();
    queue = *q;
    const QueueSettings& s = q->settings;
    out.receive_wait_seconds = s.receive_wait;
    const int64_t visibility = req.visibility_timeout.value_or(s.visibility_timeout);
    const int64_t cutoff = now_ms - s.retention_period * 1000;
    const bool attempt = s.fifo && !req.attempt_id.empty();

    // FIFO: a repeated ReceiveRequestAttemptId returns the same messages and handles while they
    // are still in flight under them.
    if (attempt) {
      auto prior = tx.Query(
          "SELECT handles, expires_ms FROM sqs_receive_attempt WHERE queue_id = ? AND "
          "attempt_id = ?",
          {q->id, req.attempt_id});
      if (!prior.ok()) return prior.take_error();
      if (!prior->empty() && prior->front().Int(1) > now_ms) {
        Json handles = Json::parse(prior->front().Str(0), nullptr, false);
        for (const auto& h : handles.is_array() ? handles : Json::array()) {
          if (!h.is_array() || h.size() != 2) continue;
          auto rows = tx.Query(fmt::format("SELECT {} FROM sqs_message WHERE queue_id = ? AND "
                                           "seq = ?",
                                           kMessageColumns),
                               {q->id, h[0].get<int64_t>()});
          if (!rows.ok()) return rows.take_error();
          if (rows->empty()) continue;
          MessageRow m = FromRow(rows->front());
          if (m.receive_count != h[1].get<int64_t>() || m.visible_at <= now_ms) continue;
          received.push_back(std::move(m));
        }
        if (!received.empty()) return Ok{};
      }
    }

    std::optional<Queue> dlq;
    bool dlq_loaded = false;
    auto dead_letter_queue = [&]() -> Result<const Queue*> {
      if (!dlq_loaded) {
        dlq_loaded = true;
        if (auto ref = ParseQueueArn(s.dead_letter_arn)) {
          auto d = LoadQueue(tx, *ref);
          if (!d.ok()) return d.take_error();
          dlq = std::move(*d);
        }
      }
      return dlq ? &*dlq : nullptr;
    };

    Json handles = Json::array();
    // Delivers `m` (or redrives it); returns false when it was not delivered.
    auto deliver = [&](MessageRow m) -> Result<bool> {
      if (s.max_receive_count > 0 && m.receive_count >= s.max_receive_count) {
        auto d = dead_letter_queue();
        if (!d.ok()) return d.take_error();
        if (*d != nullptr) {
          if (Status mv = MoveToDeadLetter(tx, *q, **d, m, NextSeq(now_ms), now_ms); !mv.ok()) {
            return mv.take_error();
          }
          ++redriven[QueueKey((*d)->ref)];
          return false;
        }
      }
      // The rows are updated together below, with one statement.
      m.receive_count += 1;
      if (m.first_recv_ms == 0) m.first_recv_ms = now_ms;
      m.last_recv_ms = now_ms;
      m.visible_at = now_ms + visibility * 1000;
      if (attempt) handles.push_back(Json::array({m.seq, m.receive_count}));
      received.push_back(std::move(m));
      return true;
    };

    // Puts the messages delivered since the last call in flight, with one statement.
    size_t updated = 0;
    auto flush = [&]() -> Status {
      if (updated == received.size()) return Ok{};
      std::vector<Value> params = {now_ms + visibility * 1000, now_ms, now_ms, q->id};
      for (size_t i = updated; i < received.size(); ++i) params.emplace_back(received[i].seq);
      auto r = tx.Exec(fmt::format("UPDATE sqs_message SET visible_at = ?, receive_count = "
                                   "receive_count + 1, first_recv_ms = CASE WHEN first_recv_ms "
                                   "= 0 THEN ? ELSE first_recv_ms END, last_recv_ms = ? WHERE "
                                   "queue_id = ? AND seq IN ({})",
                                   Placeholders(received.size() - updated)),
                       params);
      if (!r.ok()) return r.take_error();
      updated = received.size();
      return Ok{};
    };

    const int64_t want = req.max_messages;
    if (s.fifo) {
      auto chosen = ChooseFifo(tx, *q, now_ms, cutoff);
      if (!chosen.ok()) return chosen.take_error();
      for (auto& m : *chosen) {
        if (static_cast<int64_t>(received.size()) >= want) break;
        auto d = deliver(std::move(m));
        if (!d.ok()) return d.take_error();
      }
      if (Status f = flush(); !f.ok()) return f;
    } else {
      // Rows skipped (expired, redriven) leave room for another read.
      for (int round = 0; round < 3 && static_cast<int64_t>(received.size()) < want; ++round) {
        int64_t need = want - static_cast<int64_t>(received.size());
        auto rows = tx.Query(fmt::format("SELECT {} FROM sqs_message WHERE queue_id = ? AND "
                                         "visible_at <= ? ORDER BY visible_at LIMIT ?",
                                         kMessageColumns),
                             {q->id, now_ms, need});
        if (!rows.ok()) return rows.take_error();
        int64_t skipped = 0;
        for (const auto& r : *rows) {
          MessageRow m = FromRow(r);
          if (m.sent_ms <= cutoff) {
            if (Status del = DeleteRow(tx, q->id, m.seq); !del.ok()) return del;
            ++skipped;
            continue;
          }
          auto d = deliver(std::move(m));
          if (!d.ok()) return d.take_error();
          if (!*d) ++skipped;
        }
        if (Status f = flush(); !f.ok()) return f;
        if (skipped == 0 || static_cast<int64_t>(rows->size()) < need) break;
      }
    }

    if (attempt && !received.empty()) {
      auto r = tx.Exec(
          "INSERT INTO sqs_receive_attempt (queue_id, attempt_id, expires_ms, handles) VALUES "
          "(?, ?, ?, ?) ON CONFLICT (queue_id, attempt_id) DO UPDATE SET expires_ms = "
          "excluded.expires_ms, handles = excluded.handles",
          {q->id, req.attempt_id, now_ms + kReceiveAttemptMs, handles.dump()});
      if (!r.ok()) return r.take_error();
    }
    if (received.empty()) {
      auto next =
          tx.Query("SELECT MIN(visible_at) FROM sqs_message WHERE queue_id = ? AND visible_at > ?",
                   {q->id, now_ms});
      if (!next.ok()) return next.take_error();
      if (!next->empty()) out.next_visible_ms = next->front().Int(0);
    }
    return Ok{};
  }
}

void MessageStore::DeleteMessage(const Ctx& ctx, const Json& in, wire::Done done) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return done(ref.take_error());
  const int64_t now = ctx.now_millis;
  WriteThen(
      [ref = std::move(*ref), &in, now](Tx& tx) -> Status {
        auto q = RequireQueue(tx, ref);
        if (!q.ok()) return q.take_error();
        return DeleteOne(tx, *q, Str(in, "ReceiptHandle"), now);
      },
      [] { return Result<Json>(Json::object()); }, std::move(done));
}

void MessageStore::DeleteMessageBatch(const Ctx& ctx, const Json& in, wire::Done done) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return done(ref.take_error());
  const Json& entries = in.contains("Entries") ? in["Entries"] : EmptyArray();
  if (Status st = CheckBatch(entries, "DeleteMessageBatchRequestEntry"); !st.ok()) {
    return done(st.take_error());
  }
  auto result = std::make_shared<BatchResult>();
  const int64_t now = ctx.now_millis;
  WriteThen(
      [ref = std::move(*ref), &entries, now, result](Tx& tx) -> Status {
        BatchResult& res = *result = BatchResult{};
        auto q = RequireQueue(tx, ref);
        if (!q.ok()) return q.take_error();
        if (!q->settings.fifo) {
          // Standard queues: any valid handle deletes; one statement for the batch.
          std::vector<Value> seqs = {q->id};
          std::vector<Value> ids;
          for (const auto& e : entries) {
            const std::string id = Str(e, "Id");
            const std::string handle = Str(e, "ReceiptHandle");
            auto r = DecodeReceipt(handle);
            if (!r || r->queue_id != q->id) {
              res.failed.push_back(FailedEntry(id, errors::ReceiptHandleIsInvalid(handle)));
              continue;
            }
            seqs.emplace_back(r->seq);
            ids.emplace_back(std::move(r->message_id));
            res.successful.push_back({{"Id", id}});
          }
          if (ids.empty()) return Ok{};
          const size_t n = ids.size();
          for (auto& v : ids) seqs.push_back(std::move(v));
          auto r = tx.Exec(fmt::format("DELETE FROM sqs_message WHERE queue_id = ? AND seq IN ({}) "
                                       "AND message_id IN ({})",
                                       Placeholders(n), Placeholders(n)),
                           seqs);
          if (!r.ok()) return r.take_error();
          return Ok{};
        }
        for (const auto& e : entries) {
          const std::string id = Str(e, "Id");
          Status d = DeleteOne(tx, *q, Str(e, "ReceiptHandle"), now);
          if (!d.ok()) {
            if (IsStoreError(d.error())) return d;
            res.failed.push_back(FailedEntry(id, d.error()));
          } else {
            res.successful.push_back({{"Id", id}});
          }
        }
        return Ok{};
      },
      [result]() -> Result<Json> { return result->ToJson(); }, std::move(done));
}

Result<Json> MessageStore::ChangeMessageVisibility(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  const std::string handle = Str(in, "ReceiptHandle");
  const int64_t timeout = OptInt(in, "VisibilityTimeout").value_or(0);
  bool visible_now = false;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    auto r = ChangeOne(tx, *q, handle, timeout, ctx.now_millis);
    if (!r.ok()) return r.take_error();
    visible_now = *r;
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (visible_now) notify_(QueueKey(*ref), 1);
  return Json::object();
}

Result<Json> MessageStore::ChangeMessageVisibilityBatch(const Ctx& ctx, const Json& in) {
  auto ref = ParseQueueUrl(ctx, Str(in, "QueueUrl"));
  if (!ref.ok()) return ref.take_error();
  const Json entries = in.value("Entries", Json::array());
  if (Status st = CheckBatch(entries, "ChangeMessageVisibilityBatchRequestEntry"); !st.ok()) {
    return st.take_error();
  }
  Json successful = Json::array();
  Json failed = Json::array();
  size_t visible_now = 0;
  Status st = store_.Write([&](Tx& tx) -> Status {
    successful = Json::array();
    failed = Json::array();
    visible_now = 0;
    auto q = RequireQueue(tx, *ref);
    if (!q.ok()) return q.take_error();
    for (const auto& e : entries) {
      const std::string id = Str(e, "Id");
      auto timeout = OptInt(e, "VisibilityTimeout");
      if (!timeout) {
        failed.push_back(FailedEntry(id, errors::MissingParameter("VisibilityTimeout")));
        continue;
      }
      auto r = ChangeOne(tx, *q, Str(e, "ReceiptHandle"), *timeout, ctx.now_millis);
      if (!r.ok()) {
        if (IsStoreError(r.error())) return r.take_error();
        failed.push_back(FailedEntry(id, r.error()));
      } else {
        visible_now += *r ? 1 : 0;
        successful.push_back({{"Id", id}});
      }
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (visible_now > 0) notify_(QueueKey(*ref), visible_now);
  Json out = Json::object();
  if (!successful.empty()) out["Successful"] = std::move(successful);
  if (!failed.empty()) out["Failed"] = std::move(failed);
  return out;
}

Result<std::string> MessageStore::SendToQueue(const QueueRef& ref, const std::string& body,
                                              const Json& message_attributes,
                                              const std::string& group_id,
                                              const std::string& dedup_id,
                                              const std::string& sender_id, int64_t now_ms) {
  Json entry = {{"MessageBody", body}};
  if (message_attributes.is_object() && !message_attributes.empty()) {
    entry["MessageAttributes"] = message_attributes;
  }
  if (!group_id.empty()) entry["MessageGroupId"] = group_id;
  if (!dedup_id.empty()) entry["MessageDeduplicationId"] = dedup_id;
  auto m = Prepare(entry, sender_id);
  if (!m.ok()) return m.take_error();
  SendOutcome sent;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, ref);
    if (!q.ok()) return q.take_error();
    auto r = Enqueue(tx, *q, *m, now_ms, /*batch=*/nullptr);
    if (!r.ok()) return r.take_error();
    sent = std::move(*r);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  notify_(QueueKey(ref), 1);
  return sent.message_id;
}

Result<int64_t> MessageStore::Redrive(const QueueRef& source,
                                      const std::optional<QueueRef>& destination, int64_t limit,
                                      int64_t now_ms) {
  int64_t moved = 0;
  std::map<std::string, size_t> arrived;
  Status st = store_.Write([&](Tx& tx) -> Status {
    moved = 0;
    arrived.clear();
    auto src = RequireQueue(tx, source);
    if (!src.ok()) return src.take_error();
    const int64_t cutoff = now_ms - src->settings.retention_period * 1000;
    auto rows = tx.Query(fmt::format("SELECT {} FROM sqs_message WHERE queue_id = ? AND "
                                     "+visible_at <= ? AND sent_ms > ? ORDER BY seq LIMIT ?",
                                     kMessageColumns),
                         {src->id, now_ms, cutoff, limit});
    if (!rows.ok()) return rows.take_error();
    std::map<std::string, Queue> targets;  // by ARN
    for (const auto& r : *rows) {
      MessageRow m = FromRow(r);
      Json sys = ParseObject(m.sys_attrs);
      std::string arn = destination ? QueueArn(*destination)
                                    : sys.value("DeadLetterQueueSourceArn", std::string());
      auto it = targets.find(arn);
      if (it == targets.end()) {
        auto ref = ParseQueueArn(arn);
        if (!ref) return errors::QueueDoesNotExist();
        auto t = RequireQueue(tx, *ref);
        if (!t.ok()) return t.take_error();
        it = targets.emplace(arn, std::move(*t)).first;
      }
      const Queue& target = it->second;
      sys.erase("DeadLetterQueueSourceArn");
      int64_t old_seq = m.seq;
      m.sys_attrs = sys.empty() ? "" : sys.dump();
      m.seq = NextSeq(now_ms);
      m.visible_at = now_ms;
      m.receive_count = 0;
      m.first_recv_ms = 0;
      m.last_recv_ms = 0;
      if (target.settings.fifo && m.group_id.empty()) m.group_id = "redrive";
      if (Status ins = InsertMessage(tx, target.id, std::move(m)); !ins.ok()) return ins;
      if (Status del = DeleteRow(tx, src->id, old_seq); !del.ok()) return del;
      ++moved;
      ++arrived[QueueKey(target.ref)];
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  for (const auto& [key, n] : arrived) notify_(key, n);
  return moved;
}

Result<int64_t> MessageStore::CountVisible(const QueueRef& ref, int64_t now_ms) {
  int64_t n = 0;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto q = RequireQueue(tx, ref);
    if (!q.ok()) return q.take_error();
    auto rows = tx.Query(
        "SELECT COUNT(*) FROM sqs_message WHERE queue_id = ? AND visible_at <= ? AND sent_ms > ?",
        {q->id, now_ms, now_ms - q->settings.retention_period * 1000});
    if (!rows.ok()) return rows.take_error();
    n = rows->empty() ? 0 : rows->front().Int(0);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return n;
}

Status MessageStore::Sweep(int64_t now_ms) {
  std::vector<std::pair<int64_t, int64_t>> queues;  // id, retention seconds
  Status st = store_.Read([&](Tx& tx) -> Status {
    queues.clear();
    auto rows = tx.Query("SELECT id, retention_period FROM sqs_queue");
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) queues.emplace_back(r.Int(0), r.Int(1));
    return Ok{};
  });
  if (!st.ok()) return st;
  for (const auto& [id, retention] : queues) {
    Status d = store_.Write([&, id = id, retention = retention](Tx& tx) -> Status {
      auto r = tx.Exec("DELETE FROM sqs_message WHERE queue_id = ? AND sent_ms <= ?",
                       {id, now_ms - retention * 1000});
      if (!r.ok()) return r.take_error();
      return Ok{};
    });
    if (!d.ok()) return d;
  }
  return store_.Write([&](Tx& tx) -> Status {
    for (const char* sql : {"DELETE FROM sqs_dedup WHERE expires_ms <= ?",
                            "DELETE FROM sqs_receive_attempt WHERE expires_ms <= ?"}) {
      auto r = tx.Exec(sql, {now_ms});
      if (!r.ok()) return r.take_error();
    }
    return Ok{};
  });
}

}  // namespace gc::sqs
