#include "services/ssm/run_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "common/crypto.h"
#include "services/ssm/command_rules.h"
#include "services/ssm/document_errors.h"
#include "services/ssm/paging.h"
#include "services/ssm/ssm_errors.h"
#include "wire/model.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;
using store::Row;
using store::Tx;
using store::Value;
namespace cmd = commands;

constexpr const char* kSendKind = "send";
constexpr const char* kCancelKind = "cancel";

AwsError InvalidCommandId() { return {"InvalidCommandId", "Invalid command id.", 400}; }
AwsError InvalidInstanceId(const std::string& id) {
  return {"InvalidInstanceId",
          fmt::format("Instances [[{}]] not in a valid state for account", id), 400};
}
AwsError InvocationDoesNotExist() {
  return {"InvocationDoesNotExist",
          "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation "
          "operation",
          400};
}
AwsError InvalidPluginName() { return {"InvalidPluginName", "Invalid plugin name.", 400}; }
AwsError InvalidMessageId(const std::string& id) {
  return {"InvalidMessageIdException", fmt::format("Message {} is not valid.", id), 400};
}
AwsError NotANode() {
  return {"AuthorizationFailureException",
          "Only a managed node's own credentials may call the message delivery service.", 400};
}

// ISO-8601 UTC with milliseconds: 2024-10-16T10:00:00.123Z (24 characters).
std::string IsoMillis(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

// "2024-10-16T10:00:00Z" / "…:00.123Z" / "2024-10-16" → epoch ms; -1 when unreadable.
int64_t ParseIso(const std::string& s) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double sec = 0;
  int n = std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%lf", &y, &mo, &d, &h, &mi, &sec);
  if (n != 3 && n != 6) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  int64_t base = static_cast<int64_t>(timegm(&tm));
  return base * 1000 + static_cast<int64_t>(sec * 1000);
}

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

std::string Topic(const std::string& kind, const std::string& region) {
  std::string r = region;
  std::replace(r.begin(), r.end(), '-', '.');
  return fmt::format("aws.ssm.{}.{}.1", kind == kSendKind ? "sendCommand" : "cancelCommand", r);
}

std::string MessageIdOf(const std::string& command_id, const std::string& node_id) {
  return fmt::format("aws.ssm.{}.{}", command_id, node_id);
}

// The document's plugins as [[id, action]]: runtimeConfig keys for 1.x, mainSteps for 2.x.
Json PluginsOf(const Json& content) {
  Json out = Json::array();
  if (auto rc = content.find("runtimeConfig"); rc != content.end() && rc->is_object()) {
    for (const auto& [name, v] : rc->items()) out.push_back({name, name});
  }
  if (auto ms = content.find("mainSteps"); ms != content.end() && ms->is_array()) {
    for (const auto& step : *ms) {
      if (!step.is_object()) continue;
      out.push_back({step.value("name", ""), step.value("action", "")});
    }
  }
  return out;
}

// A command row, as read by the listing and the engine.
constexpr const char* kCommandCols =
    "command_id, account, region, requested_ms, expires_ms, spec, max_concurrency, max_errors,"
    " status, status_details, target_count, completed_count, error_count, dt_count,"
    " cancel_requested, active";

struct CommandRow {
  std::string command_id, account, region;
  int64_t requested_ms = 0, expires_ms = 0;
  Json spec;
  int64_t max_concurrency = 0, max_errors = 0;
  std::string status, status_details;
  int64_t target_count = 0, completed_count = 0, error_count = 0, dt_count = 0;
  bool cancel_requested = false, active = false;

  static CommandRow From(const Row& r) {
    CommandRow c;
    c.command_id = r.Str(0);
    c.account = r.Str(1);
    c.region = r.Str(2);
    c.requested_ms = r.Int(3);
    c.expires_ms = r.Int(4);
    c.spec = Json::parse(r.Str(5), nullptr, false);
    c.max_concurrency = r.Int(6);
    c.max_errors = r.Int(7);
    c.status = r.Str(8);
    c.status_details = r.Str(9);
    c.target_count = r.Int(10);
    c.completed_count = r.Int(11);
    c.error_count = r.Int(12);
    c.dt_count = r.Int(13);
    c.cancel_requested = r.Int(14) != 0;
    c.active = r.Int(15) != 0;
    return c;
  }

  // The API's Command shape.
  Json ToJson() const {
    Json out = Json::object();
    for (const auto& [k, v] : spec.items()) {
      if (!k.empty() && k[0] != '_') out[k] = v;
    }
    out["CommandId"] = command_id;
    out["RequestedDateTime"] = Seconds(requested_ms);
    out["ExpiresAfter"] = Seconds(expires_ms);
    out["Status"] = status;
    out["StatusDetails"] = status_details;
    out["TargetCount"] = target_count;
    out["CompletedCount"] = completed_count;
    out["ErrorCount"] = error_count;
    out["DeliveryTimedOutCount"] = dt_count;
    return out;
  }
};

Result<std::optional<CommandRow>> LoadCommand(Tx& tx, const wire::CallContext* ctx,
                                             const std::string& command_id) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_command WHERE command_id = ?", kCommandCols),
                       {command_id});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<CommandRow>();
  CommandRow c = CommandRow::From(rows->front());
  if (ctx && (c.account != ctx->account_id || c.region != ctx->region)) {
    return std::optional<CommandRow>();
  }
  return std::optional<CommandRow>(std::move(c));
}

constexpr const char* kInvocationCols =
    "command_id, instance_id, seq, instance_name, details, released, delivered, updated_ms,"
    " start_ms, end_ms, state";

struct InvocationRow {
  std::string command_id, instance_id;
  int64_t seq = 0;
  std::string instance_name, details;
  bool released = false, delivered = false;
  int64_t updated_ms = 0, start_ms = 0, end_ms = 0;
  Json state;

  static InvocationRow From(const Row& r) {
    InvocationRow i;
    i.command_id = r.Str(0);
    i.instance_id = r.Str(1);
    i.seq = r.Int(2);
    i.instance_name = r.Str(3);
    i.details = r.Str(4);
    i.released = r.Int(5) != 0;
    i.delivered = r.Int(6) != 0;
    i.updated_ms = r.Int(7);
    i.start_ms = r.Int(8);
    i.end_ms = r.Int(9);
    i.state = Json::parse(r.Str(10), nullptr, false);
    if (!i.state.is_object()) i.state = Json::object();
    return i;
  }
};

