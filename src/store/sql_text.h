// SQL text helpers shared by the backends: split a script into statements, number `?` placeholders.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gc::store {

// Splits `sql` at top-level ';' into statements (trimmed; empty and comment-only ones dropped).
// A ';' inside '...' / "..." / `...` quotes, E'..' strings, $tag$..$tag$ bodies, -- and /* */
// comments, or a CREATE TRIGGER ... BEGIN ... END body does not split.
std::vector<std::string> SplitStatements(std::string_view sql);

// Rewrites each top-level `?` placeholder to $1, $2, ... (PostgreSQL); a `?` inside a quoted
// literal, identifier, dollar-quoted body or comment is left alone. `count` gets the number.
std::string RewritePlaceholders(std::string_view sql, int* count = nullptr);

}  // namespace gc::store
