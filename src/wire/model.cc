#include "wire/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>

namespace gc::model {

// Defined in the build-generated embedded_models.cc (see model.cmake).
namespace internal {
struct EmbeddedModel {
  const char* name;
  const char* json;
  size_t size;
};
extern const EmbeddedModel kEmbeddedModels[];
extern const size_t kEmbeddedModelCount;
}  // namespace internal

namespace {

using json = nlohmann::ordered_json;  // keeps members in model order

// ---------------------------------------------------------------------------------------------
// Java regex -> ECMAScript translation.

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

void AppendHexByte(std::string& out, uint32_t cp) { out += fmt::format("\\x{:02X}", cp); }

// Translates one character class starting at src[i] == '['. On success appends the ECMAScript
// equivalent to `out`, advances `i` past the closing ']' and returns true.
bool TranslateClass(std::string_view src, size_t& i, std::string& out) {
  size_t p = i + 1;
  bool negated = false;
  if (p < src.size() && src[p] == '^') {
    negated = true;
    ++p;
  }
  std::string ascii;  // ECMAScript class body for the ASCII part
  bool non_ascii = false;
  // Reads one class endpoint as a code point; `special` is set for \w, \d, \s and friends.
  auto read_endpoint = [&](uint32_t& cp, std::string& special) -> bool {
    special.clear();
    char c = src[p];
    if (c == '\\') {
      if (p + 1 >= src.size()) return false;
      char d = src[p + 1];
      if (d == 'u' || d == 'x') {
        size_t digits = d == 'u' ? 4 : 2;
        if (p + 2 + digits > src.size()) return false;
        cp = 0;
        for (size_t k = 0; k < digits; ++k) {
          char h = src[p + 2 + k];
          if (!IsHex(h)) return false;
          cp = cp * 16 + static_cast<uint32_t>(HexValue(h));
        }
        p += 2 + digits;
        return true;
      }
      if (d == 'p' || d == 'P') {
        if (d == 'P' || p + 2 >= src.size() || src[p + 2] != '{') return false;
        size_t close = src.find('}', p + 3);
        if (close == std::string_view::npos) return false;
        std::string_view prop = src.substr(p + 3, close - p - 3);
        if (prop == "L" || prop == "IsAlphabetic") {
          special = "a-zA-Z";
        } else if (prop == "N" || prop == "Nd") {
          special = "0-9";
        } else if (prop == "Z" || prop == "Zs") {
          special = " ";
        } else {
          return false;
        }
        non_ascii = true;
        p = close + 1;
        return true;
      }
      if (std::string_view("wdsWDS").find(d) != std::string_view::npos) {
        special = std::string("\\") + d;
        p += 2;
        return true;
      }
      if (std::isalnum(static_cast<unsigned char>(d))) {
        // \t \n \r \f are fine; anything else alphanumeric is a Java-only class or escape.
        static constexpr std::string_view kControl = "tnrf";
        if (kControl.find(d) == std::string_view::npos) return false;
        cp = d == 't' ? 9 : d == 'n' ? 10 : d == 'r' ? 13 : 12;
        p += 2;
        return true;
      }
      cp = static_cast<unsigned char>(d);
      p += 2;
      return true;
    }
    if (c == '[' || (c == '&' && p + 1 < src.size() && src[p + 1] == '&')) return false;
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      // A literal UTF-8 character: treat as "some non-ASCII code point".
      cp = 0x80;
      ++p;
      while (p < src.size() && (static_cast<unsigned char>(src[p]) & 0xC0) == 0x80) ++p;
      return true;
    }
    cp = u;
    ++p;
    return true;
  };
  auto add_range = [&](uint32_t lo, uint32_t hi) {
    if (lo <= 0x7F) {
      AppendHexByte(ascii, lo);
      if (hi > lo) {
        ascii += '-';
        AppendHexByte(ascii, std::min<uint32_t>(hi, 0x7F));
      }
    }
    if (hi > 0x7F) non_ascii = true;
  };
  bool first = true;
  while (true) {
    if (p >= src.size()) return false;
    if (src[p] == ']' && !first) break;
    first = false;
    uint32_t lo = 0;
    std::string special;
    if (!read_endpoint(lo, special)) return false;
    if (!special.empty()) {
      ascii += special;
      continue;
    }
    if (p + 1 < src.size() && src[p] == '-' && src[p + 1] != ']') {
      ++p;
      uint32_t hi = 0;
      if (!read_endpoint(hi, special) || !special.empty() || hi < lo) return false;
      add_range(lo, hi);
    } else {
      add_range(lo, lo);
    }
  }
  i = p + 1;
  if (non_ascii) {
    if (negated) return false;
    if (ascii.empty()) {
      out += "[^\\x00-\\x7F]";
    } else {
      out += "(?:[" + ascii + "]|[^\\x00-\\x7F])";
    }
  } else {
    out += negated ? "[^" : "[";
    out += ascii;
    out += ']';
  }
  return true;
}

// Java regex -> ECMAScript. Returns false for constructs ECMAScript lacks.
bool TranslateJavaRegex(std::string_view src, std::string& out, bool& icase) {
  size_t i = 0;
  icase = false;
  if (src.substr(0, 4) == "(?i)") {
    icase = true;
    i = 4;
  }
  while (i < src.size()) {
    char c = src[i];
    if (c == '\\') {
      if (i + 1 >= src.size()) return false;
      char d = src[i + 1];
      if (d == 'u' || d == 'x') {
        size_t digits = d == 'u' ? 4 : 2;
        if (i + 2 + digits > src.size()) return false;
        uint32_t cp = 0;
        for (size_t k = 0; k < digits; ++k) {
          char h = src[i + 2 + k];
          if (!IsHex(h)) return false;
          cp = cp * 16 + static_cast<uint32_t>(HexValue(h));
        }
        if (cp > 0x7F) return false;
        AppendHexByte(out, cp);
        i += 2 + digits;
        continue;
      }
      static constexpr std::string_view kJavaOnly = "pPQEAzZGhHRXkKvV";
      if (kJavaOnly.find(d) != std::string_view::npos) return false;
      out += c;
      out += d;
      i += 2;
      continue;
    }
    if (c == '[') {
      if (!TranslateClass(src, i, out)) return false;
      continue;
    }
    if (c == '(' && i + 2 < src.size() && src[i + 1] == '?') {
      char d = src[i + 2];
      if (d != ':' && d != '=' && d != '!') return false;  // lookbehind, named, atomic, flags
    }
    if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < src.size() && src[i + 1] == '+') {
      return false;  // possessive quantifier
    }
    out += c;
    ++i;
  }
  return true;
}

