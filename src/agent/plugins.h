// The plugins a step runs: aws:runShellScript (fork/exec of /bin/sh on a script file, see
// process.h), and clear failures for what groundcrew-agent does not run yet (aws:runDocument and
// every other action). Preconditions (§2.4) are evaluated here. Thread-safe: plugins share no
// state, so several jobs run them at once.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "agent/document.h"
#include "agent/process.h"
#include "agent/reply.h"
#include "common/clock.h"

namespace gc::agent {

struct PluginContext {
  std::string orchestration_dir;  // private directory for this step (created by the plugin)
  // Environment added for scripts: AWS_SSM_INSTANCE_ID, AWS_SSM_REGION_NAME, GC_AGENT_ROOT.
  std::vector<std::pair<std::string, std::string>> env;
  std::string platform_type = "Linux";
  std::string shell = "/bin/sh";
  size_t max_capture = 1 << 20;  // bytes of stdout and of stderr kept for the server
  // amazon-ssm-agent's range for timeoutSeconds; outside it (or unreadable) the default applies.
  int min_timeout_seconds = 5;
  int max_timeout_seconds = 172800;
  int default_timeout_seconds = 3600;
  const Clock* clock = nullptr;  // required
};

// Runs one step (precondition first) and returns its result; never throws. `cancel` ends a
// running script: Cancelled for kCancel, Failed for kShutdown (as amazon-ssm-agent reports).
PluginResult RunStep(const Step& step, const PluginContext& ctx, CancelToken& cancel);

// pluginutil.ValidateExecutionTimeout: a number or numeric string; the default when missing,
// unreadable or outside [min, max].
int TimeoutSeconds(const nlohmann::ordered_json& value, const PluginContext& ctx);

// pluginutil.ParseRunCommand: strings, and arrays of them at any depth, flattened in order.
std::vector<std::string> RunCommandLines(const nlohmann::ordered_json& value);

}  // namespace gc::agent
