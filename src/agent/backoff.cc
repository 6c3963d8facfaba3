#include "agent/backoff.h"

#include <algorithm>

namespace gc::agent {

Backoff::Backoff(int64_t initial_millis, int64_t max_millis, uint64_t seed)
    : initial_(std::max<int64_t>(1, initial_millis)),
      max_(std::max(initial_millis, max_millis)),
      rng_(static_cast<std::minstd_rand::result_type>(seed != 0 ? seed : std::random_device{}())) {}

int64_t Backoff::Next() {
  int64_t base = initial_;
  for (int i = 0; i < attempts_ && base < max_; ++i) base *= 2;
  base = std::min(base, max_);
  if (attempts_ < 62) ++attempts_;
  const int64_t jitter = base / 4 > 0 ? static_cast<int64_t>(rng_() % (base / 4 + 1)) : 0;
  return base - jitter;
}

}  // namespace gc::agent
