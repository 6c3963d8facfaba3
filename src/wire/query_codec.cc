#include "wire/query_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "wire/validate.h"

namespace gc::wire {
namespace {

using model::Member;
using model::Operation;
using model::Pattern;
using model::ServiceModel;
using model::Shape;
using model::ShapeType;
using model::ShapeTypeName;

using nlohmann::json;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one name or value ('+' is a space). False on a bad escape.
bool FormDecode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigit(in[i + 1]);
      int lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Query parameters as a tree of dotted names: "Tags.member.1.Key" -> Tags / member / 1 / Key.

class QueryTree {
 public:
  struct Node {
    const std::string* key = nullptr;    // the full parameter name, for error messages
    const std::string* value = nullptr;  // null for inner nodes
    std::map<std::string_view, uint32_t, std::less<>> children;
  };

  explicit QueryTree(const QueryParams& params) {
    nodes_.emplace_back();
    for (const auto& [name, value] : params) {
      uint32_t cur = 0;
      std::string_view rest = name;
      while (true) {
        size_t dot = rest.find('.');
        std::string_view seg = rest.substr(0, dot);
        auto it = nodes_[cur].children.find(seg);
        uint32_t next = 0;
        if (it == nodes_[cur].children.end()) {
          next = static_cast<uint32_t>(nodes_.size());
          nodes_[cur].children.emplace(seg, next);
          nodes_.emplace_back();
        } else {
          next = it->second;
        }
        cur = next;
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
      }
      if (nodes_[cur].value == nullptr) {  // the first occurrence wins
        nodes_[cur].value = &value;
        nodes_[cur].key = &name;
      }
    }
  }

  const Node& node(uint32_t i) const { return nodes_[i]; }

  std::optional<uint32_t> Child(uint32_t parent, std::string_view name) const {
    const auto& children = nodes_[parent].children;
    auto it = children.find(name);
    if (it == children.end()) return std::nullopt;
    return it->second;
  }

  // Children named 1, 2, 3, ... in numeric order.
  std::vector<uint32_t> Numbered(uint32_t parent) const {
    std::vector<std::pair<uint32_t, uint32_t>> items;
    for (const auto& [name, idx] : nodes_[parent].children) {
      uint32_t n = 0;
      if (name.empty() || name.size() > 9 || name[0] == '0') continue;
      auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
      if (ec != std::errc() || p != name.data() + name.size()) continue;
      items.emplace_back(n, idx);
    }
    std::sort(items.begin(), items.end());
    std::vector<uint32_t> out;
    out.reserve(items.size());
    for (const auto& item : items) out.push_back(item.second);
    return out;
  }

 private:
  std::vector<Node> nodes_;
};

enum class Decoded { kAbsent, kPresent, kError };

class QueryDecoder {
 public:
  explicit QueryDecoder(const QueryTree& tree) : tree_(tree) {}

  std::optional<AwsError> error;

  Decoded Decode(const Shape& s, uint32_t node, bool flattened, json& out, int depth) {
    if (depth > kMaxDepth) return Fail(node, "input nested too deeply");
    switch (s.type) {
      case ShapeType::kStructure:
        return DecodeStructure(s, node, out, depth);
      case ShapeType::kList:
        return DecodeList(s, node, flattened, out, depth);
      case ShapeType::kMap:
        return DecodeMap(s, node, flattened, out, depth);
      default:
        return DecodeScalar(s, node, out);
    }
  }

  Decoded DecodeStructure(const Shape& s, uint32_t node, json& out, int depth) {
    out = json::object();
    for (const Member& m : s.members) {
      if (!m.location.empty()) continue;  // headers / URI parts are not query parameters
      std::string_view primary = m.wire_name();
      if (m.shape->type == ShapeType::kList && m.flattened &&
          !m.shape->member.location_name.empty()) {
        primary = m.shape->member.location_name;  // botocore replaces the member's name
      }
      std::optional<uint32_t> child = tree_.Child(node, primary);
      if (!child && primary != m.name) child = tree_.Child(node, m.name);
      if (!child) continue;
      json value;
      Decoded d = Decode(*m.shape, *child, m.flattened, value, depth + 1);
      if (d == Decoded::kError) return d;
      if (d == Decoded::kPresent) out[m.name] = std::move(value);
    }
    return Decoded::kPresent;
  }

