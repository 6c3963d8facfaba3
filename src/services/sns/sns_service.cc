#include "services/sns/sns_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "common/crypto.h"
#include "services/sns/sns_errors.h"
#include "wire/model.h"

namespace gc::sns {
namespace {

using Json = nlohmann::json;
using store::Row;
using store::Tx;

constexpr size_t kMaxMessageBytes = 262144;
constexpr int kPageSize = 100;
constexpr int64_t kDedupWindowMs = 5 * 60 * 1000;
constexpr int kMaxTags = 50;

std::string Str(const Json& in, const char* key) {
  auto it = in.find(key);
  return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

// ARN shape check with AWS's message ("An ARN must have at least 6 elements, not N").
Status CheckArn(const std::string& arn, const char* member) {
  if (arn.empty()) {
    return errors::InvalidParameter(std::string(member) +
                                    " Reason: no value for required parameter");
  }
  size_t parts = Split(arn, ':').size();
  if (parts < 6 || !StartsWith(arn, "arn:")) return errors::InvalidArn(member, parts);
  return Ok{};
}

std::string TopicArn(const wire::CallContext& ctx, const std::string& name) {
  return fmt::format("arn:aws:sns:{}:{}:{}", ctx.region, ctx.account_id, name);
}

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    size_t eq = kv.find('=');
    if (UrlDecode(kv.substr(0, eq)) == key) {
      return eq == std::string_view::npos ? std::string() : UrlDecode(kv.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

Json DefaultPolicy(const std::string& account, const std::string& arn) {
  return {{"Version", "2008-10-17"},
          {"Id", "__default_policy_ID"},
          {"Statement",
           {{{"Sid", "__default_statement_ID"},
             {"Effect", "Allow"},
             {"Principal", {{"AWS", "*"}}},
             {"Action",
              {"SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
               "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
               "SNS:ListSubscriptionsByTopic", "SNS:Publish"}},
             {"Resource", arn},
             {"Condition", {{"StringEquals", {{"AWS:SourceOwner", account}}}}}}}}};
}

Json DefaultEffectiveDeliveryPolicy() {
  return {{"http",
           {{"defaultHealthyRetryPolicy",
             {{"minDelayTarget", 20},
              {"maxDelayTarget", 20},
              {"numRetries", 3},
              {"numMaxDelayRetries", 0},
              {"numNoDelayRetries", 0},
              {"numMinDelayRetries", 0},
              {"backoffFunction", "linear"}}},
            {"disableSubscriptionOverrides", false},
            {"defaultRequestPolicy", {{"headerContentType", "text/plain; charset=UTF-8"}}}}}};
}

const std::set<std::string>& TopicAttributeNames() {
  static const std::set<std::string> names = {
      "DeliveryPolicy", "DisplayName", "FifoTopic", "Policy", "SignatureVersion",
      "TracingConfig", "KmsMasterKeyId", "ContentBasedDeduplication", "ArchivePolicy",
      "FifoThroughputScope", "ApplicationSuccessFeedbackRoleArn",
      "ApplicationSuccessFeedbackSampleRate", "ApplicationFailureFeedbackRoleArn",
      "HTTPSuccessFeedbackRoleArn", "HTTPSuccessFeedbackSampleRate",
      "HTTPFailureFeedbackRoleArn", "LambdaSuccessFeedbackRoleArn",
      "LambdaSuccessFeedbackSampleRate", "LambdaFailureFeedbackRoleArn",
      "SQSSuccessFeedbackRoleArn", "SQSSuccessFeedbackSampleRate", "SQSFailureFeedbackRoleArn",
      "FirehoseSuccessFeedbackRoleArn", "FirehoseSuccessFeedbackSampleRate",
      "FirehoseFailureFeedbackRoleArn"};
  return names;
}

const std::set<std::string>& SubscriptionAttributeNames() {
  static const std::set<std::string> names = {"DeliveryPolicy", "FilterPolicy",
                                              "FilterPolicyScope", "RawMessageDelivery",
                                              "RedrivePolicy", "SubscriptionRoleArn",
                                              "ReplayPolicy"};
  return names;
}

// Attribute values are JSON text for the JSON-valued attributes.
Status CheckTopicAttribute(const std::string& name, const std::string& value) {
  if (name == "Policy" || name == "DeliveryPolicy" || name == "ArchivePolicy") {
    if (!value.empty() && Json::parse(value, nullptr, false).is_discarded()) {
      return errors::InvalidParameter(fmt::format("Attributes Reason: {}: failed to parse JSON.",
                                                  name));
    }
  }
  if (name == "SignatureVersion" && value != "1" && value != "2") {
    return errors::InvalidParameter(
        "Attributes Reason: SignatureVersion: Invalid value [" + value + "]. Must be 1 or 2.");
  }
  if ((name == "FifoTopic" || name == "ContentBasedDeduplication") && value != "true" &&
      value != "false") {
    return errors::InvalidParameter(fmt::format(
        "Attributes Reason: {}: Invalid value [{}]. Must be true or false.", name, value));
  }
  return Ok{};
}

}  // namespace

struct SnsService::Topic {
  std::string arn;
  std::string name;
  Json attributes = Json::object();  // attribute name -> string value, as set
  std::string data_protection;
  int64_t seq = 0;
  bool fifo() const { return attributes.value("FifoTopic", "false") == "true"; }
};

struct SnsService::Subscription {
  std::string arn;
  std::string topic_arn;
  std::string protocol;
  std::string endpoint;
  std::string owner;
  bool confirmed = false;
  std::string token;
  Json attributes = Json::object();
};

struct SnsService::PublishTarget {
  struct Sub {
    std::string arn;
    std::string protocol;
    std::string endpoint;
    std::string encoded_arn;  // URL-encoded, for UnsubscribeURL
    bool raw = false;         // RawMessageDelivery
    bool takes_nothing = false;  // its FilterPolicy does not parse (any more)
    bool body_scope = false;     // FilterPolicyScope MessageBody
    std::shared_ptr<const FilterPolicy> filter;  // null: takes every message
    delivery::RetryPolicy retry;
    std::string dead_letter_arn;  // RedrivePolicy's deadLetterTargetArn, or ""
  };
  Topic topic;
  bool fifo = false;
  int signature_version = 1;
  std::vector<Sub> subscriptions;  // the confirmed ones
  uint64_t generation = 0;         // of the cache, when loaded
};

struct SnsService::PublishInput {
  std::string message;
  std::string subject;
  std::string structure;
  Json attributes = Json::object();
  std::string group_id;
  std::string dedup_id;
};

namespace {

constexpr const char* kTopicColumns = "arn, name, attributes, data_protection, seq";
constexpr const char* kSubColumns =
    "arn, topic_arn, protocol, endpoint, owner, confirmed, token, attributes";

Result<std::optional<SnsService::Topic>> LoadTopic(Tx& tx, const std::string& arn);

}  // namespace

SnsService::SnsService(store::Store& store, delivery::Outbox& outbox, Signer& signer,
                       std::string public_endpoint)
    : store_(store),
      outbox_(outbox),
      signer_(signer),
      public_endpoint_(std::move(public_endpoint)),
      cache_targets_(store.Backend() == "sqlite") {}

Status SnsService::WriteTopics(const std::function<Status(store::Tx&)>& fn) {
  Status st = store_.Write(fn);
  // After the commit (see targets_generation_); also after a failure, which costs only a reload.
  ForgetCachedState();
  return st;
}

void SnsService::ForgetCachedState() {
  std::lock_guard lock(targets_mu_);
  ++targets_generation_;
  targets_.clear();
}

std::vector<store::Migration> SnsService::Migrations() {
  return {{"sns", 1,
           "CREATE TABLE sns_topic ("
           " arn TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
           " name TEXT NOT NULL, attributes TEXT NOT NULL, data_protection TEXT NOT NULL,"
           " seq BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL);"
           "CREATE INDEX sns_topic_scope ON sns_topic (account, region, arn);"
           "CREATE TABLE sns_subscription ("
           " arn TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
           " topic_arn TEXT NOT NULL, protocol TEXT NOT NULL, endpoint TEXT NOT NULL,"
           " owner TEXT NOT NULL, confirmed BIGINT NOT NULL, token TEXT NOT NULL,"
           " attributes TEXT NOT NULL, created DOUBLE PRECISION NOT NULL);"
           "CREATE INDEX sns_subscription_topic ON sns_subscription (topic_arn);"
           "CREATE INDEX sns_subscription_scope ON sns_subscription (account, region, arn);"
           "CREATE INDEX sns_subscription_token ON sns_subscription (token);"
           "CREATE TABLE sns_tag ("
           " arn TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL,"
           " PRIMARY KEY (arn, tag_key));"
           "CREATE TABLE sns_dedup ("
           " topic_arn TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,"
           " seq BIGINT NOT NULL, expires BIGINT NOT NULL, PRIMARY KEY (topic_arn, dedup_id))"}};
}

namespace {

SnsService::Topic TopicFromRow(const Row& r) {
  SnsService::Topic t;
  t.arn = r.Str(0);
  t.name = r.Str(1);
  t.attributes = Json::parse(r.Str(2), nullptr, false);
  if (!t.attributes.is_object()) t.attributes = Json::object();
  t.data_protection = r.Str(3);
  t.seq = r.Int(4);
  return t;
}

SnsService::Subscription SubFromRow(const Row& r) {
  SnsService::Subscription s;
  s.arn = r.Str(0);
  s.topic_arn = r.Str(1);
  s.protocol = r.Str(2);
  s.endpoint = r.Str(3);
  s.owner = r.Str(4);
  s.confirmed = r.Int(5) != 0;
  s.token = r.Str(6);
  s.attributes = Json::parse(r.Str(7), nullptr, false);
  if (!s.attributes.is_object()) s.attributes = Json::object();
  return s;
}

Result<std::optional<SnsService::Topic>> LoadTopic(Tx& tx, const std::string& arn) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM sns_topic WHERE arn = ?", kTopicColumns), {arn});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<SnsService::Topic>();
  return std::optional<SnsService::Topic>(TopicFromRow(rows->front()));
}

// The topic named by `arn` in the caller's account and region, or NotFound.
Result<SnsService::Topic> RequireTopic(Tx& tx, const wire::CallContext& ctx,
                                       const std::string& arn) {
  auto t = LoadTopic(tx, arn);
  if (!t.ok()) return t.take_error();
  if (!t->has_value() || !StartsWith(arn, fmt::format("arn:aws:sns:{}:{}:", ctx.region,
                                                      ctx.account_id))) {
    return errors::TopicNotFound();
  }
  return std::move(**t);
}

Result<std::optional<SnsService::Subscription>> LoadSub(Tx& tx, const std::string& arn) {
  auto rows =
      tx.Query(fmt::format("SELECT {} FROM sns_subscription WHERE arn = ?", kSubColumns), {arn});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<SnsService::Subscription>();
  return std::optional<SnsService::Subscription>(SubFromRow(rows->front()));
}

Status SaveTopicAttributes(Tx& tx, const SnsService::Topic& t) {
  auto r = tx.Exec("UPDATE sns_topic SET attributes = ?, data_protection = ? WHERE arn = ?",
                   {t.attributes.dump(), t.data_protection, t.arn});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

}  // namespace

std::string SnsService::Endpoint(const Ctx& ctx) const {
  return ctx.endpoint.size() > 8 ? ctx.endpoint : public_endpoint_;
}

Result<std::shared_ptr<const FilterPolicy>> SnsService::Policy(const std::string& text,
                                                               bool body_scope) {
  std::string key = (body_scope ? "B" : "A") + text;
  {
    std::lock_guard lock(policy_mu_);
    if (auto it = policies_.find(key); it != policies_.end()) return it->second;
  }
  auto parsed = FilterPolicy::Parse(
      text, body_scope ? FilterPolicy::Scope::kMessageBody : FilterPolicy::Scope::kMessageAttributes);
  if (!parsed.ok()) return parsed.take_error();
  auto shared = std::make_shared<const FilterPolicy>(std::move(*parsed));
  std::lock_guard lock(policy_mu_);
  if (policies_.size() > 10000) policies_.clear();
  policies_[key] = shared;
  return shared;
}

// ---- Topics ----

Result<Json> SnsService::CreateTopic(const Ctx& ctx, const Json& in) {
  const std::string name = Str(in, "Name");
  Json attrs = in.value("Attributes", Json::object());
  const bool fifo = attrs.value("FifoTopic", "false") == "true";
  bool name_ok = !name.empty() && name.size() <= 256;
  std::string base = fifo && EndsWith(name, ".fifo") ? name.substr(0, name.size() - 5) : name;
  for (char c : base) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') name_ok = false;
  }
  if (!name_ok || (fifo != EndsWith(name, ".fifo"))) {
    return errors::InvalidParameterRaw(fifo || EndsWith(name, ".fifo")
                                           ? "Fifo Topic names must end with .fifo and must be "
                                             "made up of only uppercase and lowercase ASCII "
                                             "letters, numbers, underscores, and hyphens, and "
                                             "must be between 1 and 256 characters long."
                                           : "Invalid parameter: Topic Name");
  }
  for (auto& [k, v] : attrs.items()) {
    if (TopicAttributeNames().count(k) == 0) {
      return errors::InvalidParameter("Attributes Reason: Invalid attribute name: " + k);
    }
    if (Status st = CheckTopicAttribute(k, v.get<std::string>()); !st.ok()) return st.take_error();
  }
  if (!fifo && attrs.contains("ContentBasedDeduplication")) {
    return errors::InvalidParameter(
        "Attributes Reason: ContentBasedDeduplication: Invalid attribute name for standard "
        "topics");
  }
  if (fifo && !attrs.contains("ContentBasedDeduplication")) attrs["ContentBasedDeduplication"] = "false";
  Json tags = in.value("Tags", Json::array());
  if (tags.size() > kMaxTags) {
    return errors::TagPolicy("Could not complete request: tag quota of per resource exceeded");
  }
  const std::string arn = TopicArn(ctx, name);
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto existing = LoadTopic(tx, arn);
    if (!existing.ok()) return existing.take_error();
    if (existing->has_value()) {
      const Json& have = (*existing)->attributes;
      for (auto& [k, v] : attrs.items()) {
        if (!have.contains(k) || have[k] != v) {
          return errors::InvalidParameter(
              "Attributes Reason: Topic already exists with different attributes");
        }
      }
      if (!tags.empty()) {
        auto rows = tx.Query("SELECT tag_key, tag_value FROM sns_tag WHERE arn = ?", {arn});
        if (!rows.ok()) return rows.take_error();
        std::map<std::string, std::string> have_tags;
        for (auto& r : *rows) have_tags[r.Str(0)] = r.Str(1);
        for (const auto& t : tags) {
          auto it = have_tags.find(Str(t, "Key"));
          if (it == have_tags.end() || it->second != Str(t, "Value")) {
            return errors::InvalidParameter(
                "Tags Reason: Topic already exists with different tags");
          }
        }
      }
      return Ok{};
    }
    auto ins = tx.Exec(
        "INSERT INTO sns_topic (arn, account, region, name, attributes, data_protection, seq, "
        "created) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
        {arn, ctx.account_id, ctx.region, name, attrs.dump(), Str(in, "DataProtectionPolicy"),
         static_cast<double>(ctx.now_millis) / 1000.0});
    if (!ins.ok()) return ins.take_error();
    for (const auto& t : tags) {
      auto r = tx.Exec(
          "INSERT INTO sns_tag (arn, tag_key, tag_value) VALUES (?, ?, ?) ON CONFLICT (arn, "
          "tag_key) DO UPDATE SET tag_value = excluded.tag_value",
          {arn, Str(t, "Key"), Str(t, "Value")});
      if (!r.ok()) return r.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"TopicArn", arn}};
}

Result<Json> SnsService::DeleteTopic(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "TopicArn");
  if (Status st = CheckArn(arn, "TopicArn"); !st.ok()) return st.take_error();
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, arn);
    if (!topic.ok()) return topic.take_error();
    for (const char* sql : {"DELETE FROM sns_topic WHERE arn = ?",
                            "DELETE FROM sns_subscription WHERE topic_arn = ?",
                            "DELETE FROM sns_tag WHERE arn = ?",
                            "DELETE FROM sns_dedup WHERE topic_arn = ?"}) {
      auto r = tx.Exec(sql, {arn});
      if (!r.ok()) return r.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

namespace {

// Pagination over ARNs: NextToken is the base64 of the last ARN returned.
Result<std::string> After(const Json& in) {
  std::string token = Str(in, "NextToken");
  if (token.empty()) return std::string();
  auto raw = crypto::Base64Decode(token);
  if (!raw) return errors::InvalidParameter("NextToken");
  return *raw;
}

}  // namespace

Result<Json> SnsService::ListTopics(const Ctx& ctx, const Json& in) {
  auto after = After(in);
  if (!after.ok()) return after.take_error();
  Json topics = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        "SELECT arn FROM sns_topic WHERE account = ? AND region = ? AND arn > ? ORDER BY arn "
        "LIMIT ?",
        {ctx.account_id, ctx.region, *after, int64_t{kPageSize + 1}});
    if (!rows.ok()) return rows.take_error();
    for (size_t i = 0; i < rows->size() && i < kPageSize; ++i) {
      topics.push_back({{"TopicArn", (*rows)[i].Str(0)}});
    }
    if (rows->size() > kPageSize) next = crypto::Base64Encode((*rows)[kPageSize - 1].Str(0));
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"Topics", std::move(topics)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

Result<Json> SnsService::GetTopicAttributes(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "TopicArn");
  if (Status st = CheckArn(arn, "TopicArn"); !st.ok()) return st.take_error();
  Json attrs;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, arn);
    if (!topic.ok()) return topic.take_error();
    auto counts = tx.Query(
        "SELECT confirmed, COUNT(*) FROM sns_subscription WHERE topic_arn = ? GROUP BY confirmed",
        {arn});
    if (!counts.ok()) return counts.take_error();
    int64_t confirmed = 0, pending = 0;
    for (auto& r : *counts) (r.Int(0) ? confirmed : pending) = r.Int(1);
    attrs = Json::object();
    attrs["TopicArn"] = arn;
    attrs["Owner"] = ctx.account_id;
    attrs["DisplayName"] = "";
    attrs["Policy"] = DefaultPolicy(ctx.account_id, arn).dump();
    attrs["EffectiveDeliveryPolicy"] = DefaultEffectiveDeliveryPolicy().dump();
    attrs["SubscriptionsConfirmed"] = std::to_string(confirmed);
    attrs["SubscriptionsPending"] = std::to_string(pending);
    attrs["SubscriptionsDeleted"] = "0";
    for (auto& [k, v] : topic->attributes.items()) attrs[k] = v;
    if (topic->attributes.contains("DeliveryPolicy")) {
      attrs["EffectiveDeliveryPolicy"] = topic->attributes["DeliveryPolicy"];
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"Attributes", std::move(attrs)}};
}

