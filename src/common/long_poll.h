// Long polling without blocked threads (SQS ReceiveMessage, ec2messages GetMessages). A receive
// that finds nothing parks a callback on its key (a queue, a node); it is woken when a message
// may have arrived (Notify), when its timer fires (the wait deadline or the next delayed or
// in-flight message becoming visible), or at shutdown. The callback runs on the timer or
// notifier thread: it should only hand the receive to a WorkerPool. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/timer_queue.h"


namespace gc {


class LongPoll {
 public:
  // Called once per Park: `shutting_down` is true when woken by Shutdown (answer at once).
  using Wake = std::function<void(bool shutting_down)>;

  explicit LongPoll(TimerQueue& timers);

  // The queue's wake-up generation: read it before a receive attempt and pass it to Park, so a
  // Notify between the attempt and the Park is not missed. (Generations live in a fixed set of
  // hash buckets: keys that share one only cause a spare retry.)
  uint64_t Generation(const std::string& key);

  // Parks `wake` until Notify(key), `wake_in_ms` elapses or Shutdown. Calls it at once (without
  // parking) if the generation moved past `seen` or after Shutdown.
  void Park(const std::string& key, uint64_t seen, int64_t wake_in_ms, Wake wake);

  // Wakes up to `n` of the queue's parked callbacks, oldest first.
  void Notify(const std::string& key, size_t n);

  // Wakes every parked callback with shutting_down = true; later Parks wake at once likewise.
  void Shutdown();

  // Parked callbacks (for tests and diagnostics).
  size_t Parked();

 private:
  struct Waiter {
    uint64_t id = 0;
    Wake wake;
    TimerQueue::Id timer = 0;
  };
  static constexpr size_t kBuckets = 4096;
  static size_t Bucket(const std::string& key) { return std::hash<std::string>{}(key) % kBuckets; }
  void OnTimer(const std::string& key, uint64_t id);

  TimerQueue& timers_;
  std::mutex mu_;
  std::vector<uint64_t> generations_ = std::vector<uint64_t>(kBuckets, 0);  // GUARDED_BY(mu_)
  // Parked callbacks by queue key, oldest first; a key without waiters has no entry.
  using WaiterList = std::deque<std::shared_ptr<Waiter>>;
  std::unordered_map<std::string, WaiterList> waiters_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;                                 // GUARDED_BY(mu_)
  bool shutdown_ = false;                                // GUARDED_BY(mu_)
};

}  // namespace gc