Result<std::vector<InvocationRow>> LoadInvocations(Tx& tx, const std::string& command_id) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_invocation WHERE command_id = ? ORDER BY seq",
                                   kInvocationCols),
                       {command_id});
  if (!rows.ok()) return rows.take_error();
  std::vector<InvocationRow> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) out.push_back(InvocationRow::From(r));
  return out;
}

Status SetDetails(Tx& tx, const std::string& command_id, const std::string& node,
                  std::string_view details, int64_t now) {
  auto r = tx.Exec(
      "UPDATE ssm_invocation SET details = ?, updated_ms = ?,"
      " end_ms = CASE WHEN end_ms = 0 THEN ? ELSE end_ms END"
      " WHERE command_id = ? AND instance_id = ?",
      {std::string(details), now, now, command_id, node});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Status InsertMessage(Tx& tx, const std::string& message_id, const std::string& node,
                     const std::string& command_id, const std::string& kind,
                     const std::string& payload, int64_t now) {
  auto r = tx.Exec(
      "INSERT INTO ssm_node_message (message_id, node_id, command_id, kind, payload, created_ms,"
      " visible_ms, deliveries, done) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)"
      " ON CONFLICT (message_id) DO NOTHING",
      {message_id, node, command_id, kind, payload, now, now});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

// Rate control and status aggregation for one command, inside the transaction that changed it:
// releases what MaxConcurrency allows (a sendCommand message per node, whose ids go to
// `released`), stops starting new invocations once errors exceed MaxErrors (they end Cancelled),
// and writes the command's status and counts.
Status Advance(Tx& tx, const std::string& command_id, int64_t now,
               std::vector<std::string>& released) {
  auto cmd_row = LoadCommand(tx, nullptr, command_id);
  if (!cmd_row.ok()) return cmd_row.take_error();
  if (!*cmd_row) return Ok{};
  CommandRow& c = **cmd_row;
  auto invs = LoadInvocations(tx, command_id);
  if (!invs.ok()) return invs.take_error();

  auto count = [&] {
    cmd::Counts n;
    n.targets = static_cast<int64_t>(invs->size());
    for (const auto& i : *invs) {
      if (i.released || cmd::IsTerminal(i.details)) ++n.released;
      if (cmd::IsTerminal(i.details)) ++n.completed;
      if (cmd::CountsAsError(i.details)) ++n.errors;
      if (i.details == cmd::kDeliveryTimedOut) ++n.delivery_timed_out;
      if (i.details == cmd::kExecutionTimedOut) ++n.execution_timed_out;
      if (i.details == cmd::kSuccess) ++n.success;
      if (i.details == cmd::kCancelled) ++n.cancelled;
    }
    return n;
  };
  cmd::Counts n = count();
  int64_t in_flight = 0, waiting = 0;
  for (const auto& i : *invs) {
    if (cmd::IsTerminal(i.details)) continue;
    if (i.released) {
      ++in_flight;
    } else {
      ++waiting;
    }
  }
  if (waiting > 0) {
    const bool stop = c.cancel_requested || cmd::ErrorsExceeded(n.errors, c.max_errors);
    int64_t allowed = stop ? 0 : cmd::Releasable(c.max_concurrency, in_flight, waiting);
    const std::string payload = c.spec.value("_payload", Json::object()).dump();
    for (auto& i : *invs) {
      if (i.released || cmd::IsTerminal(i.details)) continue;
      if (stop) {
        // MaxErrors reached (or cancelled): the rest is never started.
        if (Status st = SetDetails(tx, command_id, i.instance_id, cmd::kCancelled, now); !st.ok()) {
          return st;
        }
        i.details = cmd::kCancelled;
        continue;
      }
      if (allowed <= 0) break;
      --allowed;
      auto r = tx.Exec(
          "UPDATE ssm_invocation SET released = 1, updated_ms = ? WHERE command_id = ? AND"
          " instance_id = ?",
          {now, command_id, i.instance_id});
      if (!r.ok()) return r.take_error();
      i.released = true;
      if (Status st = InsertMessage(tx, MessageIdOf(command_id, i.instance_id), i.instance_id,
                                    command_id, kSendKind, payload, now);
          !st.ok()) {
        return st;
      }
      released.push_back(i.instance_id);
    }
    n = count();
  }
  cmd::CommandStatus s = cmd::Aggregate(n, c.max_errors, c.cancel_requested);
  auto r = tx.Exec(
      "UPDATE ssm_command SET status = ?, status_details = ?, target_count = ?,"
      " completed_count = ?, error_count = ?, dt_count = ?, active = ? WHERE command_id = ?",
      {s.status, s.details, n.targets, n.completed, n.errors, n.delivery_timed_out,
       int64_t{s.terminal ? 0 : 1}, command_id});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

// Plugin status (2.6) → CommandPlugin StatusDetails.
std::string PluginDetails(const std::string& s) {
  std::string d = cmd::DetailsFromDocumentStatus(s);
  if (!d.empty()) return d;
  if (s == "InProgress") return std::string(cmd::kInProgress);
  return std::string(cmd::kPending);
}

// The invocation's plugins, in document order, each {id, action, reported entry or null}.
struct PluginView {
  std::string id, action;
  Json entry;  // the agent's runtimeStatus entry, or null
  std::string details;
};
std::vector<PluginView> PluginsOfInvocation(const CommandRow& c, const InvocationRow& i) {
  std::vector<PluginView> out;
  const Json& reported = i.state.contains("plugins") ? i.state["plugins"] : Json::object();
  for (const auto& p : c.spec.value("_plugins", Json::array())) {
    PluginView v;
    v.id = p.at(0).get<std::string>();
    v.action = p.at(1).get<std::string>();
    if (auto it = reported.find(v.id); it != reported.end()) v.entry = *it;
    if (v.entry.is_object()) {
      v.details = PluginDetails(v.entry.value("status", ""));
    } else if (cmd::IsTerminal(i.details)) {
      // Never ran (timed out, undeliverable, cancelled before it started): as the invocation.
      v.details = i.details == cmd::kSuccess ? std::string(cmd::kSuccess) : i.details;
    } else {
      v.details = i.details == cmd::kInProgress ? std::string(cmd::kInProgress)
                                                : std::string(cmd::kPending);
    }
    out.push_back(std::move(v));
  }
  return out;
}

double TimeOf(const Json& entry, const char* key) {
  if (!entry.is_object()) return 0;
  int64_t ms = ParseIso(entry.value(key, ""));
  return ms < 0 ? 0 : Seconds(ms);
}

Json InvocationJson(const CommandRow& c, const InvocationRow& i, bool details) {
  Json out = {
      {"CommandId", c.command_id},
      {"InstanceId", i.instance_id},
      {"InstanceName", i.instance_name},
      {"Comment", c.spec.value("Comment", "")},
      {"DocumentName", c.spec.value("DocumentName", "")},
      {"DocumentVersion", c.spec.value("DocumentVersion", "")},
      {"RequestedDateTime", Seconds(c.requested_ms)},
      {"Status", cmd::InvocationStatus(i.details)},
      {"StatusDetails", i.details},
      {"TraceOutput", i.state.value("traceOutput", "")},
      {"StandardOutputUrl", ""},
      {"StandardErrorUrl", ""},
      {"ServiceRole", c.spec.value("ServiceRole", "")},
      {"NotificationConfig", c.spec.value("NotificationConfig", Json::object())},
      {"CloudWatchOutputConfig", c.spec.value("CloudWatchOutputConfig", Json::object())},
  };
  if (details) {
    Json plugins = Json::array();
    for (const auto& p : PluginsOfInvocation(c, i)) {
      const Json& e = p.entry;
      Json j = {
          {"Name", p.id},
          {"Status", cmd::InvocationStatus(p.details)},
          {"StatusDetails", p.details},
          {"ResponseCode", e.is_object() ? e.value("code", -1) : -1},
          {"Output", e.is_object() ? e.value("output", "") : ""},
          {"StandardOutputUrl", ""},
          {"StandardErrorUrl", ""},
          {"OutputS3Region", c.spec.value("OutputS3Region", "")},
          {"OutputS3BucketName", c.spec.value("OutputS3BucketName", "")},
          {"OutputS3KeyPrefix", c.spec.value("OutputS3KeyPrefix", "")},
      };
      if (double t = TimeOf(e, "startDateTime"); t > 0) j["ResponseStartDateTime"] = t;
      if (double t = TimeOf(e, "endDateTime"); t > 0) j["ResponseFinishDateTime"] = t;
      plugins.push_back(std::move(j));
    }
    out["CommandPlugins"] = std::move(plugins);
  }
  return out;
}

// ListCommands / ListCommandInvocations filters (CommandFilter).
struct Filters {
  int64_t after_ms = -1, before_ms = -1;
  std::string status, document_name, stage;
};
Result<Filters> ParseFilters(const Json& in) {
  Filters f;
  for (const auto& filter : in.value("Filters", Json::array())) {
    std::string key = filter.value("key", "");
    std::string value = filter.value("value", "");
    if (key == "InvokedAfter" || key == "InvokedBefore") {
      int64_t ms = ParseIso(value);
      if (ms < 0) {
        return errors::InvalidFilterKey(fmt::format("Invalid date for filter {}: {}", key, value));
      }
      (key == "InvokedAfter" ? f.after_ms : f.before_ms) = ms;
    } else if (key == "Status") {
      static const std::set<std::string> kStatuses = {"Pending",   "InProgress", "Success",
                                                      "Cancelled", "Failed",     "TimedOut",
                                                      "Cancelling"};
      if (!kStatuses.count(value)) {
        return errors::InvalidFilterKey(fmt::format("Invalid value for filter Status: {}", value));
      }
      f.status = value;
    } else if (key == "DocumentName") {
      f.document_name = value;
    } else if (key == "ExecutionStage") {
      if (value != "Executing" && value != "Complete") {
        return errors::InvalidFilterKey(
            fmt::format("Invalid value for filter ExecutionStage: {}", value));
      }
      f.stage = value;
    } else {
      return errors::InvalidFilterKey(fmt::format("Invalid filter key: {}", key));
    }
  }
  return f;
}

bool Matches(const Filters& f, const CommandRow& c, const std::string& status) {
  if (f.after_ms >= 0 && c.requested_ms < f.after_ms) return false;
  if (f.before_ms >= 0 && c.requested_ms > f.before_ms) return false;
  if (!f.status.empty() && status != f.status) return false;
  if (!f.document_name.empty() && c.spec.value("DocumentName", "") != f.document_name) return false;
  if (f.stage == "Executing" && c.active == false) return false;
  if (f.stage == "Complete" && c.active) return false;
  return true;
}

int64_t MaxResultsOf(const Json& in, int64_t def) {
  int64_t n = in.value("MaxResults", def);
  return n <= 0 ? def : n;
}

}  // namespace

struct RunCommand::Poll {
  std::string node, request_id;
  int64_t deadline_ms = 0;
  int64_t visibility_ms = 10000;
  wire::Done done;
};

RunCommand::RunCommand(store::Store& store, Documents& documents, ManagedNodes& nodes,
                       const Clock& clock, RunCommandOptions options)
    : store_(store),
      documents_(documents),
      nodes_(nodes),
      clock_(clock),
      options_(options),
      pool_(std::make_unique<WorkerPool>(2, "ssm-commands")),
      timers_(std::make_unique<TimerQueue>()),
      long_poll_(std::make_unique<LongPoll>(*timers_)) {}

RunCommand::~RunCommand() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;  // queued sweeps and firing timers post nothing more
  }
  long_poll_->Shutdown();
  timers_.reset();  // no more sweeps or wake-ups are posted
  pool_.reset();    // runs what was posted, then joins
}