Result<Json> SnsService::SetTopicAttributes(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "TopicArn");
  if (Status st = CheckArn(arn, "TopicArn"); !st.ok()) return st.take_error();
  const std::string name = Str(in, "AttributeName");
  const std::string value = Str(in, "AttributeValue");
  if (TopicAttributeNames().count(name) == 0 || name == "FifoTopic") {
    return errors::InvalidParameter("AttributeName");
  }
  if (Status st = CheckTopicAttribute(name, value); !st.ok()) return st.take_error();
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, arn);
    if (!topic.ok()) return topic.take_error();
    if (name == "ContentBasedDeduplication" && !topic->fifo()) {
      return errors::InvalidParameter(
          "AttributeName Reason: ContentBasedDeduplication is only supported for FIFO topics");
    }
    topic->attributes[name] = value;
    return SaveTopicAttributes(tx, *topic);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

// ---- Subscriptions ----

namespace {

Status CheckSubscriptionAttribute(const std::string& name, const std::string& value,
                                  bool set_call) {
  if (SubscriptionAttributeNames().count(name) == 0) {
    return set_call ? errors::InvalidParameter("AttributeName")
                    : errors::InvalidParameter("Attributes Reason: Invalid attribute name: " +
                                               name);
  }
  std::string prefix = set_call ? "" : "Attributes Reason: ";
  if (name == "RawMessageDelivery" && value != "true" && value != "false" && value != "True" &&
      value != "False") {
    return errors::InvalidParameter(fmt::format(
        "{}RawMessageDelivery: Invalid value [{}]. Must be true or false.", prefix, value));
  }
  if (name == "FilterPolicyScope" && value != "MessageAttributes" && value != "MessageBody") {
    return errors::InvalidParameter(fmt::format(
        "{}FilterPolicyScope: Invalid value [{}]. Please use either MessageBody or "
        "MessageAttributes",
        prefix, value));
  }
  if (name == "RedrivePolicy") {
    Json p = Json::parse(value, nullptr, false);
    if (p.is_discarded() || !p.is_object()) {
      return errors::InvalidParameter(prefix + "RedrivePolicy: failed to parse JSON.");
    }
    std::string target = p.value("deadLetterTargetArn", "");
    if (!StartsWith(target, "arn:aws:sqs:") || Split(target, ':').size() != 6) {
      return errors::InvalidParameter(prefix + "RedrivePolicy: deadLetterTargetArn is an invalid arn");
    }
  }
  if (name == "DeliveryPolicy") {
    if (Json::parse(value, nullptr, false).is_discarded()) {
      return errors::InvalidParameter(prefix + "DeliveryPolicy: failed to parse JSON.");
    }
  }
  return Ok{};
}

Json SubscriptionAttributesJson(const SnsService::Subscription& s) {
  Json a = Json::object();
  a["SubscriptionArn"] = s.arn;
  a["TopicArn"] = s.topic_arn;
  a["Owner"] = s.owner;
  a["Protocol"] = s.protocol;
  a["Endpoint"] = s.endpoint;
  a["PendingConfirmation"] = s.confirmed ? "false" : "true";
  a["ConfirmationWasAuthenticated"] = s.confirmed ? "true" : "false";
  a["RawMessageDelivery"] = "false";
  if (s.protocol == "http" || s.protocol == "https") {
    a["EffectiveDeliveryPolicy"] = DefaultEffectiveDeliveryPolicy()["http"].dump();
  }
  for (auto& [k, v] : s.attributes.items()) a[k] = v;
  if (s.attributes.contains("FilterPolicy") && !s.attributes.contains("FilterPolicyScope")) {
    a["FilterPolicyScope"] = "MessageAttributes";
  }
  return a;
}

}  // namespace

