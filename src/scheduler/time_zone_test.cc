#include "scheduler/time_zone.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace gc::scheduler {
namespace {

namespace chr = std::chrono;
using Fit = TimeZone::Fit;

Instant Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return chr::sys_days{chr::year{y} / mo / d} + chr::hours{h} + chr::minutes{mi} + chr::seconds{s};
}
LocalTime Local(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return chr::local_days{chr::year{y} / mo / d} + chr::hours{h} + chr::minutes{mi} +
         chr::seconds{s};
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
int64_t Hours(double h) { return static_cast<int64_t>(h * 3600); }  // an offset, in seconds

TimeZone Zone(std::string_view name) {
  auto z = TimeZone::Load(name);
  EXPECT_TRUE(z.ok()) << name << ": " << (z.ok() ? "" : z.error().message);
  return z.ok() ? *z : TimeZone::Utc();
}

TEST(TimeZone, Utc) {
  TimeZone utc = TimeZone::Utc();
  EXPECT_EQ(utc.name(), "UTC");
  EXPECT_EQ(utc.OffsetAt(Utc(2025, 7, 1)).count(), 0);
  auto r = utc.ToInstant(Local(2025, 3, 9, 2, 30));
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 3, 9, 2, 30)));
  EXPECT_EQ(r.fit, Fit::kUnique);
  // The zone file of the same name agrees.
  EXPECT_EQ(Zone("UTC").OffsetAt(Utc(2150, 7, 1)).count(), 0);
  EXPECT_EQ(Zone("Etc/UTC").OffsetAt(Utc(1990, 7, 1)).count(), 0);
}

TEST(TimeZone, UnknownNamesAreValidationErrors) {
  for (std::string_view name :
       {"Mars/Olympus_Mons", "", "America", "america/new_york", "../../etc/passwd", "/etc/passwd",
        "America//New_York", "America/New_York/", "posixrules", "localtime",
        "posix/America/New_York", "right/UTC", "zone.tab", "tzdata.zi", "leapseconds",
        "America/New York", "Europe/Berlin\n"}) {
    auto z = TimeZone::Load(name);
    ASSERT_FALSE(z.ok()) << name;
    EXPECT_EQ(z.error().code, "ValidationException");
    EXPECT_EQ(z.error().http_status, 400);
    EXPECT_NE(z.error().message.find("Invalid time zone"), std::string::npos);
  }
}

TEST(TimeZone, LinksLoadUnderTheirOwnName) {
  TimeZone us = Zone("US/Eastern");
  EXPECT_EQ(us.name(), "US/Eastern");
  EXPECT_EQ(us.OffsetAt(Utc(2025, 1, 15)).count(), Hours(-5));
  EXPECT_EQ(Zone("Asia/Calcutta").OffsetAt(Utc(2025, 1, 15)).count(), Hours(5.5));
}

TEST(TimeZone, NewYorkOffsetsAndTransitions) {
  TimeZone ny = Zone("America/New_York");
  EXPECT_EQ(ny.OffsetAt(Utc(2025, 1, 15)).count(), Hours(-5));
  EXPECT_EQ(ny.OffsetAt(Utc(2025, 7, 1)).count(), Hours(-4));
  // 2025-03-09 02:00 EST → 03:00 EDT at 07:00Z; 2025-11-02 02:00 EDT → 01:00 EST at 06:00Z.
  EXPECT_EQ(ny.OffsetAt(Utc(2025, 3, 9, 6, 59, 59)).count(), Hours(-5));
  EXPECT_EQ(ny.OffsetAt(Utc(2025, 3, 9, 7)).count(), Hours(-4));
  EXPECT_EQ(ny.OffsetAt(Utc(2025, 11, 2, 5, 59, 59)).count(), Hours(-4));
  EXPECT_EQ(ny.OffsetAt(Utc(2025, 11, 2, 6)).count(), Hours(-5));
  // Before 1970 and in the 1970s (different US rules then: 1974 had DST in January).
  EXPECT_EQ(ny.OffsetAt(Utc(1974, 1, 15)).count(), Hours(-4));
  EXPECT_EQ(Iso(ny.ToLocal(Utc(2025, 7, 1, 12))), Iso(Local(2025, 7, 1, 8)));
}

