// Queue attributes: the names AWS knows, their defaults, the rules for CreateQueue and
// SetQueueAttributes, and the typed settings the message path uses. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gc::sqs {

// The stored attributes of a queue, by AWS name, rendered as GetQueueAttributes returns them
// (computed ones — ApproximateNumberOf*, timestamps, QueueArn — are not stored).
using AttributeMap = std::map<std::string, std::string>;

inline constexpr int64_t kDefaultMaximumMessageSize = 1048576;  // 1 MiB (AWS since 2025)
inline constexpr int64_t kMaxVisibilityTimeout = 43200;         // 12 hours
inline constexpr int64_t kMaxDelaySeconds = 900;
inline constexpr int64_t kMaxWaitTimeSeconds = 20;

// The typed view of an AttributeMap used by the message path.
struct QueueSettings {
  bool fifo = false;
  int64_t visibility_timeout = 30;
  int64_t delay_seconds = 0;
  int64_t max_message_size = kDefaultMaximumMessageSize;
  int64_t retention_period = 345600;
  int64_t receive_wait = 0;
  bool content_based_dedup = false;
  bool dedup_per_group = false;   // DeduplicationScope = messageGroup
  int64_t max_receive_count = 0;  // 0: no redrive policy
  std::string dead_letter_arn;
};

// A name of the QueueAttributeName enum (what GetQueueAttributes accepts, "All" included).
bool IsQueueAttributeName(std::string_view name);
// Attributes computed at read time (never stored, never settable).
bool IsComputedAttribute(std::string_view name);
// A name of the MessageSystemAttributeName enum ("All" included).
bool IsMessageSystemAttributeName(std::string_view name);

// The attributes of a new queue before the caller's are applied.
AttributeMap DefaultAttributes(bool fifo);

// Checks `requested` (CreateQueue when `creating`, else SetQueueAttributes) for a queue of the
// given type and merges it into `attrs`: values are validated and normalised (booleans lower
// case, RedrivePolicy as compact JSON with a numeric maxReceiveCount), "" removes Policy,
// RedrivePolicy, RedriveAllowPolicy and KmsMasterKeyId, KMS and SQS-managed SSE exclude each
// other. Errors: InvalidAttributeName (unknown or misplaced names), InvalidAttributeValue,
// InvalidParameterValue (RedrivePolicy, RedriveAllowPolicy). Existence of the dead-letter queue
// is the caller's to check.
Status ApplyAttributes(bool fifo, bool creating, const AttributeMap& requested,
                       AttributeMap* attrs);

// The value `value` of attribute `name` would be stored as (for CreateQueue's comparison with an
// existing queue). Values that do not validate are returned unchanged.
std::string NormalizedAttribute(const std::string& name, const std::string& value);

QueueSettings SettingsFrom(const AttributeMap& attrs);

}  // namespace gc::sqs
