// Backoff: exponential retry delays with jitter, capped (1 s, 2 s, 4 s … 30 s by default; each
// shortened by up to a quarter at random, so a fleet does not retry in step). Thread-compatible.
#pragma once

#include <cstdint>
#include <random>

namespace gc::agent {

class Backoff {
 public:
  Backoff(int64_t initial_millis = 1000, int64_t max_millis = 30000, uint64_t seed = 0);
  // The delay before the next attempt; grows with each call until Reset.
  int64_t Next();
  void Reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  int64_t initial_;
  int64_t max_;
  int attempts_ = 0;
  std::minstd_rand rng_;
};

}  // namespace gc::agent