// Debian's TZif files list transitions up to 2037; later instants follow the POSIX-TZ footer.
TEST(TimeZone, FooterRulesGovernAfter2037) {
  TimeZone ny = Zone("America/New_York");
  EXPECT_EQ(ny.OffsetAt(Utc(2037, 7, 1)).count(), Hours(-4));
  EXPECT_EQ(ny.OffsetAt(Utc(2038, 7, 1)).count(), Hours(-4));
  EXPECT_EQ(ny.OffsetAt(Utc(2150, 7, 1)).count(), Hours(-4));
  EXPECT_EQ(ny.OffsetAt(Utc(2199, 12, 31)).count(), Hours(-5));
  // 2040: second Sunday of March is the 11th, first Sunday of November the 4th.
  EXPECT_EQ(ny.OffsetAt(Utc(2040, 3, 11, 6, 59, 59)).count(), Hours(-5));
  EXPECT_EQ(ny.OffsetAt(Utc(2040, 3, 11, 7)).count(), Hours(-4));
  EXPECT_EQ(ny.OffsetAt(Utc(2040, 11, 4, 5, 59, 59)).count(), Hours(-4));
  EXPECT_EQ(ny.OffsetAt(Utc(2040, 11, 4, 6)).count(), Hours(-5));
  auto gap = ny.ToInstant(Local(2040, 3, 11, 2, 30));
  EXPECT_EQ(gap.fit, Fit::kSkipped);
  EXPECT_EQ(Iso(gap.instant), Iso(Utc(2040, 3, 11, 7)));
  auto twice = ny.ToInstant(Local(2040, 11, 4, 1, 30));
  EXPECT_EQ(twice.fit, Fit::kRepeated);
  EXPECT_EQ(Iso(twice.instant), Iso(Utc(2040, 11, 4, 5, 30)));
  EXPECT_EQ(Iso(twice.later), Iso(Utc(2040, 11, 4, 6, 30)));

  TimeZone berlin = Zone("Europe/Berlin");
  // 2045: last Sunday of March is the 26th, of October the 29th; changes at 01:00Z.
  EXPECT_EQ(berlin.OffsetAt(Utc(2045, 3, 26, 0, 59, 59)).count(), Hours(1));
  EXPECT_EQ(berlin.OffsetAt(Utc(2045, 3, 26, 1)).count(), Hours(2));
  EXPECT_EQ(berlin.OffsetAt(Utc(2045, 10, 29, 0, 59, 59)).count(), Hours(2));
  EXPECT_EQ(berlin.OffsetAt(Utc(2045, 10, 29, 1)).count(), Hours(1));
}

TEST(TimeZone, SpringForwardReadingsMapToTheEndOfTheGap) {
  TimeZone ny = Zone("America/New_York");
  auto r = ny.ToInstant(Local(2025, 3, 9, 2, 30));
  EXPECT_EQ(r.fit, Fit::kSkipped);
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 3, 9, 7)));  // 03:00 EDT
  EXPECT_EQ(Iso(ny.ToInstant(Local(2025, 3, 9, 2, 0)).instant), Iso(Utc(2025, 3, 9, 7)));
  EXPECT_EQ(Iso(ny.ToInstant(Local(2025, 3, 9, 2, 59, 59)).instant), Iso(Utc(2025, 3, 9, 7)));
  EXPECT_EQ(Iso(ny.ToInstant(Local(2025, 3, 9, 1, 59, 59)).instant),
            Iso(Utc(2025, 3, 9, 6, 59, 59)));
  EXPECT_EQ(ny.ToInstant(Local(2025, 3, 9, 3, 0)).fit, Fit::kUnique);
  EXPECT_EQ(Iso(ny.ToInstant(Local(2025, 3, 9, 3, 0)).instant), Iso(Utc(2025, 3, 9, 7)));

  TimeZone berlin = Zone("Europe/Berlin");
  r = berlin.ToInstant(Local(2025, 3, 30, 2, 30));
  EXPECT_EQ(r.fit, Fit::kSkipped);
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 3, 30, 1)));  // 03:00 CEST

  TimeZone sydney = Zone("Australia/Sydney");  // 2025-10-05 02:00 AEST → 03:00 AEDT
  r = sydney.ToInstant(Local(2025, 10, 5, 2, 30));
  EXPECT_EQ(r.fit, Fit::kSkipped);
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 10, 4, 16)));

  TimeZone lord_howe = Zone("Australia/Lord_Howe");  // half-hour DST: 02:00 → 02:30
  r = lord_howe.ToInstant(Local(2025, 10, 5, 2, 15));
  EXPECT_EQ(r.fit, Fit::kSkipped);
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 10, 4, 15, 30)));
  EXPECT_EQ(lord_howe.ToInstant(Local(2025, 10, 5, 2, 30)).fit, Fit::kUnique);
}

