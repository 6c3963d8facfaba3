#include "store/store.h"

#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <system_error>

#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace gc::store {
namespace {

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

int64_t DoubleToInt(double d) {
  if (std::isnan(d)) return 0;
  // 2^63 is exactly representable; anything at or beyond it saturates.
  if (d >= 9223372036854775808.0) return std::numeric_limits<int64_t>::max();
  if (d <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return std::string_view(s).starts_with(prefix);
}

}  // namespace

int64_t Row::Int(size_t i) const {
  const Value& v = cols.at(i);
  if (const auto* x = std::get_if<int64_t>(&v)) return *x;
  if (const auto* d = std::get_if<double>(&v)) return DoubleToInt(*d);
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (auto x = ParseInt(*s)) return *x;
    if (auto d = ParseDouble(*s)) return DoubleToInt(*d);
  }
  return 0;
}

double Row::Real(size_t i) const {
  const Value& v = cols.at(i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* x = std::get_if<int64_t>(&v)) return static_cast<double>(*x);
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (auto d = ParseDouble(*s)) return *d;
  }
  return 0;
}

std::string Row::Str(size_t i) const {
  const Value& v = cols.at(i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* x = std::get_if<int64_t>(&v)) return std::to_string(*x);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *d);  // shortest exact form
    return ec == std::errc() ? std::string(buf, end) : std::string();
  }
  return "";
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& url) {
  try {
    if (StartsWith(url, "postgres://") || StartsWith(url, "postgresql://")) {
      return OpenPostgresStore(url);
    }
    std::string path = url;
    if (StartsWith(url, "sqlite://")) {
      path = url.substr(std::string_view("sqlite://").size());
    } else if (StartsWith(url, "sqlite:")) {
      path = url.substr(std::string_view("sqlite:").size());
    }
    return OpenSqliteStore(path);
  } catch (const std::exception& e) {
    return AwsError::Internal(std::string("opening store: ") + e.what());
  }
}

}  // namespace gc::store
