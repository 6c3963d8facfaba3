// The plugins a step runs: aws:runShellScript (fork/exec of /bin/sh on a script file, see
// process.h), aws:runDocument (a nested document from SSM or a local file, its steps run here),
// aws:softwareInventory (inventory.h), and clear failures for every other action.
// Preconditions (§2.4) are evaluated here.
// Thread-safe: plugins share no state but the inventory's hash file (see inventory.h), so
// several jobs run them at once (the document fetcher and the PutInventory caller of the context
// must be thread-safe).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "agent/document.h"
#include "agent/process.h"
#include "agent/reply.h"
#include "common/clock.h"

namespace gc::agent {

// Fetches the content of an SSM document as JSON text for aws:runDocument: `version` is "" for
// the default version. The agent's is ssm GetDocument signed with the node's own credentials,
// as amazon-ssm-agent calls it with its instance role. Errors are the server's (e.g.
// InvalidDocument) or transport errors.
using DocumentFetcher =
    std::function<Result<std::string>(const std::string& name, const std::string& version)>;

// Calls ssm PutInventory with `body` for aws:softwareInventory, signed with the node's own
// credentials. Returns the parsed answer, or the server's error (e.g.
// ItemContentMismatchException) or a transport error.
using SsmPutInventory = std::function<Result<nlohmann::json>(const nlohmann::json& body)>;

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
  std::string root = "/";        // --root: aws:runDocument LocalPath documents are read under it
  DocumentFetcher get_document;  // empty: aws:runDocument SSMDocument sources fail
  // aws:runDocument nesting of the steps being run: 0 for the command's own document.
  int document_depth = 0;
  // aws:softwareInventory: the node's id, its folder for content hashes and custom inventory
  // (<state dir>/inventory), and PutInventory (empty: the plugin fails).
  std::string instance_id;
  std::string inventory_dir;
  SsmPutInventory put_inventory;
};

// rundocument.executeCommandMaxDepth: a runDocument step at a deeper level fails.
inline constexpr int kMaxDocumentDepth = 3;

// Runs one step (precondition first) and returns its result; never throws. `cancel` ends a
// running script: Cancelled for kCancel, Failed for kShutdown (as amazon-ssm-agent reports).
PluginResult RunStep(const Step& step, const PluginContext& ctx, CancelToken& cancel);

// Runs `steps` in order, as a command's document (RunJob) and aws:runDocument's nested document
// do: step i gets base.orchestration_dir + "/" + SafeFileName(id); after a failed step with
// onFailure "exit" the rest are Skipped. `on_done` (may be empty) sees the results so far after
// each step. Returns one result per step.
std::vector<PluginResult> RunSteps(
    const std::vector<Step>& steps, const PluginContext& base, CancelToken& cancel,
    const std::function<void(const std::vector<PluginResult>&)>& on_done);

// The file an aws:runDocument LocalPath `path` names: under `root` whether absolute or relative
// (with root "/" an absolute path is itself). AgentError for an empty path or one with a ".."
// component (it would leave the root).
Result<std::string> LocalDocumentPath(const std::string& root, const std::string& path);

// contracts.MergeResultStatus: the "greater" of two plugin statuses in the order Skipped,
// Success, SuccessAndReboot, PassedAndReboot, NotStarted, InProgress, Failed, Cancelled,
// TimedOut ("" yields the other).
std::string MergeResultStatus(const std::string& current, const std::string& next);

// pluginutil.ValidateExecutionTimeout: a number or numeric string; the default when missing,
// unreadable or outside [min, max].
int TimeoutSeconds(const nlohmann::ordered_json& value, const PluginContext& ctx);

// pluginutil.ParseRunCommand: strings, and arrays of them at any depth, flattened in order.
std::vector<std::string> RunCommandLines(const nlohmann::ordered_json& value);

}  // namespace gc::agent