TEST(TimeZone, FallBackReadingsMapToTheFirstOccurrence) {
  TimeZone ny = Zone("America/New_York");
  auto r = ny.ToInstant(Local(2025, 11, 2, 1, 30));
  EXPECT_EQ(r.fit, Fit::kRepeated);
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 11, 2, 5, 30)));  // 01:30 EDT
  EXPECT_EQ(Iso(r.later), Iso(Utc(2025, 11, 2, 6, 30)));    // 01:30 EST
  EXPECT_EQ(ny.ToInstant(Local(2025, 11, 2, 0, 59, 59)).fit, Fit::kUnique);
  EXPECT_EQ(ny.ToInstant(Local(2025, 11, 2, 1, 0)).fit, Fit::kRepeated);
  EXPECT_EQ(ny.ToInstant(Local(2025, 11, 2, 2, 0)).fit, Fit::kUnique);
  EXPECT_EQ(Iso(ny.ToInstant(Local(2025, 11, 2, 2, 0)).instant), Iso(Utc(2025, 11, 2, 7)));

  TimeZone berlin = Zone("Europe/Berlin");
  r = berlin.ToInstant(Local(2025, 10, 26, 2, 30));
  EXPECT_EQ(r.fit, Fit::kRepeated);
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 10, 26, 0, 30)));
  EXPECT_EQ(Iso(r.later), Iso(Utc(2025, 10, 26, 1, 30)));

  TimeZone sydney = Zone("Australia/Sydney");  // 2025-04-06 03:00 AEDT → 02:00 AEST
  r = sydney.ToInstant(Local(2025, 4, 6, 2, 30));
  EXPECT_EQ(r.fit, Fit::kRepeated);
  EXPECT_EQ(Iso(r.instant), Iso(Utc(2025, 4, 5, 15, 30)));
  EXPECT_EQ(Iso(r.later), Iso(Utc(2025, 4, 5, 16, 30)));
}

TEST(TimeZone, ToInstantIsMonotonic) {
  for (std::string_view name : {"America/New_York", "Europe/Berlin", "Australia/Lord_Howe"}) {
    TimeZone z = Zone(name);
    for (int year : {2025, 2041}) {
      Instant prev = z.ToInstant(Local(year, 1, 1)).instant;
      for (LocalTime l = Local(year, 1, 1); l < Local(year + 1, 1, 1); l += chr::minutes{15}) {
        Instant now = z.ToInstant(l).instant;
        ASSERT_GE(now, prev) << name;
        prev = now;
      }
    }
  }
}

TEST(PosixRule, Parses) {
  auto r = TimeZone::ParsePosixRule("EST5EDT,M3.2.0,M11.1.0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->std_offset, -5 * 3600);
  EXPECT_TRUE(r->has_dst);
  EXPECT_EQ(r->dst_offset, -4 * 3600);
  EXPECT_EQ(r->start.kind, 'M');
  EXPECT_EQ(r->start.a, 3);
  EXPECT_EQ(r->start.b, 2);
  EXPECT_EQ(r->start.time, 7200);

  r = TimeZone::ParsePosixRule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->std_offset, 10 * 3600 + 1800);
  EXPECT_EQ(r->dst_offset, 11 * 3600);

  r = TimeZone::ParsePosixRule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");  // negative rule time (v3)
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start.time, -3600);
  EXPECT_EQ(r->end.time, 0);

  r = TimeZone::ParsePosixRule("EST5EDT,0/0,J365/25");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start.kind, 'D');
  EXPECT_EQ(r->end.kind, 'J');
  EXPECT_EQ(r->end.time, 25 * 3600);

  r = TimeZone::ParsePosixRule("UTC0");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_dst);
  r = TimeZone::ParsePosixRule("<+0545>-5:45");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->std_offset, 5 * 3600 + 45 * 60);

  for (std::string_view bad : {"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0",
                               "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,J0,J365", "<+05", "EST5EDT,",
                               "EST5EDT,M3.2.0,M11.1.0x", "EST5EDT,M3.2.0/168,M11.1.0"}) {
    EXPECT_FALSE(TimeZone::ParsePosixRule(bad)) << bad;
  }
}

