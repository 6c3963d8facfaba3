#include "delivery/email_message.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "common/crypto.h"

namespace gc::delivery::internal {
namespace {

std::string WithoutNewlines(std::string_view text, char replacement) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\r' || c == '\n') {
      if (replacement != '\0') out += replacement;
    } else {
      out += c;
    }
  }
  return out;
}

bool IsPrintableAscii(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Splits `text` into pieces of at most `max_bytes` bytes without cutting a UTF-8 sequence.
std::vector<std::string_view> SplitUtf8(std::string_view text, size_t max_bytes) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.size(), start + max_bytes);
    if (end < text.size()) {
      size_t cut = end;
      // Back up over continuation bytes (10xxxxxx) to a character start.
      while (cut > start && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
      if (cut > start) end = cut;  // else: not UTF-8; cut anywhere
    }
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

// RFC 2045 section 6.7 quoted-printable, CRLF line ends, lines of at most 76 characters.
std::string QuotedPrintable(std::string_view body) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(body.size() + body.size() / 8 + 16);
  size_t line_len = 0;
  auto soft_break_if_needed = [&](size_t next) {
    if (line_len + next > 75) {  // room for the '=' of a soft line break
      out += "=\r\n";
      line_len = 0;
    }
  };
  for (size_t i = 0; i < body.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(body[i]);
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < body.size() && body[i + 1] == '\n') ++i;
      out += "\r\n";  // a hard line break
      line_len = 0;
      continue;
    }
    const bool at_line_end = i + 1 == body.size() || body[i + 1] == '\r' || body[i + 1] == '\n';
    const bool literal =
        (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    if (literal) {
      soft_break_if_needed(1);
      out += static_cast<char>(c);
      line_len += 1;
    } else {
      soft_break_if_needed(3);
      out += '=';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      line_len += 3;
    }
  }
  return out;
}

// Whether `body` can go as 7bit: ASCII without NUL or lone CR, lines of at most 998 bytes.
bool Fits7bit(std::string_view body) {
  size_t line_len = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(body[i]);
    if (c == 0 || c >= 0x80) return false;
    if (c == '\n') {
      line_len = 0;
      continue;
    }
    if (c == '\r') {
      if (i + 1 >= body.size() || body[i + 1] != '\n') return false;
      continue;
    }
    if (++line_len > 998) return false;
  }
  return true;
}

// Normalises line ends to CRLF.
std::string CrlfLines(std::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 2);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') continue;
    if (body[i] == '\n') {
      out += "\r\n";
    } else {
      out += body[i];
    }
  }
  return out;
}

}  // namespace

std::string AddressOf(std::string_view mailbox) {
  std::string m = WithoutNewlines(mailbox, '\0');
  const size_t open = m.rfind('<');
  if (open != std::string::npos) {
    const size_t close = m.find('>', open);
    if (close != std::string::npos) return m.substr(open + 1, close - open - 1);
  }
  // Trim spaces.
  const size_t b = m.find_first_not_of(" \t");
  const size_t e = m.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : m.substr(b, e - b + 1);
}

std::string EncodeHeaderText(std::string_view text) {
  const std::string clean = WithoutNewlines(text, ' ');
  // 78 characters is the recommended line length; "Subject: " takes 9 of them.
  if (IsPrintableAscii(clean) && clean.size() <= 69) return clean;
  // 75 characters per encoded word: "=?UTF-8?B?" + base64 + "?=" leaves 63, i.e. 45 input bytes.
  std::string out;
  for (std::string_view piece : SplitUtf8(clean, 45)) {
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?";
    out += crypto::Base64Encode(piece);
    out += "?=";
  }
  return out;
}

std::string Rfc5322Date(int64_t epoch_millis) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = static_cast<std::time_t>(epoch_millis / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string BuildEmailMessage(std::string_view from, std::string_view to, std::string_view subject,
                              std::string_view body, int64_t epoch_millis,
                              std::string_view message_id_local) {
  const std::string from_address = AddressOf(from);
  const size_t at = from_address.rfind('@');
  std::string domain = at == std::string::npos ? "" : from_address.substr(at + 1);
  if (domain.empty()) domain = "groundcrew.local";
  const bool seven_bit = Fits7bit(body);

  std::string m;
  m.reserve(body.size() + 512);
  m += "From: " + WithoutNewlines(from, ' ') + "\r\n";
  m += "To: " + WithoutNewlines(to, ' ') + "\r\n";
  m += "Subject: " + EncodeHeaderText(subject) + "\r\n";
  m += "Date: " + Rfc5322Date(epoch_millis) + "\r\n";
  m += "Message-ID: <" + WithoutNewlines(message_id_local, '\0') + "@" + domain + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=UTF-8\r\n";
  m += seven_bit ? "Content-Transfer-Encoding: 7bit\r\n"
                 : "Content-Transfer-Encoding: quoted-printable\r\n";
  m += "\r\n";
  m += seven_bit ? CrlfLines(body) : QuotedPrintable(body);
  if (m.size() < 2 || m.compare(m.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  return m;
}

}  // namespace gc::delivery::internal
