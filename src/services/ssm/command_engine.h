// The Run Command engine inside one store transaction: the rows of ssm_command and
// ssm_invocation, every change of an invocation's status (with the command's counters kept in
// step, so nothing recounts a 10,000-node command on each reply), rate control (MaxConcurrency,
// MaxErrors), the command's aggregate status, and the SNS notices its NotificationConfig asks
// for. RunCommand (run_command.h) calls it from the API and from ec2messages; State Manager and
// Maintenance Windows will send commands the same way.
//
// Not thread-safe by itself: an Update lives inside one store transaction.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm::commands {

inline constexpr const char* kSendKind = "send";
inline constexpr const char* kCancelKind = "cancel";

// ISO-8601 UTC with milliseconds: 2024-10-16T10:00:00.123Z.
std::string IsoMillis(int64_t ms);
// "2024-10-16T10:00:00Z" / "…:00.123Z" / "2024-10-16" → epoch ms; -1 when unreadable.
int64_t ParseIsoMillis(const std::string& s);
// The ec2messages message id of a command's sendCommand message for a node.
std::string MessageIdOf(const std::string& command_id, const std::string& node_id);

// A row of ssm_command.
struct CommandRow {
  std::string command_id, account, region;
  int64_t requested_ms = 0, expires_ms = 0;
  // The API's Command fields, plus "_payload" and "_plugins". Never changes after SendCommand,
  // so rows share one parsed copy per command.
  std::shared_ptr<const nlohmann::json> spec;
  int64_t max_concurrency = 0, max_errors = 0;
  std::string status, status_details;
  // Counters, kept by Update: targets, released (handed to delivery or final), completed
  // (final), errors (CountsAsError), and per final status.
  int64_t target_count = 0, released_count = 0, completed_count = 0, error_count = 0;
  int64_t dt_count = 0, et_count = 0, success_count = 0, cancelled_count = 0;
  bool cancel_requested = false, active = false;

  static const char* Columns();
  static CommandRow From(const store::Row& r);
  // The API's Command shape.
  nlohmann::json ToJson() const;
};

// A row of ssm_invocation.
struct InvocationRow {
  std::string command_id, instance_id;
  int64_t seq = 0;
  std::string instance_name, details;
  bool released = false, delivered = false;
  int64_t updated_ms = 0, start_ms = 0, end_ms = 0;
  nlohmann::json state;  // the agent's merged replies (command_rules.h MergeReply)

  static const char* Columns();
  static InvocationRow From(const store::Row& r);
};

// `ctx` limits the lookup to the caller's account and region (nullptr: any).
Result<std::optional<CommandRow>> LoadCommand(store::Tx& tx, const wire::CallContext* ctx,
                                             const std::string& command_id);
Result<std::optional<InvocationRow>> LoadInvocation(store::Tx& tx, const std::string& command_id,
                                                    const std::string& node_id);
// All of a command's invocations, in target order.
Result<std::vector<InvocationRow>> LoadInvocations(store::Tx& tx, const std::string& command_id);

Status InsertMessage(store::Tx& tx, const std::string& message_id, const std::string& node,
                     const std::string& command_id, const std::string& kind,
                     const std::string& payload, int64_t now);

// A status notification for SNS (NotificationConfig), to publish in the same transaction.
struct Notice {
  std::string account, region, topic_arn, message;
};

// What a transaction did that matters once it has committed.
struct Effects {
  std::vector<std::string> released;  // nodes given a new message: wake their polls
  std::vector<Notice> notices;
  void Clear() {
    released.clear();
    notices.clear();
  }
};

// Changes to one command within one transaction. Every change of an invocation's status goes
// through Set, which keeps the counters; Finish applies rate control and writes the command.
class Update {
 public:
  // nullopt when there is no such command.
  static Result<std::optional<Update>> Load(store::Tx& tx, const std::string& command_id,
                                            int64_t now, Effects& effects);
  // For a command row just inserted (SendCommand).
  Update(store::Tx& tx, CommandRow row, int64_t now, Effects& effects);

  CommandRow& command() { return c_; }

  // Moves `inv` to `details` and writes the row (with `inv.state` and `inv.delivered` as they
  // are); final statuses are never left. Sets start/end times, counts, and queues the
  // invocation notice when the API status changed.
  Status Set(InvocationRow& inv, std::string_view details);
  // Releases what MaxConcurrency allows, ends what MaxErrors or a cancel stops (Terminated /
  // Cancelled), aggregates the command's status, writes its row and queues its notice.
  Status Finish();
  // Recomputes the counters from the invocation rows (data written before they existed).
  Status Recount();

 private:
  Status WriteInvocation(const InvocationRow& inv);
  void Notify(const InvocationRow* inv, const std::string& status, const std::string& details);

  store::Tx* tx_;
  CommandRow c_;
  CommandRow loaded_;  // as read: Finish writes the row only when something changed
  int64_t now_;
  Effects* effects_;
};

}  // namespace gc::ssm::commands
