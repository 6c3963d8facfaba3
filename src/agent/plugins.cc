#include "agent/plugins.h"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "agent/aws_client.h"
#include "agent/files.h"
#include "agent/inventory.h"
#include "agent/log.h"

namespace gc::agent {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::string_view kRunShellScript = "aws:runShellScript";
constexpr std::string_view kRunDocument = "aws:runDocument";
constexpr std::string_view kSoftwareInventory = "aws:softwareInventory";
constexpr std::string_view kSsmDocumentType = "SSMDocument";
constexpr std::string_view kLocalPathType = "LocalPath";
constexpr int64_t kMaxLocalDocumentBytes = 1 << 20;  // SSM documents are at most 64 KB

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

// documentParameters: a map, or a JSON object in a string (amazon-ssm-agent also reads YAML
// there); absent or "" means none.
Result<ojson> DocumentParameters(const ojson& value) {
  if (value.is_null() || value.is_object()) return value;
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return ojson();
    ojson parsed = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) return parsed;
    return LocalError(
        "documentParameters is not a JSON object; groundcrew-agent reads documentParameters "
        "as a map or as a JSON object in a string (not YAML)");
  }
  return LocalError("parameter type specified to run document is unknown");
}

// docparser.ParseDocumentNameAndVersion after filepath.Base: "arn:…:document/Name:3" → Name, 3.
std::pair<std::string, std::string> DocumentNameAndVersion(const std::string& path) {
  std::string base = path;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (size_t slash = base.rfind('/'); slash != std::string::npos) base = base.substr(slash + 1);
  const size_t colon = base.find(':');
  if (colon == std::string::npos) return {base, ""};
  std::string version = base.substr(colon + 1);
  if (size_t next = version.find(':'); next != std::string::npos) version.resize(next);
  std::string name = base;
  if (name.ends_with(":" + version)) name.resize(name.size() - version.size() - 1);
  return {name, version};
}

