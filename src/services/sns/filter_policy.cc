#include "services/sns/filter_policy.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gc::sns {
namespace {

// AWS's limits (Amazon SNS "Filter policy constraints").
constexpr size_t kMaxKeys = 5;             // attribute names; for nested policies, parent keys
constexpr double kMaxCombinations = 150;   // sum over $or branches of the product of values
constexpr size_t kMaxNestingDepth = 1000;  // the JSON parser's (Jackson's) document depth
constexpr size_t kMaxSourceSnippet = 500;  // Jackson quotes at most 500 chars of the source

constexpr std::string_view kJsonValues =
    "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')";
constexpr std::string_view kRedactedSource =
    "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled)";

AwsError InvalidParameter(std::string message) {
  return {"InvalidParameter", "Invalid parameter: " + std::move(message), 400};
}

// ---- Source locations as AWS's parser (Jackson) prints them ----------------------------------

// Line and column (both 1-based; the column in UTF-16 units, as Java counts) of byte `pos`.
struct LineCol {
  size_t line = 1;
  size_t column = 1;
};

LineCol Locate(std::string_view text, size_t pos) {
  LineCol lc;
  size_t row_start = 0;
  pos = std::min(pos, text.size());
  for (size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++lc.line;
      row_start = i + 1;
    } else if (text[i] == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++lc.line;
      row_start = i + 1;
    }
  }
  for (size_t i = row_start; i < pos; ++i) {
    auto b = static_cast<unsigned char>(text[i]);
    if ((b & 0xC0) != 0x80) lc.column += b >= 0xF0 ? 2 : 1;
  }
  return lc;
}

// `[Source: (String)"<text>"; line: L, column: C]`, the text cut at 500 chars like Jackson.
std::string SourceLocation(std::string_view text, size_t pos) {
  size_t units = 0;
  size_t cut = text.size();
  size_t total = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto b = static_cast<unsigned char>(text[i]);
    if ((b & 0xC0) == 0x80) continue;
    size_t w = b >= 0xF0 ? 2 : 1;
    if (cut == text.size() && units + w > kMaxSourceSnippet) cut = i;
    units += w;
    total += w;
  }
  LineCol lc = Locate(text, pos);
  std::string out = "[Source: (String)\"";
  out.append(text.substr(0, cut));
  out += '"';
  if (cut < text.size()) out += fmt::format("[truncated {} chars]", total - kMaxSourceSnippet);
  out += fmt::format("; line: {}, column: {}]", lc.line, lc.column);
  return out;
}

std::string RedactedLocation(std::string_view text, size_t pos) {
  LineCol lc = Locate(text, pos);
  return fmt::format("{}; line: {}, column: {}]", kRedactedSource, lc.line, lc.column);
}

// Decodes the UTF-8 code point at `pos` (a lone byte when malformed).
uint32_t CodePointAt(std::string_view s, size_t pos, size_t* len) {
  auto b = static_cast<unsigned char>(s[pos]);
  size_t n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
  if (pos + n > s.size()) n = 1;
  uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + k]) & 0x3F);
  *len = n;
  return cp;
}

