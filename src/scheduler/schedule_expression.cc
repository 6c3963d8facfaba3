#include "scheduler/schedule_expression.h"

#include <algorithm>
#include <array>

namespace gc::scheduler {
namespace {

namespace chr = std::chrono;

constexpr int kFirstYear = 1970;  // the year field's range (AWS: 1970-2199)
constexpr int kLastYear = 2199;
constexpr size_t kMaxLength = 256;  // botocore: ScheduleExpression / MaintenanceWindowSchedule

// One cron field: its name in messages, its range, and whether it takes names.
struct Field {
  const char* name;
  int min;
  int max;
  enum Names { kNone, kMonths, kWeekdays } names = kNone;
  bool wraps = true;  // a range a-b with a > b wraps around the end of the field
  bool steps = true;  // takes '/' (AWS's wildcard table lists none for day-of-week)
};
constexpr Field kSecondsField{"seconds", 0, 59};
constexpr Field kMinutesField{"minutes", 0, 59};
constexpr Field kHoursField{"hours", 0, 23};
constexpr Field kDayOfMonthField{"day-of-month", 1, 31};
constexpr Field kMonthField{"month", 1, 12, Field::kMonths};
constexpr Field kDayOfWeekField{"day-of-week", 1, 7, Field::kWeekdays, true, false};
constexpr Field kYearField{"year", kFirstYear, kLastYear, Field::kNone, false};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED",
                                                           "THU", "FRI", "SAT"};

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A decimal number of at most `max_digits` digits ("09" is 9, as in AWS's own examples).
std::optional<int> Number(std::string_view s, size_t max_digits = 4) {
  if (!AllDigits(s) || s.size() > max_digits) return std::nullopt;
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// Fields separated by runs of spaces or tabs.
std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

unsigned LastDayOfMonth(int y, unsigned m) {
  return static_cast<unsigned>(
      chr::year_month_day_last{chr::year{y} / chr::month{m} / chr::last}.day());
}

// 1 (Sunday) .. 7 (Saturday), the numbering of the day-of-week field.
int WeekdayOf(int y, unsigned m, unsigned d) {
  return static_cast<int>(
             chr::weekday{chr::sys_days{chr::year{y} / chr::month{m} / chr::day{d}}}.c_encoding()) +
         1;
}

// The weekday (Monday-Friday) nearest day `d`, never leaving the month: a Saturday moves to the
// Friday before, or to Monday the 3rd when it is the 1st; a Sunday moves to the Monday after, or
// to the Friday before when it is the last day.
unsigned NearestWeekday(int y, unsigned m, unsigned d, unsigned last) {
  const int wd = WeekdayOf(y, m, d);
  if (wd == 7) return d == 1 ? 3 : d - 1;
  if (wd == 1) return d == last ? d - 2 : d + 1;
  return d;
}

}  // namespace

// Builds Schedules; a friend of Schedule. Every method returns "" on success or the reason the
// expression is refused.
class ScheduleParser {
 public:
  explicit ScheduleParser(Dialect dialect) : dialect_(dialect) {}

  std::string Parse(std::string_view text, Schedule* s) {
    if (text.size() > kMaxLength) return "it is longer than 256 characters";
    auto inner = [&](std::string_view prefix) -> std::optional<std::string_view> {
      if (!text.starts_with(prefix) || !text.ends_with(")")) return std::nullopt;
      return text.substr(prefix.size(), text.size() - prefix.size() - 1);
    };
    if (auto body = inner("cron(")) {
      s->kind_ = Schedule::Kind::kCron;
      return ParseCron(*body, &s->cron_);
    }
    if (auto body = inner("rate(")) {
      s->kind_ = Schedule::Kind::kRate;
      return ParseRate(*body, &s->interval_);
    }
    if (auto body = inner("at(")) {
      s->kind_ = Schedule::Kind::kAt;
      return ParseAt(*body, &s->at_);
    }
    return "use cron(...), rate(...) or at(...)";
  }

 private:
  // --- cron -----------------------------------------------------------------------------------

  std::string ParseCron(std::string_view body, Schedule::Cron* c) {
    std::vector<std::string_view> f = Words(body);
    // Six fields (minutes hours day-of-month month day-of-week year), or seven with a leading
    // seconds field.
    if (f.size() != 6 && f.size() != 7) {
      return "a cron expression has six fields (minutes hours day-of-month month day-of-week "
             "year), or seven with seconds first";
    }
    const bool with_seconds = f.size() == 7;
    if (!with_seconds) f.insert(f.begin(), "0");
    std::vector<int> seconds, minutes, hours, months, years;
    if (auto e = List(f[0], kSecondsField, &seconds); !e.empty()) return e;
    if (auto e = List(f[1], kMinutesField, &minutes); !e.empty()) return e;
    if (auto e = List(f[2], kHoursField, &hours); !e.empty()) return e;
    if (auto e = List(f[4], kMonthField, &months); !e.empty()) return e;
    if (auto e = List(f[6], kYearField, &years); !e.empty()) return e;

    const std::string dom = Upper(f[3]);
    const std::string dow = Upper(f[5]);
    if (dom == "?" && dow == "?") {
      return "'?' can only be specified for day-of-month -OR- day-of-week";
    }
    if (dom != "?" && dow != "?") {
      // Quartz's wording, which AWS repeats in its cron reference.
      return "support for specifying both a day-of-week AND a day-of-month parameter is not "
             "implemented; use '?' in one of them";
    }
    if (auto e = dom != "?" ? DayOfMonth(dom, c) : DayOfWeek(dow, c); !e.empty()) return e;

    for (int m : months) c->months.set(static_cast<size_t>(m));
    for (int y : years) c->years.set(static_cast<size_t>(y - kFirstYear));
    for (int h : hours) {
      for (int m : minutes) {
        for (int s : seconds) c->times_of_day.push_back(h * 3600 + m * 60 + s);
      }
    }

    if (dialect_ == Dialect::kAssociation) {
      if (with_seconds && (seconds.size() != 1 || seconds[0] != 0)) {
        return "the seconds field of an association schedule can only be 0";
      }
      if (c->months.count() != 12) {
        return "State Manager doesn't support specifying months in cron expressions for "
               "associations; use * in the month field";
      }
    }
    // "Cron expressions that lead to rates faster than five (5) minute aren't supported";
    // associations run every 30 minutes at most (as their rate expressions).
    const int min_gap = dialect_ == Dialect::kAssociation ? 30 * 60 : 5 * 60;
    const auto& t = c->times_of_day;
    int gap = 86400 - t.back() + t.front();  // last run of a day to the first of the next
    for (size_t i = 1; i < t.size(); ++i) gap = std::min(gap, t[i] - t[i - 1]);
    if (gap < min_gap) {
      return dialect_ == Dialect::kAssociation
                 ? "associations can't run more often than every 30 minutes"
                 : "cron expressions that lead to rates faster than 5 minutes aren't supported";
    }
    return "";
  }

  // A number or, for month and day-of-week, a name (JAN-DEC, SUN-SAT, any case).
  std::string Value(std::string_view text, const Field& f, int* v) {
    const std::string up = Upper(text);
    auto find = [&](auto& names) {
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == up) return static_cast<int>(i) + 1;
      }
      return 0;
    };
    if (f.names == Field::kMonths && (*v = find(kMonthNames)) != 0) return "";
    if (f.names == Field::kWeekdays && (*v = find(kWeekdayNames)) != 0) return "";
    std::optional<int> n = Number(text);
    if (!n) return "'" + std::string(text) + "' is not a valid " + f.name + " value";
    if (*n < f.min || *n > f.max) {
      return std::string(f.name) + " values must be between " + std::to_string(f.min) + " and " +
             std::to_string(f.max);
    }
    *v = *n;
    return "";
  }

