#include "services/ssm/document_content.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <regex>
#include <set>

#include "services/ssm/document_errors.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;

// --- Formats ---------------------------------------------------------------------------------

// "at Line: L, Column: C" of a byte offset, both 1-based, as AWS reports parse errors.
std::string Position(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return fmt::format("at Line: {}, Column: {}", line, column);
}

bool AllOf(std::string_view s, int (*pred)(int)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [pred](char c) {
    return pred(static_cast<unsigned char>(c)) != 0;
  });
}

bool IsInteger(std::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  return AllOf(s, isdigit);
}

// YAML 1.2 core schema: the type of a plain (unquoted) scalar.
OrderedJson ResolvePlainScalar(const std::string& s) {
  static const std::set<std::string> kNull = {"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> kTrue = {"true", "True", "TRUE"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE"};
  if (kNull.count(s)) return nullptr;
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  if (IsInteger(s)) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) return static_cast<int64_t>(v);
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    std::string_view digits = std::string_view(s).substr(2);
    bool hex = s[1] == 'x';
    if (AllOf(digits, hex ? isxdigit : isdigit) &&
        (hex || digits.find_first_of("89") == std::string_view::npos) && digits.size() <= 15) {
      return static_cast<int64_t>(std::strtoll(s.c_str() + 2, nullptr, hex ? 16 : 8));
    }
  }
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  return s;
}

// A scalar with an explicit tag (!!int "3") or none that makes it plain.
OrderedJson ResolveScalar(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& s = node.Scalar();
  if (tag == "?") return ResolvePlainScalar(s);
  static const std::string kCore = "tag:yaml.org,2002:";
  if (tag.rfind(kCore, 0) == 0 && tag != kCore + "str") {
    OrderedJson typed = ResolvePlainScalar(s);
    if (!typed.is_string()) return typed;
  }
  return s;  // quoted, !!str, or a tag of its own: a string
}

Result<OrderedJson> FromYaml(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return OrderedJson(nullptr);
    case YAML::NodeType::Scalar:
      return ResolveScalar(node);
    case YAML::NodeType::Sequence: {
      OrderedJson out = OrderedJson::array();
      for (const auto& item : node) {
        auto v = FromYaml(item);
        if (!v.ok()) return v;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      OrderedJson out = OrderedJson::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return errors::InvalidDocumentContent(
              fmt::format("YAML not well-formed. {}: keys must be scalars",
                          fmt::format("at Line: {}, Column: {}", kv.first.Mark().line + 1,
                                      kv.first.Mark().column + 1)));
        }
        auto v = FromYaml(kv.second);
        if (!v.ok()) return v;
        out[kv.first.Scalar()] = std::move(*v);
      }
      return out;
    }
  }
  return OrderedJson(nullptr);
}

// Strings YAML would read back as something else are double-quoted.
bool NeedsQuotes(const std::string& s) {
  if (s.empty() || !ResolvePlainScalar(s).is_string()) return true;
  static const std::set<std::string> kYaml11 = {"yes", "no", "on",  "off", "y",  "n",  "Yes",
                                                "No",  "On", "Off", "YES", "NO", "ON", "OFF"};
  return kYaml11.count(s) > 0;  // for YAML 1.1 readers (PyYAML, SnakeYAML)
}

void EmitYaml(YAML::Emitter& out, const OrderedJson& j) {
  switch (j.type()) {
    case OrderedJson::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key;
        if (NeedsQuotes(k)) out << YAML::DoubleQuoted;
        out << k << YAML::Value;
        EmitYaml(out, v);
      }
      out << YAML::EndMap;
      break;
    case OrderedJson::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : j) EmitYaml(out, v);
      out << YAML::EndSeq;
      break;
    case OrderedJson::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      if (NeedsQuotes(s) || s.find('\n') != std::string::npos) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case OrderedJson::value_t::null:
      out << YAML::Null;
      break;
    default:  // numbers and booleans: their JSON text is valid YAML
      out << j.dump();
      break;
  }
}

