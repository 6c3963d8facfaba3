#include "wire/validate.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

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

// One step of the path to a value, kept on the stack; rendered only when an error is reported.
struct PathSeg {
  const PathSeg* parent;
  std::string_view text;  // member path name, map key or "member"
  int64_t index;          // >= 1 for list items (then `text` is unused)
};

std::string RenderPath(const PathSeg* p) {
  std::vector<const PathSeg*> chain;
  for (; p != nullptr; p = p->parent) chain.push_back(p);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!out.empty()) out += '.';
    if ((*it)->index > 0) {
      out += std::to_string((*it)->index);
    } else {
      out += (*it)->text;
    }
  }
  return out;
}

// Renders a value the way Coral's messages show it (Java toString()). Unknown members can nest
// arbitrarily deep, so deeper levels are elided.
void RenderValue(std::string& out, const json& v, int depth = 0) {
  if (depth > 16) {
    out += "...";
    return;
  }
  switch (v.type()) {
    case json::value_t::string:
      out += v.get_ref<const std::string&>();
      break;
    case json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      break;
    case json::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      break;
    case json::value_t::number_float:
      out += fmt::format("{}", v.get<double>());
      break;
    case json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const json& e : v) {
        if (!first) out += ", ";
        first = false;
        RenderValue(out, e, depth + 1);
      }
      out += ']';
      break;
    }
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += it.key();
        out += '=';
        RenderValue(out, it.value(), depth + 1);
      }
      out += '}';
      break;
    }
    default:
      out += "null";
  }
}

std::string FormatBound(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  return fmt::format("{}", d);
}

// Length as Java's String.length(): UTF-16 code units of a UTF-8 string.
size_t Utf16Length(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    if ((b & 0xC0) != 0x80) ++n;  // not a continuation byte
    if (b >= 0xF0) ++n;           // 4-byte sequence: a surrogate pair
  }
  return n;
}

int Base64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Decoded size of a base64 string, or nullopt if it is not base64 (padding optional).
std::optional<size_t> Base64DecodedSize(std::string_view s) {
  size_t pad = 0;
  while (!s.empty() && s.back() == '=' && pad < 2) {
    s.remove_suffix(1);
    ++pad;
  }
  for (char c : s) {
    if (Base64Value(static_cast<unsigned char>(c)) < 0) return std::nullopt;
  }
  size_t rem = s.size() % 4;
  if (rem == 1) return std::nullopt;
  if (pad > 0 && (s.size() + pad) % 4 != 0) return std::nullopt;
  return s.size() / 4 * 3 + (rem == 2 ? 1 : rem == 3 ? 2 : 0);
}

bool IsScalar(const Shape& s) {
  return s.type != ShapeType::kStructure && s.type != ShapeType::kList && s.type != ShapeType::kMap;
}

std::string_view JsonTypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "null";
  }
}

// Coral's constraint texts.
std::string MinLength(double n) {
  return "Member must have length greater than or equal to " + FormatBound(n);
}
std::string MaxLength(double n) {
  return "Member must have length less than or equal to " + FormatBound(n);
}
std::string MinValue(double n) {
  return "Member must have value greater than or equal to " + FormatBound(n);
}
std::string MaxValue(double n) {
  return "Member must have value less than or equal to " + FormatBound(n);
}
std::string PatternText(const Pattern& p) {
  return "Member must satisfy regular expression pattern: " + p.source();
}
std::string EnumText(const Shape& s) {
  return "Member must satisfy enum value set: " + s.enum_text;
}

bool HasLength(ShapeType t) {
  return t == ShapeType::kString || t == ShapeType::kBlob || t == ShapeType::kList ||
         t == ShapeType::kMap;
}

// Every constraint of a shape, in Coral's order, for "... must satisfy constraint: [..]".
std::string ConstraintList(const Shape& s) {
  std::vector<std::string> parts;
  bool length = HasLength(s.type);
  if (s.max) parts.push_back(length ? MaxLength(*s.max) : MaxValue(*s.max));
  if (s.min) parts.push_back(length ? MinLength(*s.min) : MinValue(*s.min));
  if (s.pattern) parts.push_back(PatternText(*s.pattern));
  if (!s.enum_values.empty()) parts.push_back(EnumText(s));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}

class Validator {
 public:
  std::vector<std::string> errors;
  std::string serialization_error;  // non-empty once a wrong JSON type was seen

