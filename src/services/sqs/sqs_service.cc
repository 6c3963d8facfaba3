#include "services/sqs/sqs_service.h"

#include <chrono>
#include <cstdint>

#include "services/sqs/queue_attributes.h"
#include "services/sqs/sqs_errors.h"
#include "wire/model.h"

namespace gc::sqs {
namespace {

using Json = nlohmann::json;

// Threads that run store writes (each waits for a group commit) and long-poll retries: enough
// for many commits to be in flight at once, so that group commits stay large under load.
constexpr int kWorkerThreads = 32;
constexpr int64_t kSweepIntervalMs = 60 * 1000;
// With PostgreSQL, sends through another replica do not wake this process's long polls: parked
// polls look again at least this often.
constexpr int64_t kCrossProcessPollMs = 1000;

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// MissingParameter for required members, at any depth (model validation would answer
// ValidationException). Batch "Entries" are left to the handlers, which answer
// EmptyBatchRequest as SQS does.
Status CheckRequired(const model::Shape& shape, const Json& value, bool top) {
  switch (shape.type) {
    case model::ShapeType::kStructure:
      if (!value.is_object()) return Ok{};
      for (const model::Member& m : shape.members) {
        auto it = value.find(m.name);
        if (it == value.end() || it->is_null()) {
          if (m.required && !(top && m.name == "Entries")) {
            return errors::MissingParameter(m.name);
          }
          continue;
        }
        if (Status st = CheckRequired(*m.shape, *it, false); !st.ok()) return st;
      }
      return Ok{};
    case model::ShapeType::kList:
      if (!value.is_array()) return Ok{};
      for (const auto& item : value) {
        if (Status st = CheckRequired(*shape.member.shape, item, false); !st.ok()) return st;
      }
      return Ok{};
    case model::ShapeType::kMap:
      if (!value.is_object()) return Ok{};
      for (const auto& item : value) {
        if (Status st = CheckRequired(*shape.value.shape, item, false); !st.ok()) return st;
      }
      return Ok{};
    default:
      return Ok{};
  }
}

// MessageSystemAttributes keys: only AWSTraceHeader can be sent.
Status CheckSystemAttributeNames(const Json& entry) {
  auto it = entry.find("MessageSystemAttributes");
  if (it == entry.end() || !it->is_object()) return Ok{};
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    if (kv.key() != "AWSTraceHeader") {
      return errors::InvalidParameterValue(
          fmt::format("Message system attribute name '{}' is invalid.", kv.key()));
    }
  }
  return Ok{};
}

template <class Pred>
Status CheckNames(const Json& in, const char* member, Pred known) {
  auto it = in.find(member);
  if (it == in.end() || !it->is_array()) return Ok{};
  for (const auto& v : *it) {
    if (v.is_string() && !known(v.get<std::string>())) {
      return errors::UnknownAttribute(v.get<std::string>());
    }
  }
  return Ok{};
}

}  // namespace

struct SqsService::Poll {
  ReceiveRequest req;
  std::optional<int64_t> wait_seconds;
  std::string key;
  int64_t started_steady_ms = 0;
  wire::Done done;
};

SqsService::SqsService(store::Store& store, const Clock& clock)
    : store_(store),
      clock_(clock),
      model_(&model::Models::Get("sqs")),
      pool_(std::make_unique<WorkerPool>(kWorkerThreads, "sqs-worker")),
      timers_(std::make_unique<TimerQueue>()),
      long_poll_(*timers_),
      queues_(store, [this](const std::string& key) { long_poll_.Notify(key, SIZE_MAX); }),
      messages_(store, [this](const std::string& key, size_t n) { long_poll_.Notify(key, n); }),
      moves_(store, messages_, clock, *timers_, *pool_),
      cross_process_(store.Backend() == "postgres") {}

SqsService::~SqsService() {
  Shutdown();
  timers_.reset();  // no more ticks or wake-ups are posted
  pool_.reset();    // runs what was posted, then joins
}

std::vector<store::Migration> SqsService::Migrations() {
  std::vector<store::Migration> all = QueueStore::Migrations();
  for (auto& m : MessageStore::Migrations()) all.push_back(std::move(m));
  for (auto& m : MoveTasks::Migrations()) all.push_back(std::move(m));
  return all;
}

Status SqsService::Start() {
  if (Status st = messages_.Start(); !st.ok()) return st;
  if (Status st = moves_.Start(); !st.ok()) return st;
  ScheduleSweep(0);
  return Ok{};
}

void SqsService::Shutdown() {
  if (stopping_.exchange(true)) return;
  moves_.Shutdown();
  long_poll_.Shutdown();
}

void SqsService::ScheduleSweep(int64_t delay_ms) {
  if (stopping_) return;
  timers_->Schedule(delay_ms, [this] {
    pool_->Post([this] {
      if (stopping_) return;
      (void)messages_.Sweep(clock_.NowMillis());  // a failed sweep is retried next interval
      ScheduleSweep(kSweepIntervalMs);
    });
  });
}