std::vector<store::Migration> RunCommand::Migrations() {
  return {{"ssm.commands", 1,
           "CREATE TABLE ssm_command ("
           " command_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
           " requested_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, spec TEXT NOT NULL,"
           " max_concurrency BIGINT NOT NULL, max_errors BIGINT NOT NULL, status TEXT NOT NULL,"
           " status_details TEXT NOT NULL, target_count BIGINT NOT NULL,"
           " completed_count BIGINT NOT NULL, error_count BIGINT NOT NULL,"
           " dt_count BIGINT NOT NULL, cancel_requested BIGINT NOT NULL, active BIGINT NOT NULL);"
           "CREATE INDEX ssm_command_listing ON ssm_command (account, region, requested_ms);"
           "CREATE INDEX ssm_command_active ON ssm_command (active, expires_ms);"
           "CREATE TABLE ssm_invocation ("
           " command_id TEXT NOT NULL, instance_id TEXT NOT NULL, seq BIGINT NOT NULL,"
           " instance_name TEXT NOT NULL, details TEXT NOT NULL, released BIGINT NOT NULL,"
           " delivered BIGINT NOT NULL, updated_ms BIGINT NOT NULL, start_ms BIGINT NOT NULL,"
           " end_ms BIGINT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (command_id, instance_id));"
           "CREATE INDEX ssm_invocation_node ON ssm_invocation (instance_id);"
           "CREATE TABLE ssm_node_message ("
           " message_id TEXT PRIMARY KEY, node_id TEXT NOT NULL, command_id TEXT NOT NULL,"
           " kind TEXT NOT NULL, payload TEXT NOT NULL, created_ms BIGINT NOT NULL,"
           " visible_ms BIGINT NOT NULL, deliveries BIGINT NOT NULL, done BIGINT NOT NULL);"
           "CREATE INDEX ssm_node_message_node ON ssm_node_message (node_id, done, created_ms);"
           "CREATE TABLE ssm_command_reply ("
           " message_id TEXT NOT NULL, reply_id TEXT NOT NULL, received_ms BIGINT NOT NULL,"
           " PRIMARY KEY (message_id, reply_id))"}};
}

