#include "agent/plugins.h"

#include <cmath>
#include <cstdlib>

#include "agent/files.h"
#include "agent/log.h"

namespace gc::agent {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::string_view kRunShellScript = "aws:runShellScript";
constexpr std::string_view kRunDocument = "aws:runDocument";

// IOHandler.AppendError: a newline first when there is already text.
void AppendLine(std::string& text, std::string_view message) {
  if (!text.empty()) text.push_back('\n');
  text.append(message);
}

PluginResult Begin(const Step& step, const PluginContext& ctx) {
  PluginResult r;
  r.id = step.id;
  r.name = step.action;
  r.start_millis = ctx.clock->NowMillis();
  return r;
}

PluginResult Fail(PluginResult r, const PluginContext& ctx, std::string_view message) {
  r.status = std::string(status::kFailed);
  r.code = 1;
  AppendLine(r.stderr_text, message);
  r.end_millis = ctx.clock->NowMillis();
  return r;
}

// One runShellScript property: write the script, run it, classify the outcome.
PluginResult RunOneScript(const ojson& props, const Step& step, size_t index,
                          const PluginContext& ctx, CancelToken& cancel) {
  PluginResult r = Begin(step, ctx);
  if (!props.is_object()) return Fail(std::move(r), ctx, "the plugin's inputs are not an object");
  const std::vector<std::string> lines =
      RunCommandLines(props.contains("runCommand") ? props["runCommand"] : ojson());
  std::string script;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) script.push_back('\n');
    script += lines[i];
  }
  script.push_back('\n');

  if (Status s = MakePrivateDir(ctx.orchestration_dir); !s.ok()) {
    return Fail(std::move(r), ctx, s.error().message);
  }
  const std::string script_path =
      ctx.orchestration_dir +
      (index == 0 ? "/_script.sh" : "/_script_" + std::to_string(index) + ".sh");
  if (Status s = WriteFileAtomic(script_path, script, 0700); !s.ok()) {
    return Fail(std::move(r), ctx, s.error().message);
  }

  std::string cwd;
  if (auto it = props.find("workingDirectory"); it != props.end() && it->is_string()) {
    cwd = it->get<std::string>();
  }
  if (cwd.empty()) cwd = ctx.orchestration_dir;

  ojson timeout_value = props.contains("timeoutSeconds") ? props["timeoutSeconds"] : ojson();
  if (timeout_value.is_null()) timeout_value = step.step_timeout;
  const int timeout = TimeoutSeconds(timeout_value, ctx);

  ProcessSpec spec;
  spec.argv = {ctx.shell, script_path};
  spec.cwd = cwd;
  spec.env = EnvironmentWith(ctx.env);
  spec.timeout_millis = static_cast<int64_t>(timeout) * 1000;
  spec.max_capture = ctx.max_capture;
  ProcessResult p = RunProcess(spec, &cancel);

  r.stdout_text = std::move(p.stdout_text);
  r.stderr_text = std::move(p.stderr_text);
  r.stdout_capped = p.stdout_bytes > r.stdout_text.size();
  r.stderr_capped = p.stderr_bytes > r.stderr_text.size();
  r.end_millis = ctx.clock->NowMillis();
  if (!p.started) {
    if (!cwd.empty() && !FileExists(cwd)) {
      return Fail(std::move(r), ctx, "working directory " + cwd + " does not exist");
    }
    return Fail(std::move(r), ctx, "failed to run commands: " + p.error);
  }
  r.code = p.exit_code;
  if (p.timed_out) {
    r.status = std::string(status::kTimedOut);
    AppendLine(r.stderr_text, "command timed out after " + std::to_string(timeout) +
                                  " seconds; its process group was killed");
  } else if (p.cancelled) {
    const bool shutdown = cancel.reason() == CancelToken::Reason::kShutdown;
    r.status = std::string(shutdown ? status::kFailed : status::kCancelled);
    if (shutdown) AppendLine(r.stderr_text, "groundcrew-agent stopped while the command ran");
  } else if (p.exit_code == 0) {
    r.status = std::string(status::kSuccess);
  } else {
    r.status = std::string(status::kFailed);
    AppendLine(r.stderr_text, "failed to run commands: exit status " + std::to_string(p.exit_code));
  }
  return r;
}

