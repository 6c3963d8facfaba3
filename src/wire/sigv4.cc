// SigV4: AWS Signature Version 4 canonicalisation, signing and verification.
// Pure functions over gc::crypto; the only shared state is a sharded, mutex-guarded key cache.
#include "wire/sigv4.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/crypto.h"

namespace gc::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr int64_t kMaxPresignExpires = 604800;  // one week, as AWS caps X-Amz-Expires

constexpr std::string_view kMsgMissing = "Missing Authentication Token";
constexpr std::string_view kMsgUnknownKey =
    "The security token included in the request is invalid.";
constexpr std::string_view kMsgMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kMsgContentSha =
    "The provided 'x-amz-content-sha256' header does not match what was computed.";

// ---------------------------------------------------------------------------------------------
// Small string helpers.

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses exactly s.size() decimal digits; false if any is not a digit.
bool ParseDigits(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// First value of a header (case-insensitive name), or nullptr.
const std::string* FindHeader(const Request& req, std::string_view name) {
  for (const auto& [k, v] : req.headers) {
    if (IEquals(k, name)) return &v;
  }
  return nullptr;
}

void SplitTarget(std::string_view target, std::string_view& path, std::string_view& query) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) {
    path = target;
    query = {};
  } else {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// URI encoding (SigV4 "UriEncode"): unreserved A-Z a-z 0-9 - _ . ~ pass, all else is %XX (upper).

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

void AppendEncoded(std::string& out, std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of %XX only ('+' stays '+': SigV4 clients encode a space as %20). A '%' not
// followed by two hex digits is kept literally.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// decode-then-encode of one query component; the common all-unreserved case is a plain copy.
std::string CanonicalQueryComponent(std::string_view raw) {
  if (std::all_of(raw.begin(), raw.end(), IsUnreserved)) return std::string(raw);
  std::string decoded = PercentDecode(raw);
  std::string out;
  out.reserve(decoded.size() + decoded.size() / 2);
  AppendEncoded(out, decoded, /*keep_slash=*/false);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SigV4 step 1a: canonical URI. Non-S3 services remove "." / ".." segments and empty segments
// (duplicate slashes), keep a trailing slash, then URI-encode each segment once more.

void AppendCanonicalUri(std::string& out, std::string_view path, bool normalize) {
  if (path.empty()) {
    out.push_back('/');
    return;
  }
  if (!normalize) {
    AppendEncoded(out, path, /*keep_slash=*/true);
    return;
  }
  // Segments as views into `path`; at most path.size()/2+1 of them.
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = end + 1;
  }
  out.push_back('/');
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    AppendEncoded(out, segments[i], /*keep_slash=*/false);
  }
  if (!segments.empty() && path.back() == '/') out.push_back('/');
}

// ---------------------------------------------------------------------------------------------
// SigV4 step 1b: canonical query string: every parameter (except X-Amz-Signature, and
// X-Amz-Security-Token when asked) decoded then URI-encoded, sorted by key then value.

void AppendCanonicalQuery(std::string& out, std::string_view query, bool drop_token) {
  if (query.empty()) return;
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (key == "X-Amz-Signature") continue;
    if (drop_token && key == "X-Amz-Security-Token") continue;
    params.emplace_back(CanonicalQueryComponent(key), CanonicalQueryComponent(value));
  }
  std::sort(params.begin(), params.end());
  for (size_t i = 0; i < params.size(); ++i) {
    if (i > 0) out.push_back('&');
    out += params[i].first;
    out.push_back('=');
    out += params[i].second;
  }
}

// Value of a query parameter (exact key match), decoded; nullopt if absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    return eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// SigV4 step 1c: canonical headers: lowercase name, ':' then each value trimmed with inner runs
// of whitespace collapsed to one space ("Trimall"), repeated headers joined with ','.