  Decoded DecodeList(const Shape& s, uint32_t node, bool flattened, json& out, int depth) {
    uint32_t items_node = node;
    if (!flattened) {
      std::string_view name =
          s.member.location_name.empty() ? std::string_view("member") : s.member.location_name;
      if (auto c = tree_.Child(node, name)) items_node = *c;
    }
    std::vector<uint32_t> items = tree_.Numbered(items_node);
    if (items.empty()) {
      // "Foo=" is how botocore sends an empty list.
      const auto& n = tree_.node(node);
      if (n.value != nullptr && n.value->empty()) {
        out = json::array();
        return Decoded::kPresent;
      }
      return Decoded::kAbsent;
    }
    out = json::array();
    for (uint32_t item : items) {
      json value;
      Decoded d = Decode(*s.member.shape, item, s.member.flattened, value, depth + 1);
      if (d == Decoded::kError) return d;
      if (d == Decoded::kPresent) out.push_back(std::move(value));
    }
    return Decoded::kPresent;
  }

  Decoded DecodeMap(const Shape& s, uint32_t node, bool flattened, json& out, int depth) {
    uint32_t entries_node = node;
    if (!flattened) {
      if (auto c = tree_.Child(node, "entry")) entries_node = *c;
    }
    std::vector<uint32_t> entries = tree_.Numbered(entries_node);
    if (entries.empty()) {
      const auto& n = tree_.node(node);
      if (n.value != nullptr && n.value->empty()) {
        out = json::object();
        return Decoded::kPresent;
      }
      return Decoded::kAbsent;
    }
    std::string_view key_name =
        s.key.location_name.empty() ? std::string_view("key") : s.key.location_name;
    std::string_view value_name =
        s.value.location_name.empty() ? std::string_view("value") : s.value.location_name;
    out = json::object();
    for (uint32_t entry : entries) {
      auto k = tree_.Child(entry, key_name);
      auto v = tree_.Child(entry, value_name);
      if (!k || tree_.node(*k).value == nullptr || !v) continue;
      json value;
      Decoded d = Decode(*s.value.shape, *v, s.value.flattened, value, depth + 1);
      if (d == Decoded::kError) return d;
      if (d == Decoded::kPresent) out[*tree_.node(*k).value] = std::move(value);
    }
    return Decoded::kPresent;
  }

  Decoded DecodeScalar(const Shape& s, uint32_t node, json& out) {
    const auto& n = tree_.node(node);
    if (n.value == nullptr) return Decoded::kAbsent;
    const std::string& text = *n.value;
    switch (s.type) {
      case ShapeType::kString:
      case ShapeType::kBlob:  // stays base64, as on the JSON wire
        out = text;
        return Decoded::kPresent;
      case ShapeType::kInteger:
      case ShapeType::kLong: {
        int64_t v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        bool ok = ec == std::errc() && p == text.data() + text.size() && !text.empty();
        if (ok && s.type == ShapeType::kInteger) ok = v >= INT32_MIN && v <= INT32_MAX;
        if (!ok) return Fail(node, "Must be an integer");
        out = v;
        return Decoded::kPresent;
      }
      case ShapeType::kFloat:
      case ShapeType::kDouble: {
        std::optional<double> v = ParseDouble(text);
        if (!v) return Fail(node, "Must be a number");
        out = *v;
        return Decoded::kPresent;
      }
      case ShapeType::kBoolean:
        if (EqualsIgnoreCase(text, "true")) {
          out = true;
        } else if (EqualsIgnoreCase(text, "false")) {
          out = false;
        } else {
          return Fail(node, "Must be true or false");
        }
        return Decoded::kPresent;
      case ShapeType::kTimestamp: {
        std::optional<double> v = model::ParseIso8601(text);
        if (!v && !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) != 0)) {
          v = ParseDouble(text);  // epoch seconds
        }
        if (!v) return Fail(node, "Must be an ISO-8601 timestamp");
        if (std::floor(*v) == *v && std::fabs(*v) < 9e15) {
          out = static_cast<int64_t>(*v);
        } else {
          out = *v;
        }
        return Decoded::kPresent;
      }
      default:
        return Decoded::kAbsent;
    }
  }

 private:
  static bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == y;
           });
  }

  static std::optional<double> ParseDouble(const std::string& text) {
    if (text == "NaN") return std::nan("");
    if (text == "Infinity") return HUGE_VAL;
    if (text == "-Infinity") return -HUGE_VAL;
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || text.empty()) return std::nullopt;
    return v;
  }

  Decoded Fail(uint32_t node, std::string_view reason) {
    const auto& n = tree_.node(node);
    std::string_view key = n.key != nullptr ? std::string_view(*n.key) : std::string_view("?");
    std::string_view value = n.value != nullptr ? std::string_view(*n.value) : "";
    error = AwsError{
        "ValidationError",
        fmt::format("Value {} for parameter {} is invalid. Reason: {}.", value, key, reason), 400,
        true};
    return Decoded::kError;
  }

  const QueryTree& tree_;
};

// ---------------------------------------------------------------------------------------------
// XML output

void Open(std::string& out, std::string_view name) {
  out += '<';
  out += name;
  out += '>';
}

