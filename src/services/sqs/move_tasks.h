// MoveTasks: StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask — moving the
// messages of a dead-letter queue back to the queues they came from (or to a given destination),
// optionally at most MaxNumberOfMessagesPerSecond. A running task advances in ticks on the
// timer queue (the work of a tick runs on the worker pool); its state is in the store, so a
// restart resumes it. Thread-safe.
//
// Table: sqs_move_task (one row per task, kept after it ends).
#pragma once

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/timer_queue.h"
#include "services/sqs/long_poll.h"
#include "services/sqs/message_store.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::sqs {

class MoveTasks {
 public:
  MoveTasks(store::Store& store, MessageStore& messages, const Clock& clock, TimerQueue& timers,
            WorkerPool& pool);

  static std::vector<store::Migration> Migrations();

  // Resumes the tasks that were running when the process stopped. Call after migrations.
  Status Start();
  // Stops scheduling ticks (tasks stay RUNNING in the store and resume at the next Start).
  void Shutdown();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> StartMessageMoveTask(const Ctx& ctx, const Json& in);
  Result<Json> ListMessageMoveTasks(const Ctx& ctx, const Json& in);
  Result<Json> CancelMessageMoveTask(const Ctx& ctx, const Json& in);

 private:
  void ScheduleTick(const std::string& task_id, int64_t delay_ms);
  void Tick(const std::string& task_id);

  store::Store& store_;
  MessageStore& messages_;
  const Clock& clock_;
  TimerQueue& timers_;
  WorkerPool& pool_;
  std::atomic<bool> stopping_{false};
};

}  // namespace gc::sqs
