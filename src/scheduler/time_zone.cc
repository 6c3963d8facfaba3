#include "scheduler/time_zone.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>

namespace gc::scheduler {
namespace {

namespace chr = std::chrono;

// Bounds of the time line, far enough from the int64 limits that adding an offset cannot
// overflow.
constexpr int64_t kMin = std::numeric_limits<int64_t>::min() / 4;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 4;
constexpr int64_t kDay = 86400;

AwsError UnknownZone(std::string_view name) {
  return AwsError::Validation("Invalid time zone: " + std::string(name) +
                              ". Specify a time zone in IANA format, for example "
                              "America/Los_Angeles.");
}

// IANA names: components of letters, digits, '_', '+', '-' separated by single '/'. This also
// keeps the lookup inside the zoneinfo directory (no "..", no absolute paths).
bool PlausibleZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  char prev = '/';
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-' || c == '/';
    if (!ok || (c == '/' && prev == '/')) return false;
    prev = c;
  }
  // Entries of the directory that are not zones of the database.
  if (name == "posixrules" || name == "localtime") return false;
  if (name.starts_with("posix/") || name.starts_with("right/")) return false;
  return true;
}

// Big-endian reader over the TZif bytes (RFC 8536 section 3).
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Has(size_t n) const { return data_.size() - pos_ >= n; }
  void Skip(size_t n) { pos_ += n; }
  uint8_t U8() { return static_cast<uint8_t>(data_[pos_++]); }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | U8();
    return v;
  }
  int64_t I64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | U8();
    return static_cast<int64_t>(v);
  }
  std::string_view Rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

struct Counts {
  uint32_t isut, isstd, leap, time, type, chr;
};

// Reads a TZif header ("TZif", version, 15 reserved bytes, six counts).
bool ReadHeader(Reader& r, char* version, Counts* c) {
  if (!r.Has(44)) return false;
  if (r.U8() != 'T' || r.U8() != 'Z' || r.U8() != 'i' || r.U8() != 'f') return false;
  *version = static_cast<char>(r.U8());
  r.Skip(15);
  c->isut = r.U32();
  c->isstd = r.U32();
  c->leap = r.U32();
  c->time = r.U32();
  c->type = r.U32();
  c->chr = r.U32();
  // Counts far beyond any real zone mean a damaged file; this also keeps the size sums small.
  return c->time < 100000 && c->type < 1000 && c->chr < 10000 && c->leap < 10000 &&
         c->isut <= c->type && c->isstd <= c->type;
}

