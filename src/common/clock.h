// Clock: the injected time source. SystemClock is real time; FakeClock is settable for tests.
// Both are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace gc {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMillis() const = 0;
  int64_t NowSeconds() const { return NowMillis() / 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Real time moved by an offset that can only grow: the schedule clock of `groundcrewd --dev`,
// which tests advance (POST /_groundcrew/clock) so that scheduled work comes due without
// sleeping. Time still flows, so timeouts measured against it keep working.
class OffsetClock final : public Clock {
 public:
  int64_t NowMillis() const override { return real_.NowMillis() + offset_.load(); }
  void Advance(int64_t millis) {
    if (millis > 0) offset_.fetch_add(millis);
  }
  int64_t offset_millis() const { return offset_.load(); }

 private:
  SystemClock real_;
  std::atomic<int64_t> offset_{0};
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t millis = 0) : now_(millis) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Set(int64_t millis) { now_.store(millis); }
  void Advance(int64_t millis) { now_.fetch_add(millis); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace gc