// Recognises PATTERN = ^? (? ATOM QUANT )? $? with ATOM a single character class, escape or '.',
// so that it can be matched as a run of bytes from a set. Returns the atom (Java syntax).
bool SplitCharRun(std::string_view p, std::string_view& atom, size_t& min, size_t& max) {
  if (!p.empty() && p.front() == '^') p.remove_prefix(1);
  if (p.size() >= 2 && p.back() == '$' && p[p.size() - 2] != '\\') p.remove_suffix(1);
  if (p.size() >= 2 && p.front() == '(' && p.back() == ')' && p[1] != '?') {
    std::string_view inner = p.substr(1, p.size() - 2);
    if (inner.find_first_of("()|") != std::string_view::npos) return false;
    p = inner;
  }
  size_t end = 0;
  if (p.empty()) return false;
  if (p[0] == '[') {
    size_t k = 1;
    if (k < p.size() && p[k] == '^') ++k;
    bool first = true;
    for (; k < p.size(); ++k) {
      if (p[k] == '\\') {
        ++k;
      } else if (p[k] == '[') {
        return false;
      } else if (p[k] == ']' && !first) {
        break;
      }
      first = false;
    }
    if (k >= p.size()) return false;
    end = k + 1;
  } else if (p[0] == '\\' && p.size() >= 2 &&
             std::string_view("wdsWDS").find(p[1]) != std::string_view::npos) {
    end = 2;
  } else if (p[0] == '.') {
    end = 1;
  } else {
    return false;
  }
  atom = p.substr(0, end);
  std::string_view q = p.substr(end);
  if (q == "*") {
    min = 0;
    max = SIZE_MAX;
    return true;
  }
  if (q == "+") {
    min = 1;
    max = SIZE_MAX;
    return true;
  }
  if (q.size() < 3 || q.front() != '{' || q.back() != '}') return false;
  q = q.substr(1, q.size() - 2);
  size_t comma = q.find(',');
  auto parse = [](std::string_view s, size_t& v) {
    if (s.empty() || s.size() > 9) return false;
    v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<size_t>(c - '0');
    }
    return true;
  };
  if (comma == std::string_view::npos) {
    if (!parse(q, min)) return false;
    max = min;
    return true;
  }
  if (!parse(q.substr(0, comma), min)) return false;
  if (comma + 1 == q.size()) {
    max = SIZE_MAX;
    return true;
  }
  return parse(q.substr(comma + 1), max) && max >= min;
}