  // A comma-separated list of: *, */step, value, value/step, a-b, a-b/step. A range whose start
  // is after its end wraps around (22-2 in hours, FRI-MON), except in the year field.
  std::string List(std::string_view text, const Field& f, std::vector<int>* out) {
    std::vector<bool> on(static_cast<size_t>(f.max + 1), false);
    const int span = f.max - f.min + 1;
    for (std::string_view item : Split(text, ',')) {
      if (item.empty()) return std::string("empty value in the ") + f.name + " field";
      if (item == "?") {
        return std::string("'?' can only be specified for day-of-month or day-of-week, not ") +
               f.name;
      }
      std::string_view range = item;
      int step = 1;
      bool stepped = false;
      if (size_t slash = item.find('/'); slash != std::string_view::npos) {
        if (!f.steps) return std::string("'/' isn't supported in the ") + f.name + " field";
        std::optional<int> n = Number(item.substr(slash + 1));
        if (!n || *n < 1 || *n > span) {
          return std::string("the increment after '/' in the ") + f.name +
                 " field must be a number between 1 and " + std::to_string(span);
        }
        step = *n;
        stepped = true;
        range = item.substr(0, slash);
      }
      int start = f.min, end = f.max;
      if (range != "*") {
        const size_t dash = range.find('-');
        if (auto e = Value(range.substr(0, dash), f, &start); !e.empty()) return e;
        if (dash != std::string_view::npos) {
          if (auto e = Value(range.substr(dash + 1), f, &end); !e.empty()) return e;
        } else if (!stepped) {
          end = start;  // a single value; "a/n" runs from a to the end of the range
        }
      }
      if (end < start) {
        if (!f.wraps) return "the start year must not be after the end year";
        end += span;
      }
      for (int i = start; i <= end; i += step) {
        on[static_cast<size_t>(f.min + (i - f.min) % span)] = true;
      }
    }
    for (int v = f.min; v <= f.max; ++v) {
      if (on[static_cast<size_t>(v)]) out->push_back(v);
    }
    return "";
  }