void RunCommand::AddOperations(wire::ServiceDef& ssm) {
  auto bind = [this](Result<Json> (RunCommand::*m)(const Ctx&, const Json&)) {
    return [this, m](const Ctx& ctx, const Json& in) { return (this->*m)(ctx, in); };
  };
  ssm.operations["SendCommand"] = bind(&RunCommand::SendCommand);
  ssm.operations["ListCommands"] = bind(&RunCommand::ListCommands);
  ssm.operations["ListCommandInvocations"] = bind(&RunCommand::ListCommandInvocations);
  ssm.operations["GetCommandInvocation"] = bind(&RunCommand::GetCommandInvocation);
  ssm.operations["CancelCommand"] = bind(&RunCommand::CancelCommand);
}

wire::ServiceDef RunCommand::MessageDeliveryDefinition() {
  wire::ServiceDef def;
  def.name = "ec2messages";
  def.model = &model::Models::Get("ec2messages");
  auto bind = [this](Result<Json> (RunCommand::*m)(const Ctx&, const Json&)) {
    return [this, m](const Ctx& ctx, const Json& in) { return (this->*m)(ctx, in); };
  };
  def.operations["AcknowledgeMessage"] = bind(&RunCommand::AcknowledgeMessage);
  def.operations["SendReply"] = bind(&RunCommand::SendReply);
  def.operations["FailMessage"] = bind(&RunCommand::FailMessage);
  def.operations["DeleteMessage"] = bind(&RunCommand::DeleteMessage);
  def.async_operations["GetMessages"] = [this](const Ctx& ctx, const Json& in, wire::Done done) {
    GetMessages(ctx, in, std::move(done));
  };
  for (const char* op :
       {"GetMessages", "AcknowledgeMessage", "SendReply", "FailMessage", "DeleteMessage"}) {
    def.node_operations[op] = true;
  }
  return def;
}

void RunCommand::Start() {
  pool_->Post([this] { Sweep(); });
}

void RunCommand::Shutdown() { long_poll_->Shutdown(); }

void RunCommand::ScheduleSweep() {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  timers_->Schedule(options_.sweep_interval_ms, [this] {
    std::lock_guard lock(mu_);
    if (!stopping_) pool_->Post([this] { Sweep(); });
  });
}

Status RunCommand::WriteAndNotify(
    const std::function<Status(Tx&, std::vector<std::string>&)>& fn) {
  std::vector<std::string> released;
  Status st = store_.Write([&](Tx& tx) {
    released.clear();  // Write may run fn again
    return fn(tx, released);
  });
  if (st.ok()) {
    for (const auto& node : released) long_poll_->Notify(node, SIZE_MAX);
  }
  return st;
}

void RunCommand::Sweep() {
  const int64_t now = clock_.NowMillis();
  const bool full = sweeps_++ % 10 == 0;  // every 10th sweep (and the first) advances all
  std::vector<std::string> due;
  Status st = store_.Read([&](Tx& tx) {
    due.clear();
    auto rows = full ? tx.Query("SELECT command_id FROM ssm_command WHERE active = 1")
                     : tx.Query("SELECT command_id FROM ssm_command WHERE active = 1 AND"
                                " expires_ms <= ?",
                                {now});
    if (!rows.ok()) return Status(rows.take_error());
    for (const auto& r : *rows) due.push_back(r.Str(0));
    return Status(Ok{});
  });
  for (const auto& id : due) {
    Status w = WriteAndNotify([&](Tx& tx, std::vector<std::string>& released) -> Status {
      auto c = LoadCommand(tx, nullptr, id);
      if (!c.ok()) return c.take_error();
      if (!*c) return Ok{};
      if ((*c)->expires_ms <= now) {
        // Delivery timeout: whatever no node took in time ends DeliveryTimedOut.
        auto r = tx.Exec(
            "UPDATE ssm_invocation SET details = ?, updated_ms = ?, end_ms = ? WHERE"
            " command_id = ? AND delivered = 0 AND details IN ('Pending', 'Delayed')",
            {std::string(cmd::kDeliveryTimedOut), now, now, id});
        if (!r.ok()) return r.take_error();
        auto m = tx.Exec("UPDATE ssm_node_message SET done = 1 WHERE command_id = ? AND"
                         " kind = ? AND done = 0 AND node_id IN (SELECT instance_id"
                         " FROM ssm_invocation WHERE command_id = ? AND details = ?)",
                         {id, std::string(kSendKind), id, std::string(cmd::kDeliveryTimedOut)});
        if (!m.ok()) return m.take_error();
      }
      return Advance(tx, id, now, released);
    });
    if (!w.ok()) fmt::print(stderr, "groundcrewd: run command sweep {}: {}\n", id, w.error().message);
  }
  if (!st.ok()) fmt::print(stderr, "groundcrewd: run command sweep: {}\n", st.error().message);
  ScheduleSweep();
}

// ---- SSM operations ----------------------------------------------------------------------------

