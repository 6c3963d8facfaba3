// SendReply payloads (AGENT_PROTOCOL §2.5) and document status aggregation (§2.6), as
// amazon-ssm-agent builds them. Pure functions over plain data; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gc::agent {

inline constexpr std::string_view kAgentName = "groundcrew-agent";

// §2.6 status strings.
namespace status {
inline constexpr std::string_view kInProgress = "InProgress";
inline constexpr std::string_view kSuccess = "Success";
inline constexpr std::string_view kSuccessAndReboot = "SuccessAndReboot";
inline constexpr std::string_view kFailed = "Failed";
inline constexpr std::string_view kCancelled = "Cancelled";
inline constexpr std::string_view kTimedOut = "TimedOut";
inline constexpr std::string_view kSkipped = "Skipped";
}  // namespace status

// §2.5 limits (bytes, as Go's len()).
inline constexpr size_t kMaxPluginOutput = 2500;  // "output"
inline constexpr size_t kMaxStandardOutput = 24000;
inline constexpr size_t kMaxStandardError = 8000;

// One plugin's outcome. stdout/stderr are the captured streams (at most the capture cap); the
// capped flags say more was produced than kept.
struct PluginResult {
  std::string id;      // runtimeStatus key: plugin name (schema 1.x) or step name (2.x)
  std::string name;    // the action, e.g. "aws:runShellScript"
  std::string status;  // §2.6
  int code = 0;
  std::string stdout_text;
  std::string stderr_text;
  bool stdout_capped = false;
  bool stderr_capped = false;
  int64_t start_millis = 0;
  int64_t end_millis = 0;
};

// iohandler.TruncateOutput: stdout, then "\n----------ERROR-------\n" and stderr when stderr is
// not empty, cut to `capacity` with "\n---Output truncated---" / "\n---Error truncated----".
std::string TruncateOutput(std::string_view out, std::string_view err, size_t capacity);
// pluginutil.StringPrefix: `input` if shorter than `max_length`, else its first
// max_length - len(suffix) bytes followed by `suffix`.
std::string StringPrefix(std::string_view input, size_t max_length, std::string_view suffix);

// §2.6 final document status over the plugins' statuses.
std::string AggregateStatus(const std::vector<std::string>& statuses);

// The payloads. `now_millis` is additionalInfo.dateTime.
// (a) on receipt, and the cancel message's only reply.
std::string InProgressPayload(int64_t now_millis);
// (b) after plugin `done[last]` finished: documentStatus InProgress, runtimeStatus holds only
// that plugin, counts cover `done`.
std::string PluginDonePayload(const std::vector<PluginResult>& done, int64_t now_millis);
// (c) final: the aggregate status; runtimeStatus carries the plugin only when there is exactly
// one, otherwise {}.
std::string FinalPayload(const std::vector<PluginResult>& all, int64_t now_millis);
// A document that never ran (payload unreadable, agent restarted mid-run): `document_status`
// with `trace` in documentTraceOutput and no plugins.
std::string TracePayload(std::string_view document_status, std::string_view trace,
                         int64_t now_millis);

// Removes the groundcrew-only full-output fields from a payload (for a server that refuses the
// larger body). Returns the payload unchanged if it is not JSON.
std::string StripFullOutput(std::string_view payload);

}  // namespace gc::agent
