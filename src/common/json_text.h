// Writing JSON as text directly, for answers too large to build as a document first (a
// GetInventory page of several MB). The output matches nlohmann::json::dump() for the same
// strings: UTF-8 kept as is, `"` `\` and control characters escaped.
#pragma once

#include <string>
#include <string_view>

namespace gc {

// Appends `s` as a JSON string literal, quotes included. `s` must be valid UTF-8 (strings that
// came through a JSON parser are).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace gc