Result<std::string> SqsService::SendToQueueArn(const std::string& queue_arn,
                                               const std::string& body,
                                               const nlohmann::json& message_attributes,
                                               const std::string& message_group_id,
                                               const std::string& dedup_id) {
  auto ref = ParseQueueArn(queue_arn);
  if (!ref) return errors::QueueDoesNotExist();
  return messages_.SendToQueue(*ref, body, message_attributes, message_group_id, dedup_id,
                               ref->account, clock_.NowMillis());
}

void SqsService::ReceiveMessage(const wire::CallContext& ctx, const Json& in, wire::Done done) {
  auto poll = std::make_shared<Poll>();
  if (Status st = MessageStore::ParseReceive(ctx, in, &poll->req, &poll->wait_seconds); !st.ok()) {
    return done(st.take_error());
  }
  poll->key = QueueKey(poll->req.ref);
  poll->started_steady_ms = SteadyMillis();
  poll->done = std::move(done);
  const int64_t now_ms = ctx.now_millis;
  // On SQLite an attempt does not wait for the disk and starts here; PostgreSQL's blocks.
  if (!cross_process_) return Attempt(poll, now_ms);
  pool_->Post([this, poll, now_ms] { Attempt(poll, now_ms); });
}

void SqsService::Attempt(const std::shared_ptr<Poll>& poll, int64_t now_ms) {
  const uint64_t generation = long_poll_.Generation(poll->key);
  try {
    messages_.ReceiveOnceAsync(poll->req, now_ms,
                               [this, poll, generation](Result<ReceiveOutcome> out) {
                                 AfterAttempt(poll, generation, std::move(out));
                               });
  } catch (const std::exception& e) {  // answer rather than leave the request hanging
    fmt::print(stderr, "internal error in sqs.ReceiveMessage: {}\n", e.what());
    poll->done(AwsError::Internal("An internal error occurred."));
  }
}

void SqsService::AfterAttempt(const std::shared_ptr<Poll>& poll, uint64_t generation,
                              Result<ReceiveOutcome> out) {
  if (!out.ok()) return poll->done(out.take_error());
  if (!out->messages.empty()) return poll->done(Json{{"Messages", std::move(out->messages)}});
  const int64_t wait_ms = poll->wait_seconds.value_or(out->receive_wait_seconds) * 1000;
  const int64_t remaining = poll->started_steady_ms + wait_ms - SteadyMillis();
  if (remaining <= 0 || stopping_) return poll->done(Json::object());
  int64_t wake_in = remaining;
  if (out->next_visible_ms > 0) {
    wake_in = std::min(wake_in, out->next_visible_ms - clock_.NowMillis() + 1);
  }
  if (cross_process_) wake_in = std::min(wake_in, kCrossProcessPollMs);
  long_poll_.Park(poll->key, generation, wake_in, [this, poll](bool shutting_down) {
    if (shutting_down) return poll->done(Json::object());
    pool_->Post([this, poll] { Attempt(poll, clock_.NowMillis()); });
  });
}

Status SqsService::PreValidate(const std::string& operation, const Json& in) const {
  const model::Operation* op = model_->FindOperation(operation);
  if (op != nullptr && op->input != nullptr) {
    if (Status st = CheckRequired(*op->input, in, /*top=*/true); !st.ok()) return st;
  }
  if (operation == "CreateQueue" || operation == "SetQueueAttributes") {
    auto it = in.find("Attributes");
    if (it != in.end() && it->is_object()) {
      for (auto kv = it->begin(); kv != it->end(); ++kv) {
        if (!IsQueueAttributeName(kv.key())) return errors::UnknownAttribute(kv.key());
      }
    }
  } else if (operation == "GetQueueAttributes") {
    return CheckNames(in, "AttributeNames",
                      [](const std::string& n) { return IsQueueAttributeName(n); });
  } else if (operation == "ReceiveMessage") {
    // AttributeNames takes message system attribute names too (its model enum is the queue's).
    if (Status st = CheckNames(in, "AttributeNames",
                               [](const std::string& n) {
                                 return IsMessageSystemAttributeName(n) || IsQueueAttributeName(n);
                               });
        !st.ok()) {
      return st;
    }
    return CheckNames(in, "MessageSystemAttributeNames",
                      [](const std::string& n) { return IsMessageSystemAttributeName(n); });
  } else if (operation == "SendMessage") {
    return CheckSystemAttributeNames(in);
  } else if (operation == "SendMessageBatch") {
    auto it = in.find("Entries");
    if (it != in.end() && it->is_array()) {
      for (const auto& e : *it) {
        if (!e.is_object()) continue;
        if (Status st = CheckSystemAttributeNames(e); !st.ok()) return st;
      }
    }
  }
  return Ok{};
}