  // Day-of-month: a list as above, or one of L, L-n, LW, L-nW, nW standing alone.
  std::string DayOfMonth(const std::string& text, Schedule::Cron* c) {
    using Days = Schedule::Cron::Days;
    const char* kBadL =
        "'L' in day-of-month stands alone or as L-n (n up to 30), optionally followed by W, and "
        "can't be combined with other days";
    const char* kBadW =
        "'W' in day-of-month follows a single day (such as 15W) and can't be combined with other "
        "days";
    const bool has_l = text.find('L') != std::string::npos;
    const bool has_w = text.find('W') != std::string::npos;
    if (!has_l && !has_w) {
      std::vector<int> days;
      if (auto e = List(text, kDayOfMonthField, &days); !e.empty()) return e;
      c->days = Days::kBySet;
      for (int d : days) c->days_of_month.set(static_cast<size_t>(d));
      return "";
    }
    std::string_view t = text;
    const bool weekday = t.ends_with("W");
    if (weekday) t.remove_suffix(1);
    if (t.starts_with("L")) {
      t.remove_prefix(1);
      int offset = 0;
      if (!t.empty()) {
        std::optional<int> n = t.starts_with("-") ? Number(t.substr(1), 2) : std::nullopt;
        if (!n || *n > 30) return kBadL;
        offset = *n;
      }
      c->days = weekday ? Days::kLastWeekday : Days::kLast;
      c->n = offset;
      return "";
    }
    std::optional<int> day = weekday ? Number(t, 2) : std::nullopt;
    if (!day) return has_l ? kBadL : kBadW;
    if (*day < 1 || *day > 31) return "day-of-month values must be between 1 and 31";
    c->days = Days::kNearestWeekday;
    c->n = *day;
    return "";
  }

