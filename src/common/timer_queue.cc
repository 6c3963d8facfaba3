#include "common/timer_queue.h"

#include <chrono>

namespace gc {
namespace {

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TimerQueue::TimerQueue() : thread_([this] { Run(); }) {}

TimerQueue::~TimerQueue() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

TimerQueue::Id TimerQueue::Schedule(int64_t delay_ms, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  Id id = next_id_++;
  int64_t due = SteadyMillis() + (delay_ms < 0 ? 0 : delay_ms);
  timers_.emplace(std::make_pair(due, id), std::move(fn));
  due_by_id_[id] = due;
  cv_.notify_all();
  return id;
}

bool TimerQueue::Cancel(Id id) {
  std::lock_guard lock(mu_);
  auto it = due_by_id_.find(id);
  if (it == due_by_id_.end()) return false;
  timers_.erase(std::make_pair(it->second, id));
  due_by_id_.erase(it);
  return true;
}

void TimerQueue::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (timers_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = timers_.begin();
    int64_t now = SteadyMillis();
    if (first->first.first > now) {
      cv_.wait_for(lock, std::chrono::milliseconds(first->first.first - now));
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    due_by_id_.erase(first->first.second);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace gc