wire::ServiceDef SqsService::Definition() {
  wire::ServiceDef def;
  def.name = "sqs";
  def.model = model_;
  auto bind = [](auto* self, auto method) -> wire::OperationHandler {
    return [self, method](const wire::CallContext& ctx, const nlohmann::json& in) {
      return (self->*method)(ctx, in);
    };
  };
  auto bind_async = [](auto* self, auto method) -> wire::AsyncOperationHandler {
    return [self, method](const wire::CallContext& ctx, const nlohmann::json& in,
                          wire::Done done) { (self->*method)(ctx, in, std::move(done)); };
  };
  QueueStore* q = &queues_;
  MessageStore* m = &messages_;
  MoveTasks* t = &moves_;
  // Sends and deletes answer from their group commit's completion (MessageStore::WriteThen);
  // visibility changes wait for theirs on the service's pool, so the event loops keep serving.
  auto offload = [this](wire::OperationHandler handler) -> wire::AsyncOperationHandler {
    return [this, handler = std::move(handler)](const wire::CallContext& ctx,
                                                const nlohmann::json& in, wire::Done done) {
      pool_->Post([&ctx, &in, handler, done = std::move(done)] {
        Result<Json> out = AwsError::Internal("An internal error occurred.");
        try {
          out = handler(ctx, in);
        } catch (const std::exception& e) {
          fmt::print(stderr, "internal error in sqs: {}\n", e.what());
        }
        done(std::move(out));
      });
    };
  };
  def.operations = {
      {"CreateQueue", bind(q, &QueueStore::CreateQueue)},
      {"GetQueueUrl", bind(q, &QueueStore::GetQueueUrl)},
      {"ListQueues", bind(q, &QueueStore::ListQueues)},
      {"GetQueueAttributes", bind(q, &QueueStore::GetQueueAttributes)},
      {"SetQueueAttributes", bind(q, &QueueStore::SetQueueAttributes)},
      {"DeleteQueue", bind(q, &QueueStore::DeleteQueue)},
      {"PurgeQueue", bind(q, &QueueStore::PurgeQueue)},
      {"TagQueue", bind(q, &QueueStore::TagQueue)},
      {"UntagQueue", bind(q, &QueueStore::UntagQueue)},
      {"ListQueueTags", bind(q, &QueueStore::ListQueueTags)},
      {"AddPermission", bind(q, &QueueStore::AddPermission)},
      {"RemovePermission", bind(q, &QueueStore::RemovePermission)},
      {"ListDeadLetterSourceQueues", bind(q, &QueueStore::ListDeadLetterSourceQueues)},
      {"StartMessageMoveTask", bind(t, &MoveTasks::StartMessageMoveTask)},
      {"ListMessageMoveTasks", bind(t, &MoveTasks::ListMessageMoveTasks)},
      {"CancelMessageMoveTask", bind(t, &MoveTasks::CancelMessageMoveTask)},
  };
  def.async_operations = {
      {"SendMessage", bind_async(m, &MessageStore::SendMessage)},
      {"SendMessageBatch", bind_async(m, &MessageStore::SendMessageBatch)},
      {"DeleteMessage", bind_async(m, &MessageStore::DeleteMessage)},
      {"DeleteMessageBatch", bind_async(m, &MessageStore::DeleteMessageBatch)},
      {"ChangeMessageVisibility", offload(bind(m, &MessageStore::ChangeMessageVisibility))},
      {"ChangeMessageVisibilityBatch",
       offload(bind(m, &MessageStore::ChangeMessageVisibilityBatch))},
  };
  def.async_operations["ReceiveMessage"] = [this](const wire::CallContext& ctx,
                                                  const nlohmann::json& in, wire::Done done) {
    ReceiveMessage(ctx, in, std::move(done));
  };
  def.pre_validate = [this](const std::string& op, const nlohmann::json& in) {
    return PreValidate(op, in);
  };
  def.unvalidated_members["ReceiveMessage"] = {"AttributeNames"};
  def.path_url_member = "QueueUrl";
  // Query codes SQS's JSON model has no exception shape for.
  def.json_error_types = {
      {"InvalidParameterValue", "InvalidParameterValueException"},
      {"MissingParameter", "MissingRequiredParameterException"},
  };
  def.query_error = [](AwsError& err) {
    if (err.code == errors::QueueDoesNotExist().code) {
      err.message = errors::kNonExistentQueueQueryMessage;
    }
    // "The action X is not valid for this endpoint." in SQS's words.
    constexpr std::string_view kGeneric = "web service.";
    if (err.code == "InvalidAction" && err.message.ends_with(kGeneric)) {
      err.message.replace(err.message.size() - kGeneric.size(), kGeneric.size(), "endpoint.");
    }
  };
  return def;
}

}  // namespace gc::sqs