// Jackson's _getCharDesc: "'x' (code 120)", "(CTRL-CHAR, code 10)", "'é' (code 233)".
std::string CharDesc(std::string_view s, size_t pos) {
  size_t len = 1;
  uint32_t cp = CodePointAt(s, pos, &len);
  if (cp < 32 || (cp >= 127 && cp <= 159)) return fmt::format("(CTRL-CHAR, code {})", cp);
  std::string c(s.substr(pos, len));
  if (cp > 0xFFFF) cp = 0xD800 + ((cp - 0x10000) >> 10);  // Java sees the high surrogate
  if (cp > 255) return fmt::format("'{}' (code {} / 0x{:x})", c, cp, cp);
  return fmt::format("'{}' (code {})", c, cp);
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// ---- Tokens, with the parser locations Jackson's streaming parser would report -----------------

enum class Tok : uint8_t {
  kStartObject,
  kEndObject,
  kStartArray,
  kEndArray,
  kFieldName,
  kString,
  kNumber,
  kTrue,
  kFalse,
  kNull,
};

struct Token {
  Tok type;
  // Byte offset of the parser right after nextToken() returned this token. Jackson reads string
  // values lazily (only the opening quote) and, on a field name, already reads the start of its
  // value; `full` is the offset once getText() has read the whole token.
  size_t peek = 0;
  size_t full = 0;
  std::string text;  // decoded string / field name, number as written, literal, or bracket
};

struct SyntaxError {
  std::string message;
  size_t pos;
};

// The first JSON value of a text, tokenized; reports syntax errors as Jackson words them.
// Trailing content is ignored, as Jackson's ObjectMapper.readTree does.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  // True with the tokens (none for an empty text), or false with error().
  bool Run() {
    enum class State { kValue, kFirstInObject, kFirstInArray, kAfterValue };
    State state = State::kValue;
    while (true) {
      switch (state) {
        case State::kValue: {
          if (!SkipWs()) return false;
          if (AtEnd()) {
            if (stack_.empty()) return true;  // empty document
            return EofInContainer();
          }
          char c = s_[i_];
          if (c == '{' || c == '[') {
            if (stack_.size() >= kMaxNestingDepth) {
              return Fail(fmt::format("Document nesting depth ({}) exceeds the maximum allowed "
                                      "({}, from `StreamReadConstraints.getMaxNestingDepth()`)",
                                      stack_.size() + 1, kMaxNestingDepth),
                          i_ + 1);
            }
            stack_.push_back({c == '{', i_});
            Emit(c == '{' ? Tok::kStartObject : Tok::kStartArray, i_ + 1, i_ + 1,
                 std::string(1, c));
            ++i_;
            state = c == '{' ? State::kFirstInObject : State::kFirstInArray;
            break;
          }
          if (!Scalar()) return false;
          state = State::kAfterValue;
          break;
        }
        case State::kFirstInObject: {
          if (!SkipWs()) return false;
          if (AtEnd()) return EofInContainer();
          if (s_[i_] == '}') {
            CloseContainer(Tok::kEndObject);
            state = State::kAfterValue;
          } else if (s_[i_] == '"') {
            if (!Member()) return false;
            state = State::kValue;
          } else {
            return UnexpectedChar("was expecting double-quote to start field name");
          }
          break;
        }
        case State::kFirstInArray: {
          if (!SkipWs()) return false;
          if (AtEnd()) return EofInContainer();
          if (s_[i_] == ']') {
            CloseContainer(Tok::kEndArray);
            state = State::kAfterValue;
          } else {
            state = State::kValue;
          }
          break;
        }
        case State::kAfterValue: {
          if (stack_.empty()) return true;
          if (!SkipWs()) return false;
          if (AtEnd()) return EofInContainer();
          const bool object = stack_.back().object;
          const char c = s_[i_];
          if (c == (object ? '}' : ']')) {
            CloseContainer(object ? Tok::kEndObject : Tok::kEndArray);
            break;
          }
          if (c == (object ? ']' : '}')) {
            LineCol start = Locate(s_, stack_.back().start);
            return Fail(fmt::format("Unexpected close marker '{}': expected '{}' (for {} starting "
                                    "at {}; line: {}, column: {}])",
                                    c, object ? '}' : ']', object ? "Object" : "Array",
                                    kRedactedSource, start.line, start.column),
                        i_);
          }
          if (c != ',') {
            return UnexpectedChar(object ? "was expecting comma to separate Object entries"
                                         : "was expecting comma to separate Array entries");
          }
          ++i_;
          if (!object) {
            state = State::kValue;
            break;
          }
          if (!SkipWs()) return false;
          if (AtEnd()) return EofInContainer();
          if (s_[i_] != '"')
            return UnexpectedChar("was expecting double-quote to start field name");
          if (!Member()) return false;
          state = State::kValue;
          break;
        }
      }
    }
  }

  std::vector<Token>& tokens() { return tokens_; }
  const SyntaxError& error() const { return *error_; }

 private:
  struct Frame {
    bool object;
    size_t start;  // offset of the '{' or '['
  };

  bool AtEnd() const { return i_ >= s_.size(); }

  bool Fail(std::string message, size_t pos) {
    error_ = SyntaxError{std::move(message), pos};
    return false;
  }
  bool UnexpectedChar(std::string_view comment) {
    return Fail(fmt::format("Unexpected character ({}): {}", CharDesc(s_, i_), comment), i_);
  }
  bool EofInContainer() {
    LineCol start = Locate(s_, stack_.back().start);
    return Fail(fmt::format("Unexpected end-of-input: expected close marker for {} (start marker "
                            "at {}; line: {}, column: {}])",
                            stack_.back().object ? "Object" : "Array", kRedactedSource, start.line,
                            start.column),
                s_.size());
  }

  void Emit(Tok type, size_t peek, size_t full, std::string text) {
    tokens_.push_back(Token{type, peek, full, std::move(text)});
    if (pending_field_ && type != Tok::kFieldName) {
      // Jackson reads the start of a field's value together with the field name.
      tokens_[*pending_field_].peek = peek;
      tokens_[*pending_field_].full = peek;
      pending_field_.reset();
    }
  }

  void CloseContainer(Tok type) {
    Emit(type, i_ + 1, i_ + 1, type == Tok::kEndObject ? "}" : "]");
    ++i_;
    stack_.pop_back();
  }

  bool SkipWs() {
    while (!AtEnd()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i_;
      } else if (c == '/') {
        return UnexpectedChar(
            "maybe a (non-standard) comment? (not recognized as one since Feature "
            "'ALLOW_COMMENTS' not enabled for parser)");
      } else if (static_cast<unsigned char>(c) < 0x20) {
        return Fail(fmt::format("Illegal character ({}): only regular white space (\\r, \\n, "
                                "\\t) is allowed between tokens",
                                CharDesc(s_, i_)),
                    i_);
      } else {
        return true;
      }
    }
    return true;
  }

  // A field name at '"', its colon and the white space up to its value.
  bool Member() {
    std::string name;
    if (!String(true, &name)) return false;
    tokens_.push_back(Token{Tok::kFieldName, i_, i_, std::move(name)});
    pending_field_ = tokens_.size() - 1;
    if (!SkipWs()) return false;
    if (AtEnd()) return Fail("Unexpected end-of-input within/between Object entries", s_.size());
    if (s_[i_] != ':') {
      return UnexpectedChar("was expecting a colon to separate field name and value");
    }
    ++i_;
    if (!SkipWs()) return false;
    if (AtEnd()) return Fail("Unexpected end-of-input within/between Object entries", s_.size());
    return true;
  }

  static bool IdentPart(char c) {
    auto b = static_cast<unsigned char>(c);
    return std::isalnum(b) || c == '_' || c == '$' || b >= 0x80;
  }

  bool Scalar() {
    const char c = s_[i_];
    if (c == '"') {
      size_t open = i_;
      std::string text;
      if (!String(false, &text)) return false;
      Emit(Tok::kString, open + 1, i_, std::move(text));
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number();
    size_t end = i_;
    while (end < s_.size() && IdentPart(s_[end])) ++end;
    std::string_view word = s_.substr(i_, end - i_);
    if (word == "true" || word == "false" || word == "null") {
      Emit(word == "true"    ? Tok::kTrue
           : word == "false" ? Tok::kFalse
                             : Tok::kNull,
           end, end, std::string(word));
      i_ = end;
      return true;
    }
    if (end > i_) {
      return Fail(fmt::format("Unrecognized token '{}': was expecting {}", word, kJsonValues), end);
    }
    return UnexpectedChar(fmt::format("expected a valid value {}", kJsonValues));
  }

  bool NumberCharError(std::string_view comment) {
    if (AtEnd()) return Fail("Unexpected end-of-input in a Number value", s_.size());
    return Fail(
        fmt::format("Unexpected character ({}) in numeric value: {}", CharDesc(s_, i_), comment),
        i_);
  }

  bool Number() {
    const size_t start = i_;
    auto digit = [&] { return !AtEnd() && s_[i_] >= '0' && s_[i_] <= '9'; };
    if (s_[i_] == '-') {
      ++i_;
      if (!digit()) {
        return NumberCharError(
            "expected digit (0-9) to follow minus sign, for valid numeric value");
      }
    }
    if (s_[i_] == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9') {
      return Fail("Invalid numeric value: Leading zeroes not allowed", i_ + 1);
    }
    while (digit()) ++i_;
    if (!AtEnd() && s_[i_] == '.') {
      ++i_;
      if (!digit()) return NumberCharError("Decimal point not followed by a digit");
      while (digit()) ++i_;
    }
    if (!AtEnd() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (!AtEnd() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digit()) return NumberCharError("Exponent indicator not followed by a digit");
      while (digit()) ++i_;
    }
    Emit(Tok::kNumber, i_, i_, std::string(s_.substr(start, i_ - start)));
    return true;
  }

  // A string at '"'; leaves i_ after the closing quote.
  bool String(bool name, std::string* out) {
    ++i_;
    auto hex = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'a' && h <= 'f') return h - 'a' + 10;
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      return -1;
    };
    uint32_t high_surrogate = 0;  // 0: none pending
    auto flush_surrogate = [&] {
      if (high_surrogate != 0) AppendUtf8(*out, 0xFFFD);
      high_surrogate = 0;
    };
    while (true) {
      if (AtEnd()) {
        return Fail(name ? "Unexpected end-of-input in field name"
                         : "Unexpected end-of-input: was expecting closing quote for a string "
                           "value",
                    s_.size());
      }
      const char c = s_[i_];
      if (c == '"') {
        flush_surrogate();
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return Fail(fmt::format("Illegal unquoted character ({}): has to be escaped using "
                                "backslash to be included in {}",
                                CharDesc(s_, i_), name ? "name" : "string value"),
                    i_);
      }
      if (c != '\\') {
        flush_surrogate();
        *out += c;
        ++i_;
        continue;
      }
      ++i_;
      if (AtEnd()) return Fail("Unexpected end-of-input in character escape sequence", s_.size());
      const char e = s_[i_];
      if (e != 'u') {
        flush_surrogate();
        char decoded = 0;
        switch (e) {
          case '"':
            decoded = '"';
            break;
          case '\\':
            decoded = '\\';
            break;
          case '/':
            decoded = '/';
            break;
          case 'b':
            decoded = '\b';
            break;
          case 'f':
            decoded = '\f';
            break;
          case 'n':
            decoded = '\n';
            break;
          case 'r':
            decoded = '\r';
            break;
          case 't':
            decoded = '\t';
            break;
          default:
            return Fail(fmt::format("Unrecognized character escape {}", CharDesc(s_, i_)), i_);
        }
        *out += decoded;
        ++i_;
        continue;
      }
      ++i_;
      uint32_t unit = 0;
      for (int k = 0; k < 4; ++k) {
        if (AtEnd()) {
          return Fail("Unexpected end-of-input in character escape sequence", s_.size());
        }
        int h = hex(s_[i_]);
        if (h < 0) {
          return UnexpectedChar("expected a hex-digit for character escape sequence");
        }
        unit = (unit << 4) | static_cast<uint32_t>(h);
        ++i_;
      }
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        flush_surrogate();
        high_surrogate = unit;
      } else if (unit >= 0xDC00 && unit <= 0xDFFF && high_surrogate != 0) {
        AppendUtf8(*out, 0x10000 + ((high_surrogate - 0xD800) << 10) + (unit - 0xDC00));
        high_surrogate = 0;
      } else {
        flush_surrogate();
        AppendUtf8(*out, unit >= 0xD800 && unit <= 0xDFFF ? 0xFFFD : unit);
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  std::vector<Token> tokens_;
  std::vector<Frame> stack_;
  std::optional<size_t> pending_field_;
  std::optional<SyntaxError> error_;
};

