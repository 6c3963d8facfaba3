// IANA time zones read from the system's TZif files (RFC 8536, /usr/share/zoneinfo), including
// the POSIX-TZ footer that governs instants after the last listed transition, and the mapping of
// local wall times to instants across daylight-saving changes. A TimeZone is an immutable value:
// thread-safe to share, cheap enough to copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::scheduler {

using Instant = std::chrono::sys_seconds;      // a point in time, UTC, whole seconds
using LocalTime = std::chrono::local_seconds;  // a wall-clock reading in some zone

inline constexpr std::string_view kZoneinfoDir = "/usr/share/zoneinfo";

class TimeZone {
 public:
  // UTC (the zone of State Manager associations); touches no file.
  static TimeZone Utc();

  // Loads the zone `name` ("America/New_York", a link such as "US/Eastern", "UTC") from
  // `zoneinfo_dir`. Names are case-sensitive, as in the IANA database. Errors
  // (ValidationException): a name that is not an IANA zone, including the non-zone entries of
  // the directory ("posixrules", "localtime", "posix/...", "right/..."), or a file that is not
  // TZif version 2 or later. Reads one file; keep the result rather than reloading.
  static Result<TimeZone> Load(std::string_view name, std::string_view zoneinfo_dir = kZoneinfoDir);

  const std::string& name() const { return name_; }

  // The UTC offset in effect at `t` (east of Greenwich positive).
  std::chrono::seconds OffsetAt(Instant t) const;

  // The wall-clock reading at `t`.
  LocalTime ToLocal(Instant t) const { return LocalTime{(t + OffsetAt(t)).time_since_epoch()}; }

  // How a wall-clock reading maps to an instant.
  enum class Fit {
    kUnique,    // the reading occurs once
    kSkipped,   // the reading does not exist (spring forward): `instant` is the end of the gap,
                // the first instant after it (e.g. 02:30 on a New York spring-forward day →
                // 03:00 EDT)
    kRepeated,  // the reading occurs twice (fall back): `instant` is the first occurrence;
                // `later` is the second
  };
  struct Resolved {
    Instant instant;
    Fit fit = Fit::kUnique;
    Instant later;  // kRepeated only
  };
  // Maps `local` to an instant by the rules above. Monotonic: a later reading never maps to an
  // earlier instant.
  Resolved ToInstant(LocalTime local) const;

  // A POSIX TZ rule (the TZif footer), e.g. "EST5EDT,M3.2.0,M11.1.0". Exposed for tests.
  struct PosixRule {
    struct Date {
      char kind = 'M';  // 'J': Julian day 1..365 without Feb 29; 'D': day 0..365; 'M': m.w.d
      int a = 0, b = 0, c = 0;  // J/D: a = day. M: a = month, b = week 1..5, c = weekday 0..6
      int64_t time = 7200;      // seconds after local midnight; may be negative or > 24h
    };
    int64_t std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int64_t dst_offset = 0;
    Date start, end;  // DST starts at `start` (standard local time), ends at `end` (DST local time)
  };
  static std::optional<PosixRule> ParsePosixRule(std::string_view text);

 private:
  // A stretch of time with one UTC offset: [begin, end).
  struct Period {
    int64_t begin;
    int64_t end;
    int64_t offset;
  };
  Period PeriodAt(int64_t t) const;
  Period FooterPeriodAt(int64_t t, int64_t floor, int64_t fallback_offset) const;

  std::string name_;
  std::vector<int64_t> transitions_;  // ascending, seconds since the epoch
  std::vector<int64_t> offsets_;      // offsets_[i]: UTC offset from transitions_[i] on
  int64_t initial_offset_ = 0;        // before the first transition
  std::optional<PosixRule> footer_;   // after the last transition
};

}  // namespace gc::scheduler
