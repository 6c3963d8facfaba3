// SigV4 tests: every case of the published aws-c-auth corpus (shared/reference/sigv4-test-suite)
// in both the header and the presigned form, then unit tests of the error paths and edge rules.
#include "wire/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/rsa_pss.h"

#ifndef GC_SHARED_DIR_DEFAULT
#define GC_SHARED_DIR_DEFAULT ""
#endif

namespace gc::sigv4 {
namespace {

namespace fs = std::filesystem;

constexpr char kMismatchMessage[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

// ---------------------------------------------------------------------------------------------
// Corpus access.

fs::path CorpusDir() {
  const char* env = std::getenv("GC_SHARED_DIR");
  std::string base = (env != nullptr && *env != '\0') ? env : GC_SHARED_DIR_DEFAULT;
  return fs::path(base) / "reference" / "sigv4-test-suite";
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(CorpusDir(), ec)) return names;
  for (const auto& entry : fs::directory_iterator(CorpusDir(), ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "context.json")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Raw HTTP/1.1 request text -> Request. The request-target may contain spaces (the corpus writes
// paths unencoded), so it runs from the first space to the last " HTTP/". A header line that
// starts with whitespace continues the previous value (obs-fold); the fold is kept verbatim.
Request ParseHttp(std::string_view raw) {
  Request req;
  size_t pos = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= raw.size()) return false;
    size_t nl = raw.find('\n', pos);
    if (nl == std::string_view::npos) nl = raw.size();
    line = raw.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    return true;
  };
  std::string_view line;
  if (!next_line(line)) throw std::runtime_error("empty request");
  size_t sp = line.find(' ');
  size_t version = line.rfind(" HTTP/");
  if (sp == std::string_view::npos || version == std::string_view::npos || version <= sp) {
    throw std::runtime_error("bad request line: " + std::string(line));
  }
  req.method = std::string(line.substr(0, sp));
  req.target = std::string(line.substr(sp + 1, version - sp - 1));
  while (next_line(line)) {
    if (line.empty()) {
      if (pos < raw.size()) req.body = std::string(raw.substr(pos));
      break;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (req.headers.empty()) throw std::runtime_error("continuation without header");
      req.headers.back().second += "\n";
      req.headers.back().second += line;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw std::runtime_error("bad header: " + std::string(line));
    }
    req.headers.emplace_back(std::string(line.substr(0, colon)),
                             std::string(line.substr(colon + 1)));
  }
  return req;
}

// ---------------------------------------------------------------------------------------------
// Test-side helpers, written independently of sigv4.cc.

int64_t ParseIsoTimestampMillis(const std::string& s) {  // "2015-08-30T12:36:00Z"
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  if (in.fail()) throw std::runtime_error("bad timestamp " + s);
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string AmzDate(int64_t millis) {
  std::time_t t = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string HexSha256(std::string_view s) { return crypto::Hex(crypto::Sha256(s)); }

bool NameIs(std::string_view header_name, std::string_view name) {
  return header_name.size() == name.size() &&
         std::equal(header_name.begin(), header_name.end(), name.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

const std::string* Header(const Request& req, std::string_view name) {
  for (const auto& [k, v] : req.headers) {
    if (NameIs(k, name)) return &v;
  }
  return nullptr;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// "k=v&k=v" pieces of the target's query (raw).
std::vector<std::pair<std::string, std::string>> QueryPairs(const std::string& target) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t q = target.find('?');
  if (q == std::string::npos) return out;
  for (const auto& piece : Split(std::string_view(target).substr(q + 1), '&')) {
    size_t eq = piece.find('=');
    out.emplace_back(piece.substr(0, eq), eq == std::string::npos ? "" : piece.substr(eq + 1));
  }
  return out;
}

std::string WithQueryPairs(const std::string& target,
                           const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out = target.substr(0, target.find('?'));
  for (size_t i = 0; i < pairs.size(); ++i) {
    out += i == 0 ? "?" : "&";
    out += pairs[i].first + "=" + pairs[i].second;
  }
  return out;
}

std::string QueryValue(const std::string& target, const std::string& key) {
  for (const auto& [k, v] : QueryPairs(target)) {
    if (k == key) return v;
  }
  return "";
}

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

// Value of a "Name=value" element of an Authorization header.
std::string AuthParam(const std::string& authorization, const std::string& name) {
  size_t p = authorization.find(name + "=");
  if (p == std::string::npos) return "";
  p += name.size() + 1;
  size_t end = authorization.find(',', p);
  return authorization.substr(p, end == std::string::npos ? std::string::npos : end - p);
}

// ---------------------------------------------------------------------------------------------
// One corpus case.

struct Case {
  std::string name;
  std::string access_key_id;
  std::string secret;
  std::string token;
  std::string region;
  std::string service;
  bool normalize = true;
  bool sign_body = false;
  bool omit_session_token = false;
  int64_t expires = 0;
  int64_t now_millis = 0;
  std::string amz_date;
  fs::path dir;

  std::string File(const std::string& f) const { return ReadFile(dir / f); }
  Request Http(const std::string& f) const { return ParseHttp(File(f)); }

  std::string Scope() const {
    return amz_date.substr(0, 8) + "/" + region + "/" + service + "/aws4_request";
  }

  SecretLookup Lookup() const {
    return
        [ak = access_key_id, secret = secret](std::string_view id) -> std::optional<std::string> {
          if (id == ak) return secret;
          return std::nullopt;
        };
  }

  VerifyOptions Options(int64_t now_offset_millis = 0) const {
    VerifyOptions o;
    o.now_millis = now_millis + now_offset_millis;
    o.disable_path_normalization = !normalize;
    o.accept_unsigned_query_session_token = omit_session_token;
    return o;
  }
};

Case LoadCase(const std::string& name) {
  Case c;
  c.name = name;
  c.dir = CorpusDir() / name;
  auto ctx = nlohmann::json::parse(ReadFile(c.dir / "context.json"));
  const auto& creds = ctx.at("credentials");
  c.access_key_id = creds.at("access_key_id").get<std::string>();
  c.secret = creds.at("secret_access_key").get<std::string>();
  c.token = creds.value("token", "");
  c.region = ctx.at("region").get<std::string>();
  c.service = ctx.at("service").get<std::string>();
  c.normalize = ctx.value("normalize", true);
  c.sign_body = ctx.value("sign_body", false);
  c.omit_session_token = ctx.value("omit_session_token", false);
  c.expires = ctx.value("expiration_in_seconds", 0);
  c.now_millis = ParseIsoTimestampMillis(ctx.at("timestamp").get<std::string>());
  c.amz_date = AmzDate(c.now_millis);
  return c;
}

Failure FailureOf(const std::variant<Identity, Error>& r) { return std::get<Error>(r).failure; }
std::string MessageOf(const std::variant<Identity, Error>& r) { return std::get<Error>(r).message; }

std::string Describe(const std::variant<Identity, Error>& r) {
  if (std::holds_alternative<Identity>(r)) return "accepted";
  const Error& e = std::get<Error>(r);
  return "rejected (" + std::to_string(static_cast<int>(e.failure)) + "): " + e.message;
}

// Copies of a signed request with one signed part altered each.
std::vector<std::pair<std::string, Request>> Alterations(const Case& c, const Request& signed_req,
                                                         bool presigned) {
  std::vector<std::pair<std::string, Request>> out;
  auto add = [&](std::string what, auto&& mutate) {
    Request r = signed_req;
    mutate(r);
    out.emplace_back(std::move(what), std::move(r));
  };
  add("method", [](Request& r) { r.method = r.method == "GET" ? "POST" : "GET"; });
  add("path", [](Request& r) {
    r.target.insert(r.target.find('?') == std::string::npos ? r.target.size() : r.target.find('?'),
                    "x");
  });
  add("query: added parameter", [](Request& r) {
    r.target += r.target.find('?') == std::string::npos ? "?extra=1" : "&extra=1";
  });
  add("body", [](Request& r) { r.body += "x"; });

  // Query values the signature covers (X-Amz-Signature and an unsigned token excluded).
  auto pairs = QueryPairs(signed_req.target);
  for (size_t i = 0; i < pairs.size(); ++i) {
    const std::string& key = pairs[i].first;
    if (key == "X-Amz-Signature" || key == "X-Amz-Algorithm" || key == "X-Amz-Credential" ||
        key == "X-Amz-SignedHeaders" || (c.omit_session_token && key == "X-Amz-Security-Token")) {
      continue;  // algorithm/credential/signed-headers changes are malformations, not forgeries
    }
    std::string changed = pairs[i].second + "x";
    if (key == "X-Amz-Date") changed = ReplaceAll(pairs[i].second, "00Z", "01Z");
    if (key == "X-Amz-Expires") changed = std::to_string(std::stoll(pairs[i].second) - 1);
    add("query value " + key, [&](Request& r) {
      auto altered = pairs;
      altered[i].second = changed;
      r.target = WithQueryPairs(r.target, altered);
    });
  }

  // Header values the signature covers.
  std::string signed_headers =
      presigned ? ReplaceAll(QueryValue(signed_req.target, "X-Amz-SignedHeaders"), "%3B", ";")
                : AuthParam(*Header(signed_req, "authorization"), "SignedHeaders");
  for (const std::string& name : Split(signed_headers, ';')) {
    add("header " + name, [&](Request& r) {
      for (auto& [k, v] : r.headers) {
        if (!NameIs(k, name)) continue;
        v = name == "x-amz-date" ? ReplaceAll(v, "00Z", "01Z") : v + "x";
        break;
      }
    });
    // Reordering repeated values changes the joined canonical value.
    std::vector<size_t> idx;
    for (size_t i = 0; i < signed_req.headers.size(); ++i) {
      if (NameIs(signed_req.headers[i].first, name)) idx.push_back(i);
    }
    if (idx.size() >= 2 && signed_req.headers[idx[0]].second != signed_req.headers[idx[1]].second) {
      add("header order " + name,
          [&](Request& r) { std::swap(r.headers[idx[0]].second, r.headers[idx[1]].second); });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The corpus must be there: a missing directory fails here (and leaves the suite uninstantiated,
// which GoogleTest also reports as a failure).

TEST(SigV4CorpusPresence, CorpusDirectoryHasCases) {
  ASSERT_TRUE(fs::is_directory(CorpusDir()))
      << "SigV4 corpus missing at " << CorpusDir() << " (set GC_SHARED_DIR to the shared/ folder)";
  EXPECT_GE(CaseNames().size(), 30u) << "corpus at " << CorpusDir() << " looks incomplete";
}

class SigV4Corpus : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { c_ = LoadCase(GetParam()); }
  Case c_;
};

// (a) header form: canonical request, string to sign and signature equal the corpus files.
TEST_P(SigV4Corpus, HeaderCanonicalRequestStringToSignAndSignature) {
  Request req = c_.Http("header-signed-request.txt");
  const std::string* auth = Header(req, "authorization");
  ASSERT_NE(auth, nullptr);
  std::vector<std::string> signed_headers = Split(AuthParam(*auth, "SignedHeaders"), ';');
  const std::string* content_sha = Header(req, "x-amz-content-sha256");
  std::string payload = content_sha != nullptr ? *content_sha : HexSha256(req.body);
  if (c_.sign_body) {
    EXPECT_EQ(payload, HexSha256(req.body));
  }

  std::string canonical = CanonicalRequest(req, signed_headers, payload, c_.normalize);
  EXPECT_EQ(canonical, c_.File("header-canonical-request.txt"));
  std::string sts = StringToSign(c_.amz_date, c_.Scope(), canonical);
  EXPECT_EQ(sts, c_.File("header-string-to-sign.txt"));
  std::string key = DeriveSigningKey(c_.secret, c_.amz_date.substr(0, 8), c_.region, c_.service);
  std::string signature = crypto::Hex(crypto::HmacSha256(key, sts));
  EXPECT_EQ(signature, c_.File("header-signature.txt"));
  EXPECT_EQ(AuthParam(*auth, "Signature"), signature);
}

// (a') presigned form: the same three artefacts.
TEST_P(SigV4Corpus, QueryCanonicalRequestStringToSignAndSignature) {
  Request req = c_.Http("query-signed-request.txt");
  if (c_.omit_session_token) {  // the token was appended after signing
    auto pairs = QueryPairs(req.target);
    std::erase_if(pairs, [](const auto& p) { return p.first == "X-Amz-Security-Token"; });
    req.target = WithQueryPairs(req.target, pairs);
  }
  std::vector<std::string> signed_headers =
      Split(ReplaceAll(QueryValue(req.target, "X-Amz-SignedHeaders"), "%3B", ";"), ';');
  std::string canonical = CanonicalRequest(req, signed_headers, HexSha256(req.body), c_.normalize);
  EXPECT_EQ(canonical, c_.File("query-canonical-request.txt"));
  std::string sts = StringToSign(c_.amz_date, c_.Scope(), canonical);
  EXPECT_EQ(sts, c_.File("query-string-to-sign.txt"));
  std::string key = DeriveSigningKey(c_.secret, c_.amz_date.substr(0, 8), c_.region, c_.service);
  std::string signature = crypto::Hex(crypto::HmacSha256(key, sts));
  EXPECT_EQ(signature, c_.File("query-signature.txt"));
  EXPECT_EQ(QueryValue(req.target, "X-Amz-Signature"), signature);
}

// (b) Verify accepts the header-signed request at the context's clock.
TEST_P(SigV4Corpus, VerifyAcceptsHeaderSignedRequest) {
  auto r = Verify(c_.Http("header-signed-request.txt"), c_.Lookup(), c_.Options());
  ASSERT_TRUE(std::holds_alternative<Identity>(r)) << Describe(r);
  const Identity& id = std::get<Identity>(r);
  EXPECT_EQ(id.access_key_id, c_.access_key_id);
  EXPECT_EQ(id.date, c_.amz_date.substr(0, 8));
  EXPECT_EQ(id.region, c_.region);
  EXPECT_EQ(id.service, c_.service);
}

// (c) Verify accepts the presigned request, up to X-Amz-Expires later.
TEST_P(SigV4Corpus, VerifyAcceptsQuerySignedRequest) {
  Request req = c_.Http("query-signed-request.txt");
  auto r = Verify(req, c_.Lookup(), c_.Options());
  ASSERT_TRUE(std::holds_alternative<Identity>(r)) << Describe(r);
  EXPECT_EQ(std::get<Identity>(r).access_key_id, c_.access_key_id);
  auto late = Verify(req, c_.Lookup(), c_.Options(c_.expires * 1000));
  EXPECT_TRUE(std::holds_alternative<Identity>(late)) << Describe(late);
  if (c_.omit_session_token) {  // strict by default: an unsigned token is not accepted
    VerifyOptions strict = c_.Options();
    strict.accept_unsigned_query_session_token = false;
    auto s = Verify(req, c_.Lookup(), strict);
    ASSERT_FALSE(std::holds_alternative<Identity>(s));
    EXPECT_EQ(FailureOf(s), Failure::kSignatureMismatch);
  }
}

// (d) any altered signed part -> kSignatureMismatch, in both forms.
TEST_P(SigV4Corpus, VerifyRejectsAlteredRequests) {
  for (bool presigned : {false, true}) {
    Request signed_req =
        c_.Http(presigned ? "query-signed-request.txt" : "header-signed-request.txt");
    auto alterations = Alterations(c_, signed_req, presigned);
    ASSERT_GE(alterations.size(), 5u);
    for (const auto& [what, altered] : alterations) {
      SCOPED_TRACE(std::string(presigned ? "query form, " : "header form, ") + what);
      auto r = Verify(altered, c_.Lookup(), c_.Options());
      ASSERT_FALSE(std::holds_alternative<Identity>(r)) << "altered request accepted";
      EXPECT_EQ(FailureOf(r), Failure::kSignatureMismatch) << Describe(r);
    }
  }
}

// (e) wrong secret, unknown key, missing authentication.
TEST_P(SigV4Corpus, VerifyRejectsWrongSecretUnknownKeyAndMissingAuth) {
  SecretLookup wrong_secret = [&](std::string_view) -> std::optional<std::string> {
    return c_.secret + "x";
  };
  SecretLookup unknown = [](std::string_view) -> std::optional<std::string> {
    return std::nullopt;
  };
  for (const char* file : {"header-signed-request.txt", "query-signed-request.txt"}) {
    SCOPED_TRACE(file);
    Request req = c_.Http(file);
    auto r = Verify(req, wrong_secret, c_.Options());
    ASSERT_FALSE(std::holds_alternative<Identity>(r));
    EXPECT_EQ(FailureOf(r), Failure::kSignatureMismatch);
    EXPECT_EQ(MessageOf(r), kMismatchMessage);
    r = Verify(req, unknown, c_.Options());
    ASSERT_FALSE(std::holds_alternative<Identity>(r));
    EXPECT_EQ(FailureOf(r), Failure::kUnknownAccessKey);
    EXPECT_EQ(MessageOf(r), "The security token included in the request is invalid.");
  }
  auto r = Verify(c_.Http("request.txt"), c_.Lookup(), c_.Options());
  ASSERT_FALSE(std::holds_alternative<Identity>(r));
  EXPECT_EQ(FailureOf(r), Failure::kMissingAuthentication);
  EXPECT_EQ(MessageOf(r), "Missing Authentication Token");
}

// (e) clock skew (header form) and expiry (presigned form) with AWS's messages.
TEST_P(SigV4Corpus, VerifyEnforcesSkewAndExpiry) {
  constexpr int64_t kMin = 60 * 1000;
  Request header_req = c_.Http("header-signed-request.txt");
  // The 5-minute edges are inside the window.
  for (int64_t off : {-5 * kMin, 5 * kMin}) {
    auto r = Verify(header_req, c_.Lookup(), c_.Options(off));
    EXPECT_TRUE(std::holds_alternative<Identity>(r)) << off << ": " << Describe(r);
  }
  auto late = Verify(header_req, c_.Lookup(), c_.Options(6 * kMin));
  ASSERT_FALSE(std::holds_alternative<Identity>(late));
  EXPECT_EQ(FailureOf(late), Failure::kExpired);
  EXPECT_EQ(MessageOf(late), "Signature expired: " + c_.amz_date + " is now earlier than " +
                                 AmzDate(c_.now_millis + kMin) + " (" +
                                 AmzDate(c_.now_millis + 6 * kMin) + " - 5 min.)");
  auto early = Verify(header_req, c_.Lookup(), c_.Options(-6 * kMin));
  ASSERT_FALSE(std::holds_alternative<Identity>(early));
  EXPECT_EQ(FailureOf(early), Failure::kExpired);
  EXPECT_EQ(MessageOf(early), "Signature not yet current: " + c_.amz_date +
                                  " is still later than " + AmzDate(c_.now_millis - kMin) + " (" +
                                  AmzDate(c_.now_millis - 6 * kMin) + " + 5 min.)");

  Request query_req = c_.Http("query-signed-request.txt");
  auto expired = Verify(query_req, c_.Lookup(), c_.Options(c_.expires * 1000 + 1000));
  ASSERT_FALSE(std::holds_alternative<Identity>(expired));
  EXPECT_EQ(FailureOf(expired), Failure::kExpired);
  EXPECT_EQ(MessageOf(expired), "Request has expired");
  auto not_yet = Verify(query_req, c_.Lookup(), c_.Options(-6 * kMin));
  ASSERT_FALSE(std::holds_alternative<Identity>(not_yet));
  EXPECT_EQ(FailureOf(not_yet), Failure::kExpired);
  EXPECT_EQ(MessageOf(not_yet), "Signature not yet current: " + c_.amz_date +
                                    " is still later than " + AmzDate(c_.now_millis - kMin) + " (" +
                                    AmzDate(c_.now_millis - 6 * kMin) + " + 5 min.)");
}

// (f) SignHeaders then Verify round-trips; where SignHeaders signs the same header set as the
// corpus, its Authorization header is byte-identical to the corpus'.
TEST_P(SigV4Corpus, SignHeadersRoundTrips) {
  Request req = c_.Http("request.txt");
  Credentials creds{c_.access_key_id, c_.secret, c_.token};
  SignHeaders(req, creds, c_.region, c_.service, c_.amz_date);
  ASSERT_NE(Header(req, "authorization"), nullptr);
  ASSERT_NE(Header(req, "x-amz-date"), nullptr);
  EXPECT_EQ(*Header(req, "x-amz-date"), c_.amz_date);
  EXPECT_EQ(Header(req, "x-amz-content-sha256"), nullptr);
  EXPECT_EQ(Header(req, "x-amz-security-token") != nullptr, !c_.token.empty());

  VerifyOptions options;  // SignHeaders signs the normalised path, as non-S3 services verify
  options.now_millis = c_.now_millis;
  auto r = Verify(req, c_.Lookup(), options);
  ASSERT_TRUE(std::holds_alternative<Identity>(r)) << Describe(r);
  EXPECT_EQ(std::get<Identity>(r).region, c_.region);

  // Signing twice replaces, never duplicates, the auth headers.
  Request again = req;
  SignHeaders(again, creds, c_.region, c_.service, c_.amz_date);
  EXPECT_EQ(again.headers.size(), req.headers.size());
  EXPECT_EQ(*Header(again, "authorization"), *Header(req, "authorization"));

  Request tampered = req;
  tampered.body += "x";
  auto t = Verify(tampered, c_.Lookup(), options);
  ASSERT_FALSE(std::holds_alternative<Identity>(t));
  EXPECT_EQ(FailureOf(t), Failure::kSignatureMismatch);

  const std::string corpus_auth = *Header(c_.Http("header-signed-request.txt"), "authorization");
  const std::string& ours = *Header(req, "authorization");
  if (c_.normalize && AuthParam(corpus_auth, "SignedHeaders") == AuthParam(ours, "SignedHeaders")) {
    EXPECT_EQ(ours, corpus_auth);
  }
}

INSTANTIATE_TEST_SUITE_P(AwsCAuthV4, SigV4Corpus, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// ---------------------------------------------------------------------------------------------
// Unit tests of rules and error paths the corpus does not exercise.

constexpr char kAk[] = "AKIDEXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr int64_t kNow = 1440938160000;  // 2015-08-30T12:36:00Z
constexpr char kDate[] = "20150830T123600Z";
constexpr char kScope[] = "20150830/us-east-1/service/aws4_request";

SecretLookup FixedLookup(std::string secret = kSecret) {
  return [secret](std::string_view id) -> std::optional<std::string> {
    if (id == kAk) return secret;
    return std::nullopt;
  };
}

VerifyOptions At(int64_t now) {
  VerifyOptions o;
  o.now_millis = now;
  return o;
}

Request Get(std::string target = "/") {
  return Request{"GET", std::move(target), {{"Host", "example.amazonaws.com"}}, ""};
}

// Signs `req` in header form over `signed_headers` with the public building blocks.
void SignManually(Request& req, const std::vector<std::string>& signed_headers,
                  std::string_view amz_date) {
  std::string canonical = CanonicalRequest(req, signed_headers, HexSha256(req.body), true);
  std::string sts = StringToSign(amz_date, kScope, canonical);
  std::string key = DeriveSigningKey(kSecret, "20150830", "us-east-1", "service");
  std::string joined;
  for (const auto& h : signed_headers) joined += (joined.empty() ? "" : ";") + h;
  req.headers.emplace_back("Authorization",
                           "AWS4-HMAC-SHA256 Credential=" + std::string(kAk) + "/" + kScope +
                               ", SignedHeaders=" + joined +
                               ", Signature=" + crypto::Hex(crypto::HmacSha256(key, sts)));
}

std::string CanonicalLine(const Request& req, int line) {
  return Split(CanonicalRequest(req, {"host"}, HexSha256(""), true), '\n')[line];
}

TEST(SigV4Canonical, PathIsNormalisedAndEncodedOnceMore) {
  EXPECT_EQ(CanonicalLine(Get("/a/b/../c/./d//"), 1), "/a/c/d/");
  EXPECT_EQ(CanonicalLine(Get("/a/b/.."), 1), "/a");
  EXPECT_EQ(CanonicalLine(Get("/../.."), 1), "/");
  EXPECT_EQ(CanonicalLine(Get(""), 1), "/");
  EXPECT_EQ(CanonicalLine(Get("/a%2Fb/c%20d"), 1), "/a%252Fb/c%2520d");
  Request r = Get("/a//./b");
  EXPECT_EQ(Split(CanonicalRequest(r, {"host"}, HexSha256(""), false), '\n')[1], "/a//./b");
}

TEST(SigV4Canonical, QueryIsDecodedReencodedAndSorted) {
  EXPECT_EQ(CanonicalLine(Get("/?b=2&a=%7e&a=1&c&d=x%2fy&e=a+b&f=%20&&"), 2),
            "a=1&a=~&b=2&c=&d=x%2Fy&e=a%2Bb&f=%20");
  EXPECT_EQ(CanonicalLine(Get("/?X-Amz-Signature=abc&k=v"), 2), "k=v");
  EXPECT_EQ(CanonicalLine(Get("/?bad=%zz%4"), 2), "bad=%25zz%254");
}

TEST(SigV4Canonical, HeadersAreTrimmedCollapsedAndJoined) {
  Request r = Get();
  r.headers.emplace_back("X-Multi", "  a \t  b  ");
  r.headers.emplace_back("x-multi", "c\n   d");
  EXPECT_EQ(Split(CanonicalRequest(r, {"Host", "X-Multi"}, "h", true), '\n')[4], "x-multi:a b,c d");
}

TEST(SigV4Verify, MalformedAuthorizationHeaders) {
  struct Bad {
    std::string authorization;
    std::string message_part;
  };
  const std::vector<Bad> cases = {
      {"AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date",
       "Authorization header requires 'Credential' parameter. Authorization header requires "
       "'Signature' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date"},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, "
       "SignedHeaders=host;x-amz-date, Signature=00",
       "Credential must have exactly 5 slash-delimited elements"},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//service/aws4_request, "
       "SignedHeaders=host;x-amz-date, Signature=00",
       "Credential should be scoped to a valid region."},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_reques, "
       "SignedHeaders=host;x-amz-date, Signature=00",
       "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_reques'."},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/service/aws4_request, "
       "SignedHeaders=host;x-amz-date, Signature=00",
       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
       "HTTP: '20150831' != '20150830', from '20150830T123600Z'."},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders=x-amz-date, Signature=00",
       "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
       "SignedHeaders, Signature=00",
       "'SignedHeaders' not a valid key=value pair (missing equal-sign) in Authorization header"},
      {"AWS4-HMAC-SHA1 Credential=a/b/c/d/e", "Unsupported AWS 'algorithm'"},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.authorization);
    Request r = Get();
    r.headers.emplace_back("X-Amz-Date", kDate);
    r.headers.emplace_back("Authorization", bad.authorization);
    auto v = Verify(r, FixedLookup(), At(kNow));
    ASSERT_FALSE(std::holds_alternative<Identity>(v));
    EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);
    EXPECT_NE(MessageOf(v).find(bad.message_part), std::string::npos) << MessageOf(v);
  }
}

TEST(SigV4Verify, MissingOrBadDate) {
  Request r = Get();
  SignManually(r, {"host"}, kDate);
  auto v = Verify(r, FixedLookup(), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);
  EXPECT_NE(MessageOf(v).find("requires existence of either a 'X-Amz-Date' or a 'Date' header"),
            std::string::npos);

  r.headers.emplace_back("X-Amz-Date", "2015-08-30T12:36:00Z");
  v = Verify(r, FixedLookup(), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);
  EXPECT_NE(MessageOf(v).find("ISO-8601 'basic format'"), std::string::npos);
}

TEST(SigV4Verify, Rfc1123DateHeaderFallback) {
  Request r = Get();
  r.headers.emplace_back("Date", "Sun, 30 Aug 2015 12:36:00 GMT");
  SignManually(r, {"date", "host"}, kDate);
  auto v = Verify(r, FixedLookup(), At(kNow));
  EXPECT_TRUE(std::holds_alternative<Identity>(v)) << Describe(v);
  auto late = Verify(r, FixedLookup(), At(kNow + 301000));
  ASSERT_FALSE(std::holds_alternative<Identity>(late));
  EXPECT_EQ(FailureOf(late), Failure::kExpired);
}

TEST(SigV4Verify, ContentSha256MustMatchBody) {
  Request r{"POST", "/", {{"Host", "h"}, {"X-Amz-Date", kDate}}, "{}"};
  r.headers.emplace_back("X-Amz-Content-Sha256", HexSha256("{}"));
  SignManually(r, {"host", "x-amz-content-sha256", "x-amz-date"}, kDate);
  EXPECT_TRUE(std::holds_alternative<Identity>(Verify(r, FixedLookup(), At(kNow))));
  r.body = "{\"a\":1}";
  auto v = Verify(r, FixedLookup(), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kSignatureMismatch);
}

TEST(SigV4Verify, BothAuthMechanismsRejected) {
  Request r = Get("/?X-Amz-Algorithm=AWS4-HMAC-SHA256");
  r.headers.emplace_back("X-Amz-Date", kDate);
  SignManually(r, {"host", "x-amz-date"}, kDate);
  auto v = Verify(r, FixedLookup(), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);
}

// Presigned URL built S3-style over UNSIGNED-PAYLOAD, and the X-Amz-Expires bounds.
TEST(SigV4Verify, PresignedUnsignedPayloadAndExpiresBounds) {
  auto presign = [](const std::string& expires) {
    Request r = Get("/path?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F" +
                    ReplaceAll(kScope, "/", "%2F") + "&X-Amz-Date=" + kDate +
                    "&X-Amz-Expires=" + expires + "&X-Amz-SignedHeaders=host");
    std::string canonical = CanonicalRequest(r, {"host"}, "UNSIGNED-PAYLOAD", true);
    std::string key = DeriveSigningKey(kSecret, "20150830", "us-east-1", "service");
    r.target += "&X-Amz-Signature=" +
                crypto::Hex(crypto::HmacSha256(key, StringToSign(kDate, kScope, canonical)));
    return r;
  };
  Request r = presign("60");
  r.body = "anything";
  auto v = Verify(r, FixedLookup(), At(kNow + 60000));
  EXPECT_TRUE(std::holds_alternative<Identity>(v)) << Describe(v);
  v = Verify(r, FixedLookup(), At(kNow + 61000));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kExpired);

  v = Verify(presign("604801"), FixedLookup(), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);
  v = Verify(presign("soon"), FixedLookup(), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);

  Request missing = Get("/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z");
  v = Verify(missing, FixedLookup(), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);
}

// The signing-key cache is keyed by scope but must never serve a key for a rotated secret.
TEST(SigV4Verify, CacheHonoursSecretRotation) {
  Request r{
      "POST",
      "/",
      {{"Host", "h"}, {"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "Svc.Op"}},
      "{}"};
  SignHeaders(r, Credentials{kAk, "old-secret", ""}, "us-east-1", "service", kDate);
  EXPECT_NE(Header(r, "authorization")
                ->find("SignedHeaders=content-type;host;x-amz-date;"
                       "x-amz-target,"),
            std::string::npos);
  EXPECT_TRUE(std::holds_alternative<Identity>(Verify(r, FixedLookup("old-secret"), At(kNow))));
  auto v = Verify(r, FixedLookup("new-secret"), At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kSignatureMismatch);
  SignHeaders(r, Credentials{kAk, "new-secret", ""}, "us-east-1", "service", kDate);
  EXPECT_TRUE(std::holds_alternative<Identity>(Verify(r, FixedLookup("new-secret"), At(kNow))));
}

TEST(SigV4Verify, ConcurrentVerifiesAgree) {
  std::vector<Request> requests;
  for (int i = 0; i < 8; ++i) {
    Request r{"POST", "/", {{"Host", "h"}}, "{\"i\":" + std::to_string(i) + "}"};
    SignHeaders(r, Credentials{kAk, kSecret, ""}, i % 2 ? "us-east-1" : "eu-west-1", "service",
                kDate);
    requests.push_back(std::move(r));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int n = 0; n < 500; ++n) {
        const Request& r = requests[static_cast<size_t>(n) % requests.size()];
        if (!std::holds_alternative<Identity>(Verify(r, FixedLookup(), At(kNow)))) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// RSA-signed requests as amazon-ssm-agent's rsaauth builds them: every header but Authorization
// and User-Agent signed, X-Amz-Content-Sha256 added after signing, a base64 RSASSA-PSS signature
// of the SigV4 string to sign, and the managed node id as the access key id.
TEST(SigV4VerifyWithSignatureCheck, AcceptsTheAgentsRsaSignatureAndRefusesTampering) {
  const crypto::RsaKeyPair key = crypto::GenerateRsaKeyPair();
  const std::string node = "mi-0123456789abcdef0";
  const std::string scope = "20150830/us-east-1/ssm/aws4_request";
  Request r{"POST",
            "/",
            {{"Host", "127.0.0.1:4566"},
             {"Content-Type", "application/x-amz-json-1.1"},
             {"Content-Length", "19"},
             {"X-Amz-Date", kDate},
             {"X-Amz-Target", "AmazonSSM.RequestManagedInstanceRoleToken"},
             {"User-Agent", "aws-sdk-go/1.44"}},
            R"({"Fingerprint":"f"})"};
  ASSERT_EQ(r.body.size(), 19u);
  const std::vector<std::string> signed_headers = {"content-length", "content-type", "host",
                                                   "x-amz-date", "x-amz-target"};
  const std::string sts =
      StringToSign(kDate, scope, CanonicalRequest(r, signed_headers, HexSha256(r.body), true));
  auto signature = crypto::RsaPssSign(key.private_key, sts);
  ASSERT_TRUE(signature.has_value());
  r.headers.emplace_back("Authorization",
                         "AWS4-HMAC-SHA256 Credential=" + node + "/" + scope +
                             ", SignedHeaders=content-length;content-type;host;x-amz-date;"
                             "x-amz-target, Signature=" +
                             *signature);
  r.headers.emplace_back("X-Amz-Content-Sha256", HexSha256(r.body));

  std::string seen_key;
  SignatureCheck rsa = [&](std::string_view ak, std::string_view string_to_sign,
                           std::string_view sig) {
    seen_key.assign(ak);
    if (ak != node) return SignatureCheckResult::kUnknownKey;
    return crypto::RsaPssVerify(key.public_key, string_to_sign, sig)
               ? SignatureCheckResult::kMatch
               : SignatureCheckResult::kMismatch;
  };
  auto v = VerifyWithSignatureCheck(r, rsa, At(kNow));
  ASSERT_TRUE(std::holds_alternative<Identity>(v)) << Describe(v);
  EXPECT_EQ(std::get<Identity>(v).access_key_id, node);
  EXPECT_EQ(std::get<Identity>(v).service, "ssm");
  EXPECT_EQ(seen_key, node);

  Request tampered = r;
  tampered.body = R"({"Fingerprint":"g"})";
  for (auto& [k, val] : tampered.headers) {
    if (k == "X-Amz-Content-Sha256") val = HexSha256(tampered.body);
  }
  v = VerifyWithSignatureCheck(tampered, rsa, At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kSignatureMismatch);

  v = VerifyWithSignatureCheck(r, rsa, At(kNow + 301000));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kExpired);

  SignatureCheck unknown = [](std::string_view, std::string_view, std::string_view) {
    return SignatureCheckResult::kUnknownKey;
  };
  v = VerifyWithSignatureCheck(r, unknown, At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kUnknownAccessKey);
}

TEST(SigV4VerifyWithSignatureCheck, RefusesPresignedUrls) {
  Request r = Get("/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=mi-0123456789abcdef0%2F" +
                  ReplaceAll(kScope, "/", "%2F") + "&X-Amz-Date=" + kDate +
                  "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=abc");
  SignatureCheck always = [](std::string_view, std::string_view, std::string_view) {
    return SignatureCheckResult::kMatch;
  };
  auto v = VerifyWithSignatureCheck(r, always, At(kNow));
  ASSERT_FALSE(std::holds_alternative<Identity>(v));
  EXPECT_EQ(FailureOf(v), Failure::kIncompleteSignature);
}

}  // namespace
}  // namespace gc::sigv4