// ---- Compiled policy ---------------------------------------------------------------------------

// One flattened value of a message: a string, number, boolean or null leaf.
struct Leaf {
  enum Kind : uint8_t { kString, kNumber, kBool, kNull };
  Kind kind = kNull;
  bool b = false;
  double d = 0;
  std::string s;
  // Body scope: the (array, element) pairs of the arrays of objects above this leaf. Two leaves
  // are from "the same element" when they agree on every array they share.
  std::vector<std::pair<uint32_t, uint32_t>> trail;
};

bool NumEquals(double a, double b) {
  // AWS compares numbers with 6 decimal places (the docs promise 5).
  if (a == b) return true;
  if (std::fabs(a) < 9e12 && std::fabs(b) < 9e12) {
    return std::llround(a * 1e6) == std::llround(b * 1e6);
  }
  return false;
}

bool AsciiIEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

struct IpAddress {
  bool v6 = false;
  unsigned char bytes[16] = {};
};

std::optional<IpAddress> ParseIp(const std::string& text) {
  IpAddress ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes) == 1) return ip;
  ip.v6 = true;
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes) == 1) return ip;
  return std::nullopt;
}

struct Matcher {
  enum Op : uint8_t {
    kString,
    kNumber,
    kBool,
    kNull,
    kPrefix,
    kSuffix,
    kEqualsIgnoreCase,
    kAnythingButStrings,
    kAnythingButNumbers,
    kAnythingButPrefix,
    kNumeric,
    kCidr,
  };
  Op op = kString;
  bool b = false;
  double d = 0;
  std::string s;
  std::vector<std::string> strings;  // anything-but strings
  std::vector<double> numbers;       // anything-but numbers
  // numeric: lower and upper bounds, each optional, open or closed.
  bool has_lo = false, lo_open = false, has_hi = false, hi_open = false;
  double lo = 0, hi = 0;
  // cidr
  IpAddress net;
  int bits = 0;

