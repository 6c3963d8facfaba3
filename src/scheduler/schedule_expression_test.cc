#include "scheduler/schedule_expression.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>

namespace gc::scheduler {
namespace {

namespace chr = std::chrono;
constexpr Dialect kAssoc = Dialect::kAssociation;
constexpr Dialect kWindow = Dialect::kMaintenanceWindow;

Instant Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return chr::sys_days{chr::year{y} / mo / d} + chr::hours{h} + chr::minutes{mi} + chr::seconds{s};
}

// Times as text, so that failures read "2025-06-01T10:15:00Z" rather than bytes.
std::string Iso(LocalTime t) {
  const auto day = chr::floor<chr::days>(t);
  const chr::year_month_day ymd{day};
  const chr::hh_mm_ss hms{t - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}
std::string Iso(Instant t) { return Iso(LocalTime{t.time_since_epoch()}) + "Z"; }
std::string Iso(const std::optional<Instant>& t) { return t ? Iso(*t) : "none"; }
std::string Iso(const std::vector<Instant>& v) {
  std::string out;
  for (const Instant& t : v) out += (out.empty() ? "" : ", ") + Iso(t);
  return out;
}

const TimeZone& Zone(const std::string& name) {
  static std::map<std::string, TimeZone> zones;
  auto it = zones.find(name);
  if (it == zones.end()) {
    auto z = name == "UTC" ? Result<TimeZone>(TimeZone::Utc()) : TimeZone::Load(name);
    EXPECT_TRUE(z.ok()) << name;
    it = zones.emplace(name, z.ok() ? *z : TimeZone::Utc()).first;
  }
  return it->second;
}

Schedule Parsed(std::string_view text, Dialect dialect = kWindow) {
  auto s = Schedule::Parse(text, dialect);
  EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : *Schedule::Parse("at(1970-01-01T00:00:00)", kWindow);
}

// The next run of `text` strictly after `after`, in `zone`.
std::optional<Instant> Next(std::string_view text, Instant after, const std::string& zone = "UTC",
                            Dialect dialect = kWindow) {
  return Parsed(text, dialect).NextAfter(after, Zone(zone), Instant{});
}

// The first `n` runs of `text` after `after`.
std::vector<Instant> Runs(std::string_view text, Instant after, int n,
                          const std::string& zone = "UTC") {
  Schedule s = Parsed(text);
  std::vector<Instant> out;
  for (int i = 0; i < n; ++i) {
    auto next = s.NextAfter(after, Zone(zone), Instant{});
    if (!next) break;
    out.push_back(*next);
    after = *next;
  }
  return out;
}

// --- parsing ------------------------------------------------------------------------------------

TEST(Parse, AwsDocumentedAssociationExamples) {
  // "Reference: Cron and rate expressions for Systems Manager", associations section.
  for (std::string_view text :
       {"cron(0/30 * * * ? *)", "cron(0 0/1 * * ? *)", "cron(0 0/2 * * ? *)", "cron(0 0/4 * * ? *)",
        "cron(0 0/8 * * ? *)", "cron(0 0/12 * * ? *)", "cron(15 13 ? * * *)",
        "cron(15 13 ? * MON *)", "cron(30 23 ? * TUE#3 *)", "cron(0 0 ? * THU#2 *)",
        "cron(0 0 ? * 3L *)", "cron(0 */30 * * * ? *)", "cron(0 2 ? * SUN *)", "rate(30 minutes)",
        "rate(1 hour)", "rate(5 hours)", "rate(15 days)", "rate(7 days)",
        "at(2020-07-07T15:55:00)"}) {
    auto s = Schedule::Parse(text, kAssoc);
    EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.error().message);
  }
}

TEST(Parse, AwsDocumentedMaintenanceWindowExamples) {
  for (std::string_view text :
       {"cron(30 09 ? * * *)", "cron(24 30 09 ? * * *)", "cron(0 2 ? * THU#3 *)",
        "cron(15 10 ? * * *)", "cron(15 10 ? * MON-FRI *)", "cron(0 2 L * ? *)",
        "cron(15 10 ? * 6L *)", "cron(0 16 ? * TUE *)", "cron(30 23 ? * TUE#3 *)",
        "rate(30 minutes)", "rate(1 hour)", "rate(5 hours)", "rate(25 days)", "rate(7 days)",
        "at(2021-07-07T13:15:30)",
        // EventBridge's examples, same grammar.
        "cron(0 10 * * ? *)", "cron(0/15 * * * ? *)", "cron(0/10 * ? * MON-FRI *)",
        "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)", "cron(15 10 ? * 6L 2019-2022)"}) {
    auto s = Schedule::Parse(text, kWindow);
    EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.error().message);
  }
}

TEST(Parse, Kinds) {
  Schedule cron = Parsed("cron(0 2 ? * SUN *)");
  EXPECT_EQ(cron.kind(), Schedule::Kind::kCron);
  EXPECT_EQ(cron.text(), "cron(0 2 ? * SUN *)");
  Schedule rate = Parsed("rate(2 hours)");
  EXPECT_EQ(rate.kind(), Schedule::Kind::kRate);
  EXPECT_EQ(rate.interval().count(), 7200);
  EXPECT_EQ(Parsed("rate(1 day)").interval().count(), 86400);
  EXPECT_EQ(Parsed("rate(1 hour)", kAssoc).interval().count(), 3600);
  Schedule at = Parsed("at(2030-07-07T13:15:30)");
  EXPECT_EQ(at.kind(), Schedule::Kind::kAt);
  EXPECT_EQ(Iso(at.at()), Iso(chr::local_days{chr::year{2030} / 7 / 7} + chr::hours{13} +
                              chr::minutes{15} + chr::seconds{30}));
}

