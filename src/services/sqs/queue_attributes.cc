#include "services/sqs/queue_attributes.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "services/sqs/sqs_errors.h"

namespace gc::sqs {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::string_view, 22> kQueueAttributeNames = {
    "All",
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
};

constexpr std::array<std::string_view, 10> kMessageSystemAttributeNames = {
    "All",
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
};

// Integer attributes and their valid ranges (SQS API reference, CreateQueue).
struct IntRange {
  std::string_view name;
  int64_t min;
  int64_t max;
};
constexpr std::array<IntRange, 6> kIntAttributes = {{
    {"DelaySeconds", 0, kMaxDelaySeconds},
    {"MaximumMessageSize", 1024, kDefaultMaximumMessageSize},
    {"MessageRetentionPeriod", 60, 1209600},
    {"ReceiveMessageWaitTimeSeconds", 0, kMaxWaitTimeSeconds},
    {"VisibilityTimeout", 0, kMaxVisibilityTimeout},
    {"KmsDataKeyReusePeriodSeconds", 60, 86400},
}};

constexpr const char* kDefaultKmsReusePeriod = "300";

std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> ParseBool(std::string_view s) {
  std::string l = Lower(s);
  if (l == "true" || l == "false") return l;
  return std::nullopt;
}

bool IsSqsArn(const std::string& arn) {
  // arn:<partition>:sqs:<region>:<account>:<name>
  size_t colons = std::count(arn.begin(), arn.end(), ':');
  return arn.rfind("arn:", 0) == 0 && colons == 5 && arn.find(":sqs:") != std::string::npos &&
         arn.back() != ':';
}

// RedrivePolicy: {"deadLetterTargetArn": "...", "maxReceiveCount": 1..1000} (the count may be
// a string). Returns the normalised compact JSON.
Result<std::string> NormalizeRedrivePolicy(const std::string& value) {
  auto invalid = [&](const std::string& reason) {
    return errors::InvalidParameter("RedrivePolicy", value, reason);
  };
  Json doc = Json::parse(value, nullptr, false);
  if (!doc.is_object()) return invalid("Redrive policy is not a valid JSON map.");
  auto arn = doc.find("deadLetterTargetArn");
  if (arn == doc.end()) {
    return invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.");
  }
  auto count = doc.find("maxReceiveCount");
  if (count == doc.end()) {
    return invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.");
  }
  if (!arn->is_string() || !IsSqsArn(arn->get<std::string>())) {
    return invalid("Invalid value for deadLetterTargetArn.");
  }
  std::optional<int64_t> n;
  if (count->is_number_integer()) n = count->get<int64_t>();
  if (count->is_string()) n = ParseInt(count->get<std::string>());
  if (!n || *n < 1 || *n > 1000) {
    std::string shown = count->is_string() ? count->get<std::string>() : count->dump();
    return invalid(fmt::format(
        "Invalid value for maxReceiveCount: {}, valid values are from 1 to 1000 both inclusive.",
        shown));
  }
  nlohmann::ordered_json out;
  out["deadLetterTargetArn"] = arn->get<std::string>();
  out["maxReceiveCount"] = *n;
  return out.dump();
}

// RedriveAllowPolicy: {"redrivePermission": "allowAll"|"denyAll"|"byQueue",
// "sourceQueueArns": [..up to 10, byQueue only..]}.
Result<std::string> NormalizeRedriveAllowPolicy(const std::string& value) {
  auto invalid = [&](const std::string& reason) {
    return errors::InvalidParameter("RedriveAllowPolicy", value, reason);
  };
  Json doc = Json::parse(value, nullptr, false);
  if (!doc.is_object()) return invalid("Redrive allow policy is not a valid JSON map.");
  auto perm = doc.find("redrivePermission");
  if (perm == doc.end() || !perm->is_string()) {
    return invalid("Redrive allow policy does not contain mandatory attribute: redrivePermission.");
  }
  std::string p = perm->get<std::string>();
  if (p != "allowAll" && p != "denyAll" && p != "byQueue") {
    return invalid("Invalid value for redrivePermission: " + p + ".");
  }
  auto sources = doc.find("sourceQueueArns");
  nlohmann::ordered_json out;
  out["redrivePermission"] = p;
  if (p == "byQueue") {
    if (sources == doc.end() || !sources->is_array() || sources->empty() || sources->size() > 10) {
      return invalid(
          "sourceQueueArns must list 1 to 10 queue ARNs when redrivePermission is "
          "byQueue.");
    }
    for (const auto& s : *sources) {
      if (!s.is_string() || !IsSqsArn(s.get<std::string>())) {
        return invalid("Invalid value for sourceQueueArns.");
      }
    }
    out["sourceQueueArns"] = *sources;
  } else if (sources != doc.end()) {
    return invalid("sourceQueueArns can only be specified when redrivePermission is byQueue.");
  }
  return out.dump();
}

// Validates and normalises one value; `name` is known to be settable.
Result<std::string> NormalizeValue(const std::string& name, const std::string& value) {
  for (const IntRange& r : kIntAttributes) {
    if (name != r.name) continue;
    auto n = ParseInt(value);
    if (!n || *n < r.min || *n > r.max) return errors::InvalidAttributeValue(name);
    return std::to_string(*n);
  }
  if (name == "FifoQueue" || name == "ContentBasedDeduplication" ||
      name == "SqsManagedSseEnabled") {
    auto b = ParseBool(value);
    if (!b) return errors::InvalidAttributeValue(name);
    return *b;
  }
  if (name == "DeduplicationScope") {
    if (value != "messageGroup" && value != "queue") return errors::InvalidAttributeValue(name);
    return value;
  }
  if (name == "FifoThroughputLimit") {
    if (value != "perQueue" && value != "perMessageGroupId") {
      return errors::InvalidAttributeValue(name);
    }
    return value;
  }
  if (name == "Policy") {
    if (value.empty()) return value;
    Json doc = Json::parse(value, nullptr, false);
    if (!doc.is_object()) return errors::InvalidAttributeValue(name);
    return value;
  }
  if (name == "RedrivePolicy") {
    if (value.empty() || value == "{}") return std::string();
    return NormalizeRedrivePolicy(value);
  }
  if (name == "RedriveAllowPolicy") {
    if (value.empty()) return value;
    return NormalizeRedriveAllowPolicy(value);
  }
  return value;  // KmsMasterKeyId
}

}  // namespace