Result<Json> SnsService::Subscribe(const Ctx& ctx, const Json& in) {
  const std::string topic_arn = Str(in, "TopicArn");
  if (Status st = CheckArn(topic_arn, "TopicArn"); !st.ok()) return st.take_error();
  const std::string protocol = Str(in, "Protocol");
  std::string endpoint = Str(in, "Endpoint");
  static const std::set<std::string> kSupported = {"http", "https", "email", "email-json", "sqs"};
  static const std::set<std::string> kUnsupported = {"sms", "lambda", "application", "firehose"};
  if (kUnsupported.count(protocol)) {
    return errors::InvalidParameter(fmt::format(
        "Protocol Reason: groundcrew does not support the {} protocol; supported protocols are "
        "http, https, email, email-json and sqs",
        protocol));
  }
  if (!kSupported.count(protocol)) {
    return errors::InvalidParameter("Amazon SNS does not support this protocol string: " +
                                    protocol);
  }
  if (protocol == "http" && !StartsWith(endpoint, "http://")) {
    return errors::InvalidParameter("Endpoint must match the specified protocol");
  }
  if (protocol == "https" && !StartsWith(endpoint, "https://")) {
    return errors::InvalidParameter("Endpoint must match the specified protocol");
  }
  if ((protocol == "email" || protocol == "email-json") &&
      (endpoint.find('@') == std::string::npos || endpoint.find(' ') != std::string::npos)) {
    return errors::InvalidParameter("Email address");
  }
  if (protocol == "sqs" && (!StartsWith(endpoint, "arn:aws:sqs:") ||
                            Split(endpoint, ':').size() != 6)) {
    return errors::InvalidParameter("SQS endpoint ARN");
  }
  Json attrs = in.value("Attributes", Json::object());
  for (auto& [k, v] : attrs.items()) {
    if (Status st = CheckSubscriptionAttribute(k, v.get<std::string>(), false); !st.ok()) {
      return st.take_error();
    }
  }
  if (attrs.contains("FilterPolicy")) {
    bool body = attrs.value("FilterPolicyScope", "MessageAttributes") == "MessageBody";
    auto p = Policy(attrs["FilterPolicy"].get<std::string>(), body);
    if (!p.ok()) return AsSubscribeAttributesError(p.take_error());
  }
  const bool return_arn = in.value("ReturnSubscriptionArn", false);
  std::string sub_arn;
  bool confirmed = false;
  std::string token;
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, topic_arn);
    if (!topic.ok()) return topic.take_error();
    if (protocol == "sqs" && EndsWith(endpoint, ".fifo") && !topic->fifo()) {
      return errors::InvalidParameter(
          "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard "
          "SNS topics");
    }
    auto rows = tx.Query(
        fmt::format("SELECT {} FROM sns_subscription WHERE topic_arn = ? AND protocol = ? AND "
                    "endpoint = ?",
                    kSubColumns),
        {topic_arn, protocol, endpoint});
    if (!rows.ok()) return rows.take_error();
    if (!rows->empty()) {
      Subscription s = SubFromRow(rows->front());
      for (auto& [k, v] : attrs.items()) {
        if (!s.attributes.contains(k) || s.attributes[k] != v) {
          return errors::InvalidParameter(
              "Attributes Reason: Subscription already exists with different attributes");
        }
      }
      sub_arn = s.arn;
      confirmed = s.confirmed;
      return Ok{};
    }
    sub_arn = topic_arn + ":" + crypto::Uuid4();
    // SQS queues of the same account are confirmed at once; others confirm through a link.
    confirmed = protocol == "sqs" && Split(endpoint, ':')[4] == ctx.account_id;
    token = confirmed ? std::string() : crypto::RandomHex(128);
    auto ins = tx.Exec(
        "INSERT INTO sns_subscription (arn, account, region, topic_arn, protocol, endpoint, "
        "owner, confirmed, token, attributes, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {sub_arn, ctx.account_id, ctx.region, topic_arn, protocol, endpoint, ctx.account_id,
         int64_t{confirmed ? 1 : 0}, token, attrs.dump(),
         static_cast<double>(ctx.now_millis) / 1000.0});
    if (!ins.ok()) return ins.take_error();
    if (!confirmed) {
      // SubscriptionConfirmation: a POST to http(s) endpoints, a mail with the link otherwise.
      const std::string base = Endpoint(ctx);
      const std::string subscribe_url =
          fmt::format("{}/_groundcrew/sns/confirm?Action=ConfirmSubscription&TopicArn={}&Token={}",
                      base, UrlEncode(topic_arn), token);
      int version = topic->attributes.value("SignatureVersion", "1") == "2" ? 2 : 1;
      Json doc = signer_.BuildSubscriptionConfirmation(
          topic_arn, crypto::Uuid4(), token, subscribe_url,
          base + "/_groundcrew/sns/SimpleNotificationService.pem", ctx.now_millis, version);
      delivery::Delivery d;
      d.account = ctx.account_id;
      d.region = ctx.region;
      d.source = sub_arn;
      d.endpoint = endpoint;
      if (protocol == "http" || protocol == "https") {
        d.kind = "http";
        d.body = doc.dump();
        d.headers = {{"Content-Type", "text/plain; charset=UTF-8"},
                     {"x-amz-sns-message-type", "SubscriptionConfirmation"},
                     {"x-amz-sns-message-id", doc.value("MessageId", "")},
                     {"x-amz-sns-topic-arn", topic_arn},
                     {"User-Agent", "Amazon Simple Notification Service Agent"}};
      } else {
        d.kind = "email";
        std::string display = topic->attributes.value("DisplayName", "");
        d.subject = (display.empty() ? std::string("AWS Notification") : display) +
                    " - Subscription Confirmation";
        d.body = protocol == "email-json"
                     ? doc.dump()
                     : fmt::format("You have chosen to subscribe to the topic: \n{}\n\nTo confirm "
                                   "this subscription, click or visit the link below (If this was "
                                   "in error no action is necessary): \n{}\n",
                                   topic_arn, subscribe_url);
      }
      if (Status e = outbox_.Enqueue(tx, {d}); !e.ok()) return e.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  outbox_.Notify();
  return Json{{"SubscriptionArn", confirmed || return_arn ? sub_arn : "pending confirmation"}};
}