PluginResult RunShellScript(const Step& step, const PluginContext& ctx, CancelToken& cancel) {
  // 1.x: a list of properties, each run in turn and merged (IOHandler.Merge); 2.x: one object.
  const ojson runs = step.inputs.is_array() ? step.inputs : ojson::array({step.inputs});
  if (runs.empty()) {
    PluginResult r = Begin(step, ctx);
    r.status = std::string(status::kSuccess);
    r.end_millis = r.start_millis;
    return r;
  }
  PluginResult merged;
  for (size_t i = 0; i < runs.size(); ++i) {
    PluginResult r;
    if (cancel.cancelled()) {
      r = Begin(step, ctx);
      const bool shutdown = cancel.reason() == CancelToken::Reason::kShutdown;
      r.status = std::string(shutdown ? status::kFailed : status::kCancelled);
      r.code = 1;
      r.end_millis = r.start_millis;
    } else {
      r = RunOneScript(runs[i], step, i, ctx, cancel);
    }
    if (i == 0) {
      merged = std::move(r);
      continue;
    }
    if (!merged.stdout_text.empty()) merged.stdout_text.push_back('\n');
    merged.stdout_text += r.stdout_text;
    if (!merged.stderr_text.empty()) merged.stderr_text.push_back('\n');
    merged.stderr_text += r.stderr_text;
    merged.stdout_capped = merged.stdout_capped || r.stdout_capped;
    merged.stderr_capped = merged.stderr_capped || r.stderr_capped;
    if (merged.code == 0) merged.code = r.code;
    merged.status = AggregateStatus({merged.status, r.status});
    merged.end_millis = r.end_millis;
  }
  return merged;
}

}  // namespace

std::vector<std::string> RunCommandLines(const ojson& value) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    for (const auto& v : value) {
      for (auto& line : RunCommandLines(v)) out.push_back(std::move(line));
    }
  }
  return out;
}

int TimeoutSeconds(const ojson& value, const PluginContext& ctx) {
  long n = ctx.default_timeout_seconds;
  if (value.is_number_integer()) {
    n = value.get<long>();
  } else if (value.is_number()) {
    const double d = value.get<double>();
    n = std::isfinite(d) ? static_cast<long>(d) : ctx.default_timeout_seconds;
  } else if (value.is_string()) {
    const std::string s = value.get<std::string>();
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    n = (!s.empty() && end != nullptr && *end == '\0' && std::isfinite(d))
            ? static_cast<long>(d)
            : ctx.default_timeout_seconds;
  }
  if (n < ctx.min_timeout_seconds || n > ctx.max_timeout_seconds) {
    n = ctx.default_timeout_seconds;
  }
  return static_cast<int>(n);
}

PluginResult RunStep(const Step& step, const PluginContext& ctx, CancelToken& cancel) {
  PluginResult r = Begin(step, ctx);
  std::string detail;
  switch (EvaluatePrecondition(step.precondition, ctx.platform_type, &detail)) {
    case Precondition::kMet:
      break;
    case Precondition::kNotMet:
      r.status = std::string(status::kSkipped);
      r.stdout_text = "Step execution skipped due to unsatisfied preconditions: '" + detail +
                      "'. Run it on the appropriate platforms.";
      r.end_millis = ctx.clock->NowMillis();
      return r;
    case Precondition::kInvalid:
      return Fail(std::move(r), ctx,
                  "Unrecognized precondition: '" + detail +
                      "'. groundcrew-agent supports {\"StringEquals\": [\"platformType\", "
                      "\"<type>\"]}.");
  }
  if (cancel.cancelled()) {
    const bool shutdown = cancel.reason() == CancelToken::Reason::kShutdown;
    r.status = std::string(shutdown ? status::kFailed : status::kCancelled);
    r.code = 1;
    r.end_millis = ctx.clock->NowMillis();
    return r;
  }
  if (step.action == kRunShellScript) return RunShellScript(step, ctx, cancel);
  if (step.action == kRunDocument) {
    return Fail(std::move(r), ctx,
                "aws:runDocument is not supported by groundcrew-agent yet; run the nested "
                "document with its own SendCommand.");
  }
  return Fail(std::move(r), ctx,
              "Plugin with name " + step.action + " is not supported by groundcrew-agent.");
}

}  // namespace gc::agent
