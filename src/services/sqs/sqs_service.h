// SqsService: Amazon SQS — queues, messages (standard and FIFO), long polling, dead-letter
// redrive and message move tasks — and its operation table for the dispatcher. Thread-safe once
// constructed; Start() after the migrations, Shutdown() when the server stops.
//
// Threads: handlers run on the HTTP server's threads; long polls park on the timer queue and
// resume on a small worker pool (long_poll.h), which also runs move-task ticks and the retention
// sweep. No thread ever sleeps on a long poll.
#pragma once

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/timer_queue.h"
#include "services/sqs/long_poll.h"
#include "services/sqs/message_store.h"
#include "services/sqs/move_tasks.h"
#include "services/sqs/queue_store.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::model {
class ServiceModel;
}

namespace gc::sqs {

class SqsService {
 public:
  // `clock` times visibility timeouts, delays, retention and deduplication; it must be the clock
  // the dispatcher stamps CallContext::now_millis with. Both must outlive the service.
  SqsService(store::Store& store, const Clock& clock);
  ~SqsService();  // Shutdown(), then stops the timer queue and the worker pool
  SqsService(const SqsService&) = delete;
  SqsService& operator=(const SqsService&) = delete;

  static std::vector<store::Migration> Migrations();

  // Seeds message sequence numbers, resumes running move tasks and starts the retention sweep.
  Status Start();
  // Answers every parked long poll (empty) and stops background work. Idempotent.
  void Shutdown();

  // The operation table; `this` must outlive it.
  wire::ServiceDef Definition();

  // In-process send for other services (SNS deliveries to SQS subscriptions), as SendMessage
  // would do it for the queue's owner. `message_attributes` has SendMessage's MessageAttributes
  // shape ({"name": {"DataType": "String", "StringValue": "..."}}, BinaryValue as base64) or is
  // null; `message_group_id` / `dedup_id` are "" when not used (a FIFO queue needs the group,
  // and the deduplication id unless it has content-based deduplication). Returns the message id
  // (the original message's for a FIFO duplicate). Errors: AWS.SimpleQueueService.
  // NonExistentQueue for an unknown or malformed ARN; SendMessage's validation errors
  // (InvalidParameterValue, MissingParameter, InvalidMessageContents). Durable on return.
  Result<std::string> SendToQueueArn(const std::string& queue_arn, const std::string& body,
                                     const nlohmann::json& message_attributes,
                                     const std::string& message_group_id,
                                     const std::string& dedup_id);

  QueueStore& queues() { return queues_; }
  MessageStore& messages() { return messages_; }
  LongPoll& long_poll() { return long_poll_; }

 private:
  struct Poll;
  void ReceiveMessage(const wire::CallContext& ctx, const nlohmann::json& in, wire::Done done);
  // One receive attempt of `poll` (AfterAttempt follows once it is durable): answers it or parks
  // it again. `generation` is the queue's wake-up generation read before the attempt.
  void Attempt(const std::shared_ptr<Poll>& poll, int64_t now_ms);
  void AfterAttempt(const std::shared_ptr<Poll>& poll, uint64_t generation,
                    Result<ReceiveOutcome> out);
  // SQS's checks that come before model validation (see ServiceDef::pre_validate).
  Status PreValidate(const std::string& operation, const nlohmann::json& input) const;
  void ScheduleSweep(int64_t delay_ms);

  store::Store& store_;
  const Clock& clock_;
  const model::ServiceModel* model_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<TimerQueue> timers_;
  LongPoll long_poll_;
  QueueStore queues_;
  MessageStore messages_;
  MoveTasks moves_;
  std::atomic<bool> stopping_{false};
  const bool cross_process_;  // PostgreSQL: other replicas' sends do not notify this process
};

}  // namespace gc::sqs