Result<Json> SnsService::ConfirmSubscription(const Ctx& ctx, const Json& in) {
  const std::string topic_arn = Str(in, "TopicArn");
  if (Status st = CheckArn(topic_arn, "TopicArn"); !st.ok()) return st.take_error();
  const std::string token = Str(in, "Token");
  std::string arn;
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, topic_arn);
    if (!topic.ok()) return topic.take_error();
    if (token.empty()) return errors::InvalidParameter("Token");
    auto rows = tx.Query(
        "SELECT arn, confirmed FROM sns_subscription WHERE token = ? AND topic_arn = ?",
        {token, topic_arn});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return errors::InvalidParameter("Token");
    arn = rows->front().Str(0);
    auto r = tx.Exec("UPDATE sns_subscription SET confirmed = 1 WHERE arn = ?", {arn});
    if (!r.ok()) return r.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"SubscriptionArn", arn}};
}

Result<Json> SnsService::Unsubscribe(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "SubscriptionArn");
  if (Status st = CheckArn(arn, "SubscriptionArn"); !st.ok()) return st.take_error();
  if (Split(arn, ':').size() != 7) return errors::InvalidArn("SubscriptionArn", Split(arn, ':').size());
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto r = tx.Exec("DELETE FROM sns_subscription WHERE arn = ? AND account = ? AND region = ?",
                     {arn, ctx.account_id, ctx.region});
    if (!r.ok()) return r.take_error();
    if (*r == 0) return errors::SubscriptionNotFound();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

namespace {

Json SubscriptionListEntry(const SnsService::Subscription& s) {
  return {{"SubscriptionArn", s.confirmed ? s.arn : std::string("PendingConfirmation")},
          {"Owner", s.owner},
          {"Protocol", s.protocol},
          {"Endpoint", s.endpoint},
          {"TopicArn", s.topic_arn}};
}

// One page of subscriptions matching `where` (ordered by ARN, after the last one of the previous
// page): {"Subscriptions": [...], "NextToken"?}.
Result<Json> SubscriptionPage(Tx& tx, const char* where, std::vector<store::Value> params,
                              const std::string& after) {
  params.push_back(after);
  params.push_back(int64_t{kPageSize + 1});
  auto rows = tx.Query(fmt::format("SELECT {} FROM sns_subscription WHERE {} AND arn > ? ORDER "
                                   "BY arn LIMIT ?",
                                   kSubColumns, where),
                       params);
  if (!rows.ok()) return rows.take_error();
  Json subs = Json::array();
  for (size_t i = 0; i < rows->size() && i < kPageSize; ++i) {
    subs.push_back(SubscriptionListEntry(SubFromRow((*rows)[i])));
  }
  Json out = {{"Subscriptions", std::move(subs)}};
  if (rows->size() > kPageSize) {
    out["NextToken"] = crypto::Base64Encode((*rows)[kPageSize - 1].Str(0));
  }
  return out;
}

}  // namespace

Result<Json> SnsService::ListSubscriptions(const Ctx& ctx, const Json& in) {
  auto after = After(in);
  if (!after.ok()) return after.take_error();
  Json out;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto page = SubscriptionPage(tx, "account = ? AND region = ?", {ctx.account_id, ctx.region},
                                 *after);
    if (!page.ok()) return page.take_error();
    out = std::move(*page);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> SnsService::ListSubscriptionsByTopic(const Ctx& ctx, const Json& in) {
  const std::string topic_arn = Str(in, "TopicArn");
  if (Status st = CheckArn(topic_arn, "TopicArn"); !st.ok()) return st.take_error();
  auto after = After(in);
  if (!after.ok()) return after.take_error();
  Json out;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, topic_arn);
    if (!topic.ok()) return topic.take_error();
    auto page = SubscriptionPage(tx, "topic_arn = ?", {topic_arn}, *after);
    if (!page.ok()) return page.take_error();
    out = std::move(*page);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> SnsService::GetSubscriptionAttributes(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "SubscriptionArn");
  if (Status st = CheckArn(arn, "SubscriptionArn"); !st.ok()) return st.take_error();
  Json attrs;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto sub = LoadSub(tx, arn);
    if (!sub.ok()) return sub.take_error();
    if (!sub->has_value()) return errors::SubscriptionNotFound();
    attrs = SubscriptionAttributesJson(**sub);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"Attributes", std::move(attrs)}};
}

Result<Json> SnsService::SetSubscriptionAttributes(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "SubscriptionArn");
  if (Status st = CheckArn(arn, "SubscriptionArn"); !st.ok()) return st.take_error();
  const std::string name = Str(in, "AttributeName");
  const std::string value = Str(in, "AttributeValue");
  if (Status st = CheckSubscriptionAttribute(name, value, true); !st.ok()) return st.take_error();
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto sub = LoadSub(tx, arn);
    if (!sub.ok()) return sub.take_error();
    if (!sub->has_value()) return errors::SubscriptionNotFound();
    Subscription& s = **sub;
    Json attrs = s.attributes;
    if (value.empty() && (name == "FilterPolicy" || name == "RedrivePolicy")) {
      attrs.erase(name);
    } else {
      attrs[name] = name == "RawMessageDelivery" ? (value == "true" || value == "True" ? "true" : "false")
                                                 : value;
    }
    if (attrs.contains("FilterPolicy")) {
      bool body = attrs.value("FilterPolicyScope", "MessageAttributes") == "MessageBody";
      auto p = Policy(attrs["FilterPolicy"].get<std::string>(), body);
      if (!p.ok()) return p.take_error();
    }
    auto r = tx.Exec("UPDATE sns_subscription SET attributes = ? WHERE arn = ?",
                     {attrs.dump(), arn});
    if (!r.ok()) return r.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

