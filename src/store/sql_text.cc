#include "store/sql_text.h"

#include <cctype>
#include <string>

namespace gc::store {
namespace {

bool IsIdentChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;
}

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool IsCommentStart(std::string_view s, size_t i) {
  return i + 1 < s.size() && ((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*'));
}

// Skips a quoted run that closes with `q` (a doubled `q` is an escaped one); `backslash` also
// honours \-escapes (PostgreSQL E'...'). Returns the index after the closing quote.
size_t SkipQuote(std::string_view s, size_t i, char q, bool backslash) {
  for (size_t j = i + 1; j < s.size(); ++j) {
    if (backslash && s[j] == '\\') {
      ++j;
    } else if (s[j] == q) {
      if (j + 1 < s.size() && s[j + 1] == q) {
        ++j;
      } else {
        return j + 1;
      }
    }
  }
  return s.size();
}

// If s[i] starts a quoted literal or identifier, a dollar-quoted body or a comment, returns the
// index just after it (s.size() if it is unterminated); otherwise returns i.
size_t SkipNonCode(std::string_view s, size_t i) {
  const size_t n = s.size();
  const char c = s[i];
  if (c == '\'') {
    const bool e_string =
        i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !IsIdentChar(s[i - 2]));
    return SkipQuote(s, i, '\'', e_string);
  }
  if (c == '"' || c == '`') return SkipQuote(s, i, c, false);
  if (c == '-' && i + 1 < n && s[i + 1] == '-') {
    const size_t end = s.find('\n', i);
    return end == std::string_view::npos ? n : end + 1;
  }
  if (c == '/' && i + 1 < n && s[i + 1] == '*') {  // PostgreSQL block comments nest
    int depth = 1;
    size_t j = i + 2;
    while (j < n) {
      if (s[j] == '/' && j + 1 < n && s[j + 1] == '*') {
        ++depth;
        j += 2;
      } else if (s[j] == '*' && j + 1 < n && s[j + 1] == '/') {
        j += 2;
        if (--depth == 0) return j;
      } else {
        ++j;
      }
    }
    return n;
  }
  if (c == '$' && (i == 0 || !IsIdentChar(s[i - 1]))) {
    size_t j = i + 1;
    if (j < n && std::isdigit(static_cast<unsigned char>(s[j]))) return i;  // $1 parameter
    while (j < n && IsIdentChar(s[j])) ++j;
    if (j < n && s[j] == '$') {
      const std::string_view tag = s.substr(i, j - i + 1);
      const size_t end = s.find(tag, j + 1);
      return end == std::string_view::npos ? n : end + tag.size();
    }
  }
  return i;
}

std::string Upper(std::string_view w) {
  std::string out(w);
  for (char& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::vector<std::string> SplitStatements(std::string_view sql) {
  std::vector<std::string> out;
  size_t start = 0;
  bool has_code = false;
  std::vector<std::string> words;  // first words of the current statement, upper-cased
  bool trigger = false;
  int depth = 0;  // BEGIN/CASE ... END nesting inside a trigger body
  auto flush = [&](size_t end) {
    if (has_code) out.push_back(Trim(sql.substr(start, end - start)));
    start = end + 1;
    has_code = false;
    words.clear();
    trigger = false;
    depth = 0;
  };
  size_t i = 0;
  while (i < sql.size()) {
    const size_t skip = SkipNonCode(sql, i);
    if (skip != i) {
      if (!IsCommentStart(sql, i)) has_code = true;
      i = skip;
      continue;
    }
    const char c = sql[i];
    if (c == ';' && depth == 0) {
      flush(i);
      ++i;
    } else if (IsIdentChar(c)) {
      size_t k = i;
      while (k < sql.size() && IsIdentChar(sql[k])) ++k;
      const std::string word = Upper(sql.substr(i, k - i));
      has_code = true;
      if (words.size() < 3) {
        words.push_back(word);
        trigger = trigger || (words[0] == "CREATE" && word == "TRIGGER");
      } else if (trigger) {
        if (word == "BEGIN" || word == "CASE") {
          ++depth;
        } else if (word == "END" && depth > 0) {
          --depth;
        }
      }
      i = k;
    } else {
      if (!IsSpace(c)) has_code = true;
      ++i;
    }
  }
  flush(sql.size());
  return out;
}

std::string RewritePlaceholders(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  size_t i = 0;
  while (i < sql.size()) {
    const size_t skip = SkipNonCode(sql, i);
    if (skip != i) {
      out.append(sql.substr(i, skip - i));
      i = skip;
    } else if (sql[i] == '?') {
      out += '$';
      out += std::to_string(++n);
      ++i;
    } else {
      out += sql[i++];
    }
  }
  if (count != nullptr) *count = n;
  return out;
}

}  // namespace gc::store
