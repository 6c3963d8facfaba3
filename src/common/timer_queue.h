// TimerQueue: one thread that runs callbacks at their due time (long-poll deadlines, visibility
// timeouts, retries). Thread-safe; callbacks run on the queue's thread and must be short.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace gc {

class TimerQueue {
 public:
  TimerQueue();
  ~TimerQueue();  // cancels what is still pending; runs nothing more
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  using Id = uint64_t;
  // Runs `fn` once, `delay_ms` from now (steady clock). Returns an id for Cancel.
  Id Schedule(int64_t delay_ms, std::function<void()> fn);
  // Returns true if the timer was pending and will not run.
  bool Cancel(Id id);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  // (due steady-clock ms, id) → callback. GUARDED_BY(mu_)
  std::map<std::pair<int64_t, Id>, std::function<void()>> timers_;
  std::map<Id, int64_t> due_by_id_;  // GUARDED_BY(mu_)
  Id next_id_ = 1;                   // GUARDED_BY(mu_)
  bool stop_ = false;                // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace gc