  bool Matches(const Leaf& v) const {
    switch (op) {
      case kString:
        return v.kind == Leaf::kString && v.s == s;
      case kNumber:
        return v.kind == Leaf::kNumber && NumEquals(v.d, d);
      case kBool:
        return v.kind == Leaf::kBool && v.b == b;
      case kNull:
        return v.kind == Leaf::kNull;
      case kPrefix:
        return v.kind == Leaf::kString && v.s.starts_with(s);
      case kSuffix:
        return v.kind == Leaf::kString && v.s.ends_with(s);
      case kEqualsIgnoreCase:
        return v.kind == Leaf::kString && AsciiIEquals(v.s, s);
      case kAnythingButStrings:
        return v.kind != Leaf::kString ||
               std::find(strings.begin(), strings.end(), v.s) == strings.end();
      case kAnythingButNumbers:
        return v.kind != Leaf::kNumber || std::none_of(numbers.begin(), numbers.end(),
                                                       [&](double n) { return NumEquals(n, v.d); });
      case kAnythingButPrefix:
        return v.kind != Leaf::kString || !v.s.starts_with(s);
      case kNumeric:
        if (v.kind != Leaf::kNumber) return false;
        if (has_lo && (lo_open ? !(v.d > lo) : !(v.d >= lo))) return false;
        if (has_hi && (hi_open ? !(v.d < hi) : !(v.d <= hi))) return false;
        return true;
      case kCidr: {
        if (v.kind != Leaf::kString) return false;
        auto ip = ParseIp(v.s);
        if (!ip || ip->v6 != net.v6) return false;
        int full = bits / 8, rest = bits % 8;
        if (std::memcmp(ip->bytes, net.bytes, static_cast<size_t>(full)) != 0) return false;
        if (rest == 0) return true;
        auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
        return (ip->bytes[full] & mask) == (net.bytes[full] & mask);
      }
    }
    return false;
  }
};

// The values listed for one key.
struct FieldSpec {
  std::vector<Matcher> matchers;
  bool exists_true = false;
  bool exists_false = false;
  bool has_null = false;
  size_t count = 0;  // array elements, for the complexity limit
};

// A policy object as written: keys with value lists, nested objects and $or groups.
struct PolicyNode;
struct PolicyEntry {
  enum Kind : uint8_t { kValues, kNested, kOr };
  Kind kind = kValues;
  std::string key;
  FieldSpec spec;
  std::unique_ptr<PolicyNode> nested;
  std::vector<PolicyNode> alternatives;
};
struct PolicyNode {
  std::vector<PolicyEntry> entries;
};

// One key's test in the compiled rules.
struct FieldTest {
  std::string path;  // dotted path from the top
  FieldSpec spec;
};

}  // namespace

// ---- Prepared messages -------------------------------------------------------------------------

struct PreparedMessage::Data {
  struct Field {
    bool present = false;
    std::vector<Leaf> leaves;
  };
  FilterPolicy::Scope scope = FilterPolicy::Scope::kMessageAttributes;
  bool valid = false;       // a body that is not a JSON object never matches
  bool has_trails = false;  // the body has arrays of objects
  std::unordered_map<std::string, Field> fields;
};

namespace {

std::optional<Leaf> ScalarLeaf(const nlohmann::json& v) {
  Leaf leaf;
  switch (v.type()) {
    case nlohmann::json::value_t::string:
      leaf.kind = Leaf::kString;
      leaf.s = v.get_ref<const std::string&>();
      return leaf;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      leaf.kind = Leaf::kNumber;
      leaf.d = v.get<double>();
      return leaf;
    case nlohmann::json::value_t::boolean:
      leaf.kind = Leaf::kBool;
      leaf.b = v.get<bool>();
      return leaf;
    case nlohmann::json::value_t::null:
      leaf.kind = Leaf::kNull;
      return leaf;
    default:
      return std::nullopt;
  }
}

// A Number attribute's text as a number (JSON number syntax, as SNS accepts).
std::optional<double> ParseNumber(const std::string& text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  char* end = nullptr;
  double d = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

const std::string* StringMember(const nlohmann::json& obj, const char* a, const char* b) {
  for (const char* key : {a, b}) {
    auto it = obj.find(key);
    if (it != obj.end() && it->is_string()) return &it->get_ref<const std::string&>();
  }
  return nullptr;
}

}  // namespace

PreparedMessage PreparedMessage::FromAttributes(const nlohmann::json& message_attributes) {
  auto data = std::make_unique<Data>();
  data->scope = FilterPolicy::Scope::kMessageAttributes;
  data->valid = true;
  if (message_attributes.is_object()) {
    for (const auto& [name, attr] : message_attributes.items()) {
      if (!attr.is_object()) continue;
      const std::string* type = StringMember(attr, "DataType", "Type");
      const std::string* value = StringMember(attr, "StringValue", "Value");
      Data::Field& field = data->fields[name];
      field.present = true;
      if (type == nullptr || type->starts_with("Binary") || value == nullptr) continue;
      if (type->starts_with("String.Array")) {
        nlohmann::json array = nlohmann::json::parse(*value, nullptr, false);
        if (!array.is_array()) continue;
        for (const auto& element : array) {
          if (auto leaf = ScalarLeaf(element)) field.leaves.push_back(std::move(*leaf));
        }
      } else if (type->starts_with("Number")) {
        if (auto d = ParseNumber(*value)) {
          Leaf leaf;
          leaf.kind = Leaf::kNumber;
          leaf.d = *d;
          field.leaves.push_back(std::move(leaf));
        }
      } else {
        Leaf leaf;
        leaf.kind = Leaf::kString;
        leaf.s = *value;
        field.leaves.push_back(std::move(leaf));
      }
    }
  }
  return PreparedMessage(std::move(data));
}

PreparedMessage PreparedMessage::FromBody(const nlohmann::json& body) {
  auto data = std::make_unique<Data>();
  data->scope = FilterPolicy::Scope::kMessageBody;
  data->valid = body.is_object();
  if (!data->valid) return PreparedMessage(std::move(data));
  // Flattens to dotted paths without recursion (bodies may nest deeply).
  struct Item {
    const nlohmann::json* value;
    std::string path;
    std::vector<std::pair<uint32_t, uint32_t>> trail;
  };
  std::vector<Item> stack;
  stack.push_back({&body, "", {}});
  uint32_t next_array = 0;
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    const nlohmann::json& v = *item.value;
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string path = item.path.empty() ? it.key() : item.path + "." + it.key();
        stack.push_back({&it.value(), std::move(path), item.trail});
      }
    } else if (v.is_array()) {
      const uint32_t id = next_array++;
      uint32_t index = 0;
      for (const auto& element : v) {
        Item child{&element, item.path, item.trail};
        if (element.is_object()) {
          child.trail.emplace_back(id, index);
          data->has_trails = true;
        }
        stack.push_back(std::move(child));
        ++index;
      }
    } else if (auto leaf = ScalarLeaf(v)) {
      leaf->trail = std::move(item.trail);
      Data::Field& field = data->fields[item.path];
      field.present = true;
      field.leaves.push_back(std::move(*leaf));
    }
  }
  return PreparedMessage(std::move(data));
}

