// SSM document content: parsing JSON and YAML, validating a document against its schema version
// and type, the `parameters` section, and the Run Command side — checking the Parameters a
// command is sent with and substituting `{{ name }}` placeholders. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::ssm {

// Content keeps the key order it was written in (parameters are listed in that order, and a
// converted document reads like its source).
using OrderedJson = nlohmann::ordered_json;

enum class DocumentFormat { kJson, kYaml, kText };

// "JSON" / "YAML" / "TEXT" (the API's DocumentFormat values); nullopt for anything else.
std::optional<DocumentFormat> ParseDocumentFormat(std::string_view name);
const char* DocumentFormatName(DocumentFormat format);

// Parses content in `format` (JSON or YAML) into a JSON value. YAML scalars are typed by the
// YAML 1.2 core schema (plain `true`, `3`, `~` are bool, int, null; quoted ones stay strings).
// Fails with InvalidDocumentContent ("JSON not well-formed. at Line: 3, Column: 7").
Result<OrderedJson> ParseContent(std::string_view text, DocumentFormat format);

// Renders parsed content as JSON (indented by 2) or YAML. Strings that YAML would read as
// another type ("2.2", "true", "") are quoted, so ParseContent(Render(x, YAML)) == x.
std::string RenderContent(const OrderedJson& content, DocumentFormat format);

// One entry of a document's `parameters` section.
struct ParameterDef {
  std::string name;
  std::string type;  // String, StringList, StringMap, Integer, Boolean, MapList (Automation
                     // also AWS::…::Id-style types, checked as String, and List<…>, as StringList)
  std::string description;
  std::optional<OrderedJson> default_value;
  std::vector<std::string> allowed_values;
  std::string allowed_pattern;  // ECMAScript, matched against the whole value
  std::optional<int64_t> min_items, max_items, min_chars, max_chars;

  // The type the value is checked and typed as: one of the six base types.
  std::string BaseType() const;
};

// What validation learns about a document; the rest of the API reads these.
struct DocumentInfo {
  std::string schema_version;  // "2.2"
  std::string description;     // the content's top-level description, or ""
  std::vector<ParameterDef> parameters;
  std::vector<std::string> platform_types;  // Windows, Linux, MacOS, in that order
  OrderedJson content;                      // as parsed, with schemaVersion normalised to a string
};

// Validates parsed content as a document of `document_type` (Command, Automation, Policy, …):
//  - InvalidDocumentSchemaVersion when schemaVersion is missing or not one the type supports
//    (Command: 1.2, 2.0, 2.2; Automation: 0.3; Policy: 2.0, 2.2; Session: 1.0; others any N.N);
//  - InvalidDocumentContent for a bad parameters section, a bad mainSteps / runtimeConfig
//    (unknown plugin, missing action or name, duplicate step names, bad precondition), or a
//    `{{ name }}` that names no declared parameter.
Result<DocumentInfo> AnalyzeContent(const OrderedJson& content, const std::string& document_type);

// Parses a `parameters` section; InvalidDocumentContent when it is malformed.
Result<std::vector<ParameterDef>> ParseParameterDefs(const OrderedJson& parameters,
                                                     bool automation);

// DocumentDescription.Parameters: [{Name, Type, Description, DefaultValue}]. A default that is
// not a string is given as its JSON text, as AWS does.
nlohmann::json ParameterListJson(const std::vector<ParameterDef>& defs);

// --- Run Command -----------------------------------------------------------------------------

// Parameter values after validation, typed as the document declares them: String → string,
// StringList → array of strings, StringMap → object, Integer → number, Boolean → bool,
// MapList → array of objects.
using ParameterValues = std::map<std::string, nlohmann::json>;

// Checks the Parameters a command was sent with (SendCommand's map of name → values) against
// the document's definitions and fills in defaults: every definition gets a value. Fails with
// InvalidParameters, in AWS's one wording for every case ("Parameters provided in document are
// invalid or not supported."), when a name is not defined, a parameter without default is
// missing, or a value breaks its type, allowedValues, allowedPattern or min/max limits. `why`
// (optional) receives the specific reason, for logs and tests.
Result<ParameterValues> ResolveParameters(
    const std::vector<ParameterDef>& defs,
    const std::map<std::string, std::vector<std::string>>& given, std::string* why = nullptr);

// Replaces `{{ name }}` placeholders in every string of `content` with the values. A string that
// is exactly one placeholder becomes the typed value (runCommand: "{{ commands }}" becomes the
// list of commands); a placeholder inside a longer string becomes the value's text (a list is
// joined with ",", a map or map list is its JSON text). Placeholders of unknown names —
// `{{ ssm:/path }}`, step outputs — are left for the agent or the workflow engine.
nlohmann::json Substitute(const nlohmann::json& content, const ParameterValues& values);

}  // namespace gc::ssm
