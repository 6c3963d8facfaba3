// Inventory's large documents read with simdjson instead of as nlohmann documents: a PutInventory
// body (150 KB of AWS:Application for a host with 500 packages) and the content stored for each
// item, which is read again when the index loads. Entries come out as the index's borrowed cells
// (inventory_index.h), so a string is copied only when the index has not seen it before.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "services/ssm/inventory_index.h"

namespace gc::ssm::inventory {

// One item's Content: its entries, and its text as stored (the JSON array, minified).
struct Content {
  EntryCells entries;
  std::string text;
};

// A decoded PutInventory body. Owns the parse that the entries' strings point into.
class DecodedPut {
 public:
  // Decodes `body` and fills `input` with the request minus every item's Content, for the model
  // check. Returns nullptr — the generic path then decodes the body and words the error — unless
  // the body is a JSON object whose item Contents all satisfy the model: a list of at most 10,000
  // maps of at most 50 string attributes, names 1-64 and values at most 4,096 long.
  static std::shared_ptr<const DecodedPut> Decode(std::string_view body, nlohmann::json& input);

  // The Content of item k of Items; nullopt when the item has none.
  const std::optional<Content>& content(size_t k) const { return contents_.at(k); }

  struct Parse;  // the simdjson parser (inventory_codec.cc)
  ~DecodedPut();

 private:
  DecodedPut();
  std::unique_ptr<Parse> parse_;
  std::vector<std::optional<Content>> contents_;
};

// Reads Content texts as PutInventory stores them. Each Read's entries stay valid until the next.
// Not thread-safe: one reader per thread.
class ContentReader {
 public:
  ContentReader();
  ~ContentReader();
  // False when `text` is not a JSON list of maps of strings.
  bool Read(std::string_view text, EntryCells& out);

 private:
  std::unique_ptr<DecodedPut::Parse> parse_;
};

}  // namespace gc::ssm::inventory