PreparedMessage PreparedMessage::FromBodyText(std::string_view body_text) {
  return FromBody(nlohmann::json::parse(body_text, nullptr, false));
}

PreparedMessage::PreparedMessage(std::unique_ptr<const Data> data) : data_(std::move(data)) {}
PreparedMessage::PreparedMessage(PreparedMessage&&) noexcept = default;
PreparedMessage& PreparedMessage::operator=(PreparedMessage&&) noexcept = default;
PreparedMessage::~PreparedMessage() = default;

// ---- The compiler ------------------------------------------------------------------------------

struct FilterPolicy::Impl {
  Scope scope = Scope::kMessageAttributes;
  std::vector<FieldTest> fields;
  std::vector<std::vector<uint32_t>> rules;  // OR of (AND of fields[i])

  bool Matches(const PreparedMessage::Data& m) const;
};

namespace {

using Data = PreparedMessage::Data;

// Walks the tokens like AWS's rule compiler walks Jackson's parser, so that errors carry the
// location Jackson would report.
class Compiler {
 public:
  Compiler(std::string_view text, std::vector<Token>& tokens) : text_(text), tokens_(tokens) {}

  // Compiles the root object (the cursor is before its '{').
  Result<PolicyNode> Root() {
    if (Next() != Tok::kStartObject) return Barf("Filter is not an object");
    PolicyNode node;
    if (auto e = Object(node)) return std::move(*e);
    return node;
  }

 private:
  using Error = std::optional<AwsError>;

  Tok Next() {
    ++pos_;
    const Token& t = tokens_[pos_];
    loc_ = t.peek;
    return t.type;
  }
  // getText(): completes a lazily read string.
  const std::string& Text() {
    loc_ = tokens_[pos_].full;
    return tokens_[pos_].text;
  }
  const std::string& Name() const { return tokens_[pos_].text; }

  AwsError Barf(std::string_view reason) const {
    return InvalidParameter(
        fmt::format("FilterPolicy: {}\n at {}", reason, SourceLocation(text_, loc_)));
  }

  // After '{': "key": [values] | {nested} and "$or": [{...}, {...}].
  Error Object(PolicyNode& node) {
    bool any = false;
    while (Next() != Tok::kEndObject) {
      any = true;
      PolicyEntry entry;
      entry.key = Name();
      if (entry.key == "$or") {
        entry.kind = PolicyEntry::kOr;
        if (auto e = Or(entry)) return e;
        node.entries.push_back(std::move(entry));
        continue;
      }
      switch (Next()) {
        case Tok::kStartObject:
          entry.kind = PolicyEntry::kNested;
          entry.nested = std::make_unique<PolicyNode>();
          if (auto e = Object(*entry.nested)) return e;
          break;
        case Tok::kStartArray:
          entry.kind = PolicyEntry::kValues;
          if (auto e = Values(entry.spec)) return e;
          break;
        default:
          return Barf(fmt::format("\"{}\" must be an object or an array", entry.key));
      }
      // A repeated key replaces the earlier one, as in the JSON tree AWS reads.
      auto same = std::find_if(node.entries.begin(), node.entries.end(), [&](const auto& e) {
        return e.kind != PolicyEntry::kOr && e.key == entry.key;
      });
      if (same != node.entries.end()) {
        *same = std::move(entry);
      } else {
        node.entries.push_back(std::move(entry));
      }
    }
    if (!any) return Barf("Empty objects are not allowed");
    return std::nullopt;
  }

  Error Or(PolicyEntry& entry) {
    if (Next() != Tok::kStartArray) return Barf("It must be an Array followed with $or.");
    Tok t;
    while ((t = Next()) != Tok::kEndArray) {
      if (t != Tok::kStartObject) {
        return Barf("Only JSON object is allowed in array of $or relationship.");
      }
      PolicyNode alternative;
      if (auto e = Object(alternative)) return e;
      entry.alternatives.push_back(std::move(alternative));
    }
    if (entry.alternatives.size() < 2) {
      return Barf("There must have at least 2 Objects in $or relationship.");
    }
    return std::nullopt;
  }