// ---- Publish ----

namespace {

// Message attribute rules (names, data types, values), with AWS's codes and words.
Status CheckMessageAttributes(const Json& attrs) {
  if (attrs.size() > 10) {
    return errors::InvalidParameterRaw(
        "Invalid parameter: MessageAttributes Reason: Number of message attributes [" +
        std::to_string(attrs.size()) + "] exceeds the allowed maximum [10].");
  }
  for (auto& [name, v] : attrs.items()) {
    if (name.size() >= 256) {
      return errors::ParameterValueInvalid("Length of message attribute name must be less than 256 bytes.");
    }
    if (name.front() == '.') {
      return errors::ParameterValueInvalid(
          "Invalid message attribute name starting with character '.' was found.");
    }
    if (name.back() == '.') {
      return errors::ParameterValueInvalid(
          "Invalid message attribute name ending with character '.' was found.");
    }
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        return errors::ParameterValueInvalid(fmt::format(
            "Invalid non-alphanumeric character '#x{:X}' was found in the message attribute "
            "name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
            static_cast<int>(static_cast<unsigned char>(c))));
      }
    }
    std::string type = Str(v, "DataType");
    bool is_string = type == "String" || StartsWith(type, "String.");
    bool is_number = type == "Number" || StartsWith(type, "Number.");
    bool is_binary = type == "Binary" || StartsWith(type, "Binary.");
    if (!is_string && !is_number && !is_binary) {
      return errors::ParameterValueInvalid(fmt::format(
          "The message attribute '{}' has an invalid message attribute type, the set of supported "
          "type prefixes is Binary, Number, and String.",
          name));
    }
    const char* field = is_binary ? "BinaryValue" : "StringValue";
    if (!v.contains(field) || (v[field].is_string() && v[field].get<std::string>().empty())) {
      return errors::ParameterValueInvalid(fmt::format(
          "The message attribute '{}' must contain non-empty message attribute value for message "
          "attribute type '{}'.",
          name, type.substr(0, type.find('.'))));
    }
    if (is_number) {
      std::string s = Str(v, "StringValue");
      char* end = nullptr;
      std::strtod(s.c_str(), &end);
      if (end == s.c_str() || *end != '\0') {
        return errors::ParameterValueInvalid(fmt::format(
            "An invalid or out-of-range value '{}' was supplied for the message attribute '{}'.",
            s, name));
      }
    }
    if (type == "String.Array") {
      Json arr = Json::parse(Str(v, "StringValue"), nullptr, false);
      if (!arr.is_array()) {
        return errors::ParameterValueInvalid(fmt::format(
            "The message attribute '{}' with type 'String.Array' has to be a valid JSON array.",
            name));
      }
    }
  }
  return Ok{};
}

std::string IsoTimestamp(int64_t millis) { return SnsTimestamp(millis); }

delivery::RetryPolicy RetryFor(const SnsService::Topic& topic, const SnsService::Subscription& s) {
  if (s.protocol == "http" || s.protocol == "https") {
    Json topic_policy = Json::parse(topic.attributes.value("DeliveryPolicy", "{}"), nullptr, false);
    Json http = topic_policy.is_object() ? topic_policy.value("http", Json::object()) : Json::object();
    Json effective = {{"healthyRetryPolicy", http.value("defaultHealthyRetryPolicy", Json::object())}};
    bool overrides = !http.value("disableSubscriptionOverrides", false);
    if (overrides && s.attributes.contains("DeliveryPolicy")) {
      Json sub = Json::parse(s.attributes["DeliveryPolicy"].get<std::string>(), nullptr, false);
      if (sub.is_object() && sub.contains("healthyRetryPolicy")) effective = sub;
    }
    return delivery::RetryPolicy::FromDeliveryPolicy(effective);
  }
  // AWS-managed endpoints (email, SQS) are retried for far longer; a day is plenty here.
  delivery::RetryPolicy p;
  p.num_retries = 100;
  p.num_no_delay_retries = 2;
  p.min_delay_target_s = 1;
  p.max_delay_target_s = 900;
  p.backoff_function = "exponential";
  return p;
}

// The notification document for one delivered message text, without its last member,
// UnsubscribeURL (the only one that differs between subscribers), and without the closing brace:
// what Json::dump() gives for the whole document up to that member, since members are sorted.
std::string NotificationHead(const Signer& signer, const SnsService::Topic& topic, bool fifo,
                             int version, const std::string& message_id, const std::string& text,
                             const std::string& subject, const Json& attributes,
                             const std::string& sequence, int64_t now, const std::string& base) {
  Json doc = {{"Type", "Notification"},
              {"MessageId", message_id},
              {"TopicArn", topic.arn},
              {"Message", text},
              {"Timestamp", IsoTimestamp(now)},
              {"SignatureVersion", std::to_string(version)}};
  if (!subject.empty()) doc["Subject"] = subject;
  if (fifo) doc["SequenceNumber"] = sequence;
  doc["Signature"] = signer.Sign(doc, version);
  doc["SigningCertURL"] = base + "/_groundcrew/sns/SimpleNotificationService.pem";
  if (!attributes.empty()) doc["MessageAttributes"] = NotificationMessageAttributes(attributes);
  std::string head = doc.dump();
  head.pop_back();  // '}'
  return head;
}

std::string CompleteNotification(const std::string& head, const std::string& unsubscribe_url) {
  std::string body;
  body.reserve(head.size() + unsubscribe_url.size() + 24);
  body += head;
  body += ",\"UnsubscribeURL\":";
  body += Json(unsubscribe_url).dump();
  body += '}';
  return body;
}

}  // namespace

Result<std::shared_ptr<SnsService::PublishTarget>> SnsService::LoadPublishTarget(
    Tx& tx, const Ctx& ctx, const std::string& arn) {
  auto topic = RequireTopic(tx, ctx, arn);
  if (!topic.ok()) return topic.take_error();
  auto target = std::make_shared<PublishTarget>();
  target->topic = std::move(*topic);
  const Topic& t = target->topic;
  target->fifo = t.fifo();
  target->signature_version = t.attributes.value("SignatureVersion", "1") == "2" ? 2 : 1;
  auto rows = tx.Query(
      fmt::format("SELECT {} FROM sns_subscription WHERE topic_arn = ? AND confirmed = 1",
                  kSubColumns),
      {arn});
  if (!rows.ok()) return rows.take_error();
  target->subscriptions.reserve(rows->size());
  for (const Row& r : *rows) {
    Subscription s = SubFromRow(r);
    PublishTarget::Sub& sub = target->subscriptions.emplace_back();
    if (s.attributes.contains("FilterPolicy")) {
      sub.body_scope = s.attributes.value("FilterPolicyScope", "") == "MessageBody";
      auto policy = Policy(s.attributes["FilterPolicy"].get<std::string>(), sub.body_scope);
      if (policy.ok()) {
        sub.filter = std::move(*policy);
      } else {
        sub.takes_nothing = true;
      }
    }
    sub.raw = s.attributes.value("RawMessageDelivery", "false") == "true";
    sub.retry = RetryFor(t, s);
    if (s.attributes.contains("RedrivePolicy")) {
      Json rp = Json::parse(s.attributes["RedrivePolicy"].get<std::string>(), nullptr, false);
      if (rp.is_object()) sub.dead_letter_arn = rp.value("deadLetterTargetArn", "");
    }
    sub.encoded_arn = UrlEncode(s.arn);
    sub.arn = std::move(s.arn);
    sub.protocol = std::move(s.protocol);
    sub.endpoint = std::move(s.endpoint);
  }
  return target;
}

Result<std::shared_ptr<const SnsService::PublishTarget>> SnsService::CachedPublishTarget(
    const Ctx& ctx, const std::string& arn) {
  uint64_t generation = 0;
  if (cache_targets_) {
    std::lock_guard lock(targets_mu_);
    generation = targets_generation_;
    auto it = targets_.find(arn);
    // The cache is by ARN; the caller must still be of the topic's account and region.
    if (it != targets_.end() && it->second->generation == generation &&
        StartsWith(arn, fmt::format("arn:aws:sns:{}:{}:", ctx.region, ctx.account_id))) {
      return it->second;
    }
  }
  std::shared_ptr<PublishTarget> target;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto loaded = LoadPublishTarget(tx, ctx, arn);
    if (!loaded.ok()) return loaded.take_error();
    target = std::move(*loaded);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (cache_targets_) {
    // Read after `generation` was: a change committed since has bumped it, and then the entry
    // (maybe older than that change) is not kept.
    target->generation = generation;
    std::lock_guard lock(targets_mu_);
    if (targets_generation_ == generation) {
      if (targets_.size() >= 10000) targets_.clear();
      targets_[arn] = target;
    }
  }
  return std::shared_ptr<const PublishTarget>(std::move(target));
}

