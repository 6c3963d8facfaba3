#include "services/sqs/move_tasks.h"

#include <fmt/format.h>

#include "common/crypto.h"
#include "services/sqs/request_util.h"
#include "services/sqs/sqs_errors.h"

namespace gc::sqs {
namespace {

using Json = nlohmann::json;
using store::Row;
using store::Tx;
using util::OptInt;
using util::Str;

constexpr int64_t kUnlimitedBatch = 100;  // messages per tick without a rate limit
constexpr int64_t kMaxRate = 500;

constexpr const char* kTaskColumns =
    "task_id, account, region, source_arn, dest_arn, rate, status, started_ms, moved, to_move, "
    "failure";

struct Task {
  std::string id;
  std::string account;
  std::string region;
  std::string source_arn;
  std::string dest_arn;
  int64_t rate = 0;  // 0: no limit
  std::string status;
  int64_t started_ms = 0;
  int64_t moved = 0;
  int64_t to_move = 0;
  std::string failure;
};

Task TaskFromRow(const Row& r) {
  return Task{r.Str(0), r.Str(1), r.Str(2), r.Str(3), r.Str(4), r.Int(5),
              r.Str(6), r.Int(7), r.Int(8), r.Int(9), r.Str(10)};
}

std::string EncodeHandle(const Task& t) {
  nlohmann::ordered_json doc;
  doc["taskId"] = t.id;
  doc["sourceArn"] = t.source_arn;
  return crypto::Base64Encode(doc.dump());
}

AwsError SourceNotFound() {
  return errors::ResourceNotFound(
      "The resource that you specified for the SourceArn parameter doesn't exist.");
}

// The queue an ARN names, if it is in the caller's account and region.
std::optional<QueueRef> CallerQueue(const wire::CallContext& ctx, const std::string& arn) {
  auto ref = ParseQueueArn(arn);
  if (!ref || ref->account != ctx.account_id || ref->region != ctx.region) return std::nullopt;
  return ref;
}

Result<bool> QueueExists(Tx& tx, const std::optional<QueueRef>& ref) {
  if (!ref) return false;
  auto q = LoadQueue(tx, *ref);
  if (!q.ok()) return q.take_error();
  return q->has_value();
}

}  // namespace

MoveTasks::MoveTasks(store::Store& store, MessageStore& messages, const Clock& clock,
                     TimerQueue& timers, WorkerPool& pool)
    : store_(store), messages_(messages), clock_(clock), timers_(timers), pool_(pool) {}

std::vector<store::Migration> MoveTasks::Migrations() {
  return {{"sqs.move_tasks", 1,
           "CREATE TABLE sqs_move_task ("
           " task_id TEXT NOT NULL PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
           " source_arn TEXT NOT NULL, dest_arn TEXT NOT NULL, rate BIGINT NOT NULL,"
           " status TEXT NOT NULL, started_ms BIGINT NOT NULL, moved BIGINT NOT NULL,"
           " to_move BIGINT NOT NULL, failure TEXT NOT NULL);"
           "CREATE INDEX sqs_move_task_source ON sqs_move_task (source_arn, started_ms)"}};
}

Status MoveTasks::Start() {
  std::vector<std::string> running;
  Status st = store_.Read([&](Tx& tx) -> Status {
    running.clear();
    auto rows = tx.Query("SELECT task_id FROM sqs_move_task WHERE status = 'RUNNING'");
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) running.push_back(r.Str(0));
    return Ok{};
  });
  if (!st.ok()) return st;
  for (const auto& id : running) ScheduleTick(id, 0);
  return Ok{};
}

void MoveTasks::Shutdown() { stopping_ = true; }

void MoveTasks::ScheduleTick(const std::string& task_id, int64_t delay_ms) {
  if (stopping_) return;
  timers_.Schedule(delay_ms, [this, task_id] { pool_.Post([this, task_id] { Tick(task_id); }); });
}

