// AppendJsonString writes what nlohmann::json::dump (with error_handler_t::replace, as the
// dispatcher encodes answers) writes for the same string, invalid UTF-8 included.
#include "common/json_text.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gc {
namespace {

std::string Ours(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

std::string Nlohmann(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TEST(JsonText, MatchesNlohmannDump) {
  const std::string cases[] = {
      "",
      "plain ascii",
      "quote \" backslash \\ slash /",
      std::string("controls \b\f\n\r\t \x01 \x1f and nul ") + '\0' + " end",
      "utf-8: \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
      "invalid: \xFF \xC3 \xE2\x82 \xED\xA0\x80 \xC0\xAF tail",
      "\xC3",
  };
  for (const std::string& s : cases) EXPECT_EQ(Ours(s), Nlohmann(s)) << s;
}

TEST(JsonText, Utf8SequenceLength) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xC3\xA9", 0), 2u);
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x98\x80", 0), 4u);
  EXPECT_EQ(Utf8SequenceLength("\xC3", 0), 0u);          // cut short
  EXPECT_EQ(Utf8SequenceLength("\xC0\xAF", 0), 0u);      // overlong
  EXPECT_EQ(Utf8SequenceLength("\xED\xA0\x80", 0), 0u);  // surrogate
}

}  // namespace
}  // namespace gc