// --- Placeholders ----------------------------------------------------------------------------

struct Placeholder {
  size_t begin, end;  // [begin, end) of "{{ ... }}" in the string
  std::string name;   // trimmed
};

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<Placeholder> FindPlaceholders(const std::string& s) {
  std::vector<Placeholder> out;
  size_t pos = 0;
  while ((pos = s.find("{{", pos)) != std::string::npos) {
    size_t close = s.find("}}", pos + 2);
    if (close == std::string::npos) break;
    out.push_back({pos, close + 2, Trim(std::string_view(s).substr(pos + 2, close - pos - 2))});
    pos = close + 2;
  }
  return out;
}

bool IsAlnum(std::string_view s) { return AllOf(s, isalnum); }

// --- Parameters ------------------------------------------------------------------------------

const std::set<std::string>& BaseTypes() {
  static const std::set<std::string> k = {"String",  "StringList", "StringMap",
                                          "Integer", "Boolean",    "MapList"};
  return k;
}

// Automation's AWS resource types: "AWS::EC2::Instance::Id" and "List<AWS::EC2::Instance::Id>".
bool IsAwsResourceType(const std::string& type) {
  static const std::regex k(R"((List<)?AWS(::[A-Za-z0-9]+)+(>)?)");
  return std::regex_match(type, k) && (type.rfind("List<", 0) == 0) == (type.back() == '>');
}

std::optional<int64_t> NonNegativeInt(const OrderedJson& v) {
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  if (v.is_string() && AllOf(v.get<std::string>(), isdigit) && v.get<std::string>().size() < 18) {
    return std::stoll(v.get<std::string>());
  }
  return std::nullopt;
}