void MoveTasks::Tick(const std::string& task_id) {
  if (stopping_) return;
  std::optional<Task> task;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        fmt::format("SELECT {} FROM sqs_move_task WHERE task_id = ?", kTaskColumns), {task_id});
    if (!rows.ok()) return rows.take_error();
    if (!rows->empty()) task = TaskFromRow(rows->front());
    return Ok{};
  });
  if (!st.ok()) {
    ScheduleTick(task_id, 1000);  // the store is unwell; try again later
    return;
  }
  if (!task || task->status != "RUNNING") return;
  auto source = ParseQueueArn(task->source_arn);
  std::optional<QueueRef> dest;
  if (!task->dest_arn.empty()) dest = ParseQueueArn(task->dest_arn);
  const int64_t batch = task->rate > 0 ? task->rate : kUnlimitedBatch;
  Result<int64_t> moved = source ? messages_.Redrive(*source, dest, batch, clock_.NowMillis())
                                 : Result<int64_t>(errors::QueueDoesNotExist());
  std::string status = "RUNNING";
  std::string failure;
  int64_t n = 0;
  if (!moved.ok()) {
    status = "FAILED";
    failure = moved.error().code;
  } else {
    n = *moved;
    if (n < batch) status = "COMPLETED";
  }
  st = store_.Write([&](Tx& tx) -> Status {
    // A cancelled task keeps CANCELLED; the messages moved by this tick still count.
    auto r = tx.Exec(
        "UPDATE sqs_move_task SET moved = moved + ?, status = CASE WHEN status = 'RUNNING' THEN "
        "? ELSE status END, failure = CASE WHEN status = 'RUNNING' THEN ? ELSE failure END "
        "WHERE task_id = ?",
        {n, status, failure, task_id});
    if (!r.ok()) return r.take_error();
    return Ok{};
  });
  if (!st.ok() || status == "RUNNING") ScheduleTick(task_id, task->rate > 0 ? 1000 : 0);
}

Result<Json> MoveTasks::StartMessageMoveTask(const Ctx& ctx, const Json& in) {
  const std::string source_arn = Str(in, "SourceArn");
  const std::string dest_arn = Str(in, "DestinationArn");
  if (!ParseQueueArn(source_arn)) {
    return errors::InvalidParameterValue(
        "You must use this format to specify the SourceArn: "
        "arn:<partition>:<service>:<region>:<account-id>:<resource-id>");
  }
  auto rate = OptInt(in, "MaxNumberOfMessagesPerSecond");
  if (rate && (*rate < 1 || *rate > kMaxRate)) {
    return errors::InvalidParameter("MaxNumberOfMessagesPerSecond", std::to_string(*rate),
                                    "You must enter a number that's between 1 and 500.");
  }
  auto source = CallerQueue(ctx, source_arn);
  auto to_move = source ? messages_.CountVisible(*source, ctx.now_millis)
                        : Result<int64_t>(errors::QueueDoesNotExist());
  if (!to_move.ok()) {
    if (to_move.error().code == errors::QueueDoesNotExist().code) return SourceNotFound();
    return to_move.take_error();
  }
  Task task;
  task.id = crypto::Uuid4();
  task.account = ctx.account_id;
  task.region = ctx.region;
  task.source_arn = source_arn;
  task.dest_arn = dest_arn;
  task.rate = rate.value_or(0);
  task.status = "RUNNING";
  task.started_ms = ctx.now_millis;
  task.to_move = *to_move;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto exists = QueueExists(tx, source);
    if (!exists.ok()) return exists.take_error();
    if (!*exists) return SourceNotFound();
    auto sources = tx.Query("SELECT 1 FROM sqs_queue WHERE dlq_arn = ? LIMIT 1", {source_arn});
    if (!sources.ok()) return sources.take_error();
    if (sources->empty()) {
      return errors::InvalidParameterValue(
          "Source queue must be configured as a Dead Letter "
          "Queue.");
    }
    if (!dest_arn.empty()) {
      auto dest = QueueExists(tx, CallerQueue(ctx, dest_arn));
      if (!dest.ok()) return dest.take_error();
      if (!*dest) {
        return errors::ResourceNotFound(
            "The resource that you specified for the DestinationArn parameter doesn't exist.");
      }
    }
    auto active =
        tx.Query("SELECT 1 FROM sqs_move_task WHERE source_arn = ? AND status = 'RUNNING' LIMIT 1",
                 {source_arn});
    if (!active.ok()) return active.take_error();
    if (!active->empty()) {
      return errors::InvalidParameterValue(
          "There is already a task running. Only one active task is allowed for a source queue "
          "arn at a given time.");
    }
    auto r = tx.Exec(fmt::format("INSERT INTO sqs_move_task ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                                 "?, ?, ?)",
                                 kTaskColumns),
                     {task.id, task.account, task.region, task.source_arn, task.dest_arn, task.rate,
                      task.status, task.started_ms, task.moved, task.to_move, task.failure});
    if (!r.ok()) return r.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  ScheduleTick(task.id, 0);
  return Json{{"TaskHandle", EncodeHandle(task)}};
}

