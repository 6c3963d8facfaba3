// MessageStore: SQS messages over the Store — SendMessage(Batch), one ReceiveMessage attempt
// (long polling is SqsService's, on top of it), DeleteMessage(Batch), ChangeMessageVisibility
// (Batch), dead-letter redrive, retention expiry, and the in-process send other services use.
// Thread-safe: all state is in the store; the sequence counter is atomic.
//
// Tables:
//  - sqs_message (queue_id, seq): one row per message; `visible_at` (epoch ms) is when it can be
//    received next (send time + delay, or the end of its visibility timeout); indexed by
//    (queue_id, visible_at) so a receive reads only visible rows.
//  - sqs_dedup (queue_id, dedup_key): FIFO deduplication ids, kept 5 minutes.
//  - sqs_receive_attempt (queue_id, attempt_id): FIFO ReceiveRequestAttemptId results, 5 minutes.
// Every change is one Store::Write, so an acknowledged send, receive, delete or visibility change
// is durable before the response.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "services/sqs/queue_store.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::sqs {

struct MessageRow;  // one sqs_message row (message_store.cc)

// A message ready to enqueue: validated and digested, independent of the queue.
struct NewMessage {
  std::string id;
  std::string body;
  std::string md5_body;
  std::string attrs;      // MessageAttributes as JSON, "" if none
  std::string md5_attrs;  // "" if none
  std::string sys_attrs;  // {"AWSTraceHeader": "..."} as JSON, "" if none
  std::string md5_sys;    // MD5OfMessageSystemAttributes, "" if none
  int64_t attrs_size = 0;
  std::optional<int64_t> delay_seconds;
  std::optional<std::string> group_id;
  std::optional<std::string> dedup_id;
  std::string sender_id;
};

// What ReceiveMessage asks for.
struct ReceiveRequest {
  QueueRef ref;
  int64_t max_messages = 1;
  std::optional<int64_t> visibility_timeout;
  std::vector<std::string> system_attribute_names;   // AttributeNames + MessageSystemAttributeNames
  std::vector<std::string> message_attribute_names;  // MessageAttributeNames
  std::string attempt_id;                            // ReceiveRequestAttemptId (FIFO)
};

// One receive attempt's result.
struct ReceiveOutcome {
  nlohmann::json messages = nlohmann::json::array();  // Message shapes, ready to return
  int64_t receive_wait_seconds = 0;                   // the queue's ReceiveMessageWaitTimeSeconds
  int64_t next_visible_ms = 0;  // earliest time a hidden message becomes visible; 0 if none
};

class MessageStore {
 public:
  // `notify(key, n)` is called after up to `n` messages may have become receivable on the queue
  // with long-poll key `key` (sends, visibility set to 0, redrives); it must not block.
  MessageStore(store::Store& store, std::function<void(const std::string&, size_t)> notify);

  static std::vector<store::Migration> Migrations();

  // Seeds the sequence counter from the store; call once after migrations.
  Status Start();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  // These answer through `done` once their write is durable, without holding the calling thread;
  // `ctx` and `in` stay valid until then (wire::AsyncOperationHandler).
  void SendMessage(const Ctx& ctx, const Json& in, wire::Done done);
  void SendMessageBatch(const Ctx& ctx, const Json& in, wire::Done done);
  void DeleteMessage(const Ctx& ctx, const Json& in, wire::Done done);
  void DeleteMessageBatch(const Ctx& ctx, const Json& in, wire::Done done);
  Result<Json> ChangeMessageVisibility(const Ctx& ctx, const Json& in);
  Result<Json> ChangeMessageVisibilityBatch(const Ctx& ctx, const Json& in);

  // Checks ReceiveMessage's input; on success `out` describes the request.
  static Status ParseReceive(const Ctx& ctx, const Json& in, ReceiveRequest* out,
                             std::optional<int64_t>* wait_seconds);
  // One receive attempt at `now_ms`: makes up to max_messages visible messages in flight (moving
  // those past maxReceiveCount to the dead-letter queue, dropping expired ones).
  // Errors: NonExistentQueue, store errors.
  Result<ReceiveOutcome> ReceiveOnce(const ReceiveRequest& req, int64_t now_ms);
  // The same without waiting for the disk: `then` gets the outcome on a store thread (or at once,
  // on this one, where receives must be serialised: PostgreSQL).
  void ReceiveOnceAsync(const ReceiveRequest& req, int64_t now_ms,
                        std::function<void(Result<ReceiveOutcome>)> then);

  // In-process send (SNS → SQS): `message_attributes` in the SendMessage MessageAttributes shape
  // (blobs base64), `group_id` / `dedup_id` empty when not used. Returns the message id (the
  // original one for a FIFO duplicate). Errors: QueueDoesNotExist for an unknown or malformed
  // ARN, the validation errors of SendMessage.
  Result<std::string> SendToQueue(const QueueRef& ref, const std::string& body,
                                  const Json& message_attributes, const std::string& group_id,
                                  const std::string& dedup_id, const std::string& sender_id,
                                  int64_t now_ms);

  // Moves up to `limit` visible messages of dead-letter queue `source` to `destination` (or, if
  // null, to the queue each came from) at `now_ms`. Returns how many moved; fails with
  // NonExistentQueue when a destination is gone (nothing of that message changes then).
  Result<int64_t> Redrive(const QueueRef& source, const std::optional<QueueRef>& destination,
                          int64_t limit, int64_t now_ms);
  // Visible messages of `ref` (for ApproximateNumberOfMessagesToMove).
  Result<int64_t> CountVisible(const QueueRef& ref, int64_t now_ms);

  // Deletes messages past their queue's retention period and expired FIFO bookkeeping.
  Status Sweep(int64_t now_ms);

 private:
  struct SendOutcome {
    std::string message_id;
    std::string sequence_number;  // FIFO only
  };
  // A batch operation's entries, as its response lists them.
  struct BatchResult {
    Json successful = Json::array();
    Json failed = Json::array();
    Json ToJson() {
      Json out = Json::object();
      if (!successful.empty()) out["Successful"] = std::move(successful);
      if (!failed.empty()) out["Failed"] = std::move(failed);
      return out;
    }
  };
  // Runs `body` as a durable write without waiting for it; then answers with `answer()`, or with
  // the write's error.
  void WriteThen(std::function<Status(store::Tx&)> body, std::function<Result<Json>()> answer,
                 wire::Done done);
  struct Receive;
  Status ReceiveBody(store::Tx& tx, Receive& r);
  ReceiveOutcome FinishReceive(Receive& r);
  // Validates a SendMessage input or batch entry (without the queue).
  static Result<NewMessage> Prepare(const Json& entry, const std::string& sender_id);
  // Enqueues `m` on `q` inside `tx`; with `batch`, the row to insert is appended there instead
  // (the caller inserts the batch with one statement). Validation errors (size, FIFO rules)
  // leave `tx` untouched.
  Result<SendOutcome> Enqueue(store::Tx& tx, const Queue& q, const NewMessage& m, int64_t now_ms,
                              std::vector<MessageRow>* batch);
  int64_t NextSeq(int64_t now_ms);

  store::Store& store_;
  std::function<void(const std::string&, size_t)> notify_;
  std::atomic<int64_t> last_seq_{0};
  // PostgreSQL runs writes SERIALIZABLE: concurrent receives of one queue would conflict and
  // retry, so this process runs one receive per queue (stripe) at a time there.
  const bool serialize_receives_;
  std::array<std::mutex, 64> receive_locks_;
};

}  // namespace gc::sqs