void AppendTrimAll(std::string& out, std::string_view v) {
  v = Trim(v);
  bool pending_space = false;
  for (char c : v) {
    if (IsSpace(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
}

// `signed_headers` is the lowercase ';'-joined list.
void AppendCanonicalHeaders(std::string& out, const Request& req, std::string_view signed_headers) {
  size_t start = 0;
  while (start < signed_headers.size()) {
    size_t end = signed_headers.find(';', start);
    if (end == std::string_view::npos) end = signed_headers.size();
    std::string_view name = signed_headers.substr(start, end - start);
    start = end + 1;
    if (name.empty()) continue;
    out += name;
    out.push_back(':');
    bool first = true;
    for (const auto& [k, v] : req.headers) {
      if (!IEquals(k, name)) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendTrimAll(out, v);
    }
    out.push_back('\n');
  }
}

// SigV4 step 1: canonical request =
//   method \n canonical URI \n canonical query \n canonical headers \n signed headers \n hash.
std::string BuildCanonicalRequest(const Request& req, std::string_view signed_headers,
                                  std::string_view payload_hash, bool normalize_path,
                                  bool drop_query_token) {
  std::string_view path;
  std::string_view query;
  SplitTarget(req.target, path, query);
  std::string out;
  out.reserve(req.method.size() + req.target.size() * 2 + signed_headers.size() * 3 + 256);
  out += req.method;
  out.push_back('\n');
  AppendCanonicalUri(out, path, normalize_path);
  out.push_back('\n');
  AppendCanonicalQuery(out, query, drop_query_token);
  out.push_back('\n');
  AppendCanonicalHeaders(out, req, signed_headers);
  out.push_back('\n');
  out += signed_headers;
  out.push_back('\n');
  out += payload_hash;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Time: ISO-8601 basic (yyyymmddThhmmssZ) and RFC 1123 dates <-> Unix seconds (proleptic UTC).

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, int64_t& m, int64_t& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = yoe + era * 400 + (m <= 2 ? 1 : 0);
}

std::optional<int64_t> ToEpoch(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s) {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  int64_t days = DaysFromCivil(y, mo, d);
  int64_t cy = 0;
  int64_t cm = 0;
  int64_t cd = 0;
  CivilFromDays(days, cy, cm, cd);
  if (cy != y || cm != mo || cd != d) return std::nullopt;  // e.g. 20150231
  return days * 86400 + h * 3600 + mi * 60 + s;
}

std::optional<int64_t> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  int64_t y = 0;
  int64_t mo = 0;
  int64_t d = 0;
  int64_t h = 0;
  int64_t mi = 0;
  int64_t sec = 0;
  if (!ParseDigits(s.substr(0, 4), y) || !ParseDigits(s.substr(4, 2), mo) ||
      !ParseDigits(s.substr(6, 2), d) || !ParseDigits(s.substr(9, 2), h) ||
      !ParseDigits(s.substr(11, 2), mi) || !ParseDigits(s.substr(13, 2), sec)) {
    return std::nullopt;
  }
  return ToEpoch(y, mo, d, h, mi, sec);
}

// RFC 1123: "Sun, 30 Aug 2015 12:36:00 GMT" (the weekday is not checked).
std::optional<int64_t> ParseRfc1123(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  s = Trim(s);
  size_t comma = s.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  s.remove_prefix(comma + 2);
  // "30 Aug 2015 12:36:00 GMT"
  if (s.size() != 24 || s[2] != ' ' || s[6] != ' ' || s[11] != ' ' || s[14] != ':' ||
      s[17] != ':' || s.substr(20) != " GMT") {
    return std::nullopt;
  }
  int64_t d = 0;
  int64_t y = 0;
  int64_t h = 0;
  int64_t mi = 0;
  int64_t sec = 0;
  if (!ParseDigits(s.substr(0, 2), d) || !ParseDigits(s.substr(7, 4), y) ||
      !ParseDigits(s.substr(12, 2), h) || !ParseDigits(s.substr(15, 2), mi) ||
      !ParseDigits(s.substr(18, 2), sec)) {
    return std::nullopt;
  }
  auto it = std::find(kMonths.begin(), kMonths.end(), s.substr(3, 3));
  if (it == kMonths.end()) return std::nullopt;
  return ToEpoch(y, (it - kMonths.begin()) + 1, d, h, mi, sec);
}

// Appends `v` as exactly `width` decimal digits (v is within range for every caller).
void AppendPadded(std::string& out, int64_t v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

std::string FormatAmzDate(int64_t secs) {
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  int64_t y = 0;
  int64_t m = 0;
  int64_t d = 0;
  CivilFromDays(days, y, m, d);
  std::string out;
  out.reserve(16);
  AppendPadded(out, std::clamp<int64_t>(y, 0, 9999), 4);
  AppendPadded(out, m, 2);
  AppendPadded(out, d, 2);
  out.push_back('T');
  AppendPadded(out, rem / 3600, 2);
  AppendPadded(out, rem / 60 % 60, 2);
  AppendPadded(out, rem % 60, 2);
  out.push_back('Z');
  return out;
}

std::string FormatSkew(int64_t seconds) {
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + " min.";
  return std::to_string(seconds) + " sec.";
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// ---------------------------------------------------------------------------------------------
// SigV4 step 3: derived signing keys, cached per (access key, date, region, service). The entry
// also holds the secret it was derived from, so a rotated secret is never served stale.

using SigningKey = std::array<char, 32>;

SigningKey Derive(std::string_view secret, std::string_view date, std::string_view region,
                  std::string_view service) {
  std::string k_secret;
  k_secret.reserve(4 + secret.size());
  k_secret += "AWS4";
  k_secret += secret;
  std::string k = crypto::HmacSha256(k_secret, date);
  k = crypto::HmacSha256(k, region);
  k = crypto::HmacSha256(k, service);
  k = crypto::HmacSha256(k, kTerminator);
  SigningKey out{};
  std::memcpy(out.data(), k.data(), std::min(k.size(), out.size()));
  return out;
}

class SigningKeyCache {
 public:
  SigningKey Get(std::string_view access_key, std::string_view date, std::string_view region,
                 std::string_view service, std::string_view secret) {
    std::string id;
    id.reserve(access_key.size() + date.size() + region.size() + service.size() + 3);
    id += access_key;
    id.push_back('\0');
    id += date;
    id.push_back('\0');
    id += region;
    id.push_back('\0');
    id += service;
    Shard& shard = shards_[std::hash<std::string>{}(id) % kShards];
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      auto it = shard.entries.find(id);
      if (it != shard.entries.end() && crypto::ConstantTimeEquals(it->second.secret, secret)) {
        return it->second.key;
      }
    }
    SigningKey key = Derive(secret, date, region, service);
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.entries.size() >= kShardCapacity) shard.entries.clear();  // old dates age out
    shard.entries.insert_or_assign(std::move(id), Entry{std::string(secret), key});
    return key;
  }

 private:
  static constexpr size_t kShards = 16;
  static constexpr size_t kShardCapacity = 256;
  struct Entry {
    std::string secret;
    SigningKey key;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry> entries;
  };
  std::array<Shard, kShards> shards_;
};

SigningKeyCache& KeyCache() {
  static SigningKeyCache* cache = new SigningKeyCache();  // never destroyed: safe at exit
  return *cache;
}

// SigV4 step 4: signature = hex(HMAC(kSigning, string to sign)).
std::string Sign(const SigningKey& key, std::string_view string_to_sign) {
  return crypto::Hex(crypto::HmacSha256(std::string_view(key.data(), key.size()), string_to_sign));
}

// ---------------------------------------------------------------------------------------------
// Verification: the parsed authentication parameters of either form.

Error Fail(Failure f, std::string message) { return Error{f, std::move(message)}; }

struct AuthParams {
  bool presigned = false;
  std::string credential;      // AK/date/region/service/aws4_request
  std::string signed_headers;  // lowercase, ';'-joined
  std::string signature;
  std::string amz_date;      // yyyymmddThhmmssZ
  int64_t request_time = 0;  // Unix seconds of amz_date
  int64_t expires = 0;       // X-Amz-Expires (presigned only)
};

// Header form: "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
std::optional<Error> ParseAuthorizationHeader(const Request& req, std::string_view value,
                                              AuthParams& p) {
  std::string_view rest = Trim(value);
  size_t sp = rest.find_first_of(" \t");
  std::string_view algorithm = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  if (algorithm != kAlgorithm) {
    return Fail(Failure::kIncompleteSignature,
                "Unsupported AWS 'algorithm': '" + std::string(algorithm) + "'");
  }
  bool have_credential = false;
  bool have_signed_headers = false;
  bool have_signature = false;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find(',', start);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view part = Trim(rest.substr(start, end - start));
    start = end + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return Fail(Failure::kIncompleteSignature,
                  "'" + std::string(part) +
                      "' not a valid key=value pair (missing equal-sign) in Authorization "
                      "header: '" +
                      std::string(value) + "'.");
    }
    std::string_view k = part.substr(0, eq);
    std::string_view v = Trim(part.substr(eq + 1));
    if (k == "Credential" && !have_credential) {
      p.credential.assign(v);
      have_credential = !v.empty();
    } else if (k == "SignedHeaders" && !have_signed_headers) {
      p.signed_headers.assign(v);
      have_signed_headers = !v.empty();
    } else if (k == "Signature" && !have_signature) {
      p.signature.assign(v);
      have_signature = !v.empty();
    }
  }
  // Date: X-Amz-Date, else an RFC 1123 Date header.
  std::optional<int64_t> time;
  bool have_date = false;
  if (const std::string* amz = FindHeader(req, "x-amz-date")) {
    have_date = true;
    std::string_view d = Trim(*amz);
    time = ParseAmzDate(d);
    if (!time) {
      return Fail(Failure::kIncompleteSignature,
                  "Date must be in ISO-8601 'basic format'. Got '" + std::string(d) +
                      "'. See http://en.wikipedia.org/wiki/ISO_8601");
    }
    p.amz_date.assign(d);
  } else if (const std::string* date = FindHeader(req, "date")) {
    have_date = true;
    time = ParseRfc1123(*date);
    if (!time) {
      return Fail(Failure::kIncompleteSignature,
                  "Date must be in RFC 1123 format. Got '" + std::string(Trim(*date)) + "'.");
    }
    p.amz_date = FormatAmzDate(*time);
  }
  if (!have_credential || !have_signed_headers || !have_signature || !have_date) {
    std::string msg;
    if (!have_credential) msg += "Authorization header requires 'Credential' parameter. ";
    if (!have_signature) msg += "Authorization header requires 'Signature' parameter. ";
    if (!have_signed_headers) msg += "Authorization header requires 'SignedHeaders' parameter. ";
    if (!have_date) {
      msg +=
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
          "header. ";
    }
    msg += "Authorization=";
    msg += value;
    return Fail(Failure::kIncompleteSignature, std::move(msg));
  }
  p.request_time = *time;
  return std::nullopt;
}