Result<Json> RunCommand::SendCommand(const Ctx& ctx, const Json& in) {
  const int64_t now = clock_.NowMillis();
  auto doc = documents_.Resolve(ctx, in.value("DocumentName", ""), in.value("DocumentVersion", ""));
  if (!doc.ok()) return doc.take_error();
  if (doc->document_type != "Command") {
    return AwsError{"InvalidDocument",
                    fmt::format("Document {} of type {} cannot be sent with SendCommand.",
                                doc->name, doc->document_type),
                    400};
  }
  std::map<std::string, std::vector<std::string>> given;
  const Json given_json = in.value("Parameters", Json::object());
  for (const auto& [k, v] : given_json.items()) {
    std::vector<std::string> values;
    for (const auto& x : v) values.push_back(x.is_string() ? x.get<std::string>() : x.dump());
    given[k] = std::move(values);
  }
  auto params = ResolveParameters(doc->parameters, given);
  if (!params.ok()) return params.take_error();

  // Targets: InstanceIds or Targets, one of them.
  const bool has_ids = in.contains("InstanceIds") && !in["InstanceIds"].empty();
  const bool has_targets = in.contains("Targets") && !in["Targets"].empty();
  if (has_ids == has_targets) {
    return errors::Validation(has_ids ? "Specify either InstanceIds or Targets, not both."
                                      : "Either InstanceIds or Targets must be specified.");
  }
  struct Target {
    std::string id, name;
    bool registered = true;
  };
  std::vector<Target> targets;
  if (has_ids) {
    std::set<std::string> seen;
    for (const auto& id : in["InstanceIds"]) {
      std::string node = id.get<std::string>();
      if (!seen.insert(node).second) continue;
      auto state = nodes_.GetNode(ctx, node);
      if (!state.ok()) return state.take_error();
      if (!*state) return InvalidInstanceId(node);
      targets.push_back({node, (*state)->name, (*state)->registered});
    }
  } else {
    auto found = nodes_.FindTargets(ctx, in["Targets"]);
    if (!found.ok()) return found.take_error();
    for (const auto& n : *found) targets.push_back({n.node_id, n.name, n.registered});
  }
  const auto target_count = static_cast<int64_t>(targets.size());
  const std::string max_conc_text = in.value("MaxConcurrency", "50");
  const std::string max_err_text = in.value("MaxErrors", "0");
  const int64_t max_conc = cmd::ConcurrencyLimit(max_conc_text, target_count);
  const int64_t max_err = cmd::ErrorLimit(max_err_text, target_count);
  if (max_conc < 1) return errors::Validation("Invalid MaxConcurrency: " + max_conc_text);
  if (max_err < 0) return errors::Validation("Invalid MaxErrors: " + max_err_text);
  const int64_t timeout_s = in.value("TimeoutSeconds", int64_t{3600});

  const std::string command_id = crypto::Uuid4();
  Json typed = Json::object();
  for (const auto& [k, v] : *params) typed[k] = v;
  Json payload = {
      {"CommandId", command_id},
      {"DocumentName", doc->name},
      {"DocumentContent", doc->content},
      {"Parameters", typed},
      {"OutputS3BucketName", in.value("OutputS3BucketName", "")},
      {"OutputS3KeyPrefix", in.value("OutputS3KeyPrefix", "")},
      {"CloudWatchLogGroupName", ""},
      {"CloudWatchOutputEnabled", "false"},
  };
  Json spec = {
      {"DocumentName", in.value("DocumentName", "")},
      {"DocumentVersion", in.value("DocumentVersion", std::to_string(doc->version))},
      {"Comment", in.value("Comment", "")},
      {"Parameters", in.value("Parameters", Json::object())},
      {"InstanceIds", has_ids ? in["InstanceIds"] : Json::array()},
      {"Targets", has_targets ? in["Targets"] : Json::array()},
      {"OutputS3Region", in.value("OutputS3Region", ctx.region)},
      {"OutputS3BucketName", in.value("OutputS3BucketName", "")},
      {"OutputS3KeyPrefix", in.value("OutputS3KeyPrefix", "")},
      {"MaxConcurrency", max_conc_text},
      {"MaxErrors", max_err_text},
      {"ServiceRole", in.value("ServiceRoleArn", "")},
      {"NotificationConfig",
       in.value("NotificationConfig",
                Json{{"NotificationArn", ""}, {"NotificationEvents", Json::array()},
                     {"NotificationType", ""}})},
      {"CloudWatchOutputConfig",
       in.value("CloudWatchOutputConfig",
                Json{{"CloudWatchLogGroupName", ""}, {"CloudWatchOutputEnabled", false}})},
      {"TimeoutSeconds", timeout_s},
      {"_payload", payload},
      {"_plugins", PluginsOf(doc->content)},
  };
  if (spec["DocumentVersion"] == "$DEFAULT" || spec["DocumentVersion"] == "$LATEST" ||
      spec["DocumentVersion"] == "") {
    spec["DocumentVersion"] = std::to_string(doc->version);
  }
  const std::string spec_text = spec.dump();
  Status st = WriteAndNotify([&](Tx& tx, std::vector<std::string>& released) -> Status {
    auto r = tx.Exec(fmt::format("INSERT INTO ssm_command ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
                                 " ?, ?, 0, 0, 0, 0, 1)",
                                 kCommandCols),
                     {command_id, ctx.account_id, ctx.region, now, now + timeout_s * 1000,
                      spec_text, max_conc, max_err, std::string("Pending"),
                      std::string("Pending"), target_count});
    if (!r.ok()) return r.take_error();
    int64_t seq = 0;
    for (const auto& t : targets) {
      std::string details(t.registered ? cmd::kPending : cmd::kUndeliverable);
      auto ins = tx.Exec(
          fmt::format("INSERT INTO ssm_invocation ({}) VALUES (?, ?, ?, ?, ?, 0, 0, ?, 0, ?, ?)",
                      kInvocationCols),
          {command_id, t.id, seq++, t.name, details, now, int64_t{t.registered ? 0 : now},
           std::string("{}")});
      if (!ins.ok()) return ins.take_error();
    }
    return Advance(tx, command_id, now, released);
  });
  if (!st.ok()) return st.take_error();
  Json out;
  Status rd = store_.Read([&](Tx& tx) -> Status {
    auto c = LoadCommand(tx, &ctx, command_id);
    if (!c.ok()) return c.take_error();
    if (*c) out = (*c)->ToJson();
    return Ok{};
  });
  if (!rd.ok()) return rd.take_error();
  return Json{{"Command", out}};
}

