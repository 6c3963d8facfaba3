// AWS Systems Manager schedule expressions — cron(...), rate(...) and at(...) — as State Manager
// associations and maintenance windows accept them, and when they fire in an IANA time zone.
// Pure: a parsed Schedule is an immutable value, thread-safe to share. README.md beside this file
// lists the rules and what was chosen where AWS is silent.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "scheduler/time_zone.h"

namespace gc::scheduler {

// Which API the expression came from: the two accept different subsets and fail differently.
enum class Dialect {
  // CreateAssociation / UpdateAssociation / CreateAssociationBatch ScheduleExpression.
  // Errors: InvalidSchedule (400). Cron: month must be every month, seconds (if given) 0, runs at
  // least 30 minutes apart; rate: at least 30 minutes and less than 31 days.
  kAssociation,
  // Create/UpdateMaintenanceWindow Schedule. Errors: ValidationException (400). Cron: any
  // seconds value, runs at least 5 minutes apart; rate: at least 5 minutes.
  kMaintenanceWindow,
};

class Schedule {
 public:
  enum class Kind { kCron, kRate, kAt };

  // Parses `text` ("cron(0 2 ? * SUN *)", "rate(30 minutes)", "at(2025-07-07T15:55:00)").
  // On failure the AwsError of `dialect` (see above), with a message naming the expression and
  // what is wrong with it.
  static Result<Schedule> Parse(std::string_view text, Dialect dialect);

  Kind kind() const { return kind_; }
  const std::string& text() const { return text_; }
  // kRate: the interval (a day is 24 hours).
  std::chrono::seconds interval() const { return interval_; }
  // kAt: the wall-clock time of the single run.
  LocalTime at() const { return at_; }

  // The first run strictly after `after`, or nullopt when there is none (an at() that is not
  // after `after`; a cron whose years are all past, or that matches no day up to 2199).
  //  - cron: fields are matched against wall-clock time in `zone`. A matching reading that does
  //    not exist (spring forward) runs at the end of the gap, the first instant after it; a
  //    reading that occurs twice (fall back) runs once, at its first occurrence. Several
  //    readings in one gap run once.
  //  - at(): the reading in `zone`, resolved the same way.
  //  - rate: `rate_start` + k * interval (k >= 0, so `rate_start` itself is a run); `zone` is
  //    not used.
  std::optional<Instant> NextAfter(Instant after, const TimeZone& zone, Instant rate_start) const;

 private:
  // The parsed fields of a cron expression.
  struct Cron {
    std::vector<int32_t> times_of_day;  // seconds after local midnight, ascending
    std::bitset<13> months;             // 1..12
    std::bitset<230> years;             // 1970..2199, index year - 1970
    enum class Days {
      kBySet,               // day-of-month list/range/step/* (day-of-week is '?')
      kLast,                // L, L-n: the last day of the month, minus n
      kNearestWeekday,      // nW: the weekday nearest day n, within the month
      kLastWeekday,         // LW, L-nW: the weekday nearest (last day - n), within the month
      kByWeekday,           // day-of-week list/range/* (day-of-month is '?')
      kLastWeekdayOfMonth,  // dL: the last weekday d of the month
      kNthWeekday,          // d#n: the n-th weekday d of the month
    };
    Days days = Days::kBySet;
    std::bitset<32> days_of_month;  // kBySet: 1..31
    std::bitset<8> days_of_week;    // kByWeekday: 1 (Sunday) .. 7 (Saturday)
    int n = 0;                      // kLast / kLastWeekday: n; kNearestWeekday: the day;
                                    // kNthWeekday: the n
    int weekday = 0;                // kLastWeekdayOfMonth / kNthWeekday: 1..7
    bool DayMatches(int y, unsigned m, unsigned d) const;
  };
  std::optional<Instant> NextCron(Instant after, const TimeZone& zone) const;
  friend class ScheduleParser;

  Kind kind_ = Kind::kCron;
  std::string text_;
  Cron cron_;
  std::chrono::seconds interval_{0};
  LocalTime at_{};
};

}  // namespace gc::scheduler