// Java's \s: [ \t\n\x0B\f\r].
bool IsJavaSpace(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }

std::string LowerFirst(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
  return out;
}

}  // namespace

// -----------------------------------------------------------------------------------------------
// Pattern

Pattern::Pattern(std::string source) : source_(std::move(source)) {
  if (source_ == "[\\s\\S]*\\S[\\s\\S]*") {
    kind_ = Kind::kNotBlank;
    return;
  }
  if (source_ == "^(?!\\s*$).+") {
    kind_ = Kind::kNonBlankLine;
    return;
  }
  std::string translated;
  bool icase = false;
  if (!TranslateJavaRegex(source_, translated, icase)) return;  // unchecked
  auto flags = std::regex::ECMAScript | (icase ? std::regex::icase : std::regex::flag_type{});
  std::string_view atom;
  size_t min = 0;
  size_t max = 0;
  if (!icase && SplitCharRun(source_, atom, min, max)) {
    std::string atom_re;
    bool atom_icase = false;
    try {
      if (TranslateJavaRegex(atom, atom_re, atom_icase)) {
        std::regex one(atom_re, flags);
        for (int b = 0; b < 256; ++b) {
          char ch = static_cast<char>(b);
          if (std::regex_match(&ch, &ch + 1, one)) run_set_[b >> 6] |= uint64_t{1} << (b & 63);
        }
        run_min_ = min;
        run_max_ = max;
        kind_ = Kind::kCharRun;
        compiled_ = translated;
        return;
      }
    } catch (const std::exception&) {
      // fall through to the general case
    }
  }
  try {
    re_ = std::regex(translated, flags);
    compiled_ = std::move(translated);
    kind_ = Kind::kRegex;
  } catch (const std::exception&) {
    kind_ = Kind::kUnchecked;
  }
}

bool Pattern::Matches(std::string_view value) const {
  switch (kind_) {
    case Kind::kUnchecked:
      return true;
    case Kind::kNotBlank:
      return std::any_of(value.begin(), value.end(),
                         [](char c) { return !IsJavaSpace(static_cast<unsigned char>(c)); });
    case Kind::kNonBlankLine: {
      bool blank = true;
      for (char c : value) {
        if (c == '\n' || c == '\r') return false;
        if (!IsJavaSpace(static_cast<unsigned char>(c))) blank = false;
      }
      return !value.empty() && !blank;
    }
    case Kind::kCharRun: {
      size_t count = 0;
      for (char c : value) {
        auto b = static_cast<unsigned char>(c);
        if ((run_set_[b >> 6] & (uint64_t{1} << (b & 63))) == 0) return false;
        if ((b & 0xC0) != 0x80) ++count;  // count code points, not UTF-8 continuation bytes
      }
      return count >= run_min_ && count <= run_max_;
    }
    case Kind::kRegex:
      if (value.size() > kMaxRegexInput) return true;
      try {
        return std::regex_match(value.begin(), value.end(), re_);
      } catch (const std::exception&) {
        return true;
      }
  }
  return true;
}

// -----------------------------------------------------------------------------------------------
// Shapes and the model

std::string_view ShapeTypeName(ShapeType type) {
  switch (type) {
    case ShapeType::kStructure:
      return "structure";
    case ShapeType::kList:
      return "list";
    case ShapeType::kMap:
      return "map";
    case ShapeType::kString:
      return "string";
    case ShapeType::kInteger:
      return "integer";
    case ShapeType::kLong:
      return "long";
    case ShapeType::kFloat:
      return "float";
    case ShapeType::kDouble:
      return "double";
    case ShapeType::kBoolean:
      return "boolean";
    case ShapeType::kTimestamp:
      return "timestamp";
    case ShapeType::kBlob:
      return "blob";
  }
  return "unknown";
}

