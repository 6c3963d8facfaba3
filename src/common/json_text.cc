#include "common/json_text.h"

#include <algorithm>

namespace gc {

namespace {

// The bytes that may follow `lead` in a well-formed sequence (Unicode table 3-7): the range of
// the second byte, and how many bytes the sequence has. {0, 0, 0} for a byte that cannot lead.
struct Lead {
  unsigned char second_lo, second_hi;
  size_t length;
};
Lead LeadOf(unsigned char c) {
  if (c >= 0xC2 && c <= 0xDF) return {0x80, 0xBF, 2};
  if (c == 0xE0) return {0xA0, 0xBF, 3};
  if (c == 0xED) return {0x80, 0x9F, 3};  // no surrogates
  if (c >= 0xE1 && c <= 0xEF) return {0x80, 0xBF, 3};
  if (c == 0xF0) return {0x90, 0xBF, 4};
  if (c >= 0xF1 && c <= 0xF3) return {0x80, 0xBF, 4};
  if (c == 0xF4) return {0x80, 0x8F, 4};  // up to U+10FFFF
  return {0, 0, 0};
}

// Bytes of s from i that are a well-formed sequence, or a prefix of one (a maximal subpart).
size_t WellFormedPrefix(std::string_view s, size_t i, size_t* length) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *length = 1;
    return 1;
  }
  const Lead lead = LeadOf(c);
  *length = lead.length;
  if (lead.length == 0) return 0;
  size_t n = 1;
  for (; n < lead.length && i + n < s.size(); ++n) {
    const auto b = static_cast<unsigned char>(s[i + n]);
    const bool ok = n == 1 ? (b >= lead.second_lo && b <= lead.second_hi) : (b & 0xC0) == 0x80;
    if (!ok) break;
  }
  return n;
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  size_t length = 0;
  const size_t n = WellFormedPrefix(s, i, &length);
  return length > 0 && n == length ? length : 0;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t length = 0;
      const size_t n = WellFormedPrefix(s, i, &length);
      if (length > 0 && n == length) {
        i += n - 1;
        continue;
      }
      // Not UTF-8: one U+FFFD for the maximal subpart (or the one byte), as nlohmann's dump.
      out.append(s.data() + run, i - run);
      i += std::max<size_t>(n, 1) - 1;
      run = i + 1;
      out += "\xEF\xBF\xBD";
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\f': out += 'f'; break;
      case '\n': out += 'n'; break;
      case '\r': out += 'r'; break;
      case '\t': out += 't'; break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

}  // namespace gc