Result<Json> SnsService::PublishOne(Tx& tx, const Ctx& ctx, const PublishTarget& target,
                                    const PublishInput& msg) {
  const Topic& topic = target.topic;
  const int64_t now = ctx.now_millis;
  std::string message_id = crypto::FastUuid4();
  std::string sequence;
  std::string dedup_id = msg.dedup_id;
  if (target.fifo) {
    if (dedup_id.empty()) dedup_id = crypto::Hex(crypto::Sha256(msg.message));
    auto seen = tx.Query(
        "SELECT message_id, seq FROM sns_dedup WHERE topic_arn = ? AND dedup_id = ? AND "
        "expires > ?",
        {topic.arn, dedup_id, now});
    if (!seen.ok()) return seen.take_error();
    if (!seen->empty()) {
      return Json{{"MessageId", seen->front().Str(0)},
                  {"SequenceNumber", fmt::format("{:020d}", seen->front().Int(1))}};
    }
    auto seq = tx.Query("UPDATE sns_topic SET seq = seq + 1 WHERE arn = ? RETURNING seq",
                        {topic.arn});
    if (!seq.ok()) return seq.take_error();
    int64_t n = seq->empty() ? 1 : seq->front().Int(0);
    sequence = fmt::format("{:020d}", n);
    auto d = tx.Exec(
        "INSERT INTO sns_dedup (topic_arn, dedup_id, message_id, seq, expires) VALUES (?, ?, ?, "
        "?, ?) ON CONFLICT (topic_arn, dedup_id) DO UPDATE SET message_id = excluded.message_id, "
        "seq = excluded.seq, expires = excluded.expires",
        {topic.arn, dedup_id, message_id, n, now + kDedupWindowMs});
    if (!d.ok()) return d.take_error();
  }

  std::vector<delivery::Delivery> out =
      BuildDeliveries(ctx, target, msg, message_id, sequence, dedup_id);
  if (!out.empty()) {
    if (Status st = outbox_.Enqueue(tx, out); !st.ok()) return st.take_error();
  }
  Json result = {{"MessageId", message_id}};
  if (!sequence.empty()) result["SequenceNumber"] = sequence;
  return result;
}

std::vector<delivery::Delivery> SnsService::BuildDeliveries(
    const Ctx& ctx, const PublishTarget& target, const PublishInput& msg,
    const std::string& message_id, const std::string& sequence, const std::string& dedup_id) {
  std::vector<delivery::Delivery> out;
  if (target.subscriptions.empty()) return out;
  out.reserve(target.subscriptions.size());
  const Topic& topic = target.topic;
  Json structured;
  if (msg.structure == "json") structured = Json::parse(msg.message, nullptr, false);
  const std::string base = Endpoint(ctx);
  // Messages prepared once for the filter policies of all subscriptions.
  std::optional<PreparedMessage> prepared_attributes;
  std::optional<PreparedMessage> prepared_body;
  // Notification heads (signed once) per delivered message text.
  std::unordered_map<std::string, std::string> heads;
  for (const PublishTarget::Sub& s : target.subscriptions) {
    if (s.takes_nothing) continue;
    if (s.filter) {
      std::optional<PreparedMessage>& prepared = s.body_scope ? prepared_body : prepared_attributes;
      if (!prepared) {
        prepared = s.body_scope ? PreparedMessage::FromBodyText(msg.message)
                                : PreparedMessage::FromAttributes(msg.attributes);
      }
      if (!s.filter->Matches(*prepared)) continue;
    }
    std::string text = msg.message;
    if (structured.is_object()) {
      text = structured.contains(s.protocol) && structured[s.protocol].is_string()
                 ? structured[s.protocol].get<std::string>()
                 : structured.value("default", "");
    }
    std::string unsubscribe_url = base;
    unsubscribe_url += "/_groundcrew/sns/unsubscribe?Action=Unsubscribe&SubscriptionArn=";
    unsubscribe_url += s.encoded_arn;
    auto notification = [&]() {
      auto head = heads.find(text);
      if (head == heads.end()) {
        head = heads
                   .emplace(text, NotificationHead(signer_, topic, target.fifo,
                                                   target.signature_version, message_id, text,
                                                   msg.subject, msg.attributes, sequence,
                                                   ctx.now_millis, base))
                   .first;
      }
      return CompleteNotification(head->second, unsubscribe_url);
    };
    delivery::Delivery& d = out.emplace_back();
    d.account = ctx.account_id;
    d.region = ctx.region;
    d.source = s.arn;
    d.endpoint = s.endpoint;
    d.retry = s.retry;
    d.dead_letter_arn = s.dead_letter_arn;
    if (s.protocol == "http" || s.protocol == "https") {
      d.kind = "http";
      d.body = s.raw ? text : notification();
      d.headers.reserve(7);
      d.headers = {{"Content-Type", "text/plain; charset=UTF-8"},
                   {"x-amz-sns-message-type", "Notification"},
                   {"x-amz-sns-message-id", message_id},
                   {"x-amz-sns-topic-arn", topic.arn},
                   {"x-amz-sns-subscription-arn", s.arn},
                   {"User-Agent", "Amazon Simple Notification Service Agent"}};
      if (s.raw) d.headers.emplace_back("x-amz-sns-rawdelivery", "true");
    } else if (s.protocol == "email" || s.protocol == "email-json") {
      d.kind = "email";
      d.subject = msg.subject.empty() ? "AWS Notification Message" : msg.subject;
      d.body = s.protocol == "email-json"
                   ? notification()
                   : fmt::format("{}\n\n--\nIf you wish to stop receiving notifications from "
                                 "this topic, please click or visit the link below to "
                                 "unsubscribe:\n{}\n",
                                 text, unsubscribe_url);
    } else {  // sqs
      d.kind = "sqs";
      d.body = s.raw ? text : notification();
      Json extra = Json::object();
      if (s.raw && !msg.attributes.empty()) extra["MessageAttributes"] = msg.attributes;
      if (target.fifo) {
        extra["MessageGroupId"] = msg.group_id;
        extra["MessageDeduplicationId"] = dedup_id;
      }
      d.extra = std::move(extra);
    }
    // A FIFO topic keeps each message group's order per subscription.
    if (target.fifo) d.ordering_key = s.arn + "#" + msg.group_id;
  }
  return out;
}

namespace {

// Validates one message of Publish or PublishBatch against its topic.
Result<SnsService::PublishInput> ReadPublishInput(const Json& in, bool fifo, const Json& topic_attrs) {
  SnsService::PublishInput msg;
  msg.message = Str(in, "Message");
  msg.subject = Str(in, "Subject");
  msg.structure = Str(in, "MessageStructure");
  msg.attributes = in.value("MessageAttributes", Json::object());
  msg.group_id = Str(in, "MessageGroupId");
  msg.dedup_id = Str(in, "MessageDeduplicationId");
  if (msg.message.empty()) return errors::InvalidParameter("Empty message");
  size_t size = msg.message.size();
  for (auto& [k, v] : msg.attributes.items()) size += k.size() + v.dump().size();
  if (size > kMaxMessageBytes) return errors::InvalidParameter("Message too long");
  if (in.contains("Subject")) {
    bool ok = !msg.subject.empty() && msg.subject.size() <= 100;
    for (char c : msg.subject) {
      if (c == '\n' || c == '\r' || static_cast<unsigned char>(c) < 0x20) ok = false;
    }
    if (!ok) return errors::InvalidParameter("Subject");
  }
  if (!msg.structure.empty()) {
    if (msg.structure != "json") return errors::InvalidParameter("MessageStructure");
    Json parsed = Json::parse(msg.message, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return errors::InvalidParameter("Message Structure - JSON message body failed to parse");
    }
    if (!parsed.contains("default")) {
      return errors::InvalidParameter("Message Structure - No default entry in JSON message body");
    }
  }
  if (Status st = CheckMessageAttributes(msg.attributes); !st.ok()) return st.take_error();
  if (fifo) {
    if (msg.group_id.empty()) {
      return errors::InvalidParameter("The MessageGroupId parameter is required for FIFO topics");
    }
    if (msg.dedup_id.empty() && topic_attrs.value("ContentBasedDeduplication", "false") != "true") {
      return errors::InvalidParameter(
          "The topic should either have ContentBasedDeduplication enabled or "
          "MessageDeduplicationId provided explicitly");
    }
  } else if (!msg.dedup_id.empty()) {
    return errors::InvalidParameter(
        "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
        "that is not valid for this topic type");
  } else if (!msg.group_id.empty()) {
    return errors::InvalidParameter(
        "MessageGroupId Reason: The request includes MessageGroupId parameter that is not valid "
        "for this topic type");
  }
  return msg;
}

}  // namespace