// TZif files written by the test, to reach what the system's files do not show.
class SyntheticZones : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("gc_tz_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void Be(std::string& out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  static void Header(std::string& out, char version, uint32_t leap, uint32_t times,
                     uint32_t types) {
    out += "TZif";
    out.push_back(version);
    out.append(15, '\0');
    for (uint32_t c : {0u, 0u, leap, times, types, 1u}) Be(out, c, 4);
  }
  // A version-`version` file: transitions at `times` to `types` (UTC offsets), then `footer`.
  static std::string Tzif(char version, const std::vector<int64_t>& times,
                          const std::vector<int32_t>& offsets, const std::string& footer,
                          uint32_t leap = 0) {
    std::string out;
    Header(out, version, 0, 0, 1);  // v1 block: one type, no transitions
    Be(out, 0, 4);
    out.append(3, '\0');
    if (version == '\0') return out;
    const uint32_t types = static_cast<uint32_t>(offsets.size());
    Header(out, version, leap, static_cast<uint32_t>(times.size()), types);
    for (int64_t t : times) Be(out, static_cast<uint64_t>(t), 8);
    for (size_t i = 0; i < times.size(); ++i) out.push_back(static_cast<char>(i % types));
    for (int32_t o : offsets) {
      Be(out, static_cast<uint32_t>(o), 4);
      out.append(2, '\0');
    }
    out.push_back('\0');
    out.append(leap * 12, '\0');
    return out + "\n" + footer + "\n";
  }
  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }
  Result<TimeZone> Load(const std::string& name) { return TimeZone::Load(name, dir_.string()); }

  std::filesystem::path dir_;
};

TEST_F(SyntheticZones, FooterOnly) {
  Write("Plus3", Tzif('2', {}, {3 * 3600}, "<+03>-3"));
  auto z = Load("Plus3");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->OffsetAt(Utc(1900, 1, 1)).count(), Hours(3));
  EXPECT_EQ(z->OffsetAt(Utc(2100, 1, 1)).count(), Hours(3));
}

TEST_F(SyntheticZones, DaylightSavingAllYear) {
  // RFC 8536's example of a zone on DST all year: EST5EDT,0/0,J365/25.
  Write("AllDst", Tzif('3', {}, {-5 * 3600}, "EST5EDT,0/0,J365/25"));
  auto z = Load("AllDst");
  ASSERT_TRUE(z.ok()) << z.error().message;
  for (Instant t : {Utc(2030, 1, 1, 0, 0), Utc(2030, 1, 1, 5, 0), Utc(2030, 7, 1),
                    Utc(2030, 12, 31, 23, 59), Utc(2031, 1, 1, 4, 59), Utc(2031, 1, 1, 5, 0)}) {
    EXPECT_EQ(z->OffsetAt(t).count(), Hours(-4));
  }
}

TEST_F(SyntheticZones, TransitionsWithoutFooterKeepTheLastOffset) {
  Write("Steps", Tzif('2', {0, 1000000}, {3600, 7200}, ""));
  auto z = Load("Steps");
  ASSERT_TRUE(z.ok()) << z.error().message;
  // Type 0 applies before the first transition.
  EXPECT_EQ(z->OffsetAt(Instant{chr::seconds{-1}}).count(), Hours(1));
  EXPECT_EQ(z->OffsetAt(Instant{chr::seconds{0}}).count(), Hours(1));
  EXPECT_EQ(z->OffsetAt(Instant{chr::seconds{999999}}).count(), Hours(1));
  EXPECT_EQ(z->OffsetAt(Instant{chr::seconds{1000000}}).count(), Hours(2));
  EXPECT_EQ(z->OffsetAt(Utc(2199, 1, 1)).count(), Hours(2));
}

TEST_F(SyntheticZones, DamagedFilesAreRefused) {
  const std::string good = Tzif('2', {0}, {3600}, "<+01>-1");
  Write("Good", good);
  EXPECT_TRUE(Load("Good").ok());
  Write("V1", Tzif('\0', {}, {0}, ""));
  Write("BadMagic", "TZiX" + good.substr(4));
  Write("Truncated", good.substr(0, good.size() - 20));
  Write("NoFooterNewline", good.substr(0, good.size() - 1));
  Write("BadFooter", Tzif('2', {0}, {3600}, "nonsense"));
  Write("LeapSeconds", Tzif('2', {0}, {0}, "UTC0", 1));
  Write("Unordered", Tzif('2', {10, 5}, {0, 3600}, ""));
  Write("Empty", "");
  for (const char* name : {"V1", "BadMagic", "Truncated", "NoFooterNewline", "BadFooter",
                           "LeapSeconds", "Unordered", "Empty", "Missing"}) {
    auto z = Load(name);
    EXPECT_FALSE(z.ok()) << name;
  }
}

}  // namespace
}  // namespace gc::scheduler