  // After '[': the values of one key.
  Error Values(FieldSpec& spec) {
    Tok t;
    while ((t = Next()) != Tok::kEndArray) {
      Matcher m;
      switch (t) {
        case Tok::kStartObject: {
          bool is_matcher = true;
          if (auto e = MatchExpression(spec, m, is_matcher)) return e;
          if (is_matcher) spec.matchers.push_back(std::move(m));
          break;
        }
        case Tok::kString:
          m.op = Matcher::kString;
          m.s = Text();
          spec.matchers.push_back(std::move(m));
          break;
        case Tok::kNumber:
          m.op = Matcher::kNumber;
          m.d = std::strtod(Text().c_str(), nullptr);
          spec.matchers.push_back(std::move(m));
          break;
        case Tok::kTrue:
        case Tok::kFalse:
          m.op = Matcher::kBool;
          m.b = t == Tok::kTrue;
          spec.matchers.push_back(std::move(m));
          break;
        case Tok::kNull:
          m.op = Matcher::kNull;
          spec.has_null = true;
          spec.matchers.push_back(std::move(m));
          break;
        default:
          return Barf("Match value must be String, number, true, false, or null");
      }
      ++spec.count;
    }
    if (spec.count == 0) return Barf("Empty arrays are not allowed");
    return std::nullopt;
  }

  Error EndOfExpression() {
    if (Next() != Tok::kEndObject) return Barf("Only one key allowed in match expression");
    return std::nullopt;
  }

  // After '{' inside a value list: {"operator": argument}. `is_matcher` is false for exists.
  Error MatchExpression(FieldSpec& spec, Matcher& m, bool& is_matcher) {
    if (Next() != Tok::kFieldName) return Barf("Match expression name not found");
    const std::string op = Name();
    if (op == "prefix" || op == "suffix" || op == "equals-ignore-case") {
      if (Next() != Tok::kString) return Barf(op + " match pattern must be a string");
      m.op = op == "prefix"   ? Matcher::kPrefix
             : op == "suffix" ? Matcher::kSuffix
                              : Matcher::kEqualsIgnoreCase;
      m.s = Text();
      return EndOfExpression();
    }
    if (op == "exists") {
      Tok t = Next();
      if (t != Tok::kTrue && t != Tok::kFalse) {
        return Barf("exists match pattern must be either true or false.");
      }
      (t == Tok::kTrue ? spec.exists_true : spec.exists_false) = true;
      is_matcher = false;
      return EndOfExpression();
    }
    if (op == "numeric") {
      if (Next() != Tok::kStartArray) return Barf("Value of numeric must be an array.");
      m.op = Matcher::kNumeric;
      if (auto e = Numeric(m)) return e;
      return EndOfExpression();
    }
    if (op == "anything-but") {
      if (auto e = AnythingBut(m)) return e;
      return EndOfExpression();
    }
    if (op == "cidr") {
      // AWS's message names "prefix" here too.
      if (Next() != Tok::kString) return Barf("prefix match pattern must be a string");
      if (auto e = Cidr(Text(), m)) return e;
      return EndOfExpression();
    }
    return Barf("Unrecognized match type " + op);
  }

  static bool IsNumber(Tok t) { return t == Tok::kNumber; }
  double Number() { return std::strtod(Text().c_str(), nullptr); }

  // After '[' of {"numeric": [...]}: [op, n] with op in = < <= > >=, or [>|>=, n, <|<=, n].
  Error Numeric(Matcher& m) {
    if (Next() != Tok::kString) return Barf("Invalid member in numeric match: " + Text());
    const std::string op = Text();
    const Tok value = Next();
    if (op != "=" && op != "<" && op != "<=" && op != ">" && op != ">=") {
      return Barf("Unrecognized numeric range operator: " + op);
    }
    if (!IsNumber(value)) {
      return Barf(fmt::format("Value of {} must be numeric", op == "=" ? "equals" : op));
    }
    const double n = Number();
    if (op == "=" || op == "<" || op == "<=") {
      if (op == "=") {
        m.has_lo = m.has_hi = true;
        m.lo = m.hi = n;
      } else {
        m.has_hi = true;
        m.hi_open = op == "<";
        m.hi = n;
      }
      if (Next() != Tok::kEndArray) return Barf("Too many elements in numeric expression");
      return std::nullopt;
    }
    m.has_lo = true;
    m.lo_open = op == ">";
    m.lo = n;
    const Tok t = Next();
    if (t == Tok::kEndArray) return std::nullopt;
    if (t != Tok::kString) return Barf("Bad value in numeric range: " + Text());
    const std::string op2 = Text();
    if (op2 != "<" && op2 != "<=") return Barf("Bad numeric range operator: " + op2);
    if (!IsNumber(Next())) return Barf(fmt::format("Value of {} must be numeric", op2));
    m.has_hi = true;
    m.hi_open = op2 == "<";
    m.hi = Number();
    if (Next() != Tok::kEndArray) return Barf("Too many terms in numeric range expression");
    if (m.lo >= m.hi) return Barf("Bottom must be less than top");
    return std::nullopt;
  }

  // After "anything-but": a string, a number, a list of either, or {"prefix": "..."}.
  Error AnythingBut(Matcher& m) {
    const Tok t = Next();
    if (t == Tok::kStartObject) {
      if (Next() != Tok::kFieldName) return Barf("Anything-But expression name not found");
      const std::string op = Name();
      if (op != "prefix") return Barf("Unsupported anything-but pattern: " + op);
      if (Next() != Tok::kString) return Barf("prefix match pattern must be a string");
      m.op = Matcher::kAnythingButPrefix;
      m.s = Text();
      if (m.s.empty()) return Barf("Null prefix not allowed");
      return EndOfExpression();
    }
    if (t == Tok::kStartArray) {
      bool strings = false, numbers = false;
      Tok e;
      while ((e = Next()) != Tok::kEndArray) {
        if (e == Tok::kString) {
          strings = true;
          m.strings.push_back(Text());
        } else if (e == Tok::kNumber) {
          numbers = true;
          m.numbers.push_back(Number());
        } else {
          return Barf("Inside anything but list, start|null|boolean is not supported.");
        }
      }
      if (strings == numbers) {
        return Barf(
            "Inside anything but list, either all values are number or string, mixed "
            "type is not supported");
      }
      m.op = strings ? Matcher::kAnythingButStrings : Matcher::kAnythingButNumbers;
      return std::nullopt;
    }
    if (t == Tok::kString) {
      m.op = Matcher::kAnythingButStrings;
      m.strings.push_back(Text());
      return std::nullopt;
    }
    if (t == Tok::kNumber) {
      m.op = Matcher::kAnythingButNumbers;
      m.numbers.push_back(Number());
      return std::nullopt;
    }
    return Barf("Inside anything but list, start|null|boolean is not supported.");
  }

