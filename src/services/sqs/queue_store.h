// QueueStore: the queue-level SQS operations (CreateQueue ... ListDeadLetterSourceQueues) over the
// Store, and the helpers every SQS area uses to find a queue by URL, name or ARN inside a
// transaction. Thread-safe: all state is in the store.
//
// Tables: sqs_queue (one row per queue: typed settings for the message path plus the full
// attribute map as JSON), sqs_tag. Queues have a random 63-bit id that messages refer to, so a
// queue deleted and created again never sees the old queue's messages.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "services/sqs/queue_attributes.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::sqs {

// Where a queue lives.
struct QueueRef {
  std::string account;
  std::string region;
  std::string name;
};

// One sqs_queue row.
struct Queue {
  int64_t id = 0;
  QueueRef ref;
  QueueSettings settings;
  int64_t created_ms = 0;
  int64_t modified_ms = 0;
  int64_t purged_ms = 0;  // last PurgeQueue, 0 if never

  std::string Arn() const;
  // "<endpoint>/<account>/<name>".
  std::string Url(std::string_view endpoint) const;
};

std::string QueueArn(const QueueRef& ref);
// The key long polls wait on: "<account>/<region>/<name>".
std::string QueueKey(const QueueRef& ref);

// The queue a QueueUrl names, in the caller's region: the last two path segments of the URL
// (any scheme and host), or a bare queue name in the caller's account. Errors: NonExistentQueue
// for URLs of another account or that have no such segments.
Result<QueueRef> ParseQueueUrl(const wire::CallContext& ctx, const std::string& url);
// arn:<partition>:sqs:<region>:<account>:<name>; nullopt when malformed.
std::optional<QueueRef> ParseQueueArn(const std::string& arn);

// Loads a queue inside `tx`; nullopt when absent.
Result<std::optional<Queue>> LoadQueue(store::Tx& tx, const QueueRef& ref);
// Loads a queue or fails with NonExistentQueue.
Result<Queue> RequireQueue(store::Tx& tx, const QueueRef& ref);
// The full attribute map of queue `q` (not loaded by LoadQueue: the message path needs only the
// typed settings).
Result<AttributeMap> LoadAttributes(store::Tx& tx, const Queue& q);

class QueueStore {
 public:
  // `on_queue_gone(key)` is called after a queue was deleted or purged (wakes its long polls).
  QueueStore(store::Store& store, std::function<void(const std::string&)> on_queue_gone);

  static std::vector<store::Migration> Migrations();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> CreateQueue(const Ctx& ctx, const Json& in);
  Result<Json> GetQueueUrl(const Ctx& ctx, const Json& in);
  Result<Json> ListQueues(const Ctx& ctx, const Json& in);
  Result<Json> GetQueueAttributes(const Ctx& ctx, const Json& in);
  Result<Json> SetQueueAttributes(const Ctx& ctx, const Json& in);
  Result<Json> DeleteQueue(const Ctx& ctx, const Json& in);
  Result<Json> PurgeQueue(const Ctx& ctx, const Json& in);
  Result<Json> TagQueue(const Ctx& ctx, const Json& in);
  Result<Json> UntagQueue(const Ctx& ctx, const Json& in);
  Result<Json> ListQueueTags(const Ctx& ctx, const Json& in);
  Result<Json> AddPermission(const Ctx& ctx, const Json& in);
  Result<Json> RemovePermission(const Ctx& ctx, const Json& in);
  Result<Json> ListDeadLetterSourceQueues(const Ctx& ctx, const Json& in);

 private:
  // Checks a RedrivePolicy's dead-letter queue inside `tx`: it exists, has the source's type and
  // its RedriveAllowPolicy admits `source_arn`.
  Status CheckDeadLetterTarget(store::Tx& tx, const QueueRef& source, bool source_fifo,
                               const AttributeMap& attrs);
  // Writes `attrs` (and the typed columns derived from them) to queue `id`.
  Status StoreAttributes(store::Tx& tx, int64_t id, const AttributeMap& attrs, int64_t now_ms);

  store::Store& store_;
  std::function<void(const std::string&)> on_queue_gone_;
};

}  // namespace gc::sqs