  // Day-of-week: a list as above, or one of L (Saturday, the last day of the week), dL (the last
  // weekday d of the month), d#n (the n-th weekday d of the month) standing alone.
  std::string DayOfWeek(const std::string& t, Schedule::Cron* c) {
    using Days = Schedule::Cron::Days;
    const char* kBadL =
        "'L' in day-of-week stands alone or follows a single day (such as 6L) and can't be "
        "combined with other days";
    const char* kBadHash =
        "'#' follows a single day (such as 6#3), and only one '#' expression is allowed in "
        "day-of-week";
    if (t == "L") {
      c->days = Days::kByWeekday;
      c->days_of_week.set(7);
      return "";
    }
    const size_t hash = t.find('#');
    const bool last = t.size() > 1 && t.back() == 'L';
    if (hash == std::string::npos && !last) {
      if (t.find('L') != std::string::npos) return kBadL;
      std::vector<int> days;
      if (auto e = List(t, kDayOfWeekField, &days); !e.empty()) return e;
      c->days = Days::kByWeekday;
      for (int d : days) c->days_of_week.set(static_cast<size_t>(d));
      return "";
    }
    const std::string_view day = std::string_view(t).substr(0, last ? t.size() - 1 : hash);
    if (last && (hash != std::string::npos || day.find_first_of(",-/*L") != std::string::npos)) {
      return kBadL;
    }
    if (!last && t.find_first_of(",-/*L", 0) != std::string::npos) return kBadHash;
    int wd = 0;
    if (auto e = Value(day, kDayOfWeekField, &wd); !e.empty()) return e;
    c->weekday = wd;
    if (last) {
      c->days = Days::kLastWeekdayOfMonth;
      return "";
    }
    const std::string_view nth = std::string_view(t).substr(hash + 1);
    if (nth.find('#') != std::string_view::npos) return kBadHash;
    std::optional<int> n = Number(nth, 1);
    if (!n || *n < 1 || *n > 5) return "a numeric value between 1 and 5 must follow the '#' option";
    c->days = Days::kNthWeekday;
    c->n = *n;
    return "";
  }

  // --- rate -----------------------------------------------------------------------------------

  std::string ParseRate(std::string_view body, chr::seconds* interval) {
    std::vector<std::string_view> w = Words(body);
    if (w.size() != 2) return "a rate expression is rate(value unit), such as rate(30 minutes)";
    std::optional<int> value = Number(w[0], 9);
    if (!value || *value < 1) return "the rate value must be a positive integer";
    int64_t unit = 0;
    const std::string_view u = w[1];
    if (u == "minute" || u == "minutes") unit = 60;
    if (u == "hour" || u == "hours") unit = 3600;
    if (u == "day" || u == "days") unit = 86400;
    if (unit == 0) return "the rate unit must be minute(s), hour(s) or day(s)";
    // "If the value is equal to 1, then the unit must be singular. Similarly, for values
    // greater than 1, the unit must be plural."
    if ((*value == 1) != !u.ends_with("s")) {
      return *value == 1 ? "for a value of 1 the unit must be singular"
                         : "for values greater than 1 the unit must be plural";
    }
    *interval = chr::seconds{*value * unit};
    if (dialect_ == Dialect::kAssociation) {
      // "Associations support ... intervals of 30 minutes or greater and less than 31 days."
      if (*interval < chr::minutes{30} || *interval >= chr::days{31}) {
        return "associations support rates of 30 minutes or greater and less than 31 days";
      }
    } else if (*interval < chr::minutes{5}) {
      return "rates faster than 5 minutes aren't supported";
    }
    return "";
  }

  // --- at -------------------------------------------------------------------------------------

  // at(yyyy-mm-ddThh:mm:ss)
  std::string ParseAt(std::string_view body, LocalTime* at) {
    const char* kForm = "an at expression is at(yyyy-mm-ddThh:mm:ss)";
    if (body.size() != 19 || body[4] != '-' || body[7] != '-' || body[10] != 'T' ||
        body[13] != ':' || body[16] != ':') {
      return kForm;
    }
    auto y = Number(body.substr(0, 4)), mo = Number(body.substr(5, 2)),
         d = Number(body.substr(8, 2)), h = Number(body.substr(11, 2)),
         mi = Number(body.substr(14, 2)), s = Number(body.substr(17, 2));
    if (!y || !mo || !d || !h || !mi || !s) return kForm;
    const chr::year_month_day date{chr::year{*y}, chr::month{static_cast<unsigned>(*mo)},
                                   chr::day{static_cast<unsigned>(*d)}};
    if (*y < kFirstYear || !date.ok() || *h > 23 || *mi > 59 || *s > 59) {
      return "the date and time of the at expression don't exist";
    }
    *at = chr::local_days{date} + chr::hours{*h} + chr::minutes{*mi} + chr::seconds{*s};
    return "";
  }