// --- POSIX TZ strings (RFC 8536 section 3.3, POSIX.1-2017 section 8.3) ----------------------

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool AtEnd() const { return i_ == s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  bool Take(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }
  // A zone abbreviation: three or more letters, or <...> with letters, digits, '+', '-'.
  bool Name() {
    size_t start = i_;
    if (Take('<')) {
      while (!AtEnd() && s_[i_] != '>') {
        char c = s_[i_];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '-';
        if (!ok) return false;
        ++i_;
      }
      if (!Take('>')) return false;
      return i_ - start >= 5;
    }
    while (!AtEnd() && ((s_[i_] >= 'A' && s_[i_] <= 'Z') || (s_[i_] >= 'a' && s_[i_] <= 'z'))) {
      ++i_;
    }
    return i_ - start >= 3;
  }
  // Up to `max_digits` decimal digits (at least one) into *v.
  bool Number(int max_digits, int64_t* v) {
    int digits = 0;
    *v = 0;
    while (digits < max_digits && Peek() >= '0' && Peek() <= '9') {
      *v = *v * 10 + (s_[i_++] - '0');
      ++digits;
    }
    return digits > 0;
  }
  // [+-]hh[:mm[:ss]] with |hh| <= max_hours, in seconds.
  bool Hms(int max_hours, int64_t* seconds) {
    int64_t sign = 1;
    if (Take('-')) {
      sign = -1;
    } else {
      Take('+');
    }
    int64_t h = 0, m = 0, s = 0;
    if (!Number(3, &h) || h > max_hours) return false;
    if (Take(':')) {
      if (!Number(2, &m) || m > 59) return false;
      if (Take(':') && (!Number(2, &s) || s > 59)) return false;
    }
    *seconds = sign * (h * 3600 + m * 60 + s);
    return true;
  }
  bool RuleDate(TimeZone::PosixRule::Date* d) {
    int64_t a = 0, b = 0, c = 0;
    if (Take('J')) {
      if (!Number(3, &a) || a < 1 || a > 365) return false;
      d->kind = 'J';
    } else if (Take('M')) {
      if (!Number(2, &a) || a < 1 || a > 12 || !Take('.') || !Number(1, &b) || b < 1 || b > 5 ||
          !Take('.') || !Number(1, &c) || c > 6) {
        return false;
      }
      d->kind = 'M';
    } else {
      if (!Number(3, &a) || a > 365) return false;
      d->kind = 'D';
    }
    d->a = static_cast<int>(a);
    d->b = static_cast<int>(b);
    d->c = static_cast<int>(c);
    d->time = 7200;  // POSIX default 02:00:00
    // RFC 8536 3.3.1: the hours of a rule time range over -167..167.
    if (Take('/') && !Hms(167, &d->time)) return false;
    return true;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Local midnight of a rule date in year `y`, as days since the epoch.
int64_t RuleDay(const TimeZone::PosixRule::Date& d, int y) {
  const chr::sys_days jan1{chr::year{y} / chr::January / 1};
  int64_t day = jan1.time_since_epoch().count();
  if (d.kind == 'J') return day + d.a - 1 + (IsLeap(y) && d.a >= 60 ? 1 : 0);
  if (d.kind == 'D') return day + d.a;
  const chr::month m{static_cast<unsigned>(d.a)};
  const chr::sys_days first{chr::year{y} / m / 1};
  const int wd = static_cast<int>(chr::weekday{first}.c_encoding());
  chr::sys_days when = first + chr::days{(d.c - wd + 7) % 7 + 7 * (d.b - 1)};
  while (chr::year_month_day{when}.month() != m) when -= chr::days{7};  // week 5 = last
  return when.time_since_epoch().count();
}

int CivilYear(int64_t seconds) {
  const chr::sys_days day{
      chr::days{seconds >= 0 ? seconds / kDay : -((-seconds + kDay - 1) / kDay)}};
  return static_cast<int>(chr::year_month_day{day}.year());
}

}  // namespace

TimeZone TimeZone::Utc() {
  TimeZone z;
  z.name_ = "UTC";
  return z;
}

Result<TimeZone> TimeZone::Load(std::string_view name, std::string_view zoneinfo_dir) {
  if (!PlausibleZoneName(name)) return UnknownZone(name);
  std::string path(zoneinfo_dir);
  path += '/';
  path += name;
  std::ifstream in(path, std::ios::binary);
  if (!in) return UnknownZone(name);
  std::string data;
  // The largest real zone file is a few kilobytes; a megabyte is not a zone.
  constexpr size_t kMaxFile = 1 << 20;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxFile) return UnknownZone(name);
  }

  // RFC 8536: a version 1 header and data block, then (version 2+) a second header, the data
  // with 64-bit times, and the footer.
  Reader r(data);
  char version = 0;
  Counts c{};
  if (!ReadHeader(r, &version, &c) || version < '2') return UnknownZone(name);
  const size_t v1_size =
      size_t{c.time} * 5 + size_t{c.type} * 6 + c.chr + size_t{c.leap} * 8 + c.isstd + c.isut;
  if (!r.Has(v1_size)) return UnknownZone(name);
  r.Skip(v1_size);
  if (!ReadHeader(r, &version, &c) || c.type == 0) return UnknownZone(name);
  // Leap-second records appear only in the "right/" variants, whose times are not UTC.
  if (c.leap != 0) return UnknownZone(name);
  const size_t v2_size =
      size_t{c.time} * 9 + size_t{c.type} * 6 + c.chr + size_t{c.leap} * 12 + c.isstd + c.isut;
  if (!r.Has(v2_size)) return UnknownZone(name);

  TimeZone z;
  z.name_ = std::string(name);
  z.transitions_.reserve(c.time);
  for (uint32_t i = 0; i < c.time; ++i) {
    const int64_t t = r.I64();
    // Ascending, and far from the ends of the time line (the earliest real entry is the "big
    // bang" transition at -2^59).
    if (t < kMin / 2 || t > kMax / 2) return UnknownZone(name);
    if (!z.transitions_.empty() && t <= z.transitions_.back()) return UnknownZone(name);
    z.transitions_.push_back(t);
  }
  std::vector<uint8_t> index(c.time);
  for (auto& i : index) {
    i = r.U8();
    if (i >= c.type) return UnknownZone(name);
  }
  std::vector<int64_t> utoff(c.type);
  for (auto& u : utoff) {
    u = static_cast<int32_t>(r.U32());
    r.Skip(2);  // isdst, abbreviation index
    if (u < -25 * 3600 || u > 26 * 3600) return UnknownZone(name);
  }
  r.Skip(c.chr + size_t{c.leap} * 12 + c.isstd + c.isut);
  // RFC 8536 3.2: before the first transition, local time type 0 applies.
  z.initial_offset_ = utoff[0];
  z.offsets_.reserve(c.time);
  for (uint8_t i : index) z.offsets_.push_back(utoff[i]);

  // Footer: "\n" TZ-string "\n"; an empty string means the last type stays in effect.
  std::string_view rest = r.Rest();
  if (rest.size() < 2 || rest.front() != '\n') return UnknownZone(name);
  const size_t end = rest.find('\n', 1);
  if (end == std::string_view::npos) return UnknownZone(name);
  const std::string_view tz = rest.substr(1, end - 1);
  if (!tz.empty()) {
    z.footer_ = ParsePosixRule(tz);
    if (!z.footer_) return UnknownZone(name);
  }
  return z;
}