void Close(std::string& out, std::string_view name) {
  out += "</";
  out += name;
  out += '>';
}

void AppendDouble(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
  } else if (std::isinf(d)) {
    out += d > 0 ? "Infinity" : "-Infinity";
  } else {
    out += fmt::format("{}", d);
  }
}

// Scalars whose JSON type does not match the shape (a handler's choice) are written as they are.
void AppendScalar(std::string& out, const Shape& s, const json& v) {
  if (v.is_string()) {
    AppendXmlEscaped(out, v.get_ref<const std::string&>());
    return;
  }
  switch (s.type) {
    case ShapeType::kTimestamp:
      if (v.is_number()) {
        if (s.timestamp_format == "unixTimestamp") {
          AppendDouble(out, v.get<double>());
        } else {
          out += model::FormatIso8601(v.get<double>());
        }
        return;
      }
      break;
    case ShapeType::kInteger:
    case ShapeType::kLong:
      if (v.is_number_float()) {
        out += std::to_string(static_cast<int64_t>(v.get<double>()));
        return;
      }
      break;
    case ShapeType::kFloat:
    case ShapeType::kDouble:
      if (v.is_number()) {
        AppendDouble(out, v.get<double>());
        return;
      }
      break;
    default:
      break;
  }
  if (v.is_boolean()) {
    out += v.get<bool>() ? "true" : "false";
  } else if (v.is_number_float()) {
    AppendDouble(out, v.get<double>());
  } else if (v.is_number()) {
    out += v.dump();
  } else {
    AppendXmlEscaped(out, v.dump());
  }
}

void AppendValue(std::string& out, const Shape& s, const json& v, int depth);

void AppendMembers(std::string& out, const Shape& s, const json& obj, int depth) {
  if (!obj.is_object()) return;
  for (const Member& m : s.members) {
    if (!m.location.empty()) continue;  // headers etc. are not part of the XML body
    auto it = obj.find(m.name);
    if (it == obj.end() || it->is_null()) continue;
    const Shape& ms = *m.shape;
    if (ms.type == ShapeType::kList && m.flattened) {
      if (!it->is_array()) continue;
      // botocore: a flattened list is keyed by its member's locationName, else the member's.
      std::string_view name = ms.member.location_name.empty()
                                  ? m.wire_name()
                                  : std::string_view(ms.member.location_name);
      for (const json& item : *it) {
        if (item.is_null()) continue;
        Open(out, name);
        AppendValue(out, *ms.member.shape, item, depth + 1);
        Close(out, name);
      }
    } else if (ms.type == ShapeType::kMap && m.flattened) {
      if (!it->is_object()) continue;
      std::string_view name = m.wire_name();
      std::string_view key_name =
          ms.key.location_name.empty() ? std::string_view("key") : ms.key.location_name;
      std::string_view value_name =
          ms.value.location_name.empty() ? std::string_view("value") : ms.value.location_name;
      for (auto e = it->begin(); e != it->end(); ++e) {
        Open(out, name);
        Open(out, key_name);
        AppendXmlEscaped(out, e.key());
        Close(out, key_name);
        Open(out, value_name);
        AppendValue(out, *ms.value.shape, e.value(), depth + 1);
        Close(out, value_name);
        Close(out, name);
      }
    } else {
      std::string_view name = m.wire_name();
      Open(out, name);
      AppendValue(out, ms, *it, depth + 1);
      Close(out, name);
    }
  }
}

void AppendValue(std::string& out, const Shape& s, const json& v, int depth) {
  if (depth > kMaxDepth) return;  // handler output is ours; a cycle guard only
  switch (s.type) {
    case ShapeType::kStructure:
      AppendMembers(out, s, v, depth);
      return;
    case ShapeType::kList: {
      if (!v.is_array()) return;
      std::string_view name =
          s.member.location_name.empty() ? std::string_view("member") : s.member.location_name;
      for (const json& item : v) {
        if (item.is_null()) continue;
        Open(out, name);
        AppendValue(out, *s.member.shape, item, depth + 1);
        Close(out, name);
      }
      return;
    }
    case ShapeType::kMap: {
      if (!v.is_object()) return;
      std::string_view key_name =
          s.key.location_name.empty() ? std::string_view("key") : s.key.location_name;
      std::string_view value_name =
          s.value.location_name.empty() ? std::string_view("value") : s.value.location_name;
      for (auto e = v.begin(); e != v.end(); ++e) {
        out += "<entry>";
        Open(out, key_name);
        AppendXmlEscaped(out, e.key());
        Close(out, key_name);
        Open(out, value_name);
        AppendValue(out, *s.value.shape, e.value(), depth + 1);
        Close(out, value_name);
        out += "</entry>";
      }
      return;
    }
    default:
      AppendScalar(out, s, v);
  }
}

