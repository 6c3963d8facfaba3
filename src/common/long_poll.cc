#include "common/long_poll.h"

#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>

namespace gc {

LongPoll::LongPoll(TimerQueue& timers) : timers_(timers) {}

uint64_t LongPoll::Generation(const std::string& key) {
  std::lock_guard lock(mu_);
  return generations_[Bucket(key)];
}

void LongPoll::Park(const std::string& key, uint64_t seen, int64_t wake_in_ms, Wake wake) {
  std::unique_lock lock(mu_);
  if (shutdown_ || generations_[Bucket(key)] != seen) {
    bool shutting_down = shutdown_;
    lock.unlock();
    wake(shutting_down);
    return;
  }
  auto w = std::make_shared<Waiter>();
  w->id = next_id_++;
  w->wake = std::move(wake);
  // The timer callback takes mu_; TimerQueue runs callbacks without its own lock held, so taking
  // the timer queue's lock here (inside mu_) cannot deadlock.
  w->timer = timers_.Schedule(std::max<int64_t>(wake_in_ms, 0),
                              [this, key, id = w->id] { OnTimer(key, id); });
  waiters_[key].push_back(std::move(w));
}

void LongPoll::OnTimer(const std::string& key, uint64_t id) {
  std::shared_ptr<Waiter> found;
  {
    std::lock_guard lock(mu_);
    auto it = waiters_.find(key);
    if (it == waiters_.end()) return;  // already woken by Notify or Shutdown
    auto& waiters = it->second;
    auto w = std::find_if(waiters.begin(), waiters.end(),
                          [&](const std::shared_ptr<Waiter>& x) { return x->id == id; });
    if (w == waiters.end()) return;
    found = std::move(*w);
    waiters.erase(w);
    if (waiters.empty()) waiters_.erase(it);
  }
  found->wake(false);
}

void LongPoll::Notify(const std::string& key, size_t n) {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    ++generations_[Bucket(key)];
    auto it = waiters_.find(key);
    if (it == waiters_.end()) return;
    auto& waiters = it->second;
    while (n > 0 && !waiters.empty()) {
      woken.push_back(std::move(waiters.front()));
      waiters.pop_front();
      --n;
    }
    if (waiters.empty()) waiters_.erase(it);
  }
  for (auto& w : woken) {
    timers_.Cancel(w->timer);
    w->wake(false);
  }
}

void LongPoll::Shutdown() {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    for (auto& [key, waiters] : waiters_) {
      for (auto& w : waiters) woken.push_back(std::move(w));
    }
    waiters_.clear();
  }
  for (auto& w : woken) {
    timers_.Cancel(w->timer);
    w->wake(true);
  }
}

size_t LongPoll::Parked() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, waiters] : waiters_) n += waiters.size();
  return n;
}

}  // namespace gc