  // Returns false once a serialization error has been recorded (the walk then stops).
  bool Check(const Shape& s, const json& v, const PathSeg* path, int depth) {
    if (depth > kMaxDepth) return TypeError("input nested too deeply", path);
    switch (s.type) {
      case ShapeType::kStructure:
        return CheckStructure(s, v, path, depth);
      case ShapeType::kList:
        return CheckList(s, v, path, depth);
      case ShapeType::kMap:
        return CheckMap(s, v, path, depth);
      default: {
        std::vector<std::string> violated;
        if (!CheckScalar(s, v, &violated)) return WrongType(s, v, path);
        for (std::string& c : violated) Fail(path, &v, c);
        return true;
      }
    }
  }

 private:
  bool TypeError(std::string_view what, const PathSeg* path) {
    serialization_error = fmt::format("{} at '{}'", what, RenderPath(path));
    return false;
  }

  bool WrongType(const Shape& s, const json& v, const PathSeg* path) {
    return TypeError(
        fmt::format("Unexpected {} for {} value", JsonTypeName(v), ShapeTypeName(s.type)), path);
  }

  void Fail(const PathSeg* path, const json* v, std::string_view constraint) {
    std::string msg = "Value ";
    if (v == nullptr || v->is_null()) {
      msg += "null";
    } else {
      msg += '\'';
      RenderValue(msg, *v);
      msg += '\'';
    }
    msg += " at '";
    msg += RenderPath(path);
    msg += "' failed to satisfy constraint: ";
    msg += constraint;
    errors.push_back(std::move(msg));
  }

  // Checks a length against min/max.
  static void Length(const Shape& s, size_t n, std::vector<std::string>* violated) {
    auto d = static_cast<double>(n);
    if (s.min && d < *s.min) violated->push_back(MinLength(*s.min));
    if (s.max && d > *s.max) violated->push_back(MaxLength(*s.max));
  }

  static void Range(const Shape& s, double d, std::vector<std::string>* violated) {
    if (s.min && d < *s.min) violated->push_back(MinValue(*s.min));
    if (s.max && d > *s.max) violated->push_back(MaxValue(*s.max));
  }

  static void CheckString(const Shape& s, std::string_view str,
                          std::vector<std::string>* violated) {
    if (s.min || s.max) Length(s, Utf16Length(str), violated);
    if (s.pattern && !s.pattern->Matches(str)) violated->push_back(PatternText(*s.pattern));
    if (!s.enum_values.empty()) {
      bool found = false;
      for (const std::string& e : s.enum_values) {
        if (e == str) {
          found = true;
          break;
        }
      }
      if (!found) violated->push_back(EnumText(s));
    }
  }

  // Returns false when `v` has the wrong JSON type; appends violated constraints otherwise.
  static bool CheckScalar(const Shape& s, const json& v, std::vector<std::string>* violated) {
    switch (s.type) {
      case ShapeType::kString: {
        if (!v.is_string()) return false;
        CheckString(s, v.get_ref<const std::string&>(), violated);
        return true;
      }
      case ShapeType::kInteger:
      case ShapeType::kLong: {
        double d = 0;
        if (v.is_number_integer()) {
          int64_t i = v.get<int64_t>();
          if (s.type == ShapeType::kInteger && (i < std::numeric_limits<int32_t>::min() ||
                                                i > std::numeric_limits<int32_t>::max())) {
            return false;
          }
          d = static_cast<double>(i);
        } else if (v.is_number_unsigned()) {
          uint64_t u = v.get<uint64_t>();
          uint64_t limit = s.type == ShapeType::kInteger
                               ? uint64_t{std::numeric_limits<int32_t>::max()}
                               : uint64_t{std::numeric_limits<int64_t>::max()};
          if (u > limit) return false;
          d = static_cast<double>(u);
        } else if (v.is_number_float()) {
          d = v.get<double>();
          double lo = s.type == ShapeType::kInteger ? -2147483648.0 : -9.2233720368547758e18;
          double hi = s.type == ShapeType::kInteger ? 2147483647.0 : 9.2233720368547758e18;
          if (std::floor(d) != d || d < lo || d > hi) return false;
        } else {
          return false;
        }
        if (s.min || s.max) Range(s, d, violated);
        return true;
      }
      case ShapeType::kFloat:
      case ShapeType::kDouble:
        if (!v.is_number()) return false;
        if (s.min || s.max) Range(s, v.get<double>(), violated);
        return true;
      case ShapeType::kBoolean:
        return v.is_boolean();
      case ShapeType::kTimestamp:
        if (v.is_number()) return true;
        return v.is_string() && model::ParseIso8601(v.get_ref<const std::string&>()).has_value();
      case ShapeType::kBlob: {
        if (!v.is_string()) return false;
        auto size = Base64DecodedSize(v.get_ref<const std::string&>());
        if (!size) return false;
        if (s.min || s.max) Length(s, *size, violated);
        return true;
      }
      default:
        return false;
    }
  }