const Member* Shape::FindMember(std::string_view member_name) const {
  for (const Member& m : members) {
    if (m.name == member_name) return &m;
  }
  return nullptr;
}

ServiceModel::~ServiceModel() = default;

namespace {

std::optional<ShapeType> ParseShapeType(std::string_view t) {
  if (t == "structure") return ShapeType::kStructure;
  if (t == "list") return ShapeType::kList;
  if (t == "map") return ShapeType::kMap;
  if (t == "string" || t == "character") return ShapeType::kString;
  if (t == "integer" || t == "short" || t == "byte") return ShapeType::kInteger;
  if (t == "long" || t == "biginteger") return ShapeType::kLong;
  if (t == "float") return ShapeType::kFloat;
  if (t == "double" || t == "bigdecimal") return ShapeType::kDouble;
  if (t == "boolean") return ShapeType::kBoolean;
  if (t == "timestamp") return ShapeType::kTimestamp;
  if (t == "blob") return ShapeType::kBlob;
  return std::nullopt;
}

std::string GetString(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool GetBool(const json& obj, const char* key, bool fallback = false) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

std::string GetNamespace(const json& obj) {
  auto it = obj.find("xmlNamespace");
  if (it == obj.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return GetString(*it, "uri");
  return {};
}

// obj[key] when it is there, else an empty object; never copies.
const json& Sub(const json& obj, const char* key) {
  static const json kEmpty = json::object();
  auto it = obj.find(key);
  return it == obj.end() ? kEmpty : *it;
}

AwsError ModelError(std::string message) { return AwsError::Internal("model: " + message); }

}  // namespace

Result<std::unique_ptr<ServiceModel>> ServiceModel::Parse(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return ModelError("not a JSON object");
  std::unique_ptr<ServiceModel> m(new ServiceModel());
  try {
    const json& meta = Sub(doc, "metadata");
    m->protocol_ = GetString(meta, "protocol");
    if (m->protocol_.empty() && meta.contains("protocols") && meta["protocols"].is_array() &&
        !meta["protocols"].empty()) {
      m->protocol_ = meta["protocols"][0].get<std::string>();
    }
    m->json_version_ = GetString(meta, "jsonVersion");
    m->target_prefix_ = GetString(meta, "targetPrefix");
    m->xml_namespace_ = GetNamespace(meta);
    m->endpoint_prefix_ = GetString(meta, "endpointPrefix");
    m->signing_name_ = GetString(meta, "signingName");
    if (m->signing_name_.empty()) m->signing_name_ = m->endpoint_prefix_;
    m->api_version_ = GetString(meta, "apiVersion");
    m->service_id_ = GetString(meta, "serviceId");
    m->aws_query_compatible_ = meta.contains("awsQueryCompatible");

    const json& shapes = Sub(doc, "shapes");
    if (!shapes.is_object()) return ModelError("shapes is not an object");
    // Pass 1: create every shape so that references can be resolved in any order.
    m->shapes_.reserve(shapes.size());
    std::unordered_map<const Shape*, const json*> defs;
    for (const auto& [name, def] : shapes.items()) {
      auto shape = std::make_unique<Shape>();
      shape->name = name;
      m->shape_index_.emplace(shape->name, shape.get());
      defs.emplace(shape.get(), &def);
      m->shapes_.push_back(std::move(shape));
    }
    auto resolve = [&](const json& ref) -> const Shape* {
      if (!ref.is_object()) return nullptr;
      auto it = m->shape_index_.find(GetString(ref, "shape"));
      return it == m->shape_index_.end() ? nullptr : it->second;
    };
    auto make_ref = [&](const json& ref, ShapeRef& out) -> bool {
      out.shape = resolve(ref);
      if (out.shape == nullptr) return false;
      out.location_name = GetString(ref, "locationName");
      const json& target = *defs.at(out.shape);
      if (out.location_name.empty()) out.location_name = GetString(target, "locationName");
      out.flattened = GetBool(ref, "flattened", GetBool(target, "flattened"));
      return true;
    };
    // Pass 2: fill them in.
    for (auto& shape_ptr : m->shapes_) {
      Shape& s = *shape_ptr;
      const json& def = *defs.at(&s);
      if (!def.is_object()) return ModelError("shape " + s.name + " is not an object");
      auto type = ParseShapeType(GetString(def, "type"));
      if (!type) return ModelError("shape " + s.name + " has an unknown type");
      s.type = *type;
      if (auto it = def.find("min"); it != def.end() && it->is_number()) s.min = it->get<double>();
      if (auto it = def.find("max"); it != def.end() && it->is_number()) s.max = it->get<double>();
      if (auto it = def.find("pattern"); it != def.end() && it->is_string()) {
        s.pattern = std::make_unique<Pattern>(it->get<std::string>());
        if (!s.pattern->checked()) m->unchecked_.push_back(&s);
      }
      if (auto it = def.find("enum"); it != def.end() && it->is_array()) {
        for (const json& v : *it) s.enum_values.push_back(v.get<std::string>());
        s.enum_text = fmt::format("[{}]", fmt::join(s.enum_values, ", "));
      }
      s.flattened = GetBool(def, "flattened");
      s.exception = GetBool(def, "exception");
      s.fault = GetBool(def, "fault");
      s.is_union = GetBool(def, "union");
      s.document = GetBool(def, "document");
      s.location_name = GetString(def, "locationName");
      s.xml_namespace = GetNamespace(def);
      s.timestamp_format = GetString(def, "timestampFormat");
      if (s.type == ShapeType::kList) {
        if (!make_ref(Sub(def, "member"), s.member)) {
          return ModelError("list " + s.name + " has no valid member");
        }
      } else if (s.type == ShapeType::kMap) {
        if (!make_ref(Sub(def, "key"), s.key) || !make_ref(Sub(def, "value"), s.value)) {
          return ModelError("map " + s.name + " has no valid key/value");
        }
      } else if (s.type == ShapeType::kStructure) {
        const json& members = Sub(def, "members");
        s.members.reserve(members.size());
        for (const auto& [member_name, ref] : members.items()) {
          Member mem;
          mem.name = member_name;
          mem.path_name = LowerFirst(member_name);
          mem.shape = resolve(ref);
          if (mem.shape == nullptr) {
            return ModelError("member " + s.name + "." + member_name + " has no valid shape");
          }
          const json& target = *defs.at(mem.shape);
          mem.location_name = GetString(ref, "locationName");
          if (mem.location_name.empty()) mem.location_name = GetString(target, "locationName");
          mem.query_name = GetString(ref, "queryName");
          mem.location = GetString(ref, "location");
          mem.xml_namespace = GetNamespace(ref);
          mem.flattened = GetBool(ref, "flattened", GetBool(target, "flattened"));
          mem.idempotency_token = GetBool(ref, "idempotencyToken");
          mem.jsonvalue = GetBool(ref, "jsonvalue");
          s.members.push_back(std::move(mem));
        }
        if (auto it = def.find("required"); it != def.end() && it->is_array()) {
          for (const json& r : *it) {
            std::string req = r.get<std::string>();
            for (Member& mem : s.members) {
              if (mem.name == req) mem.required = true;
            }
          }
        }
      }
      if (s.exception) {
        ErrorInfo info;
        info.code = s.name;
        info.http_status = s.fault ? 500 : 400;
        info.sender_fault = !s.fault;
        if (auto it = def.find("error"); it != def.end() && it->is_object()) {
          std::string code = GetString(*it, "code");
          if (!code.empty()) info.code = code;
          if (auto st = it->find("httpStatusCode"); st != it->end() && st->is_number_integer()) {
            info.http_status = st->get<int>();
          }
          info.sender_fault = GetBool(*it, "senderFault", info.http_status < 500);
        }
        s.error = std::move(info);
        m->error_list_.push_back(&s);
      }
    }
    for (const Shape* e : m->error_list_) {
      m->error_index_.emplace(e->error->code, e);
      m->error_index_.emplace(e->name, e);
    }

    const json& ops = Sub(doc, "operations");
    if (!ops.is_object()) return ModelError("operations is not an object");
    for (const auto& [name, def] : ops.items()) {
      auto op = std::make_unique<Operation>();
      op->name = name;
      const json& http = Sub(def, "http");
      op->http_method = GetString(http, "method");
      if (op->http_method.empty()) op->http_method = "POST";
      op->request_uri = GetString(http, "requestUri");
      if (op->request_uri.empty()) op->request_uri = "/";
      if (auto it = def.find("input"); it != def.end()) {
        op->input = resolve(*it);
        if (op->input == nullptr) return ModelError("operation " + name + " has a bad input");
      }
      if (auto it = def.find("output"); it != def.end()) {
        op->output = resolve(*it);
        if (op->output == nullptr) return ModelError("operation " + name + " has a bad output");
        op->result_wrapper = GetString(*it, "resultWrapper");
      }
      op->no_auth = GetString(def, "authtype") == "none";
      if (auto it = def.find("auth"); it != def.end() && it->is_array()) {
        for (const json& a : *it) {
          if (a.is_string() && a.get<std::string>() == "smithy.api#noAuth") op->no_auth = true;
        }
      }
      if (auto it = def.find("errors"); it != def.end() && it->is_array()) {
        for (const json& e : *it) {
          const Shape* es = resolve(e);
          if (es == nullptr) return ModelError("operation " + name + " has a bad error");
          op->errors.push_back(es);
        }
      }
      m->operation_index_.emplace(op->name, op.get());
      m->operation_list_.push_back(op.get());
      m->operations_.push_back(std::move(op));
    }
  } catch (const std::exception& e) {
    return ModelError(e.what());
  }
  return m;
}

const Operation* ServiceModel::FindOperation(std::string_view name) const {
  auto it = operation_index_.find(name);
  return it == operation_index_.end() ? nullptr : it->second;
}

const Shape* ServiceModel::FindShape(std::string_view name) const {
  auto it = shape_index_.find(name);
  return it == shape_index_.end() ? nullptr : it->second;
}

const Shape* ServiceModel::FindError(std::string_view code_or_name) const {
  auto it = error_index_.find(code_or_name);
  return it == error_index_.end() ? nullptr : it->second;
}

// -----------------------------------------------------------------------------------------------
// Embedded models

std::string_view EmbeddedModelJson(std::string_view service) {
  for (size_t i = 0; i < internal::kEmbeddedModelCount; ++i) {
    const auto& e = internal::kEmbeddedModels[i];
    if (service == e.name) return {e.json, e.size};
  }
  return {};
}

namespace {

// models/<service>-<part>.json is a hand-written supplement of <service>, not a model of its own.
bool IsSupplementOf(std::string_view name, std::string_view service) {
  return name.size() > service.size() + 1 && name.substr(0, service.size()) == service &&
         name[service.size()] == '-';
}

}  // namespace

std::vector<std::string_view> EmbeddedModelNames() {
  std::vector<std::string_view> names;
  for (size_t i = 0; i < internal::kEmbeddedModelCount; ++i) {
    std::string_view name = internal::kEmbeddedModels[i].name;
    if (name.find('-') == std::string_view::npos) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string_view> EmbeddedSupplementNames(std::string_view service) {
  std::vector<std::string_view> names;
  for (size_t i = 0; i < internal::kEmbeddedModelCount; ++i) {
    std::string_view name = internal::kEmbeddedModels[i].name;
    if (IsSupplementOf(name, service)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> MergeSupplement(std::string_view model_json, std::string_view supplement_json) {
  json model = json::parse(model_json, nullptr, false);
  json supplement = json::parse(supplement_json, nullptr, false);
  if (!model.is_object() || !supplement.is_object()) {
    return ModelError("model or supplement is not a JSON object");
  }
  for (const char* section : {"operations", "shapes"}) {
    json& into = model[section];
    json& add = supplement[section];
    if (!add.is_object()) continue;
    for (auto& [name, def] : add.items()) {
      // A supplement adds what botocore lacks; redefining a botocore name would hide a change.
      if (into.contains(name)) return ModelError(std::string(section) + " " + name + " clashes");
      into[name] = std::move(def);
    }
  }
  return model.dump();
}

namespace {

struct LazyModel {
  std::once_flag once;
  std::unique_ptr<ServiceModel> model;
};

// One slot per embedded model, in kEmbeddedModels order; built once (thread-safe static init).
std::vector<LazyModel>& Slots() {
  static std::vector<LazyModel> slots(internal::kEmbeddedModelCount);
  return slots;
}

}  // namespace

const ServiceModel* Models::Find(std::string_view service) {
  for (size_t i = 0; i < internal::kEmbeddedModelCount; ++i) {
    const auto& e = internal::kEmbeddedModels[i];
    if (service != e.name) continue;
    LazyModel& slot = Slots()[i];
    std::call_once(slot.once, [&] {
      Result<std::string> text = std::string(e.json, e.size);
      for (std::string_view supplement : EmbeddedSupplementNames(service)) {
        if (text.ok()) text = MergeSupplement(*text, EmbeddedModelJson(supplement));
      }
      auto parsed = text.ok() ? ServiceModel::Parse(*text)
                              : Result<std::unique_ptr<ServiceModel>>(text.error());
      if (!parsed.ok()) {
        // The embedded models are checked in and tested: failing here is a build error.
        std::fprintf(stderr, "embedded model %s does not parse: %s\n", e.name,
                     parsed.error().message.c_str());
        std::abort();
      }
      slot.model = std::move(parsed).value();
    });
    return slot.model.get();
  }
  return nullptr;
}

const ServiceModel& Models::Get(std::string_view service) {
  const ServiceModel* m = Find(service);
  if (m == nullptr) {
    // Service names come from our own code, never from requests.
    std::fprintf(stderr, "no embedded model for service '%.*s'\n", static_cast<int>(service.size()),
                 service.data());
    std::abort();
  }
  return *m;
}

// -----------------------------------------------------------------------------------------------
// Timestamps

namespace {

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool ReadDigits(std::string_view s, size_t& i, size_t n, int& out) {
  if (i + n > s.size()) return false;
  out = 0;
  for (size_t k = 0; k < n; ++k) {
    char c = s[i + k];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  i += n;
  return true;
}

}  // namespace

std::optional<double> ParseIso8601(std::string_view s) {
  size_t i = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(s, i, 4, year) || i >= s.size() || s[i++] != '-' || !ReadDigits(s, i, 2, month) ||
      i >= s.size() || s[i++] != '-' || !ReadDigits(s, i, 2, day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
  double fraction = 0;
  int offset_seconds = 0;
  if (i < s.size()) {
    char sep = s[i++];
    if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
    if (!ReadDigits(s, i, 2, hour) || i >= s.size() || s[i++] != ':' ||
        !ReadDigits(s, i, 2, minute)) {
      return std::nullopt;
    }
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!ReadDigits(s, i, 2, second)) return std::nullopt;
      if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
        ++i;
        double scale = 0.1;
        size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          fraction += (s[i] - '0') * scale;
          scale /= 10;
          ++i;
        }
        if (i == start) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    if (i < s.size()) {
      char z = s[i++];
      if (z == 'Z' || z == 'z') {
        // UTC
      } else if (z == '+' || z == '-') {
        int oh = 0, om = 0;
        if (!ReadDigits(s, i, 2, oh)) return std::nullopt;
        if (i < s.size() && s[i] == ':') ++i;
        if (i < s.size() && !ReadDigits(s, i, 2, om)) return std::nullopt;
        if (oh > 23 || om > 59) return std::nullopt;
        offset_seconds = (oh * 3600 + om * 60) * (z == '+' ? 1 : -1);
      } else {
        return std::nullopt;
      }
    }
    if (i != s.size()) return std::nullopt;
  }
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  double epoch =
      static_cast<double>(days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds);
  return epoch + fraction;
}

std::string FormatIso8601(double epoch_seconds) {
  if (!std::isfinite(epoch_seconds)) epoch_seconds = 0;
  auto total_ms = static_cast<int64_t>(std::llround(epoch_seconds * 1000.0));
  int64_t ms = total_ms % 1000;
  int64_t secs = total_ms / 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t y = 0;
  unsigned mo = 0, d = 0;
  CivilFromDays(days, y, mo, d);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", y, mo, d, rem / 3600,
                     (rem / 60) % 60, rem % 60, ms);
}

}  // namespace gc::model
