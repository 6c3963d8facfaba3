// The sendCommand payload (AGENT_PROTOCOL §2.4), or a document aws:runDocument runs, turned into
// the steps to run: schema 1.x runtimeConfig plugins or 2.x mainSteps, with `{{ name }}`
// parameters substituted as amazon-ssm-agent does, and §2.2 preconditions. Pure functions;
// thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::agent {

struct Step {
  std::string id;      // plugin id: the plugin name (1.x) or the step name (2.x)
  std::string action;  // e.g. "aws:runShellScript"
  // 1.x: the plugin's properties as a list (one entry per run); 2.x: the step's inputs object.
  // Parameters already substituted.
  nlohmann::ordered_json inputs;
  nlohmann::ordered_json precondition;  // null when the step has none
  std::string on_failure;               // 2.x "onFailure" ("exit" stops the document)
  nlohmann::ordered_json step_timeout;  // 2.x step-level "timeoutSeconds" (null when absent)
};

struct CommandPlan {
  std::string command_id;
  std::string document_name;
  std::string schema_version;
  nlohmann::ordered_json parameters;  // given values over the document's defaults
  std::vector<Step> steps;
};

// The steps of a document (the DocumentContent object: schemaVersion, parameters, runtimeConfig
// or mainSteps) with `given` parameter values (an object, or null for none) over the document's
// defaults, as docparser.ParseDocument does. AgentError (code "AgentError") with a readable
// message when `document` is not an object, its schema version is not supported, or it has no
// runtimeConfig / mainSteps. command_id and document_name are left empty.
Result<CommandPlan> PlanDocument(const nlohmann::ordered_json& document,
                                 const nlohmann::ordered_json& given);

// Parses the sendCommand payload: PlanDocument of its DocumentContent with its Parameters, plus
// CommandId and DocumentName. AgentError as PlanDocument, or when the payload is not JSON or has
// no DocumentContent.
Result<CommandPlan> ParseSendCommand(std::string_view payload);

// parameters.ReplaceParameters: a string that is exactly "{{ name }}" becomes the parameter's
// value (of any type); inside a longer string each "{{ name }}" becomes the value's text (strings
// as is, anything else as JSON). Recurses into arrays and objects. Names are [A-Za-z0-9]+.
nlohmann::ordered_json SubstituteParameters(const nlohmann::ordered_json& input,
                                            const nlohmann::ordered_json& parameters);

enum class Precondition { kMet, kNotMet, kInvalid };
// {"StringEquals": ["platformType", "Linux"]} (operands in either order, compared without case).
// `detail` gets a readable form of the condition.
Precondition EvaluatePrecondition(const nlohmann::ordered_json& precondition,
                                  std::string_view platform_type, std::string* detail);

}  // namespace gc::agent
