#include "common/timer_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace gc {
namespace {

TEST(TimerQueueTest, RunsInDueOrder) {
  TimerQueue q;
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> done{0};
  for (int i : {3, 1, 2}) {
    q.Schedule(i * 20, [&, i] {
      std::lock_guard lock(mu);
      order.push_back(i);
      ++done;
    });
  }
  for (int i = 0; i < 200 && done < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueueTest, CancelledTimerDoesNotRun) {
  TimerQueue q;
  std::atomic<bool> ran{false};
  auto id = q.Schedule(30, [&] { ran = true; });
  EXPECT_TRUE(q.Cancel(id));
  EXPECT_FALSE(q.Cancel(id));
  std::atomic<bool> later{false};
  q.Schedule(60, [&] { later = true; });
  for (int i = 0; i < 200 && !later; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(later);
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace gc
