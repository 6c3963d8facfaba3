#include "services/ssm/run_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <set>

#include "common/crypto.h"
#include "services/ssm/command_engine.h"
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

using cmd::CommandRow;
using cmd::InsertMessage;
using cmd::InvocationRow;
using cmd::IsoMillis;
using cmd::kCancelKind;
using cmd::kSendKind;
using cmd::LoadCommand;
using cmd::LoadInvocations;
using cmd::MessageIdOf;

AwsError InvalidCommandId() { return {"InvalidCommandId", "Invalid command id.", 400}; }
AwsError InvalidInstanceId(const std::string& id) {
  return {"InvalidInstanceId", fmt::format("Instances [[{}]] not in a valid state for account", id),
          400};
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

int64_t ParseIso(const std::string& s) { return cmd::ParseIsoMillis(s); }

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

std::string Topic(const std::string& kind, const std::string& region) {
  std::string r = region;
  std::replace(r.begin(), r.end(), '-', '.');
  return fmt::format("aws.ssm.{}.{}.1", kind == kSendKind ? "sendCommand" : "cancelCommand", r);
}

// A plugin's timeoutSeconds input: a number, a numeric string or "{{ parameter }}"; the
// agent's default, 3600, otherwise.
int64_t PluginTimeout(const Json& inputs, const Json& params) {
  constexpr int64_t kDefault = 3600;
  if (!inputs.is_object()) return kDefault;
  auto it = inputs.find("timeoutSeconds");
  if (it == inputs.end()) return kDefault;
  Json v = *it;
  if (v.is_string()) {
    std::string text = v.get<std::string>();
    auto open = text.find("{{"), close = text.find("}}");
    if (open != std::string::npos && close != std::string::npos && close > open) {
      std::string name = text.substr(open + 2, close - open - 2);
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      v = params.value(name, Json());
      if (v.is_array() && !v.empty()) v = v.front();
    }
  }
  if (v.is_number_integer()) return std::max<int64_t>(1, v.get<int64_t>());
  if (v.is_string()) {
    char* end = nullptr;
    const std::string t = v.get<std::string>();
    long long n = std::strtoll(t.c_str(), &end, 10);
    if (end && *end == '\0' && n > 0) return n;
  }
  return kDefault;
}

// How long the document may run on a node: its plugins' timeouts, one after the other.
int64_t ExecutionTimeoutOf(const Json& content, const Json& params) {
  int64_t total = 0;
  if (auto rc = content.find("runtimeConfig"); rc != content.end() && rc->is_object()) {
    for (const auto& [name, plugin] : rc->items()) {
      Json props = plugin.is_object() ? plugin.value("properties", Json()) : Json();
      if (props.is_array()) {
        for (const auto& p : props) total += PluginTimeout(p, params);
      } else {
        total += PluginTimeout(props, params);
      }
    }
  }
  if (auto ms = content.find("mainSteps"); ms != content.end() && ms->is_array()) {
    for (const auto& step : *ms) {
      if (step.is_object()) total += PluginTimeout(step.value("inputs", Json()), params);
    }
  }
  return total > 0 ? total : 3600;
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
  for (const auto& p : c.spec->value("_plugins", Json::array())) {
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

// Lowercase or uppercase hex → bytes; nullopt for anything else.
std::optional<std::string> FromHex(const std::string& hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  for (size_t k = 0; k < hex.size(); k += 2) {
    int v = 0;
    for (char ch : {hex[k], hex[k + 1]}) {
      int d = std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0'
              : (ch >= 'a' && ch <= 'f')                   ? ch - 'a' + 10
              : (ch >= 'A' && ch <= 'F')                   ? ch - 'A' + 10
                                                           : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    out.push_back(static_cast<char>(v));
  }
  return out;
}

// The signed link to a plugin's full stdout or stderr, or "" when the reply had it all.
std::string OutputUrl(const std::string& key, const std::string& endpoint, const CommandRow& c,
                      const InvocationRow& i, const std::string& plugin, const Json& entry,
                      bool stderr_stream) {
  const char* full = stderr_stream ? "fullStandardError" : "fullStandardOutput";
  if (key.empty() || endpoint.empty() || !entry.is_object() || !entry.contains(full)) return "";
  const std::string path =
      fmt::format("/_groundcrew/ssm/output/{}/{}/{}/{}", c.command_id, i.instance_id,
                  crypto::Hex(plugin), stderr_stream ? "stderr" : "stdout");
  return fmt::format("{}{}?Signature={}", endpoint, path,
                     crypto::Hex(crypto::HmacSha256(key, path)));
}

Json InvocationJson(const CommandRow& c, const InvocationRow& i, bool details,
                    const std::string& link_key = "", const std::string& endpoint = "") {
  Json out = {
      {"CommandId", c.command_id},
      {"InstanceId", i.instance_id},
      {"InstanceName", i.instance_name},
      {"Comment", c.spec->value("Comment", "")},
      {"DocumentName", c.spec->value("DocumentName", "")},
      {"DocumentVersion", c.spec->value("DocumentVersion", "")},
      {"RequestedDateTime", Seconds(c.requested_ms)},
      {"Status", cmd::InvocationStatus(i.details)},
      {"StatusDetails", i.details},
      {"TraceOutput", i.state.value("traceOutput", "")},
      {"StandardOutputUrl", ""},
      {"StandardErrorUrl", ""},
      {"ServiceRole", c.spec->value("ServiceRole", "")},
      {"NotificationConfig", c.spec->value("NotificationConfig", Json::object())},
      {"CloudWatchOutputConfig", c.spec->value("CloudWatchOutputConfig", Json::object())},
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
          {"StandardOutputUrl", OutputUrl(link_key, endpoint, c, i, p.id, e, false)},
          {"StandardErrorUrl", OutputUrl(link_key, endpoint, c, i, p.id, e, true)},
          {"OutputS3Region", c.spec->value("OutputS3Region", "")},
          {"OutputS3BucketName", c.spec->value("OutputS3BucketName", "")},
          {"OutputS3KeyPrefix", c.spec->value("OutputS3KeyPrefix", "")},
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
      static const std::set<std::string> kStatuses = {
          "Pending", "InProgress", "Success", "Cancelled", "Failed", "TimedOut", "Cancelling"};
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
  if (!f.document_name.empty() && c.spec->value("DocumentName", "") != f.document_name) return false;
  if (f.stage == "Executing" && c.active == false) return false;
  if (f.stage == "Complete" && c.active) return false;
  return true;
}

// The caller's SendCommand commands (not State Manager's), newest first: only `command_id`
// when given, only those sent to `instance_id` when given.
Result<std::vector<CommandRow>> ListedCommands(Tx& tx, const wire::CallContext& ctx,
                                               const std::string& command_id,
                                               const std::string& instance_id) {
  std::string sql = fmt::format(
      "SELECT {} FROM ssm_command WHERE account = ? AND region = ? AND origin = ''",
      CommandRow::Columns());
  std::vector<Value> args = {ctx.account_id, ctx.region};
  if (!command_id.empty()) {
    sql += " AND command_id = ?";
    args.emplace_back(command_id);
  }
  if (!instance_id.empty()) {
    sql += " AND command_id IN (SELECT command_id FROM ssm_invocation WHERE instance_id = ?)";
    args.emplace_back(instance_id);
  }
  auto r = tx.Query(sql + " ORDER BY requested_ms DESC, command_id DESC", args);
  if (!r.ok()) return r.take_error();
  std::vector<CommandRow> out;
  out.reserve(r->size());
  for (const auto& row : *r) out.push_back(CommandRow::From(row));
  return out;
}

int64_t MaxResultsOf(const Json& in, int64_t def) {
  int64_t n = in.value("MaxResults", def);
  return n <= 0 ? def : n;
}

}  // namespace

struct RunCommand::Poll {
  std::string node, request_id;
  int64_t deadline_ms = 0;
  int64_t abandon_ms = 0;  // the agent's client has given up by now
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
  return {
      {"ssm.commands", 1,
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
       " PRIMARY KEY (message_id, reply_id))"},
      // Counters kept by commands::Update, so that a reply does not recount the command.
      {"ssm.commands", 2,
       "ALTER TABLE ssm_command ADD COLUMN released_count BIGINT NOT NULL DEFAULT 0;"
       "ALTER TABLE ssm_command ADD COLUMN et_count BIGINT NOT NULL DEFAULT 0;"
       "ALTER TABLE ssm_command ADD COLUMN success_count BIGINT NOT NULL DEFAULT 0;"
       "ALTER TABLE ssm_command ADD COLUMN cancelled_count BIGINT NOT NULL DEFAULT 0;"
       "ALTER TABLE ssm_command ADD COLUMN recount BIGINT NOT NULL DEFAULT 1;"
       "CREATE INDEX ssm_invocation_waiting ON ssm_invocation (command_id, released, seq);"
       "CREATE INDEX ssm_invocation_open ON ssm_invocation (details, instance_id)"},
      // What sent the command: "" for SendCommand (listed), "association:<id>:<execution>"
      // for State Manager (not listed, as in AWS).
      {"ssm.commands", 3, "ALTER TABLE ssm_command ADD COLUMN origin TEXT NOT NULL DEFAULT ''"}};
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
  if (auto it = ssm.operations.find("DeregisterManagedInstance"); it != ssm.operations.end()) {
    it->second = [this, deregister = it->second](const Ctx& ctx, const Json& in) -> Result<Json> {
      auto out = deregister(ctx, in);
      if (!out.ok()) return out;
      // Were this lost (kill -9 right here), the sweep finds the node's invocations anyway.
      Status st = MarkUndeliverable({in.value("InstanceId", "")});
      if (!st.ok()) {
        fmt::print(stderr, "groundcrewd: run command: undeliverable: {}\n", st.error().message);
      }
      return out;
    };
  }
}

wire::ServiceDef RunCommand::MessageDeliveryDefinition() {
  wire::ServiceDef def;
  def.name = "ec2messages";
  def.model = &model::Models::Get("ec2messages");
  auto bind = [this](Result<Json> (RunCommand::*m)(const Ctx&, const Json&)) {
    return [this, m](const Ctx& ctx, const Json& in) { return (this->*m)(ctx, in); };
  };
  // Acknowledgements and replies answer from the group commit (WriteAsync): a fleet's worth of
  // them share commits instead of waiting one thread each.
  auto bind_async = [this](void (RunCommand::*m)(const Ctx&, const Json&, wire::Done)) {
    return [this, m](const Ctx& ctx, const Json& in, wire::Done done) {
      (this->*m)(ctx, in, std::move(done));
    };
  };
  def.async_operations["AcknowledgeMessage"] = bind_async(&RunCommand::AcknowledgeMessage);
  def.async_operations["SendReply"] = bind_async(&RunCommand::SendReply);
  def.async_operations["FailMessage"] = bind_async(&RunCommand::FailMessage);
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

Status RunCommand::PublishNotices(Tx& tx, const cmd::Effects& effects) {
  if (!notifier_.publish) return Ok{};
  for (const auto& notice : effects.notices) {
    Status p = notifier_.publish(tx, notice);
    // A topic that is gone (or was never there) loses the notice, as in AWS; a store error
    // fails the whole change.
    if (!p.ok() && p.error().http_status < 500) {
      fmt::print(stderr, "groundcrewd: run command notification to {}: {}\n", notice.topic_arn,
                 p.error().message);
    } else if (!p.ok()) {
      return p;
    }
  }
  return Ok{};
}

void RunCommand::AfterCommit(const cmd::Effects& effects) {
  for (const auto& node : effects.released) long_poll_->Notify(node, SIZE_MAX);
  if (!effects.notices.empty() && notifier_.committed) notifier_.committed();
}

void RunCommand::WriteAsyncAndNotify(std::function<Status(Tx&, cmd::Effects&)> fn,
                                     std::function<void(Status)> done) {
  auto effects = std::make_shared<cmd::Effects>();
  store_.WriteAsync(
      [this, fn = std::move(fn), effects](Tx& tx) -> Status {
        effects->Clear();  // the transaction may run again
        if (Status s = fn(tx, *effects); !s.ok()) return s;
        return PublishNotices(tx, *effects);
      },
      [this, effects, done = std::move(done)](Status st) {
        if (st.ok()) AfterCommit(*effects);
        done(std::move(st));
      });
}

Status RunCommand::WriteAndNotify(const std::function<Status(Tx&, cmd::Effects&)>& fn) {
  cmd::Effects effects;
  Status st = store_.Write([&](Tx& tx) -> Status {
    effects.Clear();  // Write may run fn again
    if (Status s = fn(tx, effects); !s.ok()) return s;
    return PublishNotices(tx, effects);
  });
  if (st.ok()) AfterCommit(effects);
  return st;
}

Status RunCommand::MarkUndeliverable(const std::vector<std::string>& nodes) {
  const int64_t now = clock_.NowMillis();
  return WriteAndNotify([&](Tx& tx, cmd::Effects& effects) -> Status {
    // Open invocations of deregistered nodes (ssm_node is ManagedNodes' table; a deregistered
    // node keeps its row with deregistered_ms set).
    std::string sql =
        "SELECT i.command_id, i.instance_id FROM ssm_invocation i JOIN ssm_node n ON"
        " n.node_id = i.instance_id WHERE i.details IN ('Pending', 'Delayed', 'InProgress') AND"
        " n.deregistered_ms IS NOT NULL";
    std::vector<Value> args;
    if (!nodes.empty()) {
      sql += " AND i.instance_id IN (";
      for (size_t k = 0; k < nodes.size(); ++k) {
        sql += k ? ", ?" : "?";
        args.emplace_back(nodes[k]);
      }
      sql += ")";
    }
    auto rows = tx.Query(sql + " ORDER BY i.command_id", args);
    if (!rows.ok()) return rows.take_error();
    std::optional<cmd::Update> update;
    for (const auto& r : *rows) {
      if (!update || update->command().command_id != r.Str(0)) {
        if (update) {
          if (Status f = update->Finish(); !f.ok()) return f;
        }
        auto u = cmd::Update::Load(tx, r.Str(0), now, effects);
        if (!u.ok()) return u.take_error();
        update = std::move(*u);
        if (!update) continue;
      }
      auto inv = cmd::LoadInvocation(tx, r.Str(0), r.Str(1));
      if (!inv.ok()) return inv.take_error();
      if (!*inv) continue;
      if (Status s = update->Set(**inv, cmd::kUndeliverable); !s.ok()) return s;
      auto m = tx.Exec("UPDATE ssm_node_message SET done = 1 WHERE node_id = ? AND done = 0",
                       {r.Str(1)});
      if (!m.ok()) return m.take_error();
    }
    if (update) return update->Finish();
    return Ok{};
  });
}

void RunCommand::Sweep() {
  const int64_t now = clock_.NowMillis();
  const bool full = sweeps_++ % 10 == 0;  // every 10th sweep (and the first) looks at all
  struct Due {
    std::string id;
    bool recount;
  };
  std::vector<Due> due;
  Status st = store_.Read([&](Tx& tx) {
    due.clear();
    auto rows = full ? tx.Query("SELECT command_id, recount FROM ssm_command WHERE active = 1")
                     : tx.Query(
                           "SELECT command_id, recount FROM ssm_command WHERE active = 1 AND"
                           " expires_ms <= ?",
                           {now});
    if (!rows.ok()) return Status(rows.take_error());
    for (const auto& r : *rows) due.push_back({r.Str(0), r.Int(1) != 0});
    return Status(Ok{});
  });
  for (const auto& d : due) {
    Status w = WriteAndNotify([&](Tx& tx, cmd::Effects& effects) -> Status {
      auto u = cmd::Update::Load(tx, d.id, now, effects);
      if (!u.ok()) return u.take_error();
      if (!*u) return Ok{};
      cmd::Update& update = **u;
      if (d.recount) {
        // Written before the counters existed (schema 1): count once.
        if (Status s = update.Recount(); !s.ok()) return s;
        auto r = tx.Exec("UPDATE ssm_command SET recount = 0 WHERE command_id = ?", {d.id});
        if (!r.ok()) return r.take_error();
      }
      std::vector<std::pair<std::string, std::string_view>> ends;  // node → final status
      if (update.command().expires_ms <= now) {
        // Delivery timeout: whatever no node took in time ends DeliveryTimedOut.
        auto rows = tx.Query(
            "SELECT instance_id FROM ssm_invocation WHERE command_id = ? AND"
            " delivered = 0 AND details IN ('Pending', 'Delayed')",
            {d.id});
        if (!rows.ok()) return rows.take_error();
        for (const auto& r : *rows) ends.emplace_back(r.Str(0), cmd::kDeliveryTimedOut);
      }
      if (full) {
        // A node that took its job and then went silent (the agent died mid-job): once the
        // document's execution timeout and a grace period have passed, ExecutionTimedOut.
        const int64_t exec_ms = update.command().spec->value("_execution_timeout_s", 3600) * 1000;
        auto rows = tx.Query(
            "SELECT instance_id FROM ssm_invocation WHERE command_id = ? AND"
            " details = 'InProgress' AND start_ms > 0 AND start_ms < ?",
            {d.id, now - exec_ms - options_.execution_grace_ms});
        if (!rows.ok()) return rows.take_error();
        for (const auto& r : *rows) ends.emplace_back(r.Str(0), cmd::kExecutionTimedOut);
      }
      for (const auto& [node, details] : ends) {
        auto inv = cmd::LoadInvocation(tx, d.id, node);
        if (!inv.ok()) return inv.take_error();
        if (!*inv) continue;
        if (Status s = update.Set(**inv, details); !s.ok()) return s;
        auto m = tx.Exec("UPDATE ssm_node_message SET done = 1 WHERE message_id = ?",
                         {MessageIdOf(d.id, node)});
        if (!m.ok()) return m.take_error();
      }
      return update.Finish();
    });
    if (!w.ok()) {
      fmt::print(stderr, "groundcrewd: run command sweep {}: {}\n", d.id, w.error().message);
    }
  }
  if (!st.ok()) fmt::print(stderr, "groundcrewd: run command sweep: {}\n", st.error().message);
  if (full) {
    Status u = MarkUndeliverable({});
    if (!u.ok()) fmt::print(stderr, "groundcrewd: run command sweep: {}\n", u.error().message);
  }
  ScheduleSweep();
}

// ---- SSM operations ----------------------------------------------------------------------------

Result<RunCommand::PreparedCommand> RunCommand::Prepare(const Ctx& ctx, const Json& in,
                                                        std::string origin) {
  const int64_t now = clock_.NowMillis();
  auto doc = documents_.Resolve(ctx, in.value("DocumentName", ""), in.value("DocumentVersion", ""));
  if (!doc.ok()) return doc.take_error();
  // State Manager also runs Policy documents (AWS-GatherSoftwareInventory is one) on the nodes;
  // SendCommand takes Command documents only, as in AWS.
  const bool runnable = doc->document_type == "Command" ||
                        (!origin.empty() && doc->document_type == "Policy");
  if (!runnable) {
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
  using Target = PreparedCommand::Target;
  const double lost_before = static_cast<double>(now - options_.undeliverable_after_ms) / 1000.0;
  auto deliverable = [&](const ManagedNodes::NodeState& n) {
    return n.registered && n.last_ping_seconds >= lost_before;
  };
  PreparedCommand prepared;
  std::vector<Target>& targets = prepared.targets;
  if (has_ids) {
    std::set<std::string> seen;
    for (const auto& id : in["InstanceIds"]) {
      std::string node = id.get<std::string>();
      if (!seen.insert(node).second) continue;
      auto state = nodes_.GetNode(ctx, node);
      if (!state.ok()) return state.take_error();
      if (!*state) return InvalidInstanceId(node);
      targets.push_back({node, (*state)->name, deliverable(**state)});
    }
  } else {
    auto found = nodes_.FindTargets(ctx, in["Targets"]);
    if (!found.ok()) return found.take_error();
    for (const auto& n : *found) targets.push_back({n.node_id, n.name, deliverable(n)});
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
       in.value("NotificationConfig", Json{{"NotificationArn", ""},
                                           {"NotificationEvents", Json::array()},
                                           {"NotificationType", ""}})},
      {"CloudWatchOutputConfig",
       in.value("CloudWatchOutputConfig",
                Json{{"CloudWatchLogGroupName", ""}, {"CloudWatchOutputEnabled", false}})},
      {"TimeoutSeconds", timeout_s},
      {"_payload", payload},
      {"_plugins", PluginsOf(doc->content)},
      {"_execution_timeout_s", ExecutionTimeoutOf(doc->content, typed)},
  };
  if (spec["DocumentVersion"] == "$DEFAULT" || spec["DocumentVersion"] == "$LATEST" ||
      spec["DocumentVersion"] == "") {
    spec["DocumentVersion"] = std::to_string(doc->version);
  }
  prepared.command_id = command_id;
  prepared.account = ctx.account_id;
  prepared.region = ctx.region;
  prepared.origin = std::move(origin);
  prepared.spec_text = spec.dump();
  prepared.requested_ms = now;
  prepared.expires_ms = now + timeout_s * 1000;
  prepared.max_concurrency = max_conc;
  prepared.max_errors = max_err;
  return prepared;
}

Status RunCommand::Insert(Tx& tx, const PreparedCommand& p, cmd::Effects& effects) {
  const std::string& command_id = p.command_id;
  const int64_t now = p.requested_ms;
  auto r = tx.Exec(fmt::format("INSERT INTO ssm_command ({}, recount, origin) VALUES (?, ?, ?, ?,"
                               " ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, ?)",
                               CommandRow::Columns()),
                   {command_id, p.account, p.region, now, p.expires_ms, p.spec_text,
                    p.max_concurrency, p.max_errors, std::string("Pending"), std::string("Pending"),
                    static_cast<int64_t>(p.targets.size()), p.origin});
  if (!r.ok()) return r.take_error();
  int64_t seq = 0;
  for (const auto& t : p.targets) {
    auto ins = tx.Exec(
        fmt::format("INSERT INTO ssm_invocation ({}) VALUES (?, ?, ?, ?, 'Pending', 0, 0, ?, 0,"
                    " 0, '{{}}')",
                    InvocationRow::Columns()),
        {command_id, t.id, seq++, t.name, now});
    if (!ins.ok()) return ins.take_error();
  }
  auto c = LoadCommand(tx, nullptr, command_id);
  if (!c.ok()) return c.take_error();
  cmd::Update update(tx, std::move(**c), now, effects);
  seq = 0;
  for (const auto& t : p.targets) {
    ++seq;
    if (t.deliverable) continue;
    // Deregistered, or silent for so long that nothing will reach it: Undeliverable now.
    InvocationRow inv;
    inv.command_id = command_id;
    inv.instance_id = t.id;
    inv.seq = seq - 1;
    inv.instance_name = t.name;
    inv.details = std::string(cmd::kPending);
    inv.state = Json::object();
    if (Status s = update.Set(inv, cmd::kUndeliverable); !s.ok()) return s;
  }
  return update.Finish();
}

Status RunCommand::Write(const std::function<Status(Tx&, cmd::Effects&)>& fn) {
  return WriteAndNotify(fn);
}

Result<Json> RunCommand::SendCommand(const Ctx& ctx, const Json& in) {
  auto prepared = Prepare(ctx, in);
  if (!prepared.ok()) return prepared.take_error();
  const std::string command_id = prepared->command_id;
  Status st = WriteAndNotify(
      [&](Tx& tx, cmd::Effects& effects) -> Status { return Insert(tx, *prepared, effects); });
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
    auto r = ListedCommands(tx, ctx, command_id, instance_id);
    if (!r.ok()) return r.take_error();
    rows = std::move(*r);
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
    auto cmds = ListedCommands(tx, ctx, command_id, instance_id);
    if (!cmds.ok()) return cmds.take_error();
    for (const auto& c : *cmds) {
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
    list.push_back(InvocationJson(c, i, details, options_.output_link_key, ctx.endpoint));
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
                                  InvocationRow::Columns()),
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
      {"Comment", c->spec->value("Comment", "")},
      {"DocumentName", c->spec->value("DocumentName", "")},
      {"DocumentVersion", c->spec->value("DocumentVersion", "")},
      {"PluginName", p ? p->id : ""},
      {"ResponseCode", e.value("code", -1)},
      {"ExecutionStartDateTime", e.value("startDateTime", "")},
      {"ExecutionEndDateTime", e.value("endDateTime", "")},
      {"ExecutionElapsedTime", ""},
      {"Status", cmd::InvocationStatus(details)},
      {"StatusDetails", details},
      {"StandardOutputContent", e.value("standardOutput", "")},
      {"StandardOutputUrl",
       p ? OutputUrl(options_.output_link_key, ctx.endpoint, *c, *inv, p->id, e, false) : ""},
      {"StandardErrorContent", e.value("standardError", "")},
      {"StandardErrorUrl",
       p ? OutputUrl(options_.output_link_key, ctx.endpoint, *c, *inv, p->id, e, true) : ""},
      {"CloudWatchOutputConfig", c->spec->value("CloudWatchOutputConfig", Json::object())},
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
  Status st = WriteAndNotify([&](Tx& tx, cmd::Effects& effects) -> Status {
    auto c = LoadCommand(tx, &ctx, command_id);
    if (!c.ok()) return c.take_error();
    found = c->has_value();
    if (!found) return Ok{};
    cmd::Update update(tx, std::move(**c), now, effects);
    auto invs = LoadInvocations(tx, command_id);
    if (!invs.ok()) return invs.take_error();
    for (auto& i : *invs) {
      if (!only.empty() && !only.count(i.instance_id)) continue;
      if (cmd::IsTerminal(i.details)) continue;
      const std::string send_id = MessageIdOf(command_id, i.instance_id);
      if (i.released && i.delivered) {
        // Running on the node: a cancelCommand message (2.7) with a fresh id of its own.
        Json payload = {{"CancelMessageId", send_id}};
        if (Status s = InsertMessage(tx, MessageIdOf(crypto::Uuid4(), i.instance_id), i.instance_id,
                                     command_id, kCancelKind, payload.dump(), now);
            !s.ok()) {
          return s;
        }
        effects.released.push_back(i.instance_id);
      }
      auto m = tx.Exec("UPDATE ssm_node_message SET done = 1 WHERE message_id = ?", {send_id});
      if (!m.ok()) return m.take_error();
      if (Status s = update.Set(i, cmd::kCancelled); !s.ok()) return s;
    }
    if (only.empty()) update.command().cancel_requested = true;
    return update.Finish();
  });
  if (!st.ok()) return st.take_error();
  if (!found) return InvalidCommandId();
  return Json::object();
}

RunCommand::OutputLink RunCommand::HandleOutputLink(std::string_view path, std::string_view query) {
  auto not_found = [] { return OutputLink{404, "Not Found\n"}; };
  if (options_.output_link_key.empty()) return not_found();
  std::string signature;
  while (!query.empty()) {
    std::string_view part = query.substr(0, query.find('&'));
    if (part.substr(0, 10) == "Signature=") signature = std::string(part.substr(10));
    query.remove_prefix(std::min(query.size(), part.size() + 1));
  }
  const std::string expected =
      crypto::Hex(crypto::HmacSha256(options_.output_link_key, std::string(path)));
  if (!crypto::ConstantTimeEquals(signature, expected)) {
    return OutputLink{403, "The signature of this link does not match.\n"};
  }
  // /_groundcrew/ssm/output/<command>/<node>/<plugin hex>/<stream>
  std::vector<std::string> parts;
  std::string_view rest = path.substr(std::string_view("/_groundcrew/ssm/output/").size());
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    parts.emplace_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  if (parts.size() != 4) return not_found();
  auto plugin = FromHex(parts[2]);
  if (!plugin) return not_found();
  std::optional<InvocationRow> inv;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto r = cmd::LoadInvocation(tx, parts[0], parts[1]);
    if (!r.ok()) return r.take_error();
    inv = std::move(*r);
    return Ok{};
  });
  if (!st.ok()) return OutputLink{500, st.error().message + "\n"};
  if (!inv) return not_found();
  const Json plugins = inv->state.value("plugins", Json::object());
  auto entry = plugins.find(*plugin);
  if (entry == plugins.end() || !entry->is_object()) return not_found();
  const char* key = parts[3] == "stderr" ? "fullStandardError" : "fullStandardOutput";
  return OutputLink{200, entry->value(key, "")};
}

// ---- ec2messages -------------------------------------------------------------------------------

namespace {

// A sendCommand message handed out again: its Pending invocation becomes Delayed.
Status MarkDelayed(Tx& tx, const std::string& command_id, const std::string& node, int64_t now,
                   cmd::Effects& effects) {
  auto inv = cmd::LoadInvocation(tx, command_id, node);
  if (!inv.ok()) return inv.take_error();
  if (!*inv || (*inv)->details != cmd::kPending) return Ok{};
  auto u = cmd::Update::Load(tx, command_id, now, effects);
  if (!u.ok()) return u.take_error();
  if (!*u) return Ok{};
  if (Status s = (*u)->Set(**inv, cmd::kDelayed); !s.ok()) return s;
  return (*u)->Finish();
}

}  // namespace

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
  // The agent waits 20 s for an answer; keep 2 s for the answer to get there.
  poll->abandon_ms = clock_.NowMillis() + std::max<int64_t>(options_.poll_wait_ms + 1000, 18000);
  int64_t vis = in.value("VisibilityTimeoutInSeconds", int64_t{10});
  poll->visibility_ms = std::clamp<int64_t>(vis, 1, 300) * 1000;
  poll->done = std::move(done);
  pool_->Post([this, poll] { Attempt(poll); });
}

// One look at the node's messages. Reads first, on the pool: a poll with nothing due parks
// (or answers empty at its deadline) without writing. Only when something is due does it claim
// in a write, asynchronously (the pool thread never waits for the disk), and answers from the
// commit. A poll the agent has given up on (it waits 20 s) is answered empty, never given a
// message: it would be lost with the closed connection until its visibility ran out.
void RunCommand::Attempt(const std::shared_ptr<Poll>& poll) {
  const uint64_t generation = long_poll_->Generation(poll->node);
  const int64_t now = clock_.NowMillis();
  auto empty = [poll] {
    poll->done(Json{{"Destination", poll->node},
                    {"MessagesRequestId", poll->request_id},
                    {"Messages", Json::array()}});
  };
  if (now >= poll->abandon_ms) return empty();
  bool due = false;
  int64_t next_visible = INT64_MAX;
  Status rd = store_.Read([&](Tx& tx) -> Status {
    due = false;
    next_visible = INT64_MAX;
    auto rows = tx.Query(
        "SELECT visible_ms, deliveries FROM ssm_node_message WHERE node_id = ?"
        " AND done = 0",
        {poll->node});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      if (r.Int(1) >= options_.max_deliveries) continue;  // waits for its delivery timeout
      if (r.Int(0) > now) {
        next_visible = std::min(next_visible, r.Int(0));
      } else {
        due = true;
      }
    }
    return Ok{};
  });
  if (!rd.ok()) return poll->done(rd.take_error());
  if (!due) {
    if (now >= poll->deadline_ms) return empty();
    const int64_t wake_at = std::min(poll->deadline_ms, next_visible);
    long_poll_->Park(poll->node, generation, wake_at - now,
                     [this, poll, empty](bool shutting_down) {
                       if (shutting_down) return empty();
                       pool_->Post([this, poll] { Attempt(poll); });
                     });
    return;
  }
  auto messages = std::make_shared<Json>(Json::array());
  auto effects = std::make_shared<cmd::Effects>();
  store_.WriteAsync(
      [this, poll, now, messages, effects](Tx& tx) -> Status {
        *messages = Json::array();
        effects->Clear();
        auto rows = tx.Query(
            "SELECT message_id, command_id, kind, payload, created_ms, visible_ms, deliveries"
            " FROM ssm_node_message WHERE node_id = ? AND done = 0 ORDER BY created_ms,"
            " message_id",
            {poll->node});
        if (!rows.ok()) return rows.take_error();
        for (const auto& r : *rows) {
          const int64_t deliveries = r.Int(6);
          if (deliveries >= options_.max_deliveries || r.Int(5) > now) continue;
          if (messages->size() >= 10) break;
          auto cmd_region =
              tx.Query("SELECT region FROM ssm_command WHERE command_id = ?", {r.Str(1)});
          if (!cmd_region.ok()) return cmd_region.take_error();
          std::string reg = cmd_region->empty() ? "us-east-1" : cmd_region->front().Str(0);
          auto u = tx.Exec(
              "UPDATE ssm_node_message SET visible_ms = ?, deliveries = deliveries + 1 WHERE"
              " message_id = ?",
              {now + poll->visibility_ms, r.Str(0)});
          if (!u.ok()) return u.take_error();
          if (deliveries > 0 && r.Str(2) == kSendKind) {
            // Handed out before and never acknowledged: the system retries (AWS: Delayed).
            if (Status d = MarkDelayed(tx, r.Str(1), poll->node, now, *effects); !d.ok()) {
              return d;
            }
          }
          const std::string payload = r.Str(3);
          messages->push_back({
              {"CreatedDate", IsoMillis(r.Int(4))},
              {"Destination", poll->node},
              {"MessageId", r.Str(0)},
              {"Payload", payload},
              {"PayloadDigest", crypto::Hex(crypto::Sha256(payload))},
              {"Topic", Topic(r.Str(2), reg)},
          });
        }
        return PublishNotices(tx, *effects);
      },
      [this, poll, messages, effects](Status st) {
        if (!st.ok()) return poll->done(st.take_error());
        AfterCommit(*effects);
        if (messages->empty()) {
          // Another poll of the node took them first: look again.
          return pool_->Post([this, poll] { Attempt(poll); });
        }
        poll->done(Json{{"Destination", poll->node},
                        {"MessagesRequestId", poll->request_id},
                        {"Messages", std::move(*messages)}});
      });
}

// A row of ssm_node_message, as the agent-facing operations check it.
struct NodeMessage {
  std::string node, command_id, kind;
  bool done = false;
};

namespace {

using MessageRow = NodeMessage;

Result<std::optional<MessageRow>> LoadMessage(Tx& tx, const std::string& id) {
  auto r = tx.Query(
      "SELECT node_id, command_id, kind, done FROM ssm_node_message WHERE"
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

namespace {

// The command and the invocation a sendCommand message stands for, to change them; nullopt
// when either is gone.
struct MessageTarget {
  cmd::Update update;
  InvocationRow inv;
};
Result<std::optional<MessageTarget>> LoadTarget(Tx& tx, const std::string& command_id,
                                                const std::string& node, int64_t now,
                                                cmd::Effects& effects) {
  auto u = cmd::Update::Load(tx, command_id, now, effects);
  if (!u.ok()) return u.take_error();
  if (!*u) return std::optional<MessageTarget>();
  auto inv = cmd::LoadInvocation(tx, command_id, node);
  if (!inv.ok()) return inv.take_error();
  if (!*inv) return std::optional<MessageTarget>();
  return std::optional<MessageTarget>(MessageTarget{std::move(**u), std::move(**inv)});
}

}  // namespace

void RunCommand::ChangeOwnMessage(const Ctx& ctx, const Json& in, wire::Done done,
                                  MessageChange change, Json answer) {
  if (!ctx.is_node) return done(NotANode());
  const std::string id = in.value("MessageId", "");
  const int64_t now = clock_.NowMillis();
  auto known = std::make_shared<bool>(false);
  const std::string node = ctx.caller_user_id;
  WriteAsyncAndNotify(
      [=, this, change = std::move(change)](Tx& tx, cmd::Effects& effects) -> Status {
        auto m = LoadOwnMessage(tx, id, node);
        if (!m.ok()) return m.take_error();
        *known = m->has_value();
        if (!*known) return Ok{};
        return change(tx, **m, now, effects);
      },
      [=, answer = std::move(answer)](Status st) {
        if (!st.ok()) return done(st.take_error());
        if (!*known) return done(InvalidMessageId(id));
        done(answer);
      });
}

void RunCommand::AcknowledgeMessage(const Ctx& ctx, const Json& in, wire::Done done) {
  const std::string id = in.value("MessageId", "");
  auto change = [id](Tx& tx, const MessageRow& m, int64_t now, cmd::Effects& effects) -> Status {
    if (Status d = MarkMessageDone(tx, id); !d.ok()) return d;
    if (m.kind != kSendKind) return Ok{};
    auto t = LoadTarget(tx, m.command_id, m.node, now, effects);
    if (!t.ok()) return t.take_error();
    if (!*t) return Ok{};
    InvocationRow& inv = (*t)->inv;
    inv.delivered = true;
    if (inv.start_ms == 0) inv.start_ms = now;
    const bool waiting = inv.details == cmd::kPending || inv.details == cmd::kDelayed;
    if (Status s = (*t)->update.Set(inv, waiting ? cmd::kInProgress : inv.details); !s.ok()) {
      return s;
    }
    return (*t)->update.Finish();
  };
  ChangeOwnMessage(ctx, in, std::move(done), change, Json::object());
}

void RunCommand::SendReply(const Ctx& ctx, const Json& in, wire::Done done) {
  const std::string id = in.value("MessageId", "");
  const std::string reply_id = in.value("ReplyId", "");
  Json payload = Json::parse(in.value("Payload", ""), nullptr, false);
  if (!payload.is_object()) {
    return done(
        AwsError{"InvalidMessageIdException", "The reply payload is not a JSON object.", 400});
  }
  auto change = [id, reply_id, payload](Tx& tx, const MessageRow& m, int64_t now,
                                        cmd::Effects& effects) -> Status {
    // The agent resends a reply with the same ReplyId (2.8): take it once.
    auto dup = tx.Exec("INSERT INTO ssm_command_reply (message_id, reply_id, received_ms)"
                       " VALUES (?, ?, ?) ON CONFLICT (message_id, reply_id) DO NOTHING",
                       {id, reply_id, now});
    if (!dup.ok()) return dup.take_error();
    if (*dup == 0 || m.kind != kSendKind) return Ok{};
    auto t = LoadTarget(tx, m.command_id, m.node, now, effects);
    if (!t.ok()) return t.take_error();
    if (!*t) return Ok{};
    InvocationRow& inv = (*t)->inv;
    cmd::MergeReply(inv.state, payload);
    inv.delivered = true;
    if (inv.start_ms == 0) inv.start_ms = now;
    std::string details = inv.details;
    if (!cmd::IsTerminal(details)) {
      std::string final_details =
          cmd::DetailsFromDocumentStatus(inv.state.value("documentStatus", ""));
      details = final_details.empty() ? std::string(cmd::kInProgress) : final_details;
    }
    if (Status s = (*t)->update.Set(inv, details); !s.ok()) return s;
    if (cmd::IsTerminal(details)) {
      if (Status d = MarkMessageDone(tx, id); !d.ok()) return d;
    }
    return (*t)->update.Finish();
  };
  ChangeOwnMessage(ctx, in, std::move(done), change,
                   Json{{"MessageId", id},
                        {"ReplyId", reply_id},
                        {"ReplyStatus", "Acknowledged"},
                        {"Description", ""}});
}

void RunCommand::FailMessage(const Ctx& ctx, const Json& in, wire::Done done) {
  const std::string id = in.value("MessageId", "");
  auto change = [id](Tx& tx, const MessageRow& m, int64_t now, cmd::Effects& effects) -> Status {
    if (Status d = MarkMessageDone(tx, id); !d.ok()) return d;
    if (m.kind != kSendKind) return Ok{};
    auto t = LoadTarget(tx, m.command_id, m.node, now, effects);
    if (!t.ok()) return t.take_error();
    if (!*t) return Ok{};
    (*t)->inv.delivered = true;
    if (Status s = (*t)->update.Set((*t)->inv, cmd::kFailed); !s.ok()) return s;
    return (*t)->update.Finish();
  };
  ChangeOwnMessage(ctx, in, std::move(done), change, Json::object());
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