  // "10.0.0.0/24": AWS checks these without a source location.
  Error Cidr(const std::string& text, Matcher& m) {
    auto fail = [](std::string_view reason) {
      return InvalidParameter(fmt::format("FilterPolicy: {}", reason));
    };
    // Java's String.split("/"): trailing empty parts are dropped.
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t slash = text.find('/', start);
      parts.push_back(text.substr(start, slash == std::string::npos ? slash : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    while (!parts.empty() && parts.back().empty()) parts.pop_back();
    if (parts.size() != 2) return fail("Malformed CIDR, one '/' required");
    const std::string& mask = parts[1];
    size_t digits_from = (mask[0] == '+' || mask[0] == '-') ? 1 : 0;
    bool integer = mask.size() > digits_from && mask.size() - digits_from <= 9 &&
                   std::all_of(mask.begin() + static_cast<long>(digits_from), mask.end(),
                               [](char c) { return c >= '0' && c <= '9'; });
    if (!integer) return fail("Malformed CIDR, mask bits must be an integer");
    const long bits = std::strtol(mask.c_str(), nullptr, 10);
    if (bits < 0) return fail("Malformed CIDR, mask bits must not be negative");
    auto ip = ParseIp(parts[0]);
    if (!ip) return fail("Nonstandard IP address: " + parts[0]);
    if (!ip->v6 && bits > 32) return fail("IPv4 mask bits must be <= 32");
    if (ip->v6 && bits > 128) return fail("IPv6 mask bits must be <= 128");
    m.op = Matcher::kCidr;
    m.net = *ip;
    m.bits = static_cast<int>(bits);
    return std::nullopt;
  }

  std::string_view text_;
  std::vector<Token>& tokens_;
  size_t pos_ = static_cast<size_t>(-1);
  size_t loc_ = 0;
};

bool HasNested(const PolicyNode& node) {
  for (const PolicyEntry& e : node.entries) {
    if (e.kind == PolicyEntry::kNested) return true;
    if (e.kind == PolicyEntry::kOr) {
      for (const PolicyNode& alt : e.alternatives) {
        if (HasNested(alt)) return true;
      }
    }
  }
  return false;
}

// One AND-rule of the OR-expansion, before it is interned.
struct RuleField {
  const PolicyEntry* entry;
  std::string path;
  std::string top_key;
  int depth;
};
using DnfRule = std::vector<RuleField>;

// Expands $or into OR-of-AND rules. False when there would be more rules than the complexity
// limit allows (every rule counts at least 1 combination).
bool Expand(const PolicyNode& node, const std::string& prefix, const std::string& top, int depth,
            std::vector<DnfRule>& out) {
  std::vector<DnfRule> rules(1);
  auto cross = [&rules](const std::vector<DnfRule>& right) {
    if (static_cast<double>(rules.size()) * static_cast<double>(right.size()) > kMaxCombinations) {
      return false;
    }
    std::vector<DnfRule> product;
    for (const DnfRule& l : rules) {
      for (const DnfRule& r : right) {
        DnfRule joined = l;
        joined.insert(joined.end(), r.begin(), r.end());
        product.push_back(std::move(joined));
      }
    }
    rules = std::move(product);
    return true;
  };
  for (const PolicyEntry& e : node.entries) {
    if (e.kind == PolicyEntry::kOr) {
      std::vector<DnfRule> alternatives;
      for (const PolicyNode& alt : e.alternatives) {
        if (!Expand(alt, prefix, top, depth, alternatives)) return false;
        if (static_cast<double>(alternatives.size()) > kMaxCombinations) return false;
      }
      if (!cross(alternatives)) return false;
      continue;
    }
    std::string path = prefix.empty() ? e.key : prefix + "." + e.key;
    const std::string& top_key = depth == 1 ? e.key : top;
    if (e.kind == PolicyEntry::kNested) {
      std::vector<DnfRule> sub;
      if (!Expand(*e.nested, path, top_key, depth + 1, sub)) return false;
      if (!cross(sub)) return false;
    } else {
      for (DnfRule& r : rules) r.push_back({&e, path, top_key, depth});
    }
  }
  out.insert(out.end(), std::make_move_iterator(rules.begin()),
             std::make_move_iterator(rules.end()));
  return true;
}

}  // namespace

Result<FilterPolicy> FilterPolicy::Parse(std::string_view json_text, Scope scope) {
  Lexer lexer(json_text);
  if (!lexer.Run()) {
    const SyntaxError& e = lexer.error();
    return InvalidParameter(fmt::format("FilterPolicy: failed to parse JSON. {}\n at {}", e.message,
                                        RedactedLocation(json_text, e.pos)));
  }
  std::vector<Token>& tokens = lexer.tokens();
  if (tokens.empty() || (tokens.size() >= 2 && tokens[0].type == Tok::kStartObject &&
                         tokens[1].type == Tok::kEndObject)) {
    return InvalidParameter("FilterPolicy: Filter policy can not be empty");
  }
  Compiler compiler(json_text, tokens);
  auto root = compiler.Root();
  if (!root.ok()) return root.take_error();

  // SNS's own limits, checked on the compiled policy.
  if (scope == Scope::kMessageAttributes && HasNested(*root)) {
    return InvalidParameter(
        "Filter policy scope MessageAttributes does not support nested filter policy");
  }
  const AwsError too_many_keys =
      InvalidParameter("FilterPolicy: Filter policy can not have more than 5 keys");
  const AwsError too_complex = InvalidParameter("FilterPolicy: Filter policy is too complex");
  {
    std::vector<std::string_view> keys;
    for (const PolicyEntry& e : root->entries) {
      if (e.kind != PolicyEntry::kOr && std::find(keys.begin(), keys.end(), e.key) == keys.end()) {
        keys.push_back(e.key);
      }
    }
    if (keys.size() > kMaxKeys) return too_many_keys;
  }
  std::vector<DnfRule> dnf;
  if (!Expand(*root, "", "", 1, dnf)) return too_complex;
  double combinations = 0;
  for (const DnfRule& rule : dnf) {
    std::vector<std::string_view> keys;
    double product = 1;
    for (const RuleField& f : rule) {
      if (std::find(keys.begin(), keys.end(), f.top_key) == keys.end()) keys.push_back(f.top_key);
      product *= static_cast<double>(f.entry->spec.count) * f.depth;
    }
    if (keys.size() > kMaxKeys) return too_many_keys;
    combinations += product;
  }
  if (combinations > kMaxCombinations) return too_complex;

  // Intern the fields: rules share FieldTests by index.
  auto impl = std::make_unique<Impl>();
  impl->scope = scope;
  std::unordered_map<const PolicyEntry*, uint32_t> index;
  for (const DnfRule& rule : dnf) {
    std::vector<uint32_t> ids;
    for (const RuleField& f : rule) {
      auto [it, inserted] = index.try_emplace(f.entry, static_cast<uint32_t>(impl->fields.size()));
      if (inserted) impl->fields.push_back(FieldTest{f.path, f.entry->spec});
      ids.push_back(it->second);
    }
    impl->rules.push_back(std::move(ids));
  }
  return FilterPolicy(std::move(impl));
}

// ---- Matching ----------------------------------------------------------------------------------

namespace {

enum class FieldResult : uint8_t { kUnknown, kFail, kPass, kCandidates };

bool Consistent(const Leaf& a, const Leaf& b) {
  for (const auto& [array, element] : a.trail) {
    for (const auto& [other_array, other_element] : b.trail) {
      if (array == other_array && element != other_element) return false;
    }
  }
  return true;
}

// Picks one candidate leaf per field so that all come from the same array elements.
bool ConsistentChoice(const std::vector<std::vector<const Leaf*>*>& fields, size_t i,
                      std::vector<const Leaf*>& chosen, size_t& budget) {
  if (i == fields.size()) return true;
  for (const Leaf* leaf : *fields[i]) {
    if (budget == 0) return false;
    --budget;
    bool ok = std::all_of(chosen.begin(), chosen.end(),
                          [&](const Leaf* c) { return Consistent(*c, *leaf); });
    if (!ok) continue;
    chosen.push_back(leaf);
    if (ConsistentChoice(fields, i + 1, chosen, budget)) return true;
    chosen.pop_back();
  }
  return false;
}

}  // namespace

bool FilterPolicy::Impl::Matches(const PreparedMessage::Data& m) const {
  if (!m.valid || m.scope != scope) return false;
  const bool attributes = scope == Scope::kMessageAttributes;
  std::vector<FieldResult> results(fields.size(), FieldResult::kUnknown);
  std::vector<std::vector<const Leaf*>> candidates(m.has_trails ? fields.size() : 0);

  auto evaluate = [&](uint32_t id) {
    const FieldTest& test = fields[id];
    auto it = m.fields.find(test.path);
    const Data::Field* field = it == m.fields.end() ? nullptr : &it->second;
    if (field == nullptr || !field->present) {
      return test.spec.exists_false || (attributes && test.spec.has_null) ? FieldResult::kPass
                                                                          : FieldResult::kFail;
    }
    if (test.spec.exists_true) return FieldResult::kPass;
    bool any = false;
    for (const Leaf& leaf : field->leaves) {
      for (const Matcher& matcher : test.spec.matchers) {
        if (!matcher.Matches(leaf)) continue;
        if (!m.has_trails || leaf.trail.empty()) return FieldResult::kPass;
        candidates[id].push_back(&leaf);
        any = true;
        break;
      }
    }
    return any ? FieldResult::kCandidates : FieldResult::kFail;
  };

  for (const std::vector<uint32_t>& rule : rules) {
    bool pass = true;
    std::vector<std::vector<const Leaf*>*> constrained;
    for (uint32_t id : rule) {
      if (results[id] == FieldResult::kUnknown) results[id] = evaluate(id);
      if (results[id] == FieldResult::kFail) {
        pass = false;
        break;
      }
      if (results[id] == FieldResult::kCandidates) constrained.push_back(&candidates[id]);
    }
    if (!pass) continue;
    if (constrained.size() <= 1) return true;
    std::sort(constrained.begin(), constrained.end(),
              [](const auto* a, const auto* b) { return a->size() < b->size(); });
    std::vector<const Leaf*> chosen;
    size_t budget = 1'000'000;  // bounds adversarial bodies; real ones need a handful of steps
    if (ConsistentChoice(constrained, 0, chosen, budget)) return true;
  }
  return false;
}

FilterPolicy::FilterPolicy(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
FilterPolicy::FilterPolicy(FilterPolicy&&) noexcept = default;
FilterPolicy& FilterPolicy::operator=(FilterPolicy&&) noexcept = default;
FilterPolicy::~FilterPolicy() = default;

FilterPolicy::Scope FilterPolicy::scope() const { return impl_->scope; }

bool FilterPolicy::Matches(const nlohmann::json& message_attributes_or_body) const {
  PreparedMessage m = impl_->scope == Scope::kMessageAttributes
                          ? PreparedMessage::FromAttributes(message_attributes_or_body)
                          : PreparedMessage::FromBody(message_attributes_or_body);
  return impl_->Matches(*m.data_);
}

bool FilterPolicy::Matches(const PreparedMessage& message) const {
  return impl_->Matches(*message.data_);
}

AwsError AsSubscribeAttributesError(AwsError error) {
  constexpr std::string_view kHead = "Invalid parameter: ";
  if (error.message.starts_with(kHead)) {
    error.message.insert(kHead.size(), "Attributes Reason: ");
  }
  return error;
}

}  // namespace gc::sns