bool IsQueueAttributeName(std::string_view name) {
  return std::find(kQueueAttributeNames.begin(), kQueueAttributeNames.end(), name) !=
         kQueueAttributeNames.end();
}

bool IsComputedAttribute(std::string_view name) {
  return name == "ApproximateNumberOfMessages" || name == "ApproximateNumberOfMessagesNotVisible" ||
         name == "ApproximateNumberOfMessagesDelayed" || name == "CreatedTimestamp" ||
         name == "LastModifiedTimestamp" || name == "QueueArn";
}

bool IsMessageSystemAttributeName(std::string_view name) {
  return std::find(kMessageSystemAttributeNames.begin(), kMessageSystemAttributeNames.end(),
                   name) != kMessageSystemAttributeNames.end();
}

AttributeMap DefaultAttributes(bool fifo) {
  AttributeMap m = {
      {"DelaySeconds", "0"},
      {"MaximumMessageSize", std::to_string(kDefaultMaximumMessageSize)},
      {"MessageRetentionPeriod", "345600"},
      {"ReceiveMessageWaitTimeSeconds", "0"},
      {"VisibilityTimeout", "30"},
      {"SqsManagedSseEnabled", "true"},
  };
  if (fifo) {
    m["FifoQueue"] = "true";
    m["ContentBasedDeduplication"] = "false";
    m["DeduplicationScope"] = "queue";
    m["FifoThroughputLimit"] = "perQueue";
  }
  return m;
}

