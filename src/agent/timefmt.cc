#include "agent/timefmt.h"

#include <fmt/format.h>

#include <ctime>

namespace gc::agent {
namespace {

std::tm Utc(int64_t epoch_millis) {
  int64_t secs = epoch_millis / 1000;
  if (epoch_millis < 0 && epoch_millis % 1000 != 0) --secs;
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

}  // namespace

std::string FormatIsoMillis(int64_t epoch_millis) {
  const std::tm tm = Utc(epoch_millis);
  const int64_t ms = ((epoch_millis % 1000) + 1000) % 1000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

std::string FormatAmzDate(int64_t epoch_millis) {
  const std::tm tm = Utc(epoch_millis);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

double EpochSeconds(int64_t epoch_millis) { return static_cast<double>(epoch_millis) / 1000.0; }

}  // namespace gc::agent
