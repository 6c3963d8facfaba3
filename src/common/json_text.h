// Writing JSON as text directly: for answers too large to build as a document first (a
// GetInventory page of several MB) and for rows written on the store's single writer thread (the
// outbox). The output matches nlohmann::json::dump(-1, ' ', false, error_handler_t::replace) for
// the same strings: UTF-8 kept as is, `"` `\` and control characters escaped, bytes that are not
// UTF-8 replaced by U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gc {

// Appends `s` as a JSON string literal, quotes included.
void AppendJsonString(std::string& out, std::string_view s);

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none.
size_t Utf8SequenceLength(std::string_view s, size_t i);

}  // namespace gc