Result<std::string> ReadLocalDocument(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return LocalError("cannot read document " + file + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return LocalError("document " + file + " is not a regular file");
  if (st.st_size > kMaxLocalDocumentBytes) {
    return LocalError("document " + file + " is larger than 1 MiB");
  }
  auto text = ReadFile(file);
  if (!text) return LocalError("cannot read document " + file + ": " + std::strerror(errno));
  if (text->empty()) return LocalError("document " + file + " is empty");
  return *std::move(text);
}

// aws:runDocument (rundocument.go): the nested document's steps run here, in order, with the
// documentParameters over its defaults; one result for the step. As amazon-ssm-agent: stdout and
// stderr are the nested steps' own, each appended on a new line; the exit code is 0 or 1.
// Unlike it (which keeps only the last plugin's status, in map order), the status is the merge
// of every nested status, so any failed nested step fails the step.
PluginResult RunDocument(const Step& step, const PluginContext& ctx, CancelToken& cancel) {
  PluginResult r = Begin(step, ctx);
  // 1.x documents carry properties as a list; one entry is the plugin's input.
  const ojson& in =
      step.inputs.is_array() && step.inputs.size() == 1 ? step.inputs[0] : step.inputs;
  if (!in.is_object()) {
    return Fail(std::move(r), ctx, "invalid format in plugin properties " + DumpJson(step.inputs));
  }
  auto text_of = [&](const char* key) {
    auto it = in.find(key);
    return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string type = text_of("documentType");
  const std::string path = text_of("documentPath");
  if (type.empty()) {
    return Fail(std::move(r), ctx,
                "invalid input: Document Type must be specified to either by SSMDocument or "
                "LocalPath.");
  }
  if (type != kSsmDocumentType && type != kLocalPathType) {
    return Fail(std::move(r), ctx, "invalid input: Document type specified in invalid");
  }
  if (path.empty()) return Fail(std::move(r), ctx, "invalid input: Document Path must be provided");
  const int depth = ctx.document_depth + 1;
  if (depth > kMaxDocumentDepth) {
    return Fail(std::move(r), ctx,
                "Maximum depth for document execution exceeded. Maximum depth permitted - " +
                    std::to_string(kMaxDocumentDepth) + " and current depth - " +
                    std::to_string(depth));
  }
  auto params =
      DocumentParameters(in.contains("documentParameters") ? in["documentParameters"] : ojson());
  if (!params.ok()) {
    return Fail(std::move(r), ctx,
                "There was an error while preparing documents - " + params.error().message);
  }

  std::string content;
  std::string source;
  if (type == kSsmDocumentType) {
    const auto [name, version] = DocumentNameAndVersion(path);
    source = "SSM document " + name + (version.empty() ? "" : ":" + version);
    if (!ctx.get_document) {
      return Fail(std::move(r), ctx, "cannot fetch " + source + ": no SSM client");
    }
    auto got = ctx.get_document(name, version);
    if (!got.ok()) {
      const AwsError& e = got.error();
      return Fail(std::move(r), ctx,
                  "Unable to get " + source + ": " +
                      (e.code == "AgentError" ? e.message : e.code + ": " + e.message));
    }
    content = *std::move(got);
  } else {
    auto file = LocalDocumentPath(ctx.root, path);
    if (!file.ok()) return Fail(std::move(r), ctx, file.error().message);
    source = "document " + *file;
    auto got = ReadLocalDocument(*file);
    if (!got.ok()) return Fail(std::move(r), ctx, got.error().message);
    content = *std::move(got);
  }
  ojson doc = ojson::parse(content, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return Fail(std::move(r), ctx,
                "There was an error while preparing documents - " + source +
                    " is not a JSON document (groundcrew-agent reads JSON documents only)");
  }
  auto plan = PlanDocument(doc, *params);
  if (!plan.ok()) {
    return Fail(std::move(r), ctx,
                "There was an error while preparing documents - " + plan.error().message);
  }
  LogInfo("{}: running {} ({} steps, depth {})", step.id, source, plan->steps.size(), depth);

  PluginContext nested = ctx;
  nested.document_depth = depth;
  const std::vector<PluginResult> results = RunSteps(plan->steps, nested, cancel, {});
  std::string merged = std::string(status::kSuccess);
  for (const PluginResult& n : results) {
    if (!n.stdout_text.empty()) AppendLine(r.stdout_text, n.stdout_text);
    if (!n.stderr_text.empty()) AppendLine(r.stderr_text, n.stderr_text);
    r.stdout_capped = r.stdout_capped || n.stdout_capped;
    r.stderr_capped = r.stderr_capped || n.stderr_capped;
    merged = MergeResultStatus(merged, n.status);
  }
  r.status = merged;
  r.code = (merged == status::kSuccess || merged == status::kSuccessAndReboot) ? 0 : 1;
  r.end_millis = ctx.clock->NowMillis();
  return r;
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

std::vector<PluginResult> RunSteps(
    const std::vector<Step>& steps, const PluginContext& base, CancelToken& cancel,
    const std::function<void(const std::vector<PluginResult>&)>& on_done) {
  std::vector<PluginResult> done;
  bool stop = false;
  for (const Step& step : steps) {
    PluginContext ctx = base;
    ctx.orchestration_dir = base.orchestration_dir + "/" + SafeFileName(step.id);
    PluginResult r;
    if (stop) {
      r.id = step.id;
      r.name = step.action;
      r.status = std::string(status::kSkipped);
      r.stdout_text = "Step execution skipped: a previous step failed and has onFailure: exit.";
      r.start_millis = r.end_millis = base.clock->NowMillis();
    } else {
      r = RunStep(step, ctx, cancel);
    }
    if (r.status == status::kFailed && step.on_failure == "exit") stop = true;
    done.push_back(std::move(r));
    if (on_done) on_done(done);
  }
  return done;
}

Result<std::string> LocalDocumentPath(const std::string& root, const std::string& path) {
  if (path.empty()) return LocalError("invalid input: Document Path must be provided");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0 && end - start == 2) {
      return LocalError("document path " + path + " has a '..' component; LocalPath documents " +
                        "are read under the agent's root " + root);
    }
    start = end + 1;
  }
  std::string base = root.empty() ? std::string("/") : root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (base == "/") return path.front() == '/' ? path : "/" + path;
  return base + (path.front() == '/' ? "" : "/") + path;
}

std::string MergeResultStatus(const std::string& current, const std::string& next) {
  static constexpr std::array<std::string_view, 9> kOrder = {
      "Skipped",    "Success", "SuccessAndReboot", "PassedAndReboot", "NotStarted",
      "InProgress", "Failed",  "Cancelled",        "TimedOut"};
  if (current.empty()) return next;
  if (next.empty()) return current;
  for (std::string_view s : kOrder) {
    if (s == current) return next;
    if (s == next) return current;
  }
  return next;
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
  if (step.action == kRunDocument) return RunDocument(step, ctx, cancel);
  if (step.action == kSoftwareInventory) return RunSoftwareInventory(step, ctx, cancel);
  return Fail(std::move(r), ctx,
              "Plugin with name " + step.action + " is not supported by groundcrew-agent.");
}

}  // namespace gc::agent