TEST(Parse, ErrorsCarryTheDialectsAwsError) {
  auto a = Schedule::Parse("cron(0 2 * * * *)", kAssoc);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, "InvalidSchedule");
  EXPECT_EQ(a.error().http_status, 400);
  EXPECT_TRUE(a.error().sender_fault);
  EXPECT_NE(a.error().message.find("cron(0 2 * * * *)"), std::string::npos);
  EXPECT_NE(a.error().message.find("day-of-week AND a day-of-month"), std::string::npos);

  auto w = Schedule::Parse("cron(0 2 * * * *)", kWindow);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, "ValidationException");
  EXPECT_EQ(w.error().http_status, 400);
  EXPECT_EQ(w.error().message, a.error().message);
}

TEST(Parse, RefusedByBoth) {
  for (std::string_view text :
       {"", "cron", "cron()", "cron(0 2 ? * SUN)", "cron(0 0 2 ? * SUN * 1)", "CRON(0 2 ? * SUN *)",
        " cron(0 2 ? * SUN *)", "cron(0 2 ? * SUN *) ", "cron(0 2 ? * SUN *",
        "cron (0 2 ? * SUN *)", "every(5 minutes)",
        // day-of-month and day-of-week: exactly one is '?'
        "cron(0 2 * * * *)", "cron(0 2 1 * MON *)", "cron(0 2 ? * ? *)",
        // '?' elsewhere
        "cron(? 2 1 * ? *)", "cron(0 ? 1 * ? *)", "cron(0 2 1 ? ? *)", "cron(0 2 1 * ? ?)",
        "cron(0 2 1,? * ? *)",
        // values out of range
        "cron(60 2 ? * SUN *)", "cron(0 24 ? * SUN *)", "cron(0 2 0 * ? *)", "cron(0 2 32 * ? *)",
        "cron(0 2 1 0 ? *)", "cron(0 2 1 13 ? *)", "cron(0 2 ? * 0 *)", "cron(0 2 ? * 8 *)",
        "cron(0 2 1 * ? 1969)", "cron(0 2 1 * ? 2200)", "cron(60 0 2 ? * SUN *)",
        "cron(-1 2 ? * SUN *)",
        // malformed values, names, lists, ranges and steps
        "cron(0 2 ? * FOO *)", "cron(0 2 1 JANUARY ? *)", "cron(0 2 ? * MONDAY *)",
        "cron(0 2 1 * ? 20300)", "cron(a 2 ? * SUN *)", "cron(0 2 ? * SUN, *)",
        "cron(0 2 ? * ,SUN *)", "cron(0, 2 ? * SUN *)", "cron(0 2-) ? * SUN *)",
        "cron(0 1-2-3 ? * SUN *)", "cron(0/0 2 1 * ? *)", "cron(0/61 2 1 * ? *)",
        "cron(0 2/25 1 * ? *)", "cron(0/ 2 1 * ? *)", "cron(/5 2 1 * ? *)",
        "cron(0 2 1 * ? 2030-2025)", "cron(0 2 ? * MON/2 *)", "cron(0 2 ? * 1-5/2 *)",
        "cron(0 2 1 JAN-FOO ? *)", "cron(0 2 ? * SUN-FOO *)",
        // L and W in day-of-month
        "cron(0 2 1W,15 * ? *)", "cron(0 2 1-5W * ? *)", "cron(0 2 L,15 * ? *)",
        "cron(0 2 15,L * ? *)", "cron(0 2 L-31 * ? *)", "cron(0 2 L-x * ? *)", "cron(0 2 L3 * ? *)",
        "cron(0 2 W * ? *)", "cron(0 2 0W * ? *)", "cron(0 2 32W * ? *)", "cron(0 2 WL * ? *)",
        // L and # in day-of-week
        "cron(0 2 ? * 6#6 *)", "cron(0 2 ? * 6#0 *)", "cron(0 2 ? * 6# *)", "cron(0 2 ? * #3 *)",
        "cron(0 2 ? * 6#3,2#1 *)", "cron(0 2 ? * 6#3#1 *)", "cron(0 2 ? * 5L,6 *)",
        "cron(0 2 ? * 6,5L *)", "cron(0 2 ? * 1-5L *)", "cron(0 2 ? * 0L *)", "cron(0 2 ? * 8#1 *)",
        "cron(0 2 ? * 6L#1 *)", "cron(0 2 L * 6L *)",
        // faster than every 5 minutes
        "cron(0/1 * ? * * *)", "cron(0,1 2 ? * SUN *)", "cron(0/4 * * * ? *)",
        "cron(* 0 2 ? * SUN *)", "cron(0/10 0 2 ? * SUN *)", "cron(0,58 0,23 * * ? *)",
        // rate
        "rate()", "rate(5)", "rate(minutes)", "rate(1 hours)", "rate(5 hour)", "rate(1 days)",
        "rate(2 day)", "rate(1 minutes)", "rate(0 minutes)", "rate(-5 minutes)", "rate(+5 minutes)",
        "rate(5.5 hours)", "rate(five minutes)", "rate(5 weeks)", "rate(5 Minutes)",
        "rate(5 minutes extra)", "rate(1 minute)", "rate(4 minutes)", "rate(1000000000 days)",
        // at
        "at()", "at(2025-02-29T00:00:00)", "at(2025-13-01T00:00:00)", "at(2025-00-10T00:00:00)",
        "at(2025-04-31T00:00:00)", "at(2025-01-01 00:00:00)", "at(2025-01-01T24:00:00)",
        "at(2025-01-01T00:60:00)", "at(2025-01-01T00:00:60)", "at(2025-01-01T00:00)",
        "at(2025-1-01T00:00:00)", "at(2025-01-01T00:00:00Z)", "at(1969-12-31T23:59:59)",
        "at(2025-01-01t00:00:00)"}) {
    for (Dialect d : {kAssoc, kWindow}) {
      EXPECT_FALSE(Schedule::Parse(text, d).ok())
          << text << (d == kAssoc ? " (association)" : " (window)");
    }
  }
  EXPECT_FALSE(Schedule::Parse("rate(" + std::string(260, '1') + " minutes)", kWindow).ok());
}

