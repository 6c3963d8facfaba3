#include "services/ssm/inventory_codec.h"

#include <simdjson.h>

namespace gc::ssm::inventory {
namespace {

using Json = nlohmann::json;
namespace dom = simdjson::dom;

// The model's limits on an item's Content (botocore: InventoryItemEntryList, InventoryItemEntry,
// AttributeName, AttributeValue). Lengths there count UTF-16 units, never more than the UTF-8
// bytes counted here, so a string within these byte limits is within the model's; one over them is
// left to the generic check.
constexpr size_t kMaxEntries = 10000;
constexpr size_t kMaxAttributes = 50;
constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxValueBytes = 4096;

// `e` as a nlohmann document (the small members of a request, for the model check).
std::optional<Json> ToJson(dom::element e) {
  switch (e.type()) {
    case dom::element_type::OBJECT: {
      Json out = Json::object();
      for (dom::key_value_pair field : dom::object(e)) {
        auto v = ToJson(field.value);
        if (!v) return std::nullopt;
        out[std::string(field.key)] = std::move(*v);
      }
      return out;
    }
    case dom::element_type::ARRAY: {
      Json out = Json::array();
      for (dom::element item : dom::array(e)) {
        auto v = ToJson(item);
        if (!v) return std::nullopt;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case dom::element_type::STRING:
      return Json(std::string(std::string_view(e)));
    case dom::element_type::INT64:
      return Json(int64_t(e));
    case dom::element_type::UINT64:
      return Json(uint64_t(e));
    case dom::element_type::DOUBLE:
      return Json(double(e));
    case dom::element_type::BOOL:
      return Json(bool(e));
    case dom::element_type::NULL_VALUE:
      return Json();
  }
  return std::nullopt;
}

// Reads a Content list into `out`; false when it breaks the model's limits (or is not a list of
// maps of strings).
bool ReadEntries(dom::element content, bool check_limits, EntryCells& out) {
  dom::array entries;
  if (content.get_array().get(entries) != simdjson::SUCCESS) return false;
  if (check_limits && entries.size() > kMaxEntries) return false;
  out.cells.clear();
  out.ends.clear();
  out.ends.reserve(entries.size());
  for (dom::element entry : entries) {
    dom::object attributes;
    if (entry.get_object().get(attributes) != simdjson::SUCCESS) return false;
    if (check_limits && attributes.size() > kMaxAttributes) return false;
    for (dom::key_value_pair field : attributes) {
      std::string_view value;
      if (field.value.get_string().get(value) != simdjson::SUCCESS) return false;
      if (check_limits && (field.key.empty() || field.key.size() > kMaxNameBytes ||
                           value.size() > kMaxValueBytes)) {
        return false;
      }
      out.cells.emplace_back(field.key, value);
    }
    out.EndEntry();
  }
  return true;
}

}  // namespace

struct DecodedPut::Parse {
  dom::parser parser;
};

DecodedPut::DecodedPut() : parse_(std::make_unique<Parse>()) {}
DecodedPut::~DecodedPut() = default;

std::shared_ptr<const DecodedPut> DecodedPut::Decode(std::string_view body, Json& input) {
  std::shared_ptr<DecodedPut> out(new DecodedPut());
  dom::element doc;
  dom::object request;
  if (out->parse_->parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(request) != simdjson::SUCCESS) {
    return nullptr;
  }
  input = Json::object();
  for (dom::key_value_pair member : request) {
    if (member.key != "Items") {
      auto v = ToJson(member.value);
      if (!v) return nullptr;
      input[std::string(member.key)] = std::move(*v);
      continue;
    }
    dom::array items;
    if (member.value.get_array().get(items) != simdjson::SUCCESS) return nullptr;
    Json list = Json::array();
    out->contents_.clear();
    for (dom::element item : items) {
      dom::object fields;
      if (item.get_object().get(fields) != simdjson::SUCCESS) return nullptr;
      Json skeleton = Json::object();
      std::optional<dom::element> content;
      for (dom::key_value_pair field : fields) {
        if (field.key == "Content") {
          content = field.value;  // the last one, as a JSON object keeps
          continue;
        }
        auto v = ToJson(field.value);
        if (!v) return nullptr;
        skeleton[std::string(field.key)] = std::move(*v);
      }
      std::optional<Content>& c = out->contents_.emplace_back();
      if (content) {
        c.emplace();
        if (!ReadEntries(*content, true, c->entries)) return nullptr;
        c->text = simdjson::minify(*content);
      }
      list.push_back(std::move(skeleton));
    }
    input["Items"] = std::move(list);
  }
  return out;
}

ContentReader::ContentReader() : parse_(std::make_unique<DecodedPut::Parse>()) {}
ContentReader::~ContentReader() = default;

bool ContentReader::Read(std::string_view text, EntryCells& out) {
  dom::element doc;
  if (parse_->parser.parse(text.data(), text.size()).get(doc) != simdjson::SUCCESS) return false;
  return ReadEntries(doc, false, out);
}

}  // namespace gc::ssm::inventory
