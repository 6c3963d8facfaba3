// Run Command rules without a store: rate-control arithmetic (MaxConcurrency / MaxErrors as
// numbers or percentages), invocation and command status aggregation as AWS defines them, and
// the merging of the agent's SendReply payloads (docs/AGENT_PROTOCOL.md 2.5, 2.6, 2.8). Pure
// functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace gc::ssm::commands {

// An invocation's detailed status (GetCommandInvocation's StatusDetails), as stored.
inline constexpr std::string_view kPending = "Pending";
inline constexpr std::string_view kInProgress = "InProgress";
inline constexpr std::string_view kDelayed = "Delayed";
inline constexpr std::string_view kSuccess = "Success";
inline constexpr std::string_view kFailed = "Failed";
inline constexpr std::string_view kDeliveryTimedOut = "DeliveryTimedOut";
inline constexpr std::string_view kExecutionTimedOut = "ExecutionTimedOut";
inline constexpr std::string_view kCancelled = "Cancelled";
inline constexpr std::string_view kUndeliverable = "Undeliverable";
inline constexpr std::string_view kTerminated = "Terminated";

// True for the final detailed statuses (everything but Pending, InProgress, Delayed).
bool IsTerminal(std::string_view details);
// The API's Status (CommandInvocationStatus) for a detailed status: DeliveryTimedOut and
// ExecutionTimedOut → TimedOut; Undeliverable → Failed; Terminated (not started because MaxErrors
// was exceeded) → Cancelled; others as they are.
std::string InvocationStatus(std::string_view details);
// Failed and ExecutionTimedOut count against MaxErrors (AWS: "ErrorCount: Failed or Execution
// Timed Out"); DeliveryTimedOut and Undeliverable do not.
bool CountsAsError(std::string_view details);

// MaxConcurrency / MaxErrors ("10", "10%") as a number of targets, for `targets` targets:
// concurrency percentages round up and are at least 1; error percentages round down (AWS: 10%
// of 50 targets stops at the sixth error). Returns -1 for text that is neither form.
int64_t ConcurrencyLimit(std::string_view value, int64_t targets);
int64_t ErrorLimit(std::string_view value, int64_t targets);

// How many more invocations may be released now.
int64_t Releasable(int64_t max_concurrency, int64_t in_flight, int64_t not_released);
// Whether rate control stops starting new invocations: errors exceeded MaxErrors.
inline bool ErrorsExceeded(int64_t errors, int64_t max_errors) { return errors > max_errors; }

// A command's invocations, counted.
struct Counts {
  int64_t targets = 0;
  int64_t released = 0;           // handed to delivery (any status but not-yet-released Pending)
  int64_t completed = 0;          // terminal
  int64_t errors = 0;             // CountsAsError
  int64_t delivery_timed_out = 0;
  int64_t execution_timed_out = 0;
  int64_t success = 0;
  int64_t cancelled = 0;
};

struct CommandStatus {
  std::string status;   // CommandStatus: Pending, InProgress, Success, Cancelled, Failed, TimedOut
  std::string details;  // "Pending", "In Progress", "Success", "Failed", "Delivery Timed Out",
                        // "Execution Timed Out", "Incomplete", "Cancelled"
  bool terminal = false;
};
// The command's status from its counts (AWS "Understanding command statuses"):
// not all complete → InProgress once one was released, else Pending; all complete → Cancelled
// if it was cancelled; Success if all succeeded; Failed when errors reach MaxErrors (at least
// one); Delivery Timed Out (TimedOut) when delivery timeouts do; Execution Timed Out likewise;
// otherwise Incomplete (Status Failed).
CommandStatus Aggregate(const Counts& counts, int64_t max_errors, bool cancel_requested);

// The final document status the agent reports (2.6) as a detailed invocation status; "" for a
// non-final one (InProgress, NotStarted, SuccessAndReboot …).
std::string DetailsFromDocumentStatus(std::string_view document_status);

// Merges one SendReply payload into an invocation's reply state, which is
//   {"documentStatus": "...", "traceOutput": "...", "plugins": {"<plugin id>": {...}}}
// (plugins as in `runtimeStatus`, keys as the agent sends them). A plugin that already has a
// final status is not overwritten by a non-final one (a late InProgress), and a final document
// status is never replaced by a non-final one. Returns true if the state changed.
bool MergeReply(nlohmann::json& state, const nlohmann::json& payload);

}  // namespace gc::ssm::commands