TEST(Parse, AssociationOnlyRules) {
  // "State Manager doesn't currently support specifying months in cron expressions for
  // associations" — the month field must mean every month.
  for (std::string_view text :
       {"cron(0 0 1 JAN ? *)", "cron(0 0 ? 1-6 MON *)", "cron(0 0 ? 1/2 MON *)"}) {
    EXPECT_FALSE(Schedule::Parse(text, kAssoc).ok()) << text;
    EXPECT_TRUE(Schedule::Parse(text, kWindow).ok()) << text;
  }
  for (std::string_view text :
       {"cron(0 0 ? 1/1 MON *)", "cron(0 0 ? JAN-DEC MON *)", "cron(0 0 ? 1-12 MON *)"}) {
    EXPECT_TRUE(Schedule::Parse(text, kAssoc).ok()) << text;
  }
  // "If you specify the optional Seconds field, its value can be 0".
  EXPECT_TRUE(Schedule::Parse("cron(0 0 2 ? * SUN *)", kAssoc).ok());
  EXPECT_FALSE(Schedule::Parse("cron(5 0 2 ? * SUN *)", kAssoc).ok());
  EXPECT_FALSE(Schedule::Parse("cron(0,30 0 2 ? * SUN *)", kAssoc).ok());
  EXPECT_TRUE(Schedule::Parse("cron(5 0 2 ? * SUN *)", kWindow).ok());
  // Runs at least 30 minutes apart; windows allow 5.
  for (std::string_view text : {"cron(0/15 * * * ? *)", "cron(0/5 * * * ? *)",
                                "cron(0,20 2 ? * SUN *)", "cron(0,50 0,23 * * ? *)"}) {
    EXPECT_FALSE(Schedule::Parse(text, kAssoc).ok()) << text;
    EXPECT_TRUE(Schedule::Parse(text, kWindow).ok()) << text;
  }
  // "intervals of 30 minutes or greater and less than 31 days".
  for (std::string_view text : {"rate(29 minutes)", "rate(5 minutes)", "rate(31 days)",
                                "rate(744 hours)", "rate(44640 minutes)"}) {
    EXPECT_FALSE(Schedule::Parse(text, kAssoc).ok()) << text;
    EXPECT_TRUE(Schedule::Parse(text, kWindow).ok()) << text;
  }
  for (std::string_view text : {"rate(30 minutes)", "rate(30 days)", "rate(743 hours)"}) {
    EXPECT_TRUE(Schedule::Parse(text, kAssoc).ok()) << text;
  }
}

TEST(Parse, Lenience) {
  // Names in any case, leading zeros, extra spaces between fields, tabs.
  for (std::string_view text :
       {"cron(0 9 ? * mon-fri *)", "cron(0 9 ? jan,Jul MON *)", "cron(00 09 ? * MON *)",
        "cron(0  9 ?   * MON *)", "cron(0\t9 ? * MON *)", "cron( 0 9 ? * MON * )",
        "cron(0 9 l * ? *)", "cron(0 9 15w * ? *)", "cron(0 9 ? * 6l *)", "cron(0 9 ? * fri#2 *)",
        "rate( 5  minutes )", "rate(05 minutes)"}) {
    EXPECT_TRUE(Schedule::Parse(text, kWindow).ok()) << text;
  }
}

// --- cron fields
// ----------------------------------------------------------------------------------