  Dialect dialect_;
};

Result<Schedule> Schedule::Parse(std::string_view text, Dialect dialect) {
  Schedule s;
  s.text_ = std::string(text);
  ScheduleParser parser(dialect);
  std::string reason = parser.Parse(text, &s);
  if (reason.empty()) return s;
  std::string message = "Invalid schedule expression " + std::string(text) + ": " + reason + ".";
  if (dialect == Dialect::kAssociation) return AwsError{"InvalidSchedule", std::move(message)};
  return AwsError::Validation(std::move(message));
}

bool Schedule::Cron::DayMatches(int y, unsigned m, unsigned d) const {
  const unsigned last = LastDayOfMonth(y, m);
  switch (days) {
    case Days::kBySet:
      return days_of_month.test(d);
    case Days::kLast:
      return static_cast<int>(last) - n >= 1 && d == last - static_cast<unsigned>(n);
    case Days::kNearestWeekday:
      return static_cast<unsigned>(n) <= last &&
             d == NearestWeekday(y, m, static_cast<unsigned>(n), last);
    case Days::kLastWeekday: {
      const int base = static_cast<int>(last) - n;
      return base >= 1 && d == NearestWeekday(y, m, static_cast<unsigned>(base), last);
    }
    case Days::kByWeekday:
      return days_of_week.test(static_cast<size_t>(WeekdayOf(y, m, d)));
    case Days::kLastWeekdayOfMonth:
      return WeekdayOf(y, m, d) == weekday && d + 7 > last;
    case Days::kNthWeekday:
      return WeekdayOf(y, m, d) == weekday && static_cast<int>((d - 1) / 7 + 1) == n;
  }
  return false;
}

std::optional<Instant> Schedule::NextCron(Instant after, const TimeZone& zone) const {
  // Readings map to instants monotonically (TimeZone::ToInstant), so no reading at or before the
  // wall-clock time of `after` can run after it: the search starts at that reading and walks
  // forward over days, skipping whole years and months that the fields exclude.
  const LocalTime start = zone.ToLocal(after);
  chr::local_days day = chr::floor<chr::days>(start);
  const int32_t start_time = static_cast<int32_t>((start - day).count());
  bool first_day = true;
  for (;;) {
    const chr::year_month_day ymd{day};
    const int y = static_cast<int>(ymd.year());
    const unsigned m = static_cast<unsigned>(ymd.month());
    if (y > kLastYear) return std::nullopt;
    if (y < kFirstYear || !cron_.years.test(static_cast<size_t>(y - kFirstYear))) {
      int next = std::max(y + 1, kFirstYear);
      while (next <= kLastYear && !cron_.years.test(static_cast<size_t>(next - kFirstYear))) ++next;
      if (next > kLastYear) return std::nullopt;
      day = chr::local_days{chr::year{next} / chr::January / 1};
      first_day = false;
      continue;
    }
    if (!cron_.months.test(m)) {
      day = chr::local_days{(ymd.year() / ymd.month() / 1) + chr::months{1}};
      first_day = false;
      continue;
    }
    if (cron_.DayMatches(y, m, static_cast<unsigned>(ymd.day()))) {
      const auto& t = cron_.times_of_day;
      auto it = first_day ? std::upper_bound(t.begin(), t.end(), start_time) : t.begin();
      for (; it != t.end(); ++it) {
        const Instant when = zone.ToInstant(day + chr::seconds{*it}).instant;
        if (when > after) return when;
      }
    }
    day += chr::days{1};
    first_day = false;
  }
}

std::optional<Instant> Schedule::NextAfter(Instant after, const TimeZone& zone,
                                           Instant rate_start) const {
  switch (kind_) {
    case Kind::kCron:
      return NextCron(after, zone);
    case Kind::kAt: {
      const Instant when = zone.ToInstant(at_).instant;
      if (when > after) return when;
      return std::nullopt;
    }
    case Kind::kRate: {
      if (after < rate_start) return rate_start;
      const auto periods = (after - rate_start) / interval_ + 1;
      return rate_start + periods * interval_;
    }
  }
  return std::nullopt;
}

}  // namespace gc::scheduler