Result<Json> RunCommand::ListCommands(const Ctx& ctx, const Json& in) {
  auto filters = ParseFilters(in);
  if (!filters.ok()) return filters.take_error();
  auto after = DecodeNextToken(in, "commands");
  if (!after.ok()) return after.take_error();
  const std::string command_id = in.value("CommandId", "");
  const std::string instance_id = in.value("InstanceId", "");
  const int64_t max = MaxResultsOf(in, 50);
  std::vector<CommandRow> rows;
  Status st = store_.Read([&](Tx& tx) -> Status {
    rows.clear();
    std::string sql = fmt::format("SELECT {} FROM ssm_command WHERE account = ? AND region = ?",
                                  kCommandCols);
    std::vector<Value> args = {ctx.account_id, ctx.region};
    if (!command_id.empty()) {
      sql += " AND command_id = ?";
      args.emplace_back(command_id);
    }
    if (!instance_id.empty()) {
      sql += " AND command_id IN (SELECT command_id FROM ssm_invocation WHERE instance_id = ?)";
      args.emplace_back(instance_id);
    }
    sql += " ORDER BY requested_ms DESC, command_id DESC";
    auto r = tx.Query(sql, args);
    if (!r.ok()) return r.take_error();
    for (const auto& row : *r) rows.push_back(CommandRow::From(row));
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!command_id.empty() && rows.empty()) return InvalidCommandId();
  Json list = Json::array();
  bool skipping = !after->empty();
  std::string last;
  for (const auto& c : rows) {
    std::string key = fmt::format("{}/{}", c.requested_ms, c.command_id);
    if (skipping) {
      if (key == *after) skipping = false;
      continue;
    }
    if (!Matches(*filters, c, c.status)) continue;
    if (static_cast<int64_t>(list.size()) == max) {
      return Json{{"Commands", list}, {"NextToken", EncodeNextToken("commands", last)}};
    }
    list.push_back(c.ToJson());
    last = key;
  }
  return Json{{"Commands", list}};
}

Result<Json> RunCommand::ListCommandInvocations(const Ctx& ctx, const Json& in) {
  auto filters = ParseFilters(in);
  if (!filters.ok()) return filters.take_error();
  auto after = DecodeNextToken(in, "invocations");
  if (!after.ok()) return after.take_error();
  const std::string command_id = in.value("CommandId", "");
  const std::string instance_id = in.value("InstanceId", "");
  const bool details = in.value("Details", false);
  const int64_t max = MaxResultsOf(in, 50);
  std::vector<std::pair<CommandRow, InvocationRow>> rows;
  Status st = store_.Read([&](Tx& tx) -> Status {
    rows.clear();
    std::string sql = fmt::format("SELECT {} FROM ssm_command WHERE account = ? AND region = ?",
                                  kCommandCols);
    std::vector<Value> args = {ctx.account_id, ctx.region};
    if (!command_id.empty()) {
      sql += " AND command_id = ?";
      args.emplace_back(command_id);
    }
    sql += " ORDER BY requested_ms DESC, command_id DESC";
    auto cmds = tx.Query(sql, args);
    if (!cmds.ok()) return cmds.take_error();
    for (const auto& r : *cmds) {
      CommandRow c = CommandRow::From(r);
      auto invs = LoadInvocations(tx, c.command_id);
      if (!invs.ok()) return invs.take_error();
      for (auto& i : *invs) {
        if (!instance_id.empty() && i.instance_id != instance_id) continue;
        rows.emplace_back(c, std::move(i));
      }
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json list = Json::array();
  bool skipping = !after->empty();
  std::string last;
  for (const auto& [c, i] : rows) {
    std::string key = c.command_id + "/" + i.instance_id;
    if (skipping) {
      if (key == *after) skipping = false;
      continue;
    }
    if (!Matches(*filters, c, cmd::InvocationStatus(i.details))) continue;
    if (static_cast<int64_t>(list.size()) == max) {
      return Json{{"CommandInvocations", list},
                  {"NextToken", EncodeNextToken("invocations", last)}};
    }
    list.push_back(InvocationJson(c, i, details));
    last = key;
  }
  return Json{{"CommandInvocations", list}};
}

Result<Json> RunCommand::GetCommandInvocation(const Ctx& ctx, const Json& in) {
  const std::string command_id = in.value("CommandId", "");
  const std::string instance_id = in.value("InstanceId", "");
  const std::string plugin_name = in.value("PluginName", "");
  std::optional<CommandRow> c;
  std::optional<InvocationRow> inv;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto cr = LoadCommand(tx, &ctx, command_id);
    if (!cr.ok()) return cr.take_error();
    c = std::move(*cr);
    if (!c) return Ok{};
    auto r = tx.Query(fmt::format("SELECT {} FROM ssm_invocation WHERE command_id = ? AND"
                                  " instance_id = ?",
                                  kInvocationCols),
                      {command_id, instance_id});
    if (!r.ok()) return r.take_error();
    if (!r->empty()) inv = InvocationRow::From(r->front());
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!c || !inv) return InvocationDoesNotExist();
  auto plugins = PluginsOfInvocation(*c, *inv);
  const PluginView* p = nullptr;
  for (const auto& v : plugins) {
    if (plugin_name.empty() || v.id == plugin_name) {
      p = &v;
      break;
    }
  }
  if (!plugin_name.empty() && !p) return InvalidPluginName();
  Json e = p ? p->entry : Json();
  if (!e.is_object()) e = Json::object();
  // Without PluginName the invocation's status; with it, the plugin's.
  std::string details = plugin_name.empty() ? inv->details : p->details;
  Json out = {
      {"CommandId", c->command_id},
      {"InstanceId", inv->instance_id},
      {"Comment", c->spec.value("Comment", "")},
      {"DocumentName", c->spec.value("DocumentName", "")},
      {"DocumentVersion", c->spec.value("DocumentVersion", "")},
      {"PluginName", p ? p->id : ""},
      {"ResponseCode", e.value("code", -1)},
      {"ExecutionStartDateTime", e.value("startDateTime", "")},
      {"ExecutionEndDateTime", e.value("endDateTime", "")},
      {"ExecutionElapsedTime", ""},
      {"Status", cmd::InvocationStatus(details)},
      {"StatusDetails", details},
      {"StandardOutputContent", e.value("standardOutput", "")},
      {"StandardOutputUrl", ""},
      {"StandardErrorContent", e.value("standardError", "")},
      {"StandardErrorUrl", ""},
      {"CloudWatchOutputConfig", c->spec.value("CloudWatchOutputConfig", Json::object())},
  };
  int64_t s = ParseIso(e.value("startDateTime", "")), f = ParseIso(e.value("endDateTime", ""));
  if (s >= 0 && f >= s) out["ExecutionElapsedTime"] = fmt::format("PT{:.3f}S", Seconds(f - s));
  return out;
}

Result<Json> RunCommand::CancelCommand(const Ctx& ctx, const Json& in) {
  const std::string command_id = in.value("CommandId", "");
  std::set<std::string> only;
  for (const auto& id : in.value("InstanceIds", Json::array())) only.insert(id.get<std::string>());
  const int64_t now = clock_.NowMillis();
  bool found = false;
  Status st = WriteAndNotify([&](Tx& tx, std::vector<std::string>& released) -> Status {
    auto c = LoadCommand(tx, &ctx, command_id);
    if (!c.ok()) return c.take_error();
    found = c->has_value();
    if (!found) return Ok{};
    auto invs = LoadInvocations(tx, command_id);
    if (!invs.ok()) return invs.take_error();
    for (const auto& i : *invs) {
      if (!only.empty() && !only.count(i.instance_id)) continue;
      if (cmd::IsTerminal(i.details)) continue;
      const std::string send_id = MessageIdOf(command_id, i.instance_id);
      if (i.released && i.delivered) {
        // Running on the node: a cancelCommand message (2.7) with a fresh id of its own.
        Json payload = {{"CancelMessageId", send_id}};
        if (Status s = InsertMessage(tx, MessageIdOf(crypto::Uuid4(), i.instance_id),
                                     i.instance_id, command_id, kCancelKind, payload.dump(), now);
            !s.ok()) {
          return s;
        }
        released.push_back(i.instance_id);
      }
      auto m = tx.Exec("UPDATE ssm_node_message SET done = 1 WHERE message_id = ?", {send_id});
      if (!m.ok()) return m.take_error();
      if (Status s = SetDetails(tx, command_id, i.instance_id, cmd::kCancelled, now); !s.ok()) {
        return s;
      }
    }
    if (only.empty()) {
      auto r = tx.Exec("UPDATE ssm_command SET cancel_requested = 1 WHERE command_id = ?",
                       {command_id});
      if (!r.ok()) return r.take_error();
    }
    return Advance(tx, command_id, now, released);
  });
  if (!st.ok()) return st.take_error();
  if (!found) return InvalidCommandId();
  return Json::object();
}

// ---- ec2messages -------------------------------------------------------------------------------

void RunCommand::GetMessages(const Ctx& ctx, const Json& in, wire::Done done) {
  if (!ctx.is_node) return done(NotANode());
  const std::string destination = in.value("Destination", "");
  if (destination != ctx.caller_user_id) {
    return done(AwsError{"InvalidDestinationException",
                         fmt::format("Destination {} is not the calling node.", destination), 400});
  }
  auto poll = std::make_shared<Poll>();
  poll->node = destination;
  poll->request_id = in.value("MessagesRequestId", "");
  poll->deadline_ms = clock_.NowMillis() + options_.poll_wait_ms;
  int64_t vis = in.value("VisibilityTimeoutInSeconds", int64_t{10});
  poll->visibility_ms = std::clamp<int64_t>(vis, 1, 300) * 1000;
  poll->done = std::move(done);
  pool_->Post([this, poll] { Attempt(poll); });
}

void RunCommand::Attempt(const std::shared_ptr<Poll>& poll) {
  const uint64_t generation = long_poll_->Generation(poll->node);
  const int64_t now = clock_.NowMillis();
  Json messages = Json::array();
  int64_t next_visible = INT64_MAX;
  Status st = store_.Write([&](Tx& tx) -> Status {
    messages = Json::array();
    next_visible = INT64_MAX;
    auto rows = tx.Query(
        "SELECT message_id, command_id, kind, payload, created_ms, visible_ms, deliveries"
        " FROM ssm_node_message WHERE node_id = ? AND done = 0 ORDER BY created_ms, message_id",
        {poll->node});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      const int64_t deliveries = r.Int(6);
      if (deliveries >= options_.max_deliveries) continue;  // waits for its delivery timeout
      if (r.Int(5) > now) {
        next_visible = std::min(next_visible, r.Int(5));
        continue;
      }
      if (messages.size() >= 10) break;
      auto cmd_region = tx.Query("SELECT region FROM ssm_command WHERE command_id = ?",
                                 {r.Str(1)});
      if (!cmd_region.ok()) return cmd_region.take_error();
      std::string reg = cmd_region->empty() ? "us-east-1" : cmd_region->front().Str(0);
      auto u = tx.Exec(
          "UPDATE ssm_node_message SET visible_ms = ?, deliveries = deliveries + 1 WHERE"
          " message_id = ?",
          {now + poll->visibility_ms, r.Str(0)});
      if (!u.ok()) return u.take_error();
      const std::string payload = r.Str(3);
      messages.push_back({
          {"CreatedDate", IsoMillis(r.Int(4))},
          {"Destination", poll->node},
          {"MessageId", r.Str(0)},
          {"Payload", payload},
          {"PayloadDigest", crypto::Hex(crypto::Sha256(payload))},
          {"Topic", Topic(r.Str(2), reg)},
      });
    }
    return Ok{};
  });
  if (!st.ok()) return poll->done(st.take_error());
  if (!messages.empty() || now >= poll->deadline_ms) {
    return poll->done(Json{{"Destination", poll->node},
                           {"MessagesRequestId", poll->request_id},
                           {"Messages", messages}});
  }
  const int64_t wake_at = std::min(poll->deadline_ms, next_visible);
  long_poll_->Park(poll->node, generation, wake_at - now, [this, poll](bool shutting_down) {
    if (shutting_down) {
      return poll->done(Json{{"Destination", poll->node},
                             {"MessagesRequestId", poll->request_id},
                             {"Messages", Json::array()}});
    }
    pool_->Post([this, poll] { Attempt(poll); });
  });
}

namespace {

struct MessageRow {
  std::string node, command_id, kind;
  bool done = false;
};
Result<std::optional<MessageRow>> LoadMessage(Tx& tx, const std::string& id) {
  auto r = tx.Query("SELECT node_id, command_id, kind, done FROM ssm_node_message WHERE"
                    " message_id = ?",
                    {id});
  if (!r.ok()) return r.take_error();
  if (r->empty()) return std::optional<MessageRow>();
  const Row& row = r->front();
  return std::optional<MessageRow>(MessageRow{row.Str(0), row.Str(1), row.Str(2), row.Int(3) != 0});
}

// The message `id` if it exists and is addressed to `node` (a node may touch only its own).
Result<std::optional<MessageRow>> LoadOwnMessage(Tx& tx, const std::string& id,
                                                 const std::string& node) {
  auto m = LoadMessage(tx, id);
  if (!m.ok() || !m->has_value() || (*m)->node == node) return m;
  return std::optional<MessageRow>();
}

// Never handed out again (acknowledged, failed or deleted).
Status MarkMessageDone(Tx& tx, const std::string& id) {
  auto u = tx.Exec("UPDATE ssm_node_message SET done = 1 WHERE message_id = ?", {id});
  if (!u.ok()) return u.take_error();
  return Ok{};
}

}  // namespace

Result<Json> RunCommand::AcknowledgeMessage(const Ctx& ctx, const Json& in) {
  if (!ctx.is_node) return NotANode();
  const std::string id = in.value("MessageId", "");
  const int64_t now = clock_.NowMillis();
  bool known = false;
  Status st = WriteAndNotify([&](Tx& tx, std::vector<std::string>& released) -> Status {
    auto m = LoadOwnMessage(tx, id, ctx.caller_user_id);
    if (!m.ok()) return m.take_error();
    known = m->has_value();
    if (!known) return Ok{};
    if (Status d = MarkMessageDone(tx, id); !d.ok()) return d;
    if ((*m)->kind != kSendKind) return Ok{};
    auto i = tx.Exec(
        "UPDATE ssm_invocation SET delivered = 1, updated_ms = ?,"
        " start_ms = CASE WHEN start_ms = 0 THEN ? ELSE start_ms END,"
        " details = CASE WHEN details IN ('Pending', 'Delayed') THEN 'InProgress' ELSE details END"
        " WHERE command_id = ? AND instance_id = ?",
        {now, now, (*m)->command_id, (*m)->node});
    if (!i.ok()) return i.take_error();
    return Advance(tx, (*m)->command_id, now, released);
  });
  if (!st.ok()) return st.take_error();
  if (!known) return InvalidMessageId(id);
  return Json::object();
}

Result<Json> RunCommand::SendReply(const Ctx& ctx, const Json& in) {
  if (!ctx.is_node) return NotANode();
  const std::string id = in.value("MessageId", "");
  const std::string reply_id = in.value("ReplyId", "");
  Json payload = Json::parse(in.value("Payload", ""), nullptr, false);
  if (!payload.is_object()) {
    return AwsError{"InvalidMessageIdException", "The reply payload is not a JSON object.", 400};
  }
  const int64_t now = clock_.NowMillis();
  bool known = false;
  Status st = WriteAndNotify([&](Tx& tx, std::vector<std::string>& released) -> Status {
    auto m = LoadOwnMessage(tx, id, ctx.caller_user_id);
    if (!m.ok()) return m.take_error();
    known = m->has_value();
    if (!known) return Ok{};
    // The agent resends a reply with the same ReplyId (2.8): take it once.
    auto dup = tx.Exec("INSERT INTO ssm_command_reply (message_id, reply_id, received_ms)"
                       " VALUES (?, ?, ?) ON CONFLICT (message_id, reply_id) DO NOTHING",
                       {id, reply_id, now});
    if (!dup.ok()) return dup.take_error();
    if (*dup == 0) return Ok{};
    if ((*m)->kind != kSendKind) return Ok{};
    auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_invocation WHERE command_id = ? AND"
                                     " instance_id = ?",
                                     kInvocationCols),
                         {(*m)->command_id, (*m)->node});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return Ok{};
    InvocationRow inv = InvocationRow::From(rows->front());
    cmd::MergeReply(inv.state, payload);
    std::string details = inv.details;
    if (!cmd::IsTerminal(details)) {
      std::string final_details =
          cmd::DetailsFromDocumentStatus(inv.state.value("documentStatus", ""));
      details = final_details.empty() ? std::string(cmd::kInProgress) : final_details;
    }
    const bool terminal = cmd::IsTerminal(details);
    auto u = tx.Exec(
        "UPDATE ssm_invocation SET state = ?, details = ?, delivered = 1, updated_ms = ?,"
        " start_ms = CASE WHEN start_ms = 0 THEN ? ELSE start_ms END,"
        " end_ms = CASE WHEN end_ms = 0 AND ? = 1 THEN ? ELSE end_ms END"
        " WHERE command_id = ? AND instance_id = ?",
        {inv.state.dump(), details, now, now, int64_t{terminal ? 1 : 0}, now, (*m)->command_id,
         (*m)->node});
    if (!u.ok()) return u.take_error();
    if (terminal) {
      auto d = tx.Exec("UPDATE ssm_node_message SET done = 1 WHERE message_id = ?", {id});
      if (!d.ok()) return d.take_error();
    }
    return Advance(tx, (*m)->command_id, now, released);
  });
  if (!st.ok()) return st.take_error();
  if (!known) return InvalidMessageId(id);
  return Json{{"MessageId", id},
              {"ReplyId", reply_id},
              {"ReplyStatus", "Acknowledged"},
              {"Description", ""}};
}