TEST(Cron, RunsStrictlyAfter) {
  EXPECT_EQ(Iso(Next("cron(15 10 ? * * *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 1, 10, 15)));
  EXPECT_EQ(Iso(Next("cron(15 10 ? * * *)", Utc(2025, 6, 1, 10, 14, 59))),
            Iso(Utc(2025, 6, 1, 10, 15)));
  EXPECT_EQ(Iso(Next("cron(15 10 ? * * *)", Utc(2025, 6, 1, 10, 15))),
            Iso(Utc(2025, 6, 2, 10, 15)));
  EXPECT_EQ(Iso(Next("cron(15 10 * * ? *)", Utc(2025, 12, 31, 11))), Iso(Utc(2026, 1, 1, 10, 15)));
}

TEST(Cron, MinutesHoursListsRangesAndSteps) {
  auto at = [](int h, int m) { return Utc(2025, 6, 1, h, m); };
  EXPECT_EQ(Iso(Runs("cron(0/15 * * * ? *)", at(10, 7), 3)),
            Iso((std::vector<Instant>{at(10, 15), at(10, 30), at(10, 45)})));
  EXPECT_EQ(Iso(Runs("cron(*/15 * * * ? *)", at(10, 7), 3)),
            Iso((std::vector<Instant>{at(10, 15), at(10, 30), at(10, 45)})));
  EXPECT_EQ(Iso(Runs("cron(5/20 * * * ? *)", at(10, 0), 4)),
            Iso((std::vector<Instant>{at(10, 5), at(10, 25), at(10, 45), at(11, 5)})));
  EXPECT_EQ(Iso(Runs("cron(10-20/5 * * * ? *)", at(10, 0), 4)),
            Iso((std::vector<Instant>{at(10, 10), at(10, 15), at(10, 20), at(11, 10)})));
  EXPECT_EQ(Iso(Runs("cron(0,30 9-10 * * ? *)", at(0, 0), 5)),
            Iso((std::vector<Instant>{at(9, 0), at(9, 30), at(10, 0), at(10, 30),
                                      Utc(2025, 6, 2, 9, 0)})));
  EXPECT_EQ(Iso(Runs("cron(0 0/8 * * ? *)", at(0, 0), 3)),
            Iso((std::vector<Instant>{at(8, 0), at(16, 0), Utc(2025, 6, 2, 0, 0)})));
  // A range whose start is after its end wraps around midnight.
  EXPECT_EQ(Iso(Runs("cron(0 22-2 * * ? *)", at(12, 0), 6)),
            Iso((std::vector<Instant>{at(22, 0), at(23, 0), Utc(2025, 6, 2, 0), Utc(2025, 6, 2, 1),
                                      Utc(2025, 6, 2, 2), Utc(2025, 6, 2, 22)})));
  // Minutes wrap too, and a stepped wrapping range.
  EXPECT_EQ(Iso(Runs("cron(50-10/10 3 * * ? *)", at(0, 0), 4)),
            Iso((std::vector<Instant>{at(3, 0), at(3, 10), at(3, 50), Utc(2025, 6, 2, 3, 0)})));
}

TEST(Cron, SecondsField) {
  EXPECT_EQ(Iso(Next("cron(24 30 09 ? * * *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 1, 9, 30, 24)));
  EXPECT_EQ(Iso(Next("cron(24 30 09 ? * * *)", Utc(2025, 6, 1, 9, 30, 24))),
            Iso(Utc(2025, 6, 2, 9, 30, 24)));
  EXPECT_EQ(Iso(Next("cron(0 */30 * * * ? *)", Utc(2025, 6, 1, 9, 10), "UTC", kAssoc)),
            Iso(Utc(2025, 6, 1, 9, 30)));
  EXPECT_EQ(Iso(Runs("cron(30 0/5 * * * ? *)", Utc(2025, 6, 1, 9, 0), 3)),
            Iso((std::vector<Instant>{Utc(2025, 6, 1, 9, 0, 30), Utc(2025, 6, 1, 9, 5, 30),
                                      Utc(2025, 6, 1, 9, 10, 30)})));
}

TEST(Cron, DaysOfWeek) {
  // 2025-06-06 is a Friday.
  EXPECT_EQ(Iso(Next("cron(0 9 ? * MON-FRI *)", Utc(2025, 6, 6, 10))), Iso(Utc(2025, 6, 9, 9)));
  EXPECT_EQ(Iso(Next("cron(0 9 ? * 2-6 *)", Utc(2025, 6, 6, 10))), Iso(Utc(2025, 6, 9, 9)));
  EXPECT_EQ(Iso(Next("cron(0 9 ? * mon *)", Utc(2025, 6, 6, 10))), Iso(Utc(2025, 6, 9, 9)));
  EXPECT_EQ(Iso(Next("cron(0 9 ? * SUN *)", Utc(2025, 6, 6, 10))), Iso(Utc(2025, 6, 8, 9)));
  EXPECT_EQ(Iso(Next("cron(0 9 ? * 1 *)", Utc(2025, 6, 6, 10))), Iso(Utc(2025, 6, 8, 9)));
  EXPECT_EQ(Iso(Next("cron(0 9 ? * 7 *)", Utc(2025, 6, 6, 10))), Iso(Utc(2025, 6, 7, 9)));
  // L alone in day-of-week is the last day of the week, Saturday.
  EXPECT_EQ(Iso(Next("cron(0 9 ? * L *)", Utc(2025, 6, 6, 10))), Iso(Utc(2025, 6, 7, 9)));
  // FRI-MON wraps: Friday, Saturday, Sunday, Monday. From Tuesday 2025-06-10.
  EXPECT_EQ(Iso(Runs("cron(0 9 ? * FRI-MON *)", Utc(2025, 6, 10), 5)),
            Iso((std::vector<Instant>{Utc(2025, 6, 13, 9), Utc(2025, 6, 14, 9), Utc(2025, 6, 15, 9),
                                      Utc(2025, 6, 16, 9), Utc(2025, 6, 20, 9)})));
  EXPECT_EQ(
      Iso(Runs("cron(0 9 ? * MON,WED,FRI *)", Utc(2025, 6, 9, 10), 3)),
      Iso((std::vector<Instant>{Utc(2025, 6, 11, 9), Utc(2025, 6, 13, 9), Utc(2025, 6, 16, 9)})));
}

TEST(Cron, DaysOfMonthAndMonths) {
  EXPECT_EQ(Iso(Runs("cron(0 0 1,15 * ? *)", Utc(2025, 6, 2), 3)),
            Iso((std::vector<Instant>{Utc(2025, 6, 15), Utc(2025, 7, 1), Utc(2025, 7, 15)})));
  EXPECT_EQ(Iso(Runs("cron(0 0 1/10 * ? *)", Utc(2025, 6, 2), 4)),
            Iso((std::vector<Instant>{Utc(2025, 6, 11), Utc(2025, 6, 21), Utc(2025, 7, 1),
                                      Utc(2025, 7, 11)})));
  // The 31st skips the months without one.
  EXPECT_EQ(Iso(Runs("cron(0 0 31 * ? *)", Utc(2025, 3, 31, 1), 3)),
            Iso((std::vector<Instant>{Utc(2025, 5, 31), Utc(2025, 7, 31), Utc(2025, 8, 31)})));
  // Day 30-2 wraps through the end of a 31-day range: 30, 31, 1, 2.
  EXPECT_EQ(Iso(Runs("cron(0 0 30-2 * ? *)", Utc(2025, 1, 29), 5)),
            Iso((std::vector<Instant>{Utc(2025, 1, 30), Utc(2025, 1, 31), Utc(2025, 2, 1),
                                      Utc(2025, 2, 2), Utc(2025, 3, 1)})));
  EXPECT_EQ(Iso(Runs("cron(0 0 1 JAN,JUL ? *)", Utc(2025, 2, 1), 3)),
            Iso((std::vector<Instant>{Utc(2025, 7, 1), Utc(2026, 1, 1), Utc(2026, 7, 1)})));
  EXPECT_EQ(Iso(Runs("cron(0 0 1 NOV-FEB ? *)", Utc(2025, 3, 1), 4)),
            Iso((std::vector<Instant>{Utc(2025, 11, 1), Utc(2025, 12, 1), Utc(2026, 1, 1),
                                      Utc(2026, 2, 1)})));
  EXPECT_EQ(Iso(Runs("cron(0 0 1 1/4 ? *)", Utc(2025, 2, 1), 3)),
            Iso((std::vector<Instant>{Utc(2025, 5, 1), Utc(2025, 9, 1), Utc(2026, 1, 1)})));
  // February 29th exists only in leap years.
  EXPECT_EQ(Iso(Next("cron(0 0 29 2 ? *)", Utc(2025, 1, 1))), Iso(Utc(2028, 2, 29)));
  EXPECT_EQ(Iso(Next("cron(0 0 29 2 ? *)", Utc(2096, 3, 1))), Iso(Utc(2104, 2, 29)));
}

TEST(Cron, LastDayOfMonth) {
  EXPECT_EQ(
      Iso(Runs("cron(0 2 L * ? *)", Utc(2025, 1, 31, 3), 3)),
      Iso((std::vector<Instant>{Utc(2025, 2, 28, 2), Utc(2025, 3, 31, 2), Utc(2025, 4, 30, 2)})));
  EXPECT_EQ(Iso(Next("cron(0 2 L * ? *)", Utc(2024, 2, 1))),
            Iso(Utc(2024, 2, 29, 2)));  // leap year
  EXPECT_EQ(Iso(Next("cron(0 2 L 2 ? *)", Utc(2100, 1, 1))), Iso(Utc(2100, 2, 28, 2)));  // not leap
  EXPECT_EQ(Iso(Next("cron(0 2 L 2 ? *)", Utc(2099, 3, 1))), Iso(Utc(2100, 2, 28, 2)));
  EXPECT_EQ(Iso(Next("cron(0 2 L FEB ? 2000-2199)", Utc(1999, 3, 1))), Iso(Utc(2000, 2, 29, 2)));
  // L-n: n days before the last.
  EXPECT_EQ(Iso(Next("cron(0 0 L-3 * ? *)", Utc(2025, 2, 1))), Iso(Utc(2025, 2, 25)));
  EXPECT_EQ(Iso(Next("cron(0 0 L-3 * ? *)", Utc(2024, 2, 1))), Iso(Utc(2024, 2, 26)));
  EXPECT_EQ(Iso(Next("cron(0 0 L-0 * ? *)", Utc(2025, 2, 1))), Iso(Utc(2025, 2, 28)));
  // L-30 only exists in 31-day months (the 1st).
  EXPECT_EQ(Iso(Runs("cron(0 0 L-30 * ? *)", Utc(2025, 2, 1), 2)),
            Iso((std::vector<Instant>{Utc(2025, 3, 1), Utc(2025, 5, 1)})));
  // LW: the last weekday. 2025-05-31 is a Saturday, 2025-08-31 a Sunday.
  EXPECT_EQ(Iso(Next("cron(0 0 LW * ? *)", Utc(2025, 5, 1))), Iso(Utc(2025, 5, 30)));
  EXPECT_EQ(Iso(Next("cron(0 0 LW * ? *)", Utc(2025, 8, 1))), Iso(Utc(2025, 8, 29)));
  EXPECT_EQ(Iso(Next("cron(0 0 LW * ? *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 30)));  // a Monday
  // L-nW: the weekday nearest the (last - n)th. May 2025: L-1 = 30th, a Friday; L-2 = 29th.
  EXPECT_EQ(Iso(Next("cron(0 0 L-1W * ? *)", Utc(2025, 5, 1))), Iso(Utc(2025, 5, 30)));
  // August 2025: L-1 = 30th, a Saturday → Friday 29th.
  EXPECT_EQ(Iso(Next("cron(0 0 L-1W * ? *)", Utc(2025, 8, 1))), Iso(Utc(2025, 8, 29)));
}

TEST(Cron, NearestWeekday) {
  // 2025-02-01 is a Saturday: 1W does not leave the month, so it runs on Monday the 3rd.
  EXPECT_EQ(Iso(Next("cron(0 0 1W * ? *)", Utc(2025, 1, 15))), Iso(Utc(2025, 2, 3)));
  // 2025-03-15 is a Saturday → Friday the 14th; 2025-06-15 a Sunday → Monday the 16th.
  EXPECT_EQ(Iso(Next("cron(0 0 15W * ? *)", Utc(2025, 3, 1))), Iso(Utc(2025, 3, 14)));
  EXPECT_EQ(Iso(Next("cron(0 0 15W * ? *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 16)));
  EXPECT_EQ(Iso(Next("cron(0 0 15W * ? *)", Utc(2025, 7, 1))), Iso(Utc(2025, 7, 15)));  // a Tuesday
  // 2025-11-30 is a Sunday and the last day: back to Friday the 28th.
  EXPECT_EQ(Iso(Next("cron(0 0 30W * ? *)", Utc(2025, 11, 1))), Iso(Utc(2025, 11, 28)));
  // 31W: months without a 31st are skipped; 2025-05-31 is a Saturday → Friday the 30th.
  EXPECT_EQ(Iso(Next("cron(0 0 31W * ? *)", Utc(2025, 4, 1))), Iso(Utc(2025, 5, 30)));
  // The search starts from the run, not the nominal day: 1W is Monday 3rd, after the 1st.
  EXPECT_EQ(Iso(Next("cron(0 0 1W * ? *)", Utc(2025, 2, 2))), Iso(Utc(2025, 2, 3)));
  EXPECT_EQ(Iso(Next("cron(0 0 1W * ? *)", Utc(2025, 2, 3))),
            Iso(Utc(2025, 3, 3)));  // Mar 1 is a Sat
}

TEST(Cron, NthWeekdayOfMonth) {
  // June 2025: Fridays 6, 13, 20, 27; Tuesdays 3, 10, 17, 24.
  EXPECT_EQ(Iso(Next("cron(0 0 ? * 6#3 *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 20)));
  EXPECT_EQ(Iso(Next("cron(30 23 ? * TUE#3 *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 17, 23, 30)));
  EXPECT_EQ(Iso(Next("cron(0 0 ? * 3#1 *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 3)));
  EXPECT_EQ(Iso(Next("cron(0 0 ? * THU#2 *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 12)));
  // The 5th Thursday: January 2025 has one (the 30th); February to April don't; May does.
  EXPECT_EQ(Iso(Runs("cron(0 0 ? * 5#5 *)", Utc(2025, 1, 1), 2)),
            Iso((std::vector<Instant>{Utc(2025, 1, 30), Utc(2025, 5, 29)})));
  // Patch Tuesday (2nd Tuesday), every month.
  EXPECT_EQ(
      Iso(Runs("cron(0 3 ? * TUE#2 *)", Utc(2025, 6, 1), 3)),
      Iso((std::vector<Instant>{Utc(2025, 6, 10, 3), Utc(2025, 7, 8, 3), Utc(2025, 8, 12, 3)})));
}

TEST(Cron, LastWeekdayOfMonth) {
  EXPECT_EQ(Iso(Next("cron(15 10 ? * 6L *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 27, 10, 15)));
  EXPECT_EQ(Iso(Next("cron(0 0 ? * 3L *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 24)));
  EXPECT_EQ(Iso(Next("cron(0 0 ? * FRIL *)", Utc(2025, 6, 1))), Iso(Utc(2025, 6, 27)));
  // The last Sunday of March 2025 is the 30th; of February 2026 the 22nd.
  EXPECT_EQ(Iso(Next("cron(0 0 ? 3 1L *)", Utc(2025, 1, 1))), Iso(Utc(2025, 3, 30)));
  EXPECT_EQ(Iso(Next("cron(0 0 ? 2 1L *)", Utc(2025, 3, 1))), Iso(Utc(2026, 2, 22)));
}

TEST(Cron, YearField) {
  EXPECT_EQ(Iso(Next("cron(0 0 1 1 ? 2027)", Utc(2025, 6, 1))), Iso(Utc(2027, 1, 1)));
  EXPECT_EQ(Iso(Next("cron(0 0 1 1 ? 2027)", Utc(2027, 1, 1))), Iso(std::nullopt));
  EXPECT_EQ(Iso(Next("cron(0 0 1 1 ? 2020)", Utc(2025, 6, 1))), Iso(std::nullopt));
  EXPECT_EQ(Iso(Runs("cron(0 0 1 1 ? 2026-2027)", Utc(2025, 6, 1), 5)),
            Iso((std::vector<Instant>{Utc(2026, 1, 1), Utc(2027, 1, 1)})));
  EXPECT_EQ(Iso(Runs("cron(0 0 1 1 ? 2026/5)", Utc(2025, 6, 1), 3)),
            Iso((std::vector<Instant>{Utc(2026, 1, 1), Utc(2031, 1, 1), Utc(2036, 1, 1)})));
  EXPECT_EQ(Iso(Runs("cron(0 0 1 1 ? 2025,2030)", Utc(2020, 6, 1), 5)),
            Iso((std::vector<Instant>{Utc(2025, 1, 1), Utc(2030, 1, 1)})));
  EXPECT_EQ(Iso(Next("cron(0 0 31 12 ? *)", Utc(2199, 12, 31))),
            Iso(std::nullopt));  // the last year
  EXPECT_EQ(Iso(Next("cron(0 0 31 12 ? *)", Utc(2199, 12, 30))), Iso(Utc(2199, 12, 31)));
  EXPECT_EQ(Iso(Next("cron(0 0 1 1 ? *)", Utc(1960, 6, 1))), Iso(Utc(1970, 1, 1)));
}

TEST(Cron, NeverMatchingDatesEndTheSearch) {
  EXPECT_EQ(Iso(Next("cron(0 0 30 2 ? *)", Utc(2025, 1, 1))), Iso(std::nullopt));
  EXPECT_EQ(Iso(Next("cron(0 0 31 APR,JUN,SEP,NOV ? *)", Utc(2025, 1, 1))), Iso(std::nullopt));
  EXPECT_EQ(Iso(Next("cron(0 0 ? 2 2#5 2026)", Utc(2025, 1, 1))), Iso(std::nullopt));
}

// --- time zones and daylight saving --------------------------------------------------------------

TEST(Zones, EvaluatedOnTheWallClock) {
  EXPECT_EQ(Iso(Next("cron(0 9 ? * MON-FRI *)", Utc(2025, 1, 6), "America/New_York")),
            Iso(Utc(2025, 1, 6, 14)));  // EST
  EXPECT_EQ(Iso(Next("cron(0 9 ? * MON-FRI *)", Utc(2025, 7, 7), "America/New_York")),
            Iso(Utc(2025, 7, 7, 13)));  // EDT
  EXPECT_EQ(Iso(Next("cron(0 9 ? * MON-FRI *)", Utc(2025, 1, 6), "Asia/Kolkata")),
            Iso(Utc(2025, 1, 6, 3, 30)));
  // The local date decides the day: 22:00 Sunday in Tokyo is 13:00Z Sunday, but 01:00 Monday
  // in Tokyo is Sunday 16:00Z.
  EXPECT_EQ(Iso(Next("cron(0 1 ? * MON *)", Utc(2025, 6, 8), "Asia/Tokyo")),
            Iso(Utc(2025, 6, 8, 16)));
  // L follows the local month: 23:00 on 2025-02-28 in Honolulu is 2025-03-01T09:00Z.
  EXPECT_EQ(Iso(Next("cron(0 23 L * ? *)", Utc(2025, 2, 15), "Pacific/Honolulu")),
            Iso(Utc(2025, 3, 1, 9)));
  // After 2037 the zone's footer rules apply: 2040-07-02 is a Monday, on EDT.
  EXPECT_EQ(Iso(Next("cron(0 9 ? * MON 2040)", Utc(2040, 7, 1), "America/New_York")),
            Iso(Utc(2040, 7, 2, 13)));
}

TEST(Zones, NewYorkSpringForward) {
  const std::string ny = "America/New_York";  // 2025-03-09 02:00 EST → 03:00 EDT (07:00Z)
  // 02:30 does not exist that day: the run is at the end of the gap, 03:00 EDT.
  EXPECT_EQ(Iso(Runs("cron(30 2 * * ? *)", Utc(2025, 3, 8, 0), 3, ny)),
            Iso((std::vector<Instant>{Utc(2025, 3, 8, 7, 30), Utc(2025, 3, 9, 7),
                                      Utc(2025, 3, 10, 6, 30)})));
  // Several readings in one gap run once.
  EXPECT_EQ(Iso(Runs("cron(0,30 2 * * ? *)", Utc(2025, 3, 9, 0), 3, ny)),
            Iso((std::vector<Instant>{Utc(2025, 3, 9, 7), Utc(2025, 3, 10, 6),
                                      Utc(2025, 3, 10, 6, 30)})));
  // Hourly at :15 — 02:15 runs at 03:00 EDT, then 03:15 EDT.
  EXPECT_EQ(Iso(Runs("cron(15 * * * ? *)", Utc(2025, 3, 9, 6), 3, ny)),
            Iso((std::vector<Instant>{Utc(2025, 3, 9, 6, 15), Utc(2025, 3, 9, 7),
                                      Utc(2025, 3, 9, 7, 15)})));
  // Every 30 minutes: 01:30 EST, then 02:00/02:30 (gap) and 03:00 EDT are one run.
  EXPECT_EQ(Iso(Runs("cron(0/30 * * * ? *)", Utc(2025, 3, 9, 6, 15), 3, ny)),
            Iso((std::vector<Instant>{Utc(2025, 3, 9, 6, 30), Utc(2025, 3, 9, 7),
                                      Utc(2025, 3, 9, 7, 30)})));
  // at() inside the gap.
  EXPECT_EQ(Iso(Next("at(2025-03-09T02:30:00)", Utc(2025, 1, 1), ny)), Iso(Utc(2025, 3, 9, 7)));
}

TEST(Zones, NewYorkFallBack) {
  const std::string ny = "America/New_York";  // 2025-11-02 02:00 EDT → 01:00 EST (06:00Z)
  // 01:30 occurs twice: it runs once, at the first (EDT) occurrence.
  EXPECT_EQ(Iso(Runs("cron(30 1 * * ? *)", Utc(2025, 11, 1, 12), 2, ny)),
            Iso((std::vector<Instant>{Utc(2025, 11, 2, 5, 30), Utc(2025, 11, 3, 6, 30)})));
  // Every 30 minutes: 01:00 and 01:30 EDT run; their EST repeats don't; 02:00 EST is next.
  EXPECT_EQ(Iso(Runs("cron(0/30 * * * ? *)", Utc(2025, 11, 2, 4, 45), 4, ny)),
            Iso((std::vector<Instant>{Utc(2025, 11, 2, 5), Utc(2025, 11, 2, 5, 30),
                                      Utc(2025, 11, 2, 7), Utc(2025, 11, 2, 7, 30)})));
  // Asked from inside the repeated hour (01:10 EST), the next run is 02:00 EST.
  EXPECT_EQ(Iso(Next("cron(0/30 * * * ? *)", Utc(2025, 11, 2, 6, 10), ny)),
            Iso(Utc(2025, 11, 2, 7)));
  EXPECT_EQ(Iso(Next("at(2025-11-02T01:30:00)", Utc(2025, 1, 1), ny)),
            Iso(Utc(2025, 11, 2, 5, 30)));
  EXPECT_EQ(Iso(Next("at(2025-11-02T01:30:00)", Utc(2025, 11, 2, 5, 30), ny)), Iso(std::nullopt));
}

TEST(Zones, BerlinSpringAndFall) {
  const std::string berlin = "Europe/Berlin";
  // Sunday 02:30: 2025-03-30 (02:00 CET → 03:00 CEST at 01:00Z) runs at 03:00 CEST.
  EXPECT_EQ(Iso(Runs("cron(30 2 ? * SUN *)", Utc(2025, 3, 22), 3, berlin)),
            Iso((std::vector<Instant>{Utc(2025, 3, 23, 1, 30), Utc(2025, 3, 30, 1),
                                      Utc(2025, 4, 6, 0, 30)})));
  // 2025-10-26 (03:00 CEST → 02:00 CET at 01:00Z): 02:30 runs once, in CEST.
  EXPECT_EQ(Iso(Runs("cron(30 2 ? * SUN *)", Utc(2025, 10, 19, 12), 3, berlin)),
            Iso((std::vector<Instant>{Utc(2025, 10, 26, 0, 30), Utc(2025, 11, 2, 1, 30),
                                      Utc(2025, 11, 9, 1, 30)})));
  // Last Sunday of the month at 02:00 is exactly the moment of both changes.
  EXPECT_EQ(Iso(Next("cron(0 2 ? * 1L *)", Utc(2025, 3, 1), berlin)), Iso(Utc(2025, 3, 30, 1)));
  EXPECT_EQ(Iso(Next("cron(0 2 ? * 1L *)", Utc(2025, 10, 1), berlin)), Iso(Utc(2025, 10, 26, 0)));
}

TEST(Zones, SydneySpringAndFall) {
  const std::string sydney = "Australia/Sydney";
  // Spring: 2025-10-05 02:00 AEST → 03:00 AEDT (2025-10-04T16:00Z).
  EXPECT_EQ(Iso(Runs("cron(30 2 ? * SUN *)", Utc(2025, 9, 27), 2, sydney)),
            Iso((std::vector<Instant>{Utc(2025, 9, 27, 16, 30), Utc(2025, 10, 4, 16)})));
  // Fall: 2025-04-06 03:00 AEDT → 02:00 AEST (2025-04-05T16:00Z); 02:30 AEDT is 15:30Z.
  EXPECT_EQ(Iso(Runs("cron(30 2 ? * SUN *)", Utc(2025, 3, 29), 3, sydney)),
            Iso((std::vector<Instant>{Utc(2025, 3, 29, 15, 30), Utc(2025, 4, 5, 15, 30),
                                      Utc(2025, 4, 12, 16, 30)})));
}

TEST(Zones, LordHoweHalfHourShift) {
  // 2025-10-05 02:00 (+10:30) → 02:30 (+11): 02:15 runs at 02:30, 02:45 at 02:45 +11.
  EXPECT_EQ(Iso(Runs("cron(15,45 2 5 10 ? 2025)", Utc(2025, 10, 1), 3, "Australia/Lord_Howe")),
            Iso((std::vector<Instant>{Utc(2025, 10, 4, 15, 30), Utc(2025, 10, 4, 15, 45)})));
}

TEST(Zones, RunsAreStrictlyIncreasingAcrossChanges) {
  for (const std::string zone : {"America/New_York", "Europe/Berlin", "Australia/Sydney"}) {
    std::vector<Instant> runs = Runs("cron(0/5 * * * ? *)", Utc(2025, 1, 1), 120000, zone);
    ASSERT_EQ(runs.size(), 120000u);
    for (size_t i = 1; i < runs.size(); ++i) {
      ASSERT_GT(runs[i], runs[i - 1]) << zone;
      // Apart from the changes themselves, runs are five minutes apart.
      const auto gap = runs[i] - runs[i - 1];
      ASSERT_TRUE(gap == chr::minutes{5} || gap == chr::minutes{65}) << zone << " " << i;
    }
  }
}

// --- at() and rate -------------------------------------------------------------------------------

TEST(At, RunsOnce) {
  EXPECT_EQ(Iso(Next("at(2030-07-07T13:15:30)", Utc(2025, 1, 1))),
            Iso(Utc(2030, 7, 7, 13, 15, 30)));
  EXPECT_EQ(Iso(Next("at(2030-07-07T13:15:30)", Utc(2030, 7, 7, 13, 15, 29))),
            Iso(Utc(2030, 7, 7, 13, 15, 30)));
  EXPECT_EQ(Iso(Next("at(2030-07-07T13:15:30)", Utc(2030, 7, 7, 13, 15, 30))), Iso(std::nullopt));
  // In the past: parses, never runs.
  EXPECT_EQ(Iso(Next("at(2020-07-07T15:55:00)", Utc(2025, 1, 1), "UTC", kAssoc)),
            Iso(std::nullopt));
  // In a maintenance window's time zone.
  EXPECT_EQ(Iso(Next("at(2030-07-07T13:15:30)", Utc(2025, 1, 1), "America/Los_Angeles")),
            Iso(Utc(2030, 7, 7, 20, 15, 30)));
  EXPECT_EQ(Iso(Next("at(2024-02-29T00:00:00)", Utc(2024, 1, 1))), Iso(Utc(2024, 2, 29)));
}

TEST(Rate, EveryIntervalFromTheStart) {
  Schedule s = Parsed("rate(30 minutes)", kAssoc);
  const Instant start = Utc(2025, 6, 1, 10, 7, 13);
  const TimeZone& utc = Zone("UTC");
  EXPECT_EQ(Iso(s.NextAfter(start - chr::hours{5}, utc, start)), Iso(start));  // the start is a run
  EXPECT_EQ(Iso(s.NextAfter(start - chr::seconds{1}, utc, start)), Iso(start));
  EXPECT_EQ(Iso(s.NextAfter(start, utc, start)), Iso(start + chr::minutes{30}));
  EXPECT_EQ(Iso(s.NextAfter(start + chr::minutes{45}, utc, start)), Iso(start + chr::minutes{60}));
  EXPECT_EQ(Iso(s.NextAfter(start + chr::minutes{60}, utc, start)), Iso(start + chr::minutes{90}));
  EXPECT_EQ(Iso(s.NextAfter(start + chr::days{400}, utc, start)),
            Iso(start + chr::days{400} + chr::minutes{30}));
  // A day is 24 hours, whatever the zone: across New York's spring forward, 08:00 EST becomes
  // 09:00 EDT.
  Schedule daily = Parsed("rate(1 day)");
  const Instant eight_est = Utc(2025, 3, 8, 13);
  EXPECT_EQ(Iso(daily.NextAfter(eight_est, Zone("America/New_York"), eight_est)),
            Iso(Utc(2025, 3, 9, 13)));
  EXPECT_EQ(Iso(Parsed("rate(7 days)").NextAfter(eight_est, Zone("UTC"), eight_est)),
            Iso(Utc(2025, 3, 15, 13)));
  EXPECT_EQ(
      Iso(Parsed("rate(5 hours)").NextAfter(eight_est + chr::hours{5}, Zone("UTC"), eight_est)),
      Iso(eight_est + chr::hours{10}));
}

}  // namespace
}  // namespace gc::scheduler