std::string ScalarText(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

size_t CodePoints(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

bool Fail(std::string* why, std::string reason) {
  if (why) *why = std::move(reason);
  return false;
}

// The typed value of one parameter from the strings a command gives for it.
std::optional<Json> TypedValue(const ParameterDef& def, const std::vector<std::string>& values,
                               std::string* why) {
  const std::string type = def.BaseType();
  if (type == "StringList") return Json(values);
  if (values.size() > 1) {
    Fail(why,
         fmt::format("parameter {} ({}) takes one value, got {}", def.name, type, values.size()));
    return std::nullopt;
  }
  const std::string one = values.empty() ? "" : values.front();
  if (type == "String") return Json(one);
  if (type == "Integer") {
    if (!IsInteger(one) || one.size() > 18) {
      Fail(why, fmt::format("parameter {} is not an Integer: {}", def.name, one));
      return std::nullopt;
    }
    return Json(std::stoll(one));
  }
  if (type == "Boolean") {
    std::string lower = one;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower != "true" && lower != "false") {
      Fail(why, fmt::format("parameter {} is not a Boolean: {}", def.name, one));
      return std::nullopt;
    }
    return Json(lower == "true");
  }
  Json parsed = Json::parse(one, nullptr, false);
  if (type == "StringMap" && parsed.is_object()) return parsed;
  if (type == "MapList" && parsed.is_array() &&
      std::all_of(parsed.begin(), parsed.end(), [](const Json& m) { return m.is_object(); })) {
    return parsed;
  }
  Fail(why, fmt::format("parameter {} is not a valid {}", def.name, type));
  return std::nullopt;
}

// A default as written in the document, typed like a given value.
std::optional<Json> TypedDefault(const ParameterDef& def, std::string* why) {
  const Json d = Json(*def.default_value);
  const std::string type = def.BaseType();
  if (d.is_string()) {
    if (type == "StringList") return Json::array({d});
    return TypedValue(def, {d.get<std::string>()}, why);
  }
  if (type == "StringList" && d.is_array()) {
    Json list = Json::array();
    for (const auto& item : d) {
      if (item.is_object() || item.is_array() || item.is_null()) break;
      list.push_back(ScalarText(item));
    }
    if (list.size() == d.size()) return list;
  }
  if ((type == "String" || type == "Integer") && d.is_number_integer()) {
    return type == "String" ? Json(d.dump()) : d;
  }
  if (type == "Boolean" && d.is_boolean()) return d;
  if (type == "StringMap" && d.is_object()) return d;
  if (type == "MapList" && d.is_array()) return TypedValue(def, {d.dump()}, why);
  Fail(why, fmt::format("the default of parameter {} is not a valid {}", def.name, type));
  return std::nullopt;
}

// allowedValues, allowedPattern, min/max chars and items.
bool CheckConstraints(const ParameterDef& def, const Json& value, std::string* why) {
  std::vector<std::string> texts;  // what allowedValues/allowedPattern/chars apply to
  if (value.is_array() && def.BaseType() == "StringList") {
    for (const auto& item : value) texts.push_back(item.get<std::string>());
  } else if (value.is_string() || value.is_number() || value.is_boolean()) {
    texts.push_back(ScalarText(value));
  }
  if (value.is_array()) {
    int64_t n = static_cast<int64_t>(value.size());
    if (def.min_items && n < *def.min_items) {
      return Fail(why,
                  fmt::format("parameter {} needs at least {} items", def.name, *def.min_items));
    }
    if (def.max_items && n > *def.max_items) {
      return Fail(why,
                  fmt::format("parameter {} takes at most {} items", def.name, *def.max_items));
    }
  }
  std::optional<std::regex> pattern;
  if (!def.allowed_pattern.empty()) {
    try {
      pattern.emplace(def.allowed_pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      return Fail(why, fmt::format("parameter {} has an invalid allowedPattern", def.name));
    }
  }
  for (const auto& t : texts) {
    if (!def.allowed_values.empty() &&
        std::find(def.allowed_values.begin(), def.allowed_values.end(), t) ==
            def.allowed_values.end()) {
      return Fail(why,
                  fmt::format("parameter {}: {} is not one of the allowed values", def.name, t));
    }
    if (pattern && !std::regex_match(t, *pattern)) {
      return Fail(
          why, fmt::format("parameter {}: {} does not match {}", def.name, t, def.allowed_pattern));
    }
    int64_t chars = static_cast<int64_t>(CodePoints(t));
    if ((def.min_chars && chars < *def.min_chars) || (def.max_chars && chars > *def.max_chars)) {
      return Fail(why,
                  fmt::format("parameter {}: {} has a length outside the limits", def.name, t));
    }
  }
  return true;
}

// --- Content validation ----------------------------------------------------------------------

constexpr int kWindows = 1, kLinux = 2, kMacOS = 4, kAllPlatforms = 7;

// The plugins a Command or Policy document may use, and where each runs.
int PluginPlatforms(const std::string& action) {
  static const std::map<std::string, int> k = {
      {"aws:applications", kWindows},
      {"aws:cloudWatch", kWindows},
      {"aws:configureDocker", kWindows | kLinux},
      {"aws:configurePackage", kAllPlatforms},
      {"aws:domainJoin", kWindows | kLinux},
      {"aws:downloadContent", kAllPlatforms},
      {"aws:psModule", kWindows},
      {"aws:refreshAssociation", kAllPlatforms},
      {"aws:runDockerAction", kWindows | kLinux},
      {"aws:runDocument", kAllPlatforms},
      {"aws:runPatchBaseline", kLinux},  // groundcrew-agent's patching plugin (apt)
      {"aws:runPowerShellScript", kWindows},
      {"aws:runShellScript", kLinux | kMacOS},
      {"aws:softwareInventory", kAllPlatforms},
      {"aws:updateAgent", kWindows},
      {"aws:updateSsmAgent", kAllPlatforms},
  };
  auto it = k.find(action);
  return it == k.end() ? 0 : it->second;
}

int PlatformBit(const std::string& name) {
  return name == "Windows" ? kWindows : name == "Linux" ? kLinux : name == "MacOS" ? kMacOS : 0;
}

std::vector<std::string> PlatformNames(int bits) {
  std::vector<std::string> out;
  if (bits & kWindows) out.push_back("Windows");
  if (bits & kLinux) out.push_back("Linux");
  if (bits & kMacOS) out.push_back("MacOS");
  return out;
}

AwsError Invalid(std::string message) { return errors::InvalidDocumentContent(std::move(message)); }

// Shell plugins need the commands to run.
Status CheckRunCommand(const std::string& action, const OrderedJson& inputs,
                       const std::string& where) {
  if (action != "aws:runShellScript" && action != "aws:runPowerShellScript") return Ok{};
  auto it = inputs.find("runCommand");
  bool ok = it != inputs.end() &&
            (it->is_string() ||
             (it->is_array() && std::all_of(it->begin(), it->end(),
                                            [](const OrderedJson& c) { return c.is_string(); })));
  if (!ok) return Invalid(fmt::format("runCommand is required in {} ({}).", where, action));
  return Ok{};
}

// precondition: {"StringEquals": ["platformType", "Linux"]} or ["{{ param }}", "value"].
// Returns the platform bit it restricts the step to (0: none).
Result<int> CheckPrecondition(const OrderedJson& step, const std::string& name) {
  auto it = step.find("precondition");
  if (it == step.end()) return 0;
  const OrderedJson& pre = *it;
  auto eq = pre.is_object() && pre.size() == 1 ? pre.find("StringEquals") : pre.end();
  if (eq == pre.end() || !eq->is_array() || eq->size() != 2 || !(*eq)[0].is_string() ||
      !(*eq)[1].is_string()) {
    return Invalid(fmt::format(
        "Invalid precondition in step {}: expected {{\"StringEquals\": [\"platformType\", "
        "\"Linux\"]}}.",
        name));
  }
  const std::string left = (*eq)[0].get<std::string>();
  const std::string right = (*eq)[1].get<std::string>();
  if (left == "platformType") {
    int bit = PlatformBit(right);
    if (bit == 0) {
      return Invalid(fmt::format(
          "Invalid precondition in step {}: platformType must be Windows, Linux or MacOS.", name));
    }
    return bit;
  }
  if (FindPlaceholders(left).empty()) {
    return Invalid(
        fmt::format("Invalid precondition in step {}: the first operand must be platformType or a "
                    "parameter.",
                    name));
  }
  return 0;
}

// Schema 2.x Command/Policy documents: mainSteps of plugins. Returns the platforms they run on.
Result<int> CheckCommandSteps(const OrderedJson& content) {
  if (content.contains("runtimeConfig")) {
    return Invalid("runtimeConfig is not supported in schema version 2.x; use mainSteps.");
  }
  auto steps = content.find("mainSteps");
  if (steps == content.end() || !steps->is_array() || steps->empty()) {
    return Invalid("mainSteps is required and must list at least one step.");
  }
  int platforms = 0;
  std::set<std::string> names;
  for (const auto& step : *steps) {
    if (!step.is_object()) return Invalid("Each step in mainSteps must be an object.");
    auto action = step.find("action");
    auto name = step.find("name");
    if (action == step.end() || !action->is_string()) {
      return Invalid("Each step in mainSteps needs an action.");
    }
    if (name == step.end() || !name->is_string() || name->get<std::string>().empty()) {
      return Invalid(fmt::format("Step with action {} needs a name.", action->get<std::string>()));
    }
    const std::string a = action->get<std::string>(), n = name->get<std::string>();
    int runs_on = PluginPlatforms(a);
    if (runs_on == 0) return Invalid(fmt::format("Action {} in step {} is not supported.", a, n));
    if (!names.insert(n).second) return Invalid(fmt::format("Duplicate step name: {}.", n));
    auto inputs = step.find("inputs");
    if (inputs != step.end() && !inputs->is_object()) {
      return Invalid(fmt::format("inputs of step {} must be an object.", n));
    }
    if (Status st =
            CheckRunCommand(a, inputs == step.end() ? OrderedJson::object() : *inputs, "step " + n);
        !st.ok()) {
      return st.take_error();
    }
    auto only = CheckPrecondition(step, n);
    if (!only.ok()) return only.take_error();
    platforms |= *only ? (runs_on & *only) : runs_on;
  }
  return platforms;
}

// Schema 1.2 Command documents: runtimeConfig keyed by plugin.
Result<int> CheckRuntimeConfig(const OrderedJson& content) {
  if (content.contains("mainSteps")) {
    return Invalid("mainSteps is not supported in schema version 1.2; use runtimeConfig.");
  }
  auto config = content.find("runtimeConfig");
  if (config == content.end() || !config->is_object() || config->empty()) {
    return Invalid("runtimeConfig is required and must name at least one plugin.");
  }
  int platforms = 0;
  for (const auto& [plugin, body] : config->items()) {
    int runs_on = PluginPlatforms(plugin);
    if (runs_on == 0) return Invalid(fmt::format("Plugin {} is not supported.", plugin));
    auto props = body.is_object() ? body.find("properties") : body.end();
    if (props == body.end() || !(props->is_array() || props->is_object())) {
      return Invalid(fmt::format("Plugin {} needs properties.", plugin));
    }
    OrderedJson list = props->is_array() ? *props : OrderedJson::array({*props});
    for (const auto& p : list) {
      if (!p.is_object()) return Invalid(fmt::format("Properties of {} must be objects.", plugin));
      if (Status st = CheckRunCommand(plugin, p, "runtimeConfig"); !st.ok()) {
        return st.take_error();
      }
    }
    platforms |= runs_on;
  }
  return platforms;
}

// Schema 0.3 Automation documents: named steps of actions, with step references checked.
Status CheckAutomationSteps(const OrderedJson& content) {
  auto steps = content.find("mainSteps");
  if (steps == content.end() || !steps->is_array() || steps->empty()) {
    return Invalid("mainSteps is required and must list at least one step.");
  }
  if (content.contains("assumeRole") && !content["assumeRole"].is_string()) {
    return Invalid("assumeRole must be a string.");
  }
  std::set<std::string> names;
  for (const auto& step : *steps) {
    auto name = step.is_object() ? step.find("name") : step.end();
    if (name == step.end() || !name->is_string() || name->get<std::string>().empty()) {
      return Invalid("Each step in mainSteps needs a name.");
    }
    const std::string n = name->get<std::string>();
    auto action = step.find("action");
    if (action == step.end() || !action->is_string() ||
        action->get<std::string>().rfind("aws:", 0) != 0) {
      return Invalid(fmt::format("Step {} needs an action (aws:…).", n));
    }
    if (!names.insert(n).second) return Invalid(fmt::format("Duplicate step name: {}.", n));
    if (step.contains("inputs") && !step["inputs"].is_object()) {
      return Invalid(fmt::format("inputs of step {} must be an object.", n));
    }
  }
  // nextStep and onFailure/onCancel "step:<name>" must name a step of this document.
  for (const auto& step : *steps) {
    const std::string n = step["name"].get<std::string>();
    for (const char* key : {"nextStep", "onFailure", "onCancel"}) {
      auto it = step.find(key);
      if (it == step.end()) continue;
      if (!it->is_string()) return Invalid(fmt::format("{} of step {} must be a string.", key, n));
      std::string target = it->get<std::string>();
      if (std::string(key) != "nextStep") {
        if (target == "Abort" || target == "Continue") continue;
        if (target.rfind("step:", 0) != 0) {
          return Invalid(
              fmt::format("{} of step {} must be Abort, Continue or step:<name>.", key, n));
        }
        target = target.substr(5);
      }
      if (!names.count(target)) {
        return Invalid(fmt::format("Step {} refers to step {}, which does not exist.", n, target));
      }
    }
  }
  return Ok{};
}

// Every `{{ name }}` of a plain name must be a declared parameter. Names with ':' (ssm:,
// global:, automation:) and '.' (Automation step outputs) are resolved elsewhere.
Status CheckPlaceholders(const OrderedJson& node, const std::set<std::string>& declared) {
  if (node.is_string()) {
    for (const auto& p : FindPlaceholders(node.get<std::string>())) {
      if (IsAlnum(p.name) && !declared.count(p.name)) {
        return Invalid(fmt::format("Parameter \"{}\" is not declared.", p.name));
      }
    }
  } else if (node.is_structured()) {
    for (const auto& child : node) {
      if (Status st = CheckPlaceholders(child, declared); !st.ok()) return st;
    }
  }
  return Ok{};
}

Result<std::string> SchemaVersion(OrderedJson& content, const std::string& document_type) {
  auto it = content.find("schemaVersion");
  if (it == content.end() || !(it->is_string() || it->is_number())) {
    return errors::InvalidDocumentSchemaVersion("The document must specify a schemaVersion.");
  }
  // YAML's plain `schemaVersion: 2.2` is a number; the agent reads a string.
  if (it->is_number()) *it = it->dump();
  std::string v = it->get<std::string>();
  static const std::map<std::string, std::set<std::string>> kByType = {
      {"Command", {"1.2", "2.0", "2.2"}},
      {"Policy", {"2.0", "2.2"}},
      {"Automation", {"0.3"}},
      {"Session", {"1.0"}},
      {"Package", {"2.0"}},
  };
  static const std::regex kForm(R"([0-9]+\.[0-9]+)");
  auto allowed = kByType.find(document_type);
  bool ok = allowed != kByType.end() ? allowed->second.count(v) > 0 : std::regex_match(v, kForm);
  if (!ok) {
    return errors::InvalidDocumentSchemaVersion(fmt::format(
        "Document schema version, {}, is not supported for document type {}.", v, document_type));
  }
  return v;
}

}  // namespace

std::optional<DocumentFormat> ParseDocumentFormat(std::string_view name) {
  if (name == "JSON") return DocumentFormat::kJson;
  if (name == "YAML") return DocumentFormat::kYaml;
  if (name == "TEXT") return DocumentFormat::kText;
  return std::nullopt;
}

const char* DocumentFormatName(DocumentFormat format) {
  switch (format) {
    case DocumentFormat::kJson:
      return "JSON";
    case DocumentFormat::kYaml:
      return "YAML";
    case DocumentFormat::kText:
      return "TEXT";
  }
  return "JSON";
}

Result<OrderedJson> ParseContent(std::string_view text, DocumentFormat format) {
  OrderedJson out;
  if (format == DocumentFormat::kJson) {
    try {
      out = OrderedJson::parse(text);
    } catch (const OrderedJson::parse_error& e) {
      return Invalid(
          fmt::format("JSON not well-formed. {}", Position(text, e.byte > 0 ? e.byte - 1 : 0)));
    }
  } else if (format == DocumentFormat::kYaml) {
    try {
      auto parsed = FromYaml(YAML::Load(std::string(text)));
      if (!parsed.ok()) return parsed;
      out = std::move(*parsed);
    } catch (const YAML::Exception& e) {
      return Invalid(fmt::format("YAML not well-formed. at Line: {}, Column: {}", e.mark.line + 1,
                                 e.mark.column + 1));
    }
  } else {
    return Invalid("TEXT content has no structure to parse.");
  }
  if (!out.is_object()) {
    return Invalid(fmt::format("{} not well-formed. The document must be an object.",
                               DocumentFormatName(format)));
  }
  return out;
}

std::string RenderContent(const OrderedJson& content, DocumentFormat format) {
  if (format == DocumentFormat::kYaml) {
    YAML::Emitter out;
    EmitYaml(out, content);
    return std::string(out.c_str()) + "\n";
  }
  return content.dump(2, ' ', false, OrderedJson::error_handler_t::replace);
}

std::string ParameterDef::BaseType() const {
  if (BaseTypes().count(type)) return type;
  return type.rfind("List<", 0) == 0 ? "StringList" : "String";
}

Result<std::vector<ParameterDef>> ParseParameterDefs(const OrderedJson& parameters,
                                                     bool automation) {
  std::vector<ParameterDef> out;
  if (parameters.is_null()) return out;
  if (!parameters.is_object()) return Invalid("parameters must be an object.");
  for (const auto& [name, spec] : parameters.items()) {
    if (!IsAlnum(name)) {
      return Invalid(fmt::format("Parameter name \"{}\" is not alpha-numeric.", name));
    }
    if (!spec.is_object()) return Invalid(fmt::format("Parameter \"{}\" must be an object.", name));
    ParameterDef def;
    def.name = name;
    auto type = spec.find("type");
    if (type == spec.end() || !type->is_string()) {
      return Invalid(fmt::format("Parameter \"{}\" needs a type.", name));
    }
    def.type = type->get<std::string>();
    if (!BaseTypes().count(def.type) && !(automation && IsAwsResourceType(def.type))) {
      return Invalid(fmt::format("Parameter \"{}\" has an unsupported type: {}.", name, def.type));
    }
    if (auto d = spec.find("description"); d != spec.end()) {
      if (!d->is_string())
        return Invalid(fmt::format("Description of \"{}\" must be a string.", name));
      def.description = d->get<std::string>();
    }
    if (auto d = spec.find("default"); d != spec.end()) def.default_value = *d;
    if (auto v = spec.find("allowedValues"); v != spec.end()) {
      if (!v->is_array())
        return Invalid(fmt::format("allowedValues of \"{}\" must be a list.", name));
      for (const auto& item : *v) {
        if (item.is_structured() || item.is_null()) {
          return Invalid(fmt::format("allowedValues of \"{}\" must be a list of strings.", name));
        }
        def.allowed_values.push_back(ScalarText(Json(item)));
      }
    }
    if (auto p = spec.find("allowedPattern"); p != spec.end()) {
      bool valid = p->is_string();
      if (valid) {
        def.allowed_pattern = p->get<std::string>();
        try {
          std::regex(def.allowed_pattern, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          valid = false;
        }
      }
      if (!valid) return Invalid(fmt::format("allowedPattern of \"{}\" is not valid.", name));
    }
    for (auto [key, field] :
         {std::pair{"minItems", &def.min_items}, std::pair{"maxItems", &def.max_items},
          std::pair{"minChars", &def.min_chars}, std::pair{"maxChars", &def.max_chars}}) {
      auto it = spec.find(key);
      if (it == spec.end()) continue;
      *field = NonNegativeInt(*it);
      if (!*field) {
        return Invalid(fmt::format("{} of \"{}\" must be a non-negative integer.", key, name));
      }
    }
    // A default must itself be a valid value (a {{ ssm:… }} default is resolved at run time).
    if (def.default_value) {
      bool placeholder = def.default_value->is_string() &&
                         !FindPlaceholders(def.default_value->get<std::string>()).empty();
      std::string why;
      std::optional<Json> typed = placeholder ? std::nullopt : TypedDefault(def, &why);
      if (!placeholder && (!typed || !CheckConstraints(def, *typed, &why))) {
        return Invalid(
            fmt::format("Default value of parameter \"{}\" is not valid: {}.", name, why));
      }
    }
    out.push_back(std::move(def));
  }
  return out;
}

Result<DocumentInfo> AnalyzeContent(const OrderedJson& content, const std::string& document_type) {
  DocumentInfo info;
  info.content = content;
  auto version = SchemaVersion(info.content, document_type);
  if (!version.ok()) return version.take_error();
  info.schema_version = *version;
  if (auto d = content.find("description"); d != content.end() && d->is_string()) {
    info.description = d->get<std::string>();
  }
  const bool automation = document_type == "Automation";
  auto params = ParseParameterDefs(content.value("parameters", OrderedJson()), automation);
  if (!params.ok()) return params.take_error();
  info.parameters = std::move(*params);

  int platforms = kAllPlatforms;
  if (document_type == "Command" || document_type == "Policy") {
    auto p =
        info.schema_version == "1.2" ? CheckRuntimeConfig(content) : CheckCommandSteps(content);
    if (!p.ok()) return p.take_error();
    platforms = *p;
  } else if (automation) {
    if (Status st = CheckAutomationSteps(content); !st.ok()) return st.take_error();
  }
  info.platform_types = PlatformNames(platforms);

  std::set<std::string> declared;
  for (const auto& p : info.parameters) declared.insert(p.name);
  for (const auto& [key, value] : content.items()) {
    if (key == "parameters" || key == "description") continue;
    if (Status st = CheckPlaceholders(value, declared); !st.ok()) return st.take_error();
  }
  return info;
}

Json ParameterListJson(const std::vector<ParameterDef>& defs) {
  Json out = Json::array();
  for (const auto& d : defs) {
    Json p = {{"Name", d.name}, {"Type", d.type}};
    if (!d.description.empty()) p["Description"] = d.description;
    if (d.default_value) {
      p["DefaultValue"] = d.default_value->is_string() ? d.default_value->get<std::string>()
                                                       : d.default_value->dump();
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<ParameterValues> ResolveParameters(
    const std::vector<ParameterDef>& defs,
    const std::map<std::string, std::vector<std::string>>& given, std::string* why) {
  for (const auto& [name, values] : given) {
    bool defined = std::any_of(defs.begin(), defs.end(),
                               [&](const ParameterDef& d) { return d.name == name; });
    if (!defined) {
      Fail(why, fmt::format("parameter {} is not defined in the document", name));
      return errors::InvalidParameters();
    }
  }
  ParameterValues out;
  for (const auto& def : defs) {
    auto it = given.find(def.name);
    std::optional<Json> value;
    if (it != given.end()) {
      value = TypedValue(def, it->second, why);
    } else if (def.default_value) {
      // A {{ ssm:… }} default passes through for the agent to resolve.
      if (def.default_value->is_string() &&
          !FindPlaceholders(def.default_value->get<std::string>()).empty()) {
        out[def.name] = def.default_value->get<std::string>();
        continue;
      }
      value = TypedDefault(def, why);
    } else {
      Fail(why, fmt::format("parameter {} is required", def.name));
      return errors::InvalidParameters();
    }
    if (!value || !CheckConstraints(def, *value, why)) return errors::InvalidParameters();
    out[def.name] = std::move(*value);
  }
  return out;
}

namespace {

std::string ValueText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array() &&
      std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_string(); })) {
    std::string joined;
    for (const auto& e : v) joined += (joined.empty() ? "" : ",") + e.get<std::string>();
    return joined;
  }
  return v.dump();
}

Json SubstituteString(const std::string& s, const ParameterValues& values) {
  auto found = FindPlaceholders(s);
  if (found.empty()) return s;
  if (found.size() == 1 && found[0].begin == 0 && found[0].end == s.size()) {
    auto it = values.find(found[0].name);
    if (it != values.end()) return it->second;
  }
  std::string out;
  size_t last = 0;
  for (const auto& p : found) {
    out.append(s, last, p.begin - last);
    auto it = values.find(p.name);
    out += it != values.end() ? ValueText(it->second) : s.substr(p.begin, p.end - p.begin);
    last = p.end;
  }
  out.append(s, last, std::string::npos);
  return out;
}

}  // namespace

Json Substitute(const Json& content, const ParameterValues& values) {
  if (content.is_string()) return SubstituteString(content.get<std::string>(), values);
  if (content.is_object()) {
    Json out = Json::object();
    for (const auto& [k, v] : content.items()) out[k] = Substitute(v, values);
    return out;
  }
  if (content.is_array()) {
    Json out = Json::array();
    for (const auto& v : content) out.push_back(Substitute(v, values));
    return out;
  }
  return content;
}

}  // namespace gc::ssm