Result<Json> RunCommand::FailMessage(const Ctx& ctx, const Json& in) {
  if (!ctx.is_node) return NotANode();
  const std::string id = in.value("MessageId", "");
  const int64_t now = clock_.NowMillis();
  bool known = false;
  Status st = WriteAndNotify([&](Tx& tx, std::vector<std::string>& released) -> Status {
    auto m = LoadOwnMessage(tx, id, ctx.caller_user_id);
    if (!m.ok()) return m.take_error();
    known = m->has_value();
    if (!known) return Ok{};
    if (Status d = MarkMessageDone(tx, id); !d.ok()) return d;
    if ((*m)->kind != kSendKind) return Ok{};
    auto i = tx.Exec(
        "UPDATE ssm_invocation SET details = ?, delivered = 1, updated_ms = ?, end_ms = ?"
        " WHERE command_id = ? AND instance_id = ? AND details IN ('Pending', 'InProgress',"
        " 'Delayed')",
        {std::string(cmd::kFailed), now, now, (*m)->command_id, (*m)->node});
    if (!i.ok()) return i.take_error();
    return Advance(tx, (*m)->command_id, now, released);
  });
  if (!st.ok()) return st.take_error();
  if (!known) return InvalidMessageId(id);
  return Json::object();
}

Result<Json> RunCommand::DeleteMessage(const Ctx& ctx, const Json& in) {
  if (!ctx.is_node) return NotANode();
  const std::string id = in.value("MessageId", "");
  bool known = false;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto m = LoadOwnMessage(tx, id, ctx.caller_user_id);
    if (!m.ok()) return m.take_error();
    known = m->has_value();
    if (!known) return Ok{};
    if (Status d = MarkMessageDone(tx, id); !d.ok()) return d;
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!known) return InvalidMessageId(id);
  return Json::object();
}

}  // namespace gc::ssm