// A standard topic's Publish reads (topic, subscriptions) on the caller's thread and only writes
// when there is something to deliver, without waiting for the disk: the answer goes out from the
// group commit's completion. A FIFO topic's Publish also writes its deduplication and sequence.
void SnsService::Publish(const Ctx& ctx, const Json& in, wire::Done done) {
  if (in.contains("PhoneNumber")) {
    return done(errors::InvalidParameter(
        "PhoneNumber Reason: groundcrew does not deliver SMS; publish to a topic instead"));
  }
  std::string arn = Str(in, "TopicArn");
  if (arn.empty()) arn = Str(in, "TargetArn");
  if (arn.empty()) {
    return done(
        errors::InvalidParameter("TopicArn or TargetArn Reason: no value for required parameter"));
  }
  if (Status st = CheckArn(arn, in.contains("TopicArn") ? "TopicArn" : "TargetArn"); !st.ok()) {
    return done(st.take_error());
  }
  if (Split(arn, ':').size() != 6) {
    return done(
        errors::InvalidParameter("TargetArn Reason: No endpoint found for the target arn specified"));
  }
  auto target = CachedPublishTarget(ctx, arn);
  if (!target.ok()) return done(target.take_error());
  if ((*target)->fifo) {
    // Deduplication and sequence numbers are written: the topic is read again in that write.
    auto result = std::make_shared<Json>();
    return store_.WriteAsync(
        [this, &ctx, &in, arn, result](Tx& tx) -> Status {
          auto target = LoadPublishTarget(tx, ctx, arn);
          if (!target.ok()) return target.take_error();
          auto msg = ReadPublishInput(in, (*target)->fifo, (*target)->topic.attributes);
          if (!msg.ok()) return msg.take_error();
          auto r = PublishOne(tx, ctx, **target, *msg);
          if (!r.ok()) return r.take_error();
          *result = std::move(*r);
          return Ok{};
        },
        [this, done, result](Status st) {
          if (!st.ok()) return done(st.take_error());
          outbox_.Notify();
          done(std::move(*result));
        });
  }
  auto msg = ReadPublishInput(in, false, (*target)->topic.attributes);
  if (!msg.ok()) return done(msg.take_error());
  std::string message_id = crypto::FastUuid4();
  auto deliveries = std::make_shared<std::vector<delivery::Delivery>>(
      BuildDeliveries(ctx, **target, *msg, message_id, "", ""));
  Json out = Json{{"MessageId", std::move(message_id)}};
  if (deliveries->empty()) return done(std::move(out));  // nobody to tell: nothing to keep
  // The deliveries go to the workers from memory once committed (Outbox::HandOff).
  auto handed_ids = std::make_shared<std::vector<int64_t>>();
  store_.WriteAsync(
      [this, deliveries, handed_ids](Tx& tx) {
        return outbox_.Enqueue(tx, *deliveries, handed_ids.get());
      },
      [this, done, deliveries, handed_ids, out = std::move(out)](Status st) mutable {
        if (!st.ok()) return done(st.take_error());
        outbox_.HandOff(*handed_ids, std::move(*deliveries));
        done(std::move(out));
      });
}

