// RetryPolicy: the SNS delivery-policy retry phases (see outbox.h).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

#include "delivery/outbox.h"

namespace gc::delivery {
namespace {

// SNS limits for HTTP/S delivery policies.
constexpr int kMaxRetries = 100;
constexpr int kMaxDelaySeconds = 3600;

// Reads an integer field; absent, malformed or non-finite values keep `fallback`.
int ReadInt(const nlohmann::json& obj, const char* key, int fallback, int lo, int hi) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  double v = 0;
  if (it->is_number()) {
    v = it->get<double>();
  } else if (it->is_string()) {  // SNS accepts numbers written as strings too
    const std::string& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size()) return fallback;
  } else {
    return fallback;
  }
  if (!std::isfinite(v)) return fallback;
  return static_cast<int>(std::clamp(v, static_cast<double>(lo), static_cast<double>(hi)));
}

const nlohmann::json* FindRetryPolicy(const nlohmann::json& policy) {
  if (!policy.is_object()) return nullptr;
  // A whole topic DeliveryPolicy: {"http": {"defaultHealthyRetryPolicy": {...}}}.
  const nlohmann::json* node = &policy;
  if (auto http = policy.find("http"); http != policy.end() && http->is_object()) {
    node = &*http;
  }
  for (const char* key : {"healthyRetryPolicy", "defaultHealthyRetryPolicy"}) {
    auto it = node->find(key);
    if (it != node->end() && it->is_object()) return &*it;
  }
  return nullptr;
}

}  // namespace

RetryPolicy RetryPolicy::FromDeliveryPolicy(const nlohmann::json& policy) {
  RetryPolicy p;
  try {
    const nlohmann::json* rp = FindRetryPolicy(policy);
    if (rp == nullptr) return p;
    p.num_retries = ReadInt(*rp, "numRetries", p.num_retries, 0, kMaxRetries);
    p.num_no_delay_retries =
        ReadInt(*rp, "numNoDelayRetries", p.num_no_delay_retries, 0, kMaxRetries);
    p.min_delay_target_s =
        ReadInt(*rp, "minDelayTarget", p.min_delay_target_s, 0, kMaxDelaySeconds);
    p.max_delay_target_s =
        ReadInt(*rp, "maxDelayTarget", p.max_delay_target_s, 0, kMaxDelaySeconds);
    p.num_min_delay_retries =
        ReadInt(*rp, "numMinDelayRetries", p.num_min_delay_retries, 0, kMaxRetries);
    p.num_max_delay_retries =
        ReadInt(*rp, "numMaxDelayRetries", p.num_max_delay_retries, 0, kMaxRetries);
    if (auto it = rp->find("backoffFunction"); it != rp->end() && it->is_string()) {
      std::string f = it->get<std::string>();
      for (char& c : f) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (f == "linear" || f == "arithmetic" || f == "geometric" || f == "exponential") {
        p.backoff_function = f;
      }
    }
    if (p.max_delay_target_s < p.min_delay_target_s) p.max_delay_target_s = p.min_delay_target_s;
  } catch (const std::exception&) {  // nlohmann type errors: keep the defaults
    return RetryPolicy{};
  }
  return p;
}

// The four SNS phases, for retry number `attempt` (1-based):
//   1. immediate: the first num_no_delay_retries retries, no delay;
//   2. pre-backoff: the next num_min_delay_retries, at min_delay_target_s;
//   3. backoff: num_retries minus the other three phases, rising from min to max delay along
//      backoff_function, the last one at max_delay_target_s;
//   4. post-backoff: the last num_max_delay_retries, at max_delay_target_s.
// AWS draws the backoff functions (docs: backoff-graph.png) but does not give formulas; with
// j = 1..n the retry within the backoff phase and span = max - min, we use
//   linear      min + span * j / n
//   arithmetic  min + span * j(j+1) / (n(n+1))        (the increments grow arithmetically)
//   geometric   min * (max / min)^(j / n)             (a constant ratio; min 0 counts as 1 s)
//   exponential min + span * (2^j - 1) / (2^n - 1)    (flat at first, then steep)
int64_t RetryPolicy::DelaySeconds(int attempt) const {
  const int64_t lo = std::clamp(min_delay_target_s, 0, kMaxDelaySeconds);
  const int64_t hi =
      std::clamp(std::max(max_delay_target_s, min_delay_target_s), 0, kMaxDelaySeconds);
  if (attempt < 1) return 0;
  int64_t k = attempt;
  const int64_t no_delay = std::max(0, num_no_delay_retries);
  if (k <= no_delay) return 0;
  k -= no_delay;
  const int64_t at_min = std::max(0, num_min_delay_retries);
  if (k <= at_min) return lo;
  k -= at_min;
  const int64_t n = std::max<int64_t>(
      0, int64_t{num_retries} - no_delay - at_min - std::max(0, num_max_delay_retries));
  if (k > n) return hi;
  const double j = static_cast<double>(k);
  const double nn = static_cast<double>(n);
  const double span = static_cast<double>(hi - lo);
  double delay;
  if (backoff_function == "arithmetic") {
    delay = static_cast<double>(lo) + span * (j * (j + 1)) / (nn * (nn + 1));
  } else if (backoff_function == "geometric") {
    const double base = std::max<double>(1.0, static_cast<double>(lo));
    delay = base * std::pow(static_cast<double>(hi) / base, j / nn);
    if (hi < base) delay = static_cast<double>(hi);
  } else if (backoff_function == "exponential") {
    // 2^j overflows nothing here: n <= 100 and doubles reach 2^1023.
    delay = static_cast<double>(lo) + span * (std::exp2(j) - 1) / (std::exp2(nn) - 1);
  } else {  // linear
    delay = static_cast<double>(lo) + span * j / nn;
  }
  return std::clamp(static_cast<int64_t>(std::llround(delay)), lo, hi);
}

}  // namespace gc::delivery