  bool CheckStructure(const Shape& s, const json& v, const PathSeg* path, int depth) {
    if (!v.is_object()) return WrongType(s, v, path);
    for (const Member& m : s.members) {
      auto it = v.find(m.name);
      PathSeg seg{path, m.path_name, 0};
      if (it == v.end() || it->is_null()) {
        if (m.required) Fail(&seg, nullptr, "Member must not be null");
        continue;
      }
      if (!Check(*m.shape, *it, &seg, depth + 1)) return false;
    }
    return true;
  }

  bool CheckList(const Shape& s, const json& v, const PathSeg* path, int depth) {
    if (!v.is_array()) return WrongType(s, v, path);
    if (s.min || s.max) {
      std::vector<std::string> violated;
      Length(s, v.size(), &violated);
      for (std::string& c : violated) Fail(path, &v, c);
    }
    const Shape& e = *s.member.shape;
    if (IsScalar(e)) {
      bool bad = false;
      std::vector<std::string> violated;
      int64_t index = 0;
      for (const json& item : v) {
        ++index;
        if (item.is_null()) {
          PathSeg idx{path, {}, index};
          PathSeg mem{&idx, "member", 0};
          Fail(&mem, nullptr, "Member must not be null");
          continue;
        }
        if (!CheckScalar(e, item, &violated)) {
          PathSeg idx{path, {}, index};
          PathSeg mem{&idx, "member", 0};
          return WrongType(e, item, &mem);
        }
        if (!violated.empty()) bad = true;
        violated.clear();
      }
      if (bad) Fail(path, &v, "Member must satisfy constraint: " + ConstraintList(e));
      return true;
    }
    int64_t index = 0;
    for (const json& item : v) {
      PathSeg idx{path, {}, ++index};
      PathSeg mem{&idx, "member", 0};
      if (item.is_null()) {
        Fail(&mem, nullptr, "Member must not be null");
        continue;
      }
      if (!Check(e, item, &mem, depth + 1)) return false;
    }
    return true;
  }

  bool CheckMap(const Shape& s, const json& v, const PathSeg* path, int depth) {
    if (!v.is_object()) return WrongType(s, v, path);
    if (s.min || s.max) {
      std::vector<std::string> violated;
      Length(s, v.size(), &violated);
      for (std::string& c : violated) Fail(path, &v, c);
    }
    const Shape& k = *s.key.shape;
    const Shape& val = *s.value.shape;
    bool key_has_constraints =
        k.type == ShapeType::kString && (k.min || k.max || k.pattern || !k.enum_values.empty());
    bool scalar_value = IsScalar(val);
    bool bad_key = false;
    bool bad_value = false;
    std::vector<std::string> violated;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (key_has_constraints) {
        CheckString(k, it.key(), &violated);
        if (!violated.empty()) bad_key = true;
        violated.clear();
      }
      const json& item = it.value();
      if (item.is_null()) continue;
      PathSeg key_seg{path, it.key(), 0};
      PathSeg mem{&key_seg, "member", 0};
      if (scalar_value) {
        if (!CheckScalar(val, item, &violated)) return WrongType(val, item, &mem);
        if (!violated.empty()) bad_value = true;
        violated.clear();
      } else if (!Check(val, item, &mem, depth + 1)) {
        return false;
      }
    }
    if (bad_key) Fail(path, &v, "Map keys must satisfy constraint: " + ConstraintList(k));
    if (bad_value) Fail(path, &v, "Map value must satisfy constraint: " + ConstraintList(val));
    return true;
  }
};

}  // namespace

Status ValidateInput(const ServiceModel& model, const Operation& op, const json& input) {
  (void)model;  // shapes are already resolved in `op`; kept for symmetry with the codecs
  if (op.input == nullptr) return Ok{};
  static const json kEmpty = json::object();
  const json& doc = input.is_null() ? kEmpty : input;
  Validator v;
  if (!v.Check(*op.input, doc, nullptr, 0)) {
    return AwsError{"SerializationException", std::move(v.serialization_error), 400, true};
  }
  if (v.errors.empty()) return Ok{};
  size_t n = v.errors.size();
  return AwsError::Validation(fmt::format("{} validation error{} detected: {}", n,
                                          n == 1 ? "" : "s", fmt::join(v.errors, "; ")));
}

}  // namespace gc::wire