// Presigned form: X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature.
std::optional<Error> ParsePresignedQuery(std::string_view query, AuthParams& p) {
  p.presigned = true;
  auto algorithm = QueryParam(query, "X-Amz-Algorithm");
  auto credential = QueryParam(query, "X-Amz-Credential");
  auto date = QueryParam(query, "X-Amz-Date");
  auto expires = QueryParam(query, "X-Amz-Expires");
  auto signed_headers = QueryParam(query, "X-Amz-SignedHeaders");
  auto signature = QueryParam(query, "X-Amz-Signature");
  if (!algorithm || !credential || !date || !expires || !signed_headers || !signature ||
      credential->empty() || signed_headers->empty() || signature->empty()) {
    return Fail(Failure::kIncompleteSignature,
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                "X-Amz-Expires parameters.");
  }
  if (*algorithm != kAlgorithm) {
    return Fail(Failure::kIncompleteSignature,
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  }
  auto time = ParseAmzDate(*date);
  if (!time) {
    return Fail(Failure::kIncompleteSignature,
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  int64_t exp = 0;
  if (!ParseDigits(*expires, exp)) {
    return Fail(Failure::kIncompleteSignature, "X-Amz-Expires should be a number");
  }
  if (exp > kMaxPresignExpires) {
    return Fail(Failure::kIncompleteSignature,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  }
  p.credential = std::move(*credential);
  p.signed_headers = std::move(*signed_headers);
  p.signature = std::move(*signature);
  p.amz_date = std::move(*date);
  p.request_time = *time;
  p.expires = exp;
  return std::nullopt;
}

// Credential scope "AK/yyyymmdd/region/service/aws4_request" -> Identity.
std::optional<Error> ParseCredential(const AuthParams& p, Identity& id) {
  std::array<std::string_view, 5> parts;
  std::string_view cred = p.credential;
  size_t n = 0;
  size_t start = 0;
  while (start <= cred.size()) {
    size_t end = cred.find('/', start);
    if (end == std::string_view::npos) end = cred.size();
    if (n == parts.size()) {
      n = parts.size() + 1;
      break;
    }
    parts[n++] = cred.substr(start, end - start);
    start = end + 1;
  }
  if (n != parts.size()) {
    return Fail(Failure::kIncompleteSignature,
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                "keyid/date/region/service/term, got '" +
                    p.credential + "'");
  }
  std::string msg;
  if (parts[2].empty()) msg += "Credential should be scoped to a valid region. ";
  if (parts[3].empty()) msg += "Credential should be scoped to correct service: ''. ";
  if (parts[4] != kTerminator) {
    msg += "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
           std::string(parts[4]) + "'. ";
  }
  if (!msg.empty()) return Fail(Failure::kIncompleteSignature, std::move(msg));
  std::string_view date_part = std::string_view(p.amz_date).substr(0, 8);
  if (parts[1] != date_part) {
    return Fail(Failure::kIncompleteSignature,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                "from HTTP: '" +
                    std::string(parts[1]) + "' != '" + std::string(date_part) + "', from '" +
                    p.amz_date + "'.");
  }
  id.access_key_id.assign(parts[0]);
  id.date.assign(parts[1]);
  id.region.assign(parts[2]);
  id.service.assign(parts[3]);
  return std::nullopt;
}

bool SignsHost(std::string_view signed_headers) {
  size_t start = 0;
  while (start < signed_headers.size()) {
    size_t end = signed_headers.find(';', start);
    if (end == std::string_view::npos) end = signed_headers.size();
    if (signed_headers.substr(start, end - start) == "host") return true;
    start = end + 1;
  }
  return false;
}

// Skew / expiry. Header form: |now - t| <= skew. Presigned: t - skew <= now <= t + expires.
std::optional<Error> CheckTime(const AuthParams& p, const VerifyOptions& o) {
  const int64_t now_ms = o.now_millis;
  const int64_t t_ms = p.request_time * 1000;
  const int64_t skew_ms = o.max_skew_seconds * 1000;
  const int64_t now_s = FloorDiv(now_ms, 1000);
  if (t_ms - now_ms > skew_ms) {
    return Fail(Failure::kExpired,
                "Signature not yet current: " + p.amz_date + " is still later than " +
                    FormatAmzDate(now_s + o.max_skew_seconds) + " (" + FormatAmzDate(now_s) +
                    " + " + FormatSkew(o.max_skew_seconds) + ")");
  }
  if (p.presigned) {
    if (now_ms > (p.request_time + p.expires) * 1000) {
      return Fail(Failure::kExpired, "Request has expired");
    }
  } else if (now_ms - t_ms > skew_ms) {
    return Fail(Failure::kExpired, "Signature expired: " + p.amz_date + " is now earlier than " +
                                       FormatAmzDate(now_s - o.max_skew_seconds) + " (" +
                                       FormatAmzDate(now_s) + " - " +
                                       FormatSkew(o.max_skew_seconds) + ")");
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API.

std::string CanonicalRequest(const Request& req, const std::vector<std::string>& signed_headers,
                             std::string_view payload_hash, bool normalize_path) {
  std::string joined;
  for (const auto& h : signed_headers) {
    if (!joined.empty()) joined.push_back(';');
    for (char c : h) joined.push_back(ToLower(c));
  }
  return BuildCanonicalRequest(req, joined, payload_hash, normalize_path,
                               /*drop_query_token=*/false);
}

// SigV4 step 2: string to sign = algorithm \n amz date \n scope \n hex(sha256(canonical)).
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 64 + 3);
  out += kAlgorithm;
  out.push_back('\n');
  out += amz_date;
  out.push_back('\n');
  out += scope;
  out.push_back('\n');
  out += crypto::Hex(crypto::Sha256(canonical_request));
  return out;
}

std::string DeriveSigningKey(std::string_view secret, std::string_view date,
                             std::string_view region, std::string_view service) {
  SigningKey k = Derive(secret, date, region, service);
  return std::string(k.data(), k.size());
}

namespace {

// Verification steps shared by every signature kind: parses the Authorization header or the
// presigned query, checks the credential scope, the signed Host and the time window, and works
// out the payload hash (X-Amz-Content-Sha256 when sent, else SHA-256 of the body).
struct Parsed {
  AuthParams p;
  Identity id;
  std::string body_hash;
  std::string payload_hash;
  bool has_content_sha = false;
  std::string_view query;
};

std::optional<Error> ParseSigned(const Request& req, const VerifyOptions& options, Parsed& out) {
  std::string_view path;
  SplitTarget(req.target, path, out.query);
  const std::string* authorization = FindHeader(req, "authorization");
  const bool presigned = QueryParam(out.query, "X-Amz-Algorithm").has_value();
  if (authorization == nullptr && !presigned) {
    return Fail(Failure::kMissingAuthentication, std::string(kMsgMissing));
  }
  if (authorization != nullptr && presigned) {
    return Fail(Failure::kIncompleteSignature,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified");
  }
  AuthParams& p = out.p;
  if (auto err = presigned ? ParsePresignedQuery(out.query, p)
                           : ParseAuthorizationHeader(req, *authorization, p)) {
    return err;
  }
  for (char& c : p.signed_headers) c = ToLower(c);
  if (auto err = ParseCredential(p, out.id)) return err;
  if (!SignsHost(p.signed_headers)) {
    return Fail(Failure::kIncompleteSignature,
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (auto err = CheckTime(p, options)) return err;
  return std::nullopt;
}

// SigV4 payload hash: X-Amz-Content-Sha256 when sent (then it must match the body unless it says
// UNSIGNED-PAYLOAD), else SHA-256 of the body.
std::optional<Error> ComputePayloadHash(const Request& req, Parsed& out) {
  out.body_hash = crypto::Hex(crypto::Sha256(req.body));
  out.payload_hash = out.body_hash;
  const std::string* content_sha = FindHeader(req, "x-amz-content-sha256");
  out.has_content_sha = content_sha != nullptr;
  if (content_sha != nullptr) {
    std::string_view declared = Trim(*content_sha);
    if (declared != kUnsignedPayload && declared != out.body_hash) {
      return Fail(Failure::kSignatureMismatch, std::string(kMsgContentSha));
    }
    out.payload_hash.assign(declared);
  }
  return std::nullopt;
}

// Credential scope = credential without the access key id.
std::string_view Scope(const Parsed& v) {
  return std::string_view(v.p.credential).substr(v.id.access_key_id.size() + 1);
}

}  // namespace

std::variant<Identity, Error> Verify(const Request& req, const SecretLookup& lookup,
                                     const VerifyOptions& options) {
  Parsed v;
  if (auto err = ParseSigned(req, options, v)) return *std::move(err);
  const AuthParams& p = v.p;
  const Identity& id = v.id;

  std::optional<std::string> secret = lookup(id.access_key_id);
  if (!secret) return Fail(Failure::kUnknownAccessKey, std::string(kMsgUnknownKey));
  if (auto err = ComputePayloadHash(req, v)) return *std::move(err);

  const SigningKey key = KeyCache().Get(id.access_key_id, id.date, id.region, id.service, *secret);
  const std::string_view scope = Scope(v);
  const bool normalize = !options.disable_path_normalization;
  auto matches = [&](std::string_view payload, bool drop_token) {
    std::string canonical =
        BuildCanonicalRequest(req, p.signed_headers, payload, normalize, drop_token);
    std::string expected = Sign(key, StringToSign(p.amz_date, scope, canonical));
    return crypto::ConstantTimeEquals(expected, p.signature);
  };

  if (matches(v.payload_hash, false)) return id;
  if (p.presigned) {
    // Presigned URLs: S3-style signers sign UNSIGNED-PAYLOAD instead of the body hash; IoT-style
    // signers may append the session token after signing (only when the caller opts in).
    const bool try_unsigned = !v.has_content_sha;
    const bool try_no_token = options.accept_unsigned_query_session_token &&
                              QueryParam(v.query, "X-Amz-Security-Token").has_value();
    if (try_unsigned && matches(kUnsignedPayload, false)) return id;
    if (try_no_token && matches(v.payload_hash, true)) return id;
    if (try_unsigned && try_no_token && matches(kUnsignedPayload, true)) return id;
  }
  return Fail(Failure::kSignatureMismatch, std::string(kMsgMismatch));
}

std::variant<Identity, Error> VerifyWithSignatureCheck(const Request& req,
                                                       const SignatureCheck& check,
                                                       const VerifyOptions& options) {
  Parsed v;
  if (auto err = ParseSigned(req, options, v)) return *std::move(err);
  if (v.p.presigned) {
    return Fail(Failure::kIncompleteSignature,
                "This operation must be signed in the Authorization header.");
  }
  if (auto err = ComputePayloadHash(req, v)) return *std::move(err);
  const std::string canonical =
      BuildCanonicalRequest(req, v.p.signed_headers, v.payload_hash,
                            !options.disable_path_normalization, /*drop_query_token=*/false);
  switch (
      check(v.id.access_key_id, StringToSign(v.p.amz_date, Scope(v), canonical), v.p.signature)) {
    case SignatureCheckResult::kMatch:
      return v.id;
    case SignatureCheckResult::kUnknownKey:
      return Fail(Failure::kUnknownAccessKey, std::string(kMsgUnknownKey));
    case SignatureCheckResult::kMismatch:
      break;
  }
  return Fail(Failure::kSignatureMismatch, std::string(kMsgMismatch));
}

void SignHeaders(Request& req, const Credentials& creds, std::string_view region,
                 std::string_view service, std::string_view amz_date) {
  const bool has_token = !creds.session_token.empty();
  std::erase_if(req.headers, [&](const auto& h) {
    return IEquals(h.first, "authorization") || IEquals(h.first, "x-amz-date") ||
           (has_token && IEquals(h.first, "x-amz-security-token"));
  });
  req.headers.emplace_back("X-Amz-Date", std::string(amz_date));
  if (has_token) req.headers.emplace_back("X-Amz-Security-Token", creds.session_token);

  // Signed headers, already in sorted order.
  std::string signed_headers;
  for (std::string_view name :
       {"content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"}) {
    if (FindHeader(req, name) == nullptr) continue;
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }

  const std::string_view date = amz_date.substr(0, 8);
  std::string scope;
  scope.reserve(date.size() + region.size() + service.size() + kTerminator.size() + 3);
  scope += date;
  scope.push_back('/');
  scope += region;
  scope.push_back('/');
  scope += service;
  scope.push_back('/');
  scope += kTerminator;

  const std::string payload_hash = crypto::Hex(crypto::Sha256(req.body));
  const std::string canonical =
      BuildCanonicalRequest(req, signed_headers, payload_hash, /*normalize_path=*/true,
                            /*drop_query_token=*/false);
  const SigningKey key =
      KeyCache().Get(creds.access_key_id, date, region, service, creds.secret_access_key);
  const std::string signature = Sign(key, StringToSign(amz_date, scope, canonical));

  std::string auth;
  auth.reserve(kAlgorithm.size() + creds.access_key_id.size() + scope.size() +
               signed_headers.size() + signature.size() + 48);
  auth += kAlgorithm;
  auth += " Credential=";
  auth += creds.access_key_id;
  auth.push_back('/');
  auth += scope;
  auth += ", SignedHeaders=";
  auth += signed_headers;
  auth += ", Signature=";
  auth += signature;
  req.headers.emplace_back("Authorization", std::move(auth));
}

}  // namespace gc::sigv4