Result<Json> MoveTasks::ListMessageMoveTasks(const Ctx& ctx, const Json& in) {
  const std::string source_arn = Str(in, "SourceArn");
  if (!ParseQueueArn(source_arn)) {
    return errors::InvalidParameterValue(
        "You must use this format to specify the SourceArn: "
        "arn:<partition>:<service>:<region>:<account-id>:<resource-id>");
  }
  const int64_t max = OptInt(in, "MaxResults").value_or(1);
  if (max < 1 || max > 10) {
    return errors::InvalidParameter("MaxResults", std::to_string(max),
                                    "You must enter a number that's between 1 and 10.");
  }
  auto source = CallerQueue(ctx, source_arn);
  Json results = Json::array();
  Status st = store_.Read([&](Tx& tx) -> Status {
    results = Json::array();
    auto exists = QueueExists(tx, source);
    if (!exists.ok()) return exists.take_error();
    if (!*exists) return SourceNotFound();
    auto rows = tx.Query(fmt::format("SELECT {} FROM sqs_move_task WHERE source_arn = ? AND "
                                     "account = ? AND region = ? ORDER BY started_ms DESC, "
                                     "task_id LIMIT ?",
                                     kTaskColumns),
                         {source_arn, ctx.account_id, ctx.region, max});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      Task t = TaskFromRow(r);
      Json e = {{"Status", t.status},
                {"SourceArn", t.source_arn},
                {"ApproximateNumberOfMessagesMoved", t.moved},
                {"ApproximateNumberOfMessagesToMove", t.to_move},
                {"StartedTimestamp", t.started_ms}};
      if (t.status == "RUNNING") e["TaskHandle"] = EncodeHandle(t);
      if (!t.dest_arn.empty()) e["DestinationArn"] = t.dest_arn;
      if (t.rate > 0) e["MaxNumberOfMessagesPerSecond"] = t.rate;
      if (!t.failure.empty()) e["FailureReason"] = t.failure;
      results.push_back(std::move(e));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"Results", std::move(results)}};
}

Result<Json> MoveTasks::CancelMessageMoveTask(const Ctx& ctx, const Json& in) {
  const std::string handle = Str(in, "TaskHandle");
  auto raw = crypto::Base64Decode(handle);
  Json doc = raw ? Json::parse(*raw, nullptr, false) : Json();
  if (!doc.is_object() || !doc.value("taskId", Json()).is_string() ||
      !doc.value("sourceArn", Json()).is_string()) {
    return errors::InvalidParameterValue("Value for parameter TaskHandle is invalid.");
  }
  const std::string task_id = doc["taskId"].get<std::string>();
  auto source = CallerQueue(ctx, doc["sourceArn"].get<std::string>());
  int64_t moved = 0;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto exists = QueueExists(tx, source);
    if (!exists.ok()) return exists.take_error();
    if (!*exists) return SourceNotFound();
    auto rows = tx.Query(fmt::format("SELECT {} FROM sqs_move_task WHERE task_id = ? AND "
                                     "account = ? AND region = ?",
                                     kTaskColumns),
                         {task_id, ctx.account_id, ctx.region});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return errors::ResourceNotFound("Task does not exist.");
    Task t = TaskFromRow(rows->front());
    if (t.status != "RUNNING") {
      return errors::InvalidParameterValue("Only active tasks can be cancelled.");
    }
    moved = t.moved;
    auto r = tx.Exec("UPDATE sqs_move_task SET status = 'CANCELLED' WHERE task_id = ?", {task_id});
    if (!r.ok()) return r.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"ApproximateNumberOfMessagesMoved", moved}};
}

}  // namespace gc::sqs
