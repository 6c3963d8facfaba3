#include "agent/document.h"

#include <cctype>

#include "agent/aws_client.h"
#include "agent/files.h"

namespace gc::agent {
namespace {

using ojson = nlohmann::ordered_json;

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Matches "{{" spaces name spaces "}}" at `pos`; on success sets `name` and `end` (one past).
bool MatchPlaceholder(std::string_view s, size_t pos, std::string& name, size_t& end) {
  if (s.compare(pos, 2, "{{") != 0) return false;
  size_t i = pos + 2;
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (i < s.size() && space(s[i])) ++i;
  size_t start = i;
  while (i < s.size() && IsNameChar(s[i])) ++i;
  if (i == start) return false;
  name = std::string(s.substr(start, i - start));
  while (i < s.size() && space(s[i])) ++i;
  if (s.compare(i, 2, "}}") != 0) return false;
  end = i + 2;
  return true;
}

std::string ValueText(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  return DumpJson(v);
}

ojson SubstituteString(const std::string& s, const ojson& params) {
  std::string name;
  size_t end = 0;
  if (MatchPlaceholder(s, 0, name, end) && end == s.size()) {
    if (auto it = params.find(name); it != params.end()) return *it;
    return s;
  }
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '{' && MatchPlaceholder(s, i, name, end)) {
      if (auto it = params.find(name); it != params.end()) {
        out += ValueText(*it);
        i = end;
        continue;
      }
    }
    out.push_back(s[i]);
    ++i;
  }
  return out;
}

bool SupportedSchema(const std::string& v) {
  for (std::string_view s : {"1.0", "1.2", "2.0", "2.0.1", "2.0.2", "2.0.3", "2.2"}) {
    if (v == s) return true;
  }
  return false;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

ojson SubstituteParameters(const ojson& input, const ojson& parameters) {
  if (input.is_string()) return SubstituteString(input.get<std::string>(), parameters);
  if (input.is_array()) {
    ojson out = ojson::array();
    for (const auto& v : input) out.push_back(SubstituteParameters(v, parameters));
    return out;
  }
  if (input.is_object()) {
    ojson out = ojson::object();
    for (const auto& [k, v] : input.items()) out[k] = SubstituteParameters(v, parameters);
    return out;
  }
  return input;
}

Result<CommandPlan> PlanDocument(const ojson& doc, const ojson& given) {
  if (!doc.is_object()) return LocalError("the document is not a JSON object");
  CommandPlan plan;
  if (auto it = doc.find("schemaVersion"); it != doc.end() && it->is_string()) {
    plan.schema_version = *it;
  }
  if (!SupportedSchema(plan.schema_version)) {
    return LocalError("document schema version '" + plan.schema_version +
                      "' is not supported by groundcrew-agent");
  }

  // Parameter values: the document's defaults, overridden by those given. Names that are not
  // [A-Za-z0-9]+ are ignored, as amazon-ssm-agent's ValidParameters does.
  plan.parameters = ojson::object();
  if (auto it = doc.find("parameters"); it != doc.end() && it->is_object()) {
    for (const auto& [name, decl] : it->items()) {
      if (decl.is_object() && decl.contains("default")) plan.parameters[name] = decl["default"];
    }
  }
  if (given.is_object()) {
    for (const auto& [name, value] : given.items()) plan.parameters[name] = value;
  }
  for (auto it = plan.parameters.begin(); it != plan.parameters.end();) {
    const std::string& k = it.key();
    bool ok = !k.empty();
    for (char c : k) ok = ok && IsNameChar(c);
    it = ok ? std::next(it) : plan.parameters.erase(it);
  }

  if (plan.schema_version.starts_with("1.")) {
    auto rc = doc.find("runtimeConfig");
    if (rc == doc.end() || !rc->is_object()) {
      return LocalError("schema " + plan.schema_version + " document has no runtimeConfig");
    }
    for (const auto& [plugin, config] : rc->items()) {
      Step step;
      step.id = plugin;
      step.action = plugin;
      ojson props =
          config.is_object() && config.contains("properties") ? config["properties"] : ojson();
      if (!props.is_array()) props = props.is_null() ? ojson::array() : ojson::array({props});
      step.inputs = SubstituteParameters(props, plan.parameters);
      plan.steps.push_back(std::move(step));
    }
  } else {
    auto ms = doc.find("mainSteps");
    if (ms == doc.end() || !ms->is_array()) {
      return LocalError("schema " + plan.schema_version + " document has no mainSteps");
    }
    for (const auto& s : *ms) {
      if (!s.is_object()) return LocalError("a mainSteps entry is not an object");
      Step step;
      if (auto it = s.find("action"); it != s.end() && it->is_string()) step.action = *it;
      if (auto it = s.find("name"); it != s.end() && it->is_string()) step.id = *it;
      if (step.action.empty() || step.id.empty()) {
        return LocalError("a mainSteps entry has no action or name");
      }
      step.inputs = SubstituteParameters(s.value("inputs", ojson::object()), plan.parameters);
      if (auto it = s.find("precondition"); it != s.end()) step.precondition = *it;
      if (auto it = s.find("onFailure"); it != s.end() && it->is_string()) step.on_failure = *it;
      if (auto it = s.find("timeoutSeconds"); it != s.end()) step.step_timeout = *it;
      plan.steps.push_back(std::move(step));
    }
  }
  return plan;
}

Result<CommandPlan> ParseSendCommand(std::string_view payload) {
  ojson p = ojson::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!p.is_object()) return LocalError("the sendCommand payload is not a JSON object");
  auto doc_it = p.find("DocumentContent");
  if (doc_it == p.end() || !doc_it->is_object()) {
    return LocalError("the sendCommand payload has no DocumentContent");
  }
  auto it = p.find("Parameters");
  auto plan = PlanDocument(*doc_it, it != p.end() ? *it : ojson());
  if (!plan.ok()) return plan;
  if (auto id = p.find("CommandId"); id != p.end() && id->is_string()) plan->command_id = *id;
  if (auto name = p.find("DocumentName"); name != p.end() && name->is_string()) {
    plan->document_name = *name;
  }
  return plan;
}

Precondition EvaluatePrecondition(const ojson& precondition, std::string_view platform_type,
                                  std::string* detail) {
  if (detail != nullptr) *detail = DumpJson(precondition);
  if (precondition.is_null()) return Precondition::kMet;
  if (!precondition.is_object() || precondition.size() != 1) return Precondition::kInvalid;
  auto it = precondition.begin();
  if (it.key() != "StringEquals" || !it->is_array() || it->size() != 2) {
    return Precondition::kInvalid;
  }
  const ojson& a = (*it)[0];
  const ojson& b = (*it)[1];
  if (!a.is_string() || !b.is_string()) return Precondition::kInvalid;
  std::string left = a.get<std::string>();
  std::string right = b.get<std::string>();
  if (left == "platformType") {
    left = std::string(platform_type);
  } else if (right == "platformType") {
    right = std::string(platform_type);
  } else {
    return Precondition::kInvalid;
  }
  return Lower(left) == Lower(right) ? Precondition::kMet : Precondition::kNotMet;
}

}  // namespace gc::agent