Status ApplyAttributes(bool fifo, bool creating, const AttributeMap& requested,
                       AttributeMap* attrs) {
  // Names first (AWS reports a bad name before a bad value).
  for (const auto& [name, value] : requested) {
    if (!IsQueueAttributeName(name) || name == "All" || IsComputedAttribute(name)) {
      return errors::UnknownAttribute(name);
    }
    if (!fifo && (name == "FifoQueue" || name == "ContentBasedDeduplication")) {
      return errors::UnknownAttribute(name);
    }
    if (!fifo && (name == "DeduplicationScope" || name == "FifoThroughputLimit")) {
      return errors::InvalidAttributeName(
          fmt::format("You can specify the {} only when FifoQueue is set to true.", name));
    }
  }
  AttributeMap normalized;
  for (const auto& [name, value] : requested) {
    auto v = NormalizeValue(name, value);
    if (!v.ok()) return v.take_error();
    if (name == "FifoQueue" && *v != "true") {
      return creating
                 ? errors::InvalidAttributeValue(name)
                 : errors::InvalidAttributeValue(name, "Modifying queue type is not supported.");
    }
    normalized[name] = std::move(*v);
  }
  // Server-side encryption: KMS and SQS-managed exclude each other.
  auto kms = normalized.find("KmsMasterKeyId");
  auto sse = normalized.find("SqsManagedSseEnabled");
  bool kms_on = kms != normalized.end() && !kms->second.empty();
  if (kms_on && sse != normalized.end() && sse->second == "true") {
    return errors::InvalidAttributeName(
        "You can use one type of server-side encryption (SSE) at one time. You can either enable "
        "KMS SSE or SQS SSE.");
  }
  for (auto& [name, value] : normalized) {
    bool removable = name == "Policy" || name == "RedrivePolicy" || name == "RedriveAllowPolicy" ||
                     name == "KmsMasterKeyId";
    if (removable && value.empty()) {
      attrs->erase(name);
    } else {
      (*attrs)[name] = value;
    }
  }
  if (kms_on && sse == normalized.end()) (*attrs)["SqsManagedSseEnabled"] = "false";
  if (sse != normalized.end() && sse->second == "true" && kms == normalized.end()) {
    attrs->erase("KmsMasterKeyId");
  }
  bool has_key = attrs->count("KmsMasterKeyId") > 0;
  auto reuse = attrs->find("KmsDataKeyReusePeriodSeconds");
  if (!has_key && reuse != attrs->end() && reuse->second == kDefaultKmsReusePeriod) {
    attrs->erase(reuse);
  } else if (has_key && reuse == attrs->end()) {
    (*attrs)["KmsDataKeyReusePeriodSeconds"] = kDefaultKmsReusePeriod;
  }
  return Ok{};
}

std::string NormalizedAttribute(const std::string& name, const std::string& value) {
  auto v = NormalizeValue(name, value);
  return v.ok() ? *v : value;
}

QueueSettings SettingsFrom(const AttributeMap& attrs) {
  QueueSettings s;
  auto get = [&](const char* name) -> const std::string* {
    auto it = attrs.find(name);
    return it == attrs.end() ? nullptr : &it->second;
  };
  auto get_int = [&](const char* name, int64_t fallback) {
    const std::string* v = get(name);
    if (v == nullptr) return fallback;
    return ParseInt(*v).value_or(fallback);
  };
  const std::string* fifo = get("FifoQueue");
  s.fifo = fifo != nullptr && *fifo == "true";
  s.visibility_timeout = get_int("VisibilityTimeout", s.visibility_timeout);
  s.delay_seconds = get_int("DelaySeconds", s.delay_seconds);
  s.max_message_size = get_int("MaximumMessageSize", s.max_message_size);
  s.retention_period = get_int("MessageRetentionPeriod", s.retention_period);
  s.receive_wait = get_int("ReceiveMessageWaitTimeSeconds", s.receive_wait);
  const std::string* cbd = get("ContentBasedDeduplication");
  s.content_based_dedup = cbd != nullptr && *cbd == "true";
  const std::string* scope = get("DeduplicationScope");
  s.dedup_per_group = scope != nullptr && *scope == "messageGroup";
  if (const std::string* rp = get("RedrivePolicy")) {
    Json doc = Json::parse(*rp, nullptr, false);
    if (doc.is_object() && doc.value("maxReceiveCount", Json()).is_number_integer() &&
        doc.value("deadLetterTargetArn", Json()).is_string()) {
      s.max_receive_count = doc["maxReceiveCount"].get<int64_t>();
      s.dead_letter_arn = doc["deadLetterTargetArn"].get<std::string>();
    }
  }
  return s;
}

}  // namespace gc::sqs