void AppendRootOpen(std::string& out, std::string_view name, std::string_view ns) {
  out += '<';
  out += name;
  if (!ns.empty()) {
    out += " xmlns=\"";
    AppendXmlEscaped(out, ns);
    out += '"';
  }
  out += '>';
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i] (lead byte >= 0x80), or 0 if invalid or a
// character XML 1.0 does not allow (surrogates, U+FFFE, U+FFFF).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return 0;
  return len;
}

}  // namespace

void AppendXmlEscaped(std::string& out, std::string_view text) {
  size_t start = 0;  // first byte not yet copied
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::string_view replacement;
    if (c >= 0x80) {
      size_t len = Utf8SequenceLength(text, i);
      if (len != 0) {
        i += len;
        continue;
      }
      replacement = kReplacement;
    } else if (c >= 0x20 && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'') {
      ++i;
      continue;
    } else {
      switch (c) {
        case '&':
          replacement = "&amp;";
          break;
        case '<':
          replacement = "&lt;";
          break;
        case '>':
          replacement = "&gt;";
          break;
        case '"':
          replacement = "&quot;";
          break;
        case '\'':
          replacement = "&apos;";
          break;
        case '\r':
          replacement = "&#xD;";
          break;
        case '\t':
        case '\n':
          ++i;
          continue;
        default:
          replacement = kReplacement;  // not representable in XML 1.0
      }
    }
    out.append(text.substr(start, i - start));
    out += replacement;
    start = ++i;
  }
  out.append(text.substr(start));
}

Result<QueryParams> ParseFormUrlEncoded(std::string_view body) {
  QueryParams params;
  size_t pos = 0;
  std::string name;
  std::string value;
  while (pos < body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view piece = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    std::string_view raw_name = piece.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? "" : piece.substr(eq + 1);
    if (!FormDecode(raw_name, name) || !FormDecode(raw_value, value)) {
      return AwsError{"MalformedQueryString",
                      fmt::format("Malformed query string: invalid percent-encoding in '{}'",
                                  piece.substr(0, 256)),
                      400, true};
    }
    params.emplace_back(name, value);
  }
  return params;
}

Result<json> DecodeQueryInput(const ServiceModel& model, const Operation& op,
                              const QueryParams& params) {
  (void)model;
  if (op.input == nullptr) return json::object();
  QueryTree tree(params);
  QueryDecoder decoder(tree);
  json out;
  if (decoder.DecodeStructure(*op.input, 0, out, 0) == Decoded::kError) {
    return std::move(*decoder.error);
  }
  return out;
}

std::string EncodeQueryResponse(const ServiceModel& model, const Operation& op, const json& output,
                                std::string_view request_id) {
  std::string out;
  out.reserve(256);
  std::string root = op.name + "Response";
  AppendRootOpen(out, root, model.xml_namespace());
  if (op.output != nullptr) {
    if (!op.result_wrapper.empty()) Open(out, op.result_wrapper);
    AppendMembers(out, *op.output, output, 0);
    if (!op.result_wrapper.empty()) Close(out, op.result_wrapper);
  }
  out += "<ResponseMetadata><RequestId>";
  AppendXmlEscaped(out, request_id);
  out += "</RequestId></ResponseMetadata>";
  Close(out, root);
  return out;
}

std::string EncodeQueryError(const AwsError& error, std::string_view request_id,
                             std::string_view xml_namespace) {
  std::string out;
  out.reserve(256 + error.message.size());
  AppendRootOpen(out, "ErrorResponse", xml_namespace);
  out += "<Error><Type>";
  out += error.sender_fault ? "Sender" : "Receiver";
  out += "</Type><Code>";
  AppendXmlEscaped(out, error.code);
  out += "</Code><Message>";
  AppendXmlEscaped(out, error.message);
  out += "</Message></Error><RequestId>";
  AppendXmlEscaped(out, request_id);
  out += "</RequestId></ErrorResponse>";
  return out;
}

AwsError ToQueryError(AwsError error) {
  static constexpr std::pair<std::string_view, std::string_view> kMap[] = {
      {"ValidationException", "ValidationError"},
      {"SerializationException", "MalformedQueryString"},
      {"UnknownOperationException", "InvalidAction"},
      {"InvalidSignatureException", "SignatureDoesNotMatch"},
      {"MissingAuthenticationTokenException", "MissingAuthenticationToken"},
      {"UnrecognizedClientException", "InvalidClientTokenId"},
      {"IncompleteSignatureException", "IncompleteSignature"},
      {"AccessDeniedException", "AccessDenied"},
      {"ThrottlingException", "Throttling"},
  };
  for (const auto& [from, to] : kMap) {
    if (error.code == from) {
      error.code = to;
      break;
    }
  }
  return error;
}

}  // namespace gc::wire