std::optional<TimeZone::PosixRule> TimeZone::ParsePosixRule(std::string_view text) {
  Cursor cur(text);
  PosixRule rule;
  int64_t offset = 0;
  // POSIX offsets count hours west of Greenwich; ours count east.
  if (!cur.Name() || !cur.Hms(24, &offset)) return std::nullopt;
  rule.std_offset = -offset;
  if (cur.AtEnd()) return rule;
  if (!cur.Name()) return std::nullopt;
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;  // default: one hour ahead of standard time
  if (!cur.AtEnd() && cur.Peek() != ',') {
    if (!cur.Hms(24, &offset)) return std::nullopt;
    rule.dst_offset = -offset;
  }
  if (cur.AtEnd()) {
    // No rule given: POSIX leaves it to the implementation; glibc uses the US rules.
    rule.start = {'M', 3, 2, 0, 7200};
    rule.end = {'M', 11, 1, 0, 7200};
    return rule;
  }
  if (!cur.Take(',') || !cur.RuleDate(&rule.start) || !cur.Take(',') || !cur.RuleDate(&rule.end) ||
      !cur.AtEnd()) {
    return std::nullopt;
  }
  return rule;
}

TimeZone::Period TimeZone::FooterPeriodAt(int64_t t, int64_t floor, int64_t fallback) const {
  if (!footer_) return {floor, kMax, fallback};
  if (!footer_->has_dst) return {floor, kMax, footer_->std_offset};
  const PosixRule& f = *footer_;
  struct Event {
    int64_t at;
    int order;  // at equal instants a DST start sorts after a DST end, so DST all year holds
    int64_t offset;
  };
  std::array<Event, 6> events{};
  const int y = CivilYear(t + f.std_offset);
  for (size_t k = 0; k < 3; ++k) {
    const int yy = y - 1 + static_cast<int>(k);
    // The start is read on the standard-time clock, the end on the DST clock.
    events[2 * k] = {RuleDay(f.start, yy) * kDay + f.start.time - f.std_offset, 1, f.dst_offset};
    events[2 * k + 1] = {RuleDay(f.end, yy) * kDay + f.end.time - f.dst_offset, 0, f.std_offset};
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });
  Period p{floor, kMax, fallback};
  for (const Event& e : events) {
    if (e.at <= t) {
      p.begin = std::max(e.at, floor);
      p.offset = e.offset;
    } else {
      p.end = e.at;
      break;
    }
  }
  return p;
}

TimeZone::Period TimeZone::PeriodAt(int64_t t) const {
  const size_t n = transitions_.size();
  const size_t idx = static_cast<size_t>(
      std::upper_bound(transitions_.begin(), transitions_.end(), t) - transitions_.begin());
  if (n > 0 && idx == 0) return {kMin, transitions_[0], initial_offset_};
  if (idx < n) return {transitions_[idx - 1], transitions_[idx], offsets_[idx - 1]};
  return FooterPeriodAt(t, n ? transitions_[n - 1] : kMin, n ? offsets_[n - 1] : initial_offset_);
}

std::chrono::seconds TimeZone::OffsetAt(Instant t) const {
  return std::chrono::seconds{PeriodAt(t.time_since_epoch().count()).offset};
}

TimeZone::Resolved TimeZone::ToInstant(LocalTime local) const {
  const int64_t l = local.time_since_epoch().count();
  // Offsets stay within a day of UTC, so every period that can hold the reading starts or ends
  // within this window.
  constexpr int64_t kWindow = 3 * kDay;
  std::optional<int64_t> first, second, gap;
  Period p = PeriodAt(l - kWindow);
  for (int guard = 0; guard < 1000; ++guard) {
    const int64_t candidate = l - p.offset;
    if (p.begin <= candidate && candidate < p.end) {
      if (!first) {
        first = candidate;
      } else if (!second) {
        second = candidate;
      }
    }
    if (p.end >= kMax || p.end > l + kWindow) break;
    const Period q = PeriodAt(p.end);
    // Readings in [T + old offset, T + new offset) never show on the clock.
    if (p.end + p.offset <= l && l < p.end + q.offset) gap = p.end;
    p = q;
  }
  auto instant = [](int64_t s) { return Instant{std::chrono::seconds{s}}; };
  if (first && second) return {instant(*first), Fit::kRepeated, instant(*second)};
  if (first) return {instant(*first), Fit::kUnique, {}};
  if (gap) return {instant(*gap), Fit::kSkipped, {}};
  // Not reachable for a consistent zone: every reading either fits a period or falls in a gap.
  return {instant(l - PeriodAt(l).offset), Fit::kUnique, {}};
}

}  // namespace gc::scheduler