Status SnsService::PublishInTransaction(Tx& tx, const std::string& account,
                                        const std::string& region, const std::string& topic_arn,
                                        const std::string& message) {
  Ctx ctx;
  ctx.account_id = account;
  ctx.region = region;
  ctx.caller_user_id = account;
  ctx.caller_arn = fmt::format("arn:aws:iam::{}:root", account);
  auto target = LoadPublishTarget(tx, ctx, topic_arn);
  if (!target.ok()) return target.take_error();
  if ((*target)->fifo) {
    return errors::InvalidParameter(
        "TopicArn Reason: notifications from Systems Manager need a standard topic");
  }
  auto msg = ReadPublishInput(Json{{"Message", message}}, false, (*target)->topic.attributes);
  if (!msg.ok()) return msg.take_error();
  auto r = PublishOne(tx, ctx, **target, *msg);
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Result<Json> SnsService::PublishBatch(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "TopicArn");
  if (Status st = CheckArn(arn, "TopicArn"); !st.ok()) return st.take_error();
  const Json entries = in.value("PublishBatchRequestEntries", Json::array());
  if (entries.empty()) return errors::EmptyBatchRequest();
  if (entries.size() > 10) return errors::TooManyEntriesInBatchRequest();
  std::set<std::string> ids;
  size_t total = 0;
  for (const auto& e : entries) {
    std::string id = Str(e, "Id");
    if (id.size() > 80) {
      return errors::InvalidBatchEntryId(
          "The Id of a batch entry in the batch request is too long: " + id);
    }
    for (char c : id) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return errors::InvalidBatchEntryId(
            "The Id of a batch entry in the batch request contains an impermissible character: " +
            id);
      }
    }
    if (!ids.insert(id).second) return errors::BatchEntryIdsNotDistinct();
    total += Str(e, "Message").size();
  }
  if (total > kMaxMessageBytes) return errors::BatchRequestTooLong();
  Json successful = Json::array();
  Json failed = Json::array();
  Status st = store_.Write([&](Tx& tx) -> Status {
    successful = Json::array();
    failed = Json::array();
    auto target = LoadPublishTarget(tx, ctx, arn);
    if (!target.ok()) return target.take_error();
    for (const auto& e : entries) {
      auto msg = ReadPublishInput(e, (*target)->fifo, (*target)->topic.attributes);
      if (!msg.ok()) {
        const AwsError& err = msg.error();
        failed.push_back({{"Id", Str(e, "Id")},
                          {"Code", err.code},
                          {"Message", err.message},
                          {"SenderFault", true}});
        continue;
      }
      auto r = PublishOne(tx, ctx, **target, *msg);
      if (!r.ok()) return r.take_error();
      Json ok = {{"Id", Str(e, "Id")}, {"MessageId", (*r)["MessageId"]}};
      if (r->contains("SequenceNumber")) ok["SequenceNumber"] = (*r)["SequenceNumber"];
      successful.push_back(std::move(ok));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  outbox_.Notify();
  return Json{{"Successful", std::move(successful)}, {"Failed", std::move(failed)}};
}

// ---- Tags, permissions, data protection ----

namespace {

// Tags apply to topics only here; a missing topic is ResourceNotFound, as AWS answers.
Status RequireTaggable(Tx& tx, const wire::CallContext& ctx, const std::string& arn) {
  auto t = RequireTopic(tx, ctx, arn);
  if (!t.ok()) return errors::ResourceNotFound();
  return Ok{};
}

}  // namespace

Result<Json> SnsService::TagResource(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "ResourceArn");
  if (Status st = CheckArn(arn, "ResourceArn"); !st.ok()) return st.take_error();
  Status st = WriteTopics([&](Tx& tx) -> Status {
    if (Status s = RequireTaggable(tx, ctx, arn); !s.ok()) return s;
    for (const auto& t : in.value("Tags", Json::array())) {
      auto r = tx.Exec(
          "INSERT INTO sns_tag (arn, tag_key, tag_value) VALUES (?, ?, ?) ON CONFLICT (arn, "
          "tag_key) DO UPDATE SET tag_value = excluded.tag_value",
          {arn, Str(t, "Key"), Str(t, "Value")});
      if (!r.ok()) return r.take_error();
    }
    auto n = tx.Query("SELECT COUNT(*) FROM sns_tag WHERE arn = ?", {arn});
    if (!n.ok()) return n.take_error();
    if (n->front().Int(0) > kMaxTags) {
      return errors::TagPolicy("Could not complete request: tag quota of per resource exceeded");
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> SnsService::UntagResource(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "ResourceArn");
  if (Status st = CheckArn(arn, "ResourceArn"); !st.ok()) return st.take_error();
  Status st = WriteTopics([&](Tx& tx) -> Status {
    if (Status s = RequireTaggable(tx, ctx, arn); !s.ok()) return s;
    for (const auto& k : in.value("TagKeys", Json::array())) {
      auto r = tx.Exec("DELETE FROM sns_tag WHERE arn = ? AND tag_key = ?",
                       {arn, k.get<std::string>()});
      if (!r.ok()) return r.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> SnsService::ListTagsForResource(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "ResourceArn");
  if (Status st = CheckArn(arn, "ResourceArn"); !st.ok()) return st.take_error();
  Json tags = Json::array();
  Status st = store_.Read([&](Tx& tx) -> Status {
    if (Status s = RequireTaggable(tx, ctx, arn); !s.ok()) return s;
    auto rows = tx.Query("SELECT tag_key, tag_value FROM sns_tag WHERE arn = ? ORDER BY tag_key",
                         {arn});
    if (!rows.ok()) return rows.take_error();
    for (auto& r : *rows) tags.push_back({{"Key", r.Str(0)}, {"Value", r.Str(1)}});
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"Tags", std::move(tags)}};
}

Result<Json> SnsService::AddPermission(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "TopicArn");
  if (Status st = CheckArn(arn, "TopicArn"); !st.ok()) return st.take_error();
  const std::string label = Str(in, "Label");
  Json principals = Json::array();
  for (const auto& a : in.value("AWSAccountId", Json::array())) {
    principals.push_back(fmt::format("arn:aws:iam::{}:root", a.get<std::string>()));
  }
  Json actions = Json::array();
  for (const auto& a : in.value("ActionName", Json::array())) {
    std::string action = a.get<std::string>();
    static const std::set<std::string> kActions = {
        "Publish", "Subscribe", "Receive", "GetTopicAttributes", "SetTopicAttributes",
        "AddPermission", "RemovePermission", "DeleteTopic", "ListSubscriptionsByTopic",
        "ConfirmSubscription", "ListTopics", "Unsubscribe", "*"};
    if (!kActions.count(action)) {
      return errors::InvalidParameter("Policy statement action out of service scope!");
    }
    actions.push_back("SNS:" + action);
  }
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, arn);
    if (!topic.ok()) return topic.take_error();
    Json policy = Json::parse(topic->attributes.value("Policy", DefaultPolicy(ctx.account_id, arn).dump()),
                              nullptr, false);
    if (!policy.is_object()) policy = DefaultPolicy(ctx.account_id, arn);
    for (const auto& s : policy["Statement"]) {
      if (s.value("Sid", "") == label) return errors::InvalidParameter("Statement already exists");
    }
    policy["Statement"].push_back({{"Sid", label},
                                   {"Effect", "Allow"},
                                   {"Principal", {{"AWS", principals}}},
                                   {"Action", actions},
                                   {"Resource", arn}});
    topic->attributes["Policy"] = policy.dump();
    return SaveTopicAttributes(tx, *topic);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> SnsService::RemovePermission(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "TopicArn");
  if (Status st = CheckArn(arn, "TopicArn"); !st.ok()) return st.take_error();
  const std::string label = Str(in, "Label");
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, arn);
    if (!topic.ok()) return topic.take_error();
    if (!topic->attributes.contains("Policy")) return Ok{};
    Json policy = Json::parse(topic->attributes["Policy"].get<std::string>(), nullptr, false);
    if (!policy.is_object()) return Ok{};
    Json kept = Json::array();
    for (const auto& s : policy["Statement"]) {
      if (s.value("Sid", "") != label) kept.push_back(s);
    }
    policy["Statement"] = kept;
    topic->attributes["Policy"] = policy.dump();
    return SaveTopicAttributes(tx, *topic);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> SnsService::GetDataProtectionPolicy(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "ResourceArn");
  if (Status st = CheckArn(arn, "ResourceArn"); !st.ok()) return st.take_error();
  std::string policy;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, arn);
    if (!topic.ok()) return topic.take_error();
    policy = topic->data_protection;
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = Json::object();
  if (!policy.empty()) out["DataProtectionPolicy"] = policy;
  return out;
}

Result<Json> SnsService::PutDataProtectionPolicy(const Ctx& ctx, const Json& in) {
  const std::string arn = Str(in, "ResourceArn");
  if (Status st = CheckArn(arn, "ResourceArn"); !st.ok()) return st.take_error();
  const std::string policy = Str(in, "DataProtectionPolicy");
  Json parsed = Json::parse(policy, nullptr, false);
  if (!parsed.is_object()) {
    return errors::InvalidParameter("DataProtectionPolicy Reason: failed to parse JSON.");
  }
  Status st = WriteTopics([&](Tx& tx) -> Status {
    auto topic = RequireTopic(tx, ctx, arn);
    if (!topic.ok()) return topic.take_error();
    topic->data_protection = policy;
    return SaveTopicAttributes(tx, *topic);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

// ---- Links and the operation table ----

SnsService::LinkResponse SnsService::HandleLink(std::string_view path, std::string_view query,
                                                int64_t now_millis) {
  LinkResponse resp;
  const std::string request_id = crypto::Uuid4();
  if (path == "/_groundcrew/sns/SimpleNotificationService.pem") {
    resp.content_type = "application/x-pem-file";
    resp.body = signer_.cert_pem();
    return resp;
  }
  // The context of a link is the account and region in its ARN.
  auto context_of = [&](const std::string& arn) {
    wire::CallContext ctx;
    auto parts = Split(arn, ':');
    if (parts.size() >= 6) {
      ctx.region = parts[3];
      ctx.account_id = parts[4];
    }
    ctx.now_millis = now_millis;
    ctx.endpoint = public_endpoint_;
    ctx.request_id = request_id;
    return ctx;
  };
  Result<Json> out = AwsError{"NotFound", "Unknown link", 404};
  std::string action;
  if (path == "/_groundcrew/sns/confirm") {
    action = "ConfirmSubscription";
    std::string topic = QueryParam(query, "TopicArn");
    out = ConfirmSubscription(context_of(topic),
                              Json{{"TopicArn", topic}, {"Token", QueryParam(query, "Token")}});
  } else if (path == "/_groundcrew/sns/unsubscribe") {
    action = "Unsubscribe";
    std::string sub = QueryParam(query, "SubscriptionArn");
    out = Unsubscribe(context_of(sub), Json{{"SubscriptionArn", sub}});
  }
  if (!out.ok()) {
    const AwsError& e = out.error();
    resp.status = e.http_status;
    resp.body = fmt::format(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender"
        "</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId>"
        "</ErrorResponse>",
        XmlEscape(e.code), XmlEscape(e.message), request_id);
    return resp;
  }
  std::string result;
  if (out->contains("SubscriptionArn")) {
    result = fmt::format("<{0}Result><SubscriptionArn>{1}</SubscriptionArn></{0}Result>", action,
                         XmlEscape((*out)["SubscriptionArn"].get<std::string>()));
  }
  resp.body = fmt::format(
      "<{0}Response xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">{1}<ResponseMetadata>"
      "<RequestId>{2}</RequestId></ResponseMetadata></{0}Response>",
      action, result, request_id);
  return resp;
}

wire::ServiceDef SnsService::Definition() {
  wire::ServiceDef def;
  def.name = "sns";
  def.model = &model::Models::Get("sns");
  auto bind = [this](Result<Json> (SnsService::*method)(const Ctx&, const Json&)) {
    return [this, method](const Ctx& ctx, const Json& in) { return (this->*method)(ctx, in); };
  };
  def.operations = {
      {"CreateTopic", bind(&SnsService::CreateTopic)},
      {"DeleteTopic", bind(&SnsService::DeleteTopic)},
      {"ListTopics", bind(&SnsService::ListTopics)},
      {"GetTopicAttributes", bind(&SnsService::GetTopicAttributes)},
      {"SetTopicAttributes", bind(&SnsService::SetTopicAttributes)},
      {"Subscribe", bind(&SnsService::Subscribe)},
      {"ConfirmSubscription", bind(&SnsService::ConfirmSubscription)},
      {"Unsubscribe", bind(&SnsService::Unsubscribe)},
      {"ListSubscriptions", bind(&SnsService::ListSubscriptions)},
      {"ListSubscriptionsByTopic", bind(&SnsService::ListSubscriptionsByTopic)},
      {"GetSubscriptionAttributes", bind(&SnsService::GetSubscriptionAttributes)},
      {"SetSubscriptionAttributes", bind(&SnsService::SetSubscriptionAttributes)},
      {"PublishBatch", bind(&SnsService::PublishBatch)},
      {"TagResource", bind(&SnsService::TagResource)},
      {"UntagResource", bind(&SnsService::UntagResource)},
      {"ListTagsForResource", bind(&SnsService::ListTagsForResource)},
      {"AddPermission", bind(&SnsService::AddPermission)},
      {"RemovePermission", bind(&SnsService::RemovePermission)},
      {"GetDataProtectionPolicy", bind(&SnsService::GetDataProtectionPolicy)},
      {"PutDataProtectionPolicy", bind(&SnsService::PutDataProtectionPolicy)},
  };
  def.async_operations["Publish"] = [this](const Ctx& ctx, const Json& in, wire::Done done) {
    Publish(ctx, in, std::move(done));
  };
  return def;
}

}  // namespace gc::sns
