#include "services/ssm/associations.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/crypto.h"
#include "scheduler/schedule_expression.h"
#include "services/ssm/command_engine.h"
#include "services/ssm/command_rules.h"
#include "services/ssm/document_content.h"
#include "services/ssm/document_errors.h"
#include "services/ssm/node_errors.h"
#include "services/ssm/paging.h"
#include "services/ssm/resource_tags.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;
using store::Tx;
using store::Value;
namespace cmd = commands;

constexpr int64_t kCheckIntervalMs = 1000;
constexpr int kCatchUpEvery = 10;  // checks between looks for nodes that match targets later

AwsError DoesNotExist() {
  return {"AssociationDoesNotExist", "The specified association does not exist.", 400};
}
AwsError InvalidSchedule(const std::string& m) { return {"InvalidSchedule", m, 400}; }

constexpr char kTagType[] = "Association";  // AddTagsToResource's ResourceType

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

int64_t ParseIsoMs(const std::string& s) { return cmd::ParseIsoMillis(s); }

// The due time of association `spec` after a run at `now_ms` of a run that was due at
// `due_ms`; -1 for none (no schedule, an at() that has passed). ScheduleOffset days shift every
// cron time: cron(0 0 ? * THU#2 *) with 3 runs on the Sunday after each second Thursday.
int64_t NextDue(const Json& spec, int64_t now_ms, int64_t due_ms) {
  const std::string expression = spec.value("ScheduleExpression", "");
  if (expression.empty()) return -1;
  auto schedule = scheduler::Schedule::Parse(expression, scheduler::Dialect::kAssociation);
  if (!schedule.ok()) return -1;
  const int64_t offset_s = spec.value("ScheduleOffset", int64_t{0}) * 86400;
  using std::chrono::seconds;
  const scheduler::Instant now{seconds(now_ms / 1000 - offset_s)};
  const scheduler::Instant start{seconds(due_ms / 1000 - offset_s)};
  auto next = schedule->NextAfter(now, scheduler::TimeZone::Utc(), start);
  if (!next) return -1;
  return (static_cast<int64_t>(next->time_since_epoch().count()) + offset_s) * 1000;
}

// A command's status as an association's: Success, Failed or Pending (still running).
std::string StatusOfCommand(const std::string& s) {
  if (s == "Success") return "Success";
  if (s == "Failed" || s == "TimedOut" || s == "Cancelled") return "Failed";
  return "Pending";
}
// An invocation's detailed status as an association target's status.
std::string StatusOfInvocation(const std::string& details) {
  if (details == cmd::kSuccess) return "Success";
  if (cmd::IsTerminal(details)) return "Failed";
  if (details == cmd::kInProgress) return "InProgress";
  return "Pending";
}

// "1 out of 1 plugin processed, 1 success, 0 failed, 0 timedout, 0 skipped. " (the agent's
// ExecutionSummary) from an invocation's merged replies.
std::string ExecutionSummary(const Json& state) {
  int total = 0, success = 0, failed = 0, timedout = 0, skipped = 0;
  const Json plugins = state.value("plugins", Json::object());
  for (const auto& [id, p] : plugins.items()) {
    ++total;
    const std::string s = p.value("status", "");
    if (s == "Success") ++success;
    if (s == "Failed") ++failed;
    if (s == "TimedOut") ++timedout;
    if (s == "Skipped") ++skipped;
  }
  return fmt::format("{} out of {} plugin{} processed, {} success, {} failed, {} timedout, {} "
                     "skipped. ",
                     total, total, total == 1 ? "" : "s", success, failed, timedout, skipped);
}

}  // namespace

struct Associations::Row {
  std::string id, account, region;
  int64_t version = 1;
  Json spec;
  int64_t created_ms = 0, updated_ms = 0, next_run_ms = -1, last_execution_ms = 0;
  bool run_once = false, deleted = false;

  static constexpr const char* kColumns =
      "association_id, account, region, version, spec, created_ms, updated_ms, next_run_ms,"
      " last_execution_ms, run_once, deleted";
  static Row From(const store::Row& r) {
    Row row;
    row.id = r.Str(0);
    row.account = r.Str(1);
    row.region = r.Str(2);
    row.version = r.Int(3);
    row.spec = Json::parse(r.Str(4), nullptr, false);
    row.created_ms = r.Int(5);
    row.updated_ms = r.Int(6);
    row.next_run_ms = r.IsNull(7) ? -1 : r.Int(7);
    row.last_execution_ms = r.Int(8);
    row.run_once = r.Int(9) != 0;
    row.deleted = r.Int(10) != 0;
    return row;
  }
};

namespace {

Result<std::optional<Associations::Row>> LoadRow(Tx& tx, const wire::CallContext* ctx,
                                                 const std::string& id) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_association WHERE association_id = ? AND"
                                   " deleted = 0",
                                   Associations::Row::kColumns),
                       {id});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<Associations::Row>();
  auto row = Associations::Row::From(rows->front());
  if (ctx && (row.account != ctx->account_id || row.region != ctx->region)) {
    return std::optional<Associations::Row>();
  }
  return std::optional<Associations::Row>(std::move(row));
}

// Reads `fn` with the caller's association `id` loaded; AssociationDoesNotExist without one.
Status ReadAssociation(store::Store& store, const wire::CallContext& ctx, const std::string& id,
                       const std::function<Status(Tx&, const Associations::Row&)>& fn) {
  return store.Read([&](Tx& tx) -> Status {
    auto row = LoadRow(tx, &ctx, id);
    if (!row.ok()) return row.take_error();
    if (!*row) return DoesNotExist();
    return fn(tx, **row);
  });
}

// The latest execution: {execution id, command id, created ms}; empty when it never ran.
struct Execution {
  std::string id, command_id;
  int64_t version = 0, created_ms = 0;
};
Result<std::vector<Execution>> LoadExecutions(Tx& tx, const std::string& association_id) {
  auto rows = tx.Query("SELECT execution_id, command_id, version, created_ms FROM"
                       " ssm_association_execution WHERE association_id = ? ORDER BY"
                       " created_ms DESC, execution_id DESC",
                       {association_id});
  if (!rows.ok()) return rows.take_error();
  std::vector<Execution> out;
  for (const auto& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Int(2), r.Int(3)});
  return out;
}

}  // namespace

Associations::Associations(store::Store& store, Documents& documents, ManagedNodes& nodes,
                           RunCommand& run_command, const Clock& clock)
    : store_(store),
      documents_(documents),
      nodes_(nodes),
      run_command_(run_command),
      clock_(clock),
      pool_(std::make_unique<WorkerPool>(1, "ssm-assoc")),
      timers_(std::make_unique<TimerQueue>()) {}

Associations::~Associations() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  timers_.reset();
  pool_.reset();
}

std::vector<store::Migration> Associations::Migrations() {
  return {{"ssm.associations", 1,
           "CREATE TABLE ssm_association ("
           " association_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
           " version BIGINT NOT NULL, spec TEXT NOT NULL, created_ms BIGINT NOT NULL,"
           " updated_ms BIGINT NOT NULL, next_run_ms BIGINT, last_execution_ms BIGINT NOT NULL,"
           " run_once BIGINT NOT NULL, deleted BIGINT NOT NULL);"
           "CREATE INDEX ssm_association_due ON ssm_association (deleted, next_run_ms);"
           "CREATE TABLE ssm_association_version ("
           " association_id TEXT NOT NULL, version BIGINT NOT NULL, spec TEXT NOT NULL,"
           " created_ms BIGINT NOT NULL, PRIMARY KEY (association_id, version));"
           "CREATE TABLE ssm_association_execution ("
           " association_id TEXT NOT NULL, execution_id TEXT NOT NULL, version BIGINT NOT NULL,"
           " command_id TEXT NOT NULL, created_ms BIGINT NOT NULL,"
           " PRIMARY KEY (association_id, execution_id));"
           "CREATE TABLE ssm_association_target ("
           " association_id TEXT NOT NULL, node_id TEXT NOT NULL, execution_id TEXT NOT NULL,"
           " command_id TEXT NOT NULL, version BIGINT NOT NULL, executed_ms BIGINT NOT NULL,"
           " PRIMARY KEY (association_id, node_id));"
           "CREATE INDEX ssm_association_target_node ON ssm_association_target (node_id)"}};
}

void Associations::AddOperations(wire::ServiceDef& ssm) {
  auto bind = [this](Result<Json> (Associations::*m)(const Ctx&, const Json&)) {
    return [this, m](const Ctx& ctx, const Json& in) { return (this->*m)(ctx, in); };
  };
  ssm.operations["CreateAssociation"] = bind(&Associations::CreateAssociation);
  ssm.operations["CreateAssociationBatch"] = bind(&Associations::CreateAssociationBatch);
  ssm.operations["UpdateAssociation"] = bind(&Associations::UpdateAssociation);
  ssm.operations["DeleteAssociation"] = bind(&Associations::DeleteAssociation);
  ssm.operations["DescribeAssociation"] = bind(&Associations::DescribeAssociation);
  ssm.operations["ListAssociations"] = bind(&Associations::ListAssociations);
  ssm.operations["ListAssociationVersions"] = bind(&Associations::ListAssociationVersions);
  ssm.operations["DescribeAssociationExecutions"] =
      bind(&Associations::DescribeAssociationExecutions);
  ssm.operations["DescribeAssociationExecutionTargets"] =
      bind(&Associations::DescribeAssociationExecutionTargets);
  ssm.operations["StartAssociationsOnce"] = bind(&Associations::StartAssociationsOnce);
  ssm.operations["DescribeInstanceAssociationsStatus"] =
      bind(&Associations::DescribeInstanceAssociationsStatus);
  ssm.operations["DescribeEffectiveInstanceAssociations"] =
      bind(&Associations::DescribeEffectiveInstanceAssociations);
  ssm.operations["UpdateAssociationStatus"] = bind(&Associations::UpdateAssociationStatus);
}

void Associations::Start() {
  pool_->Post([this] { RunDue(); });
}

void Associations::ScheduleCheck() {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  timers_->Schedule(kCheckIntervalMs, [this] {
    std::lock_guard lock(mu_);
    if (!stopping_) pool_->Post([this] { RunDue(); });
  });
}

// ---- the spec --------------------------------------------------------------------------------

Result<Json> Associations::SpecOf(const Ctx& ctx, const Json& in, const Json* current) {
  Json spec = Json::object();
  // Name, InstanceId and Targets identify what the association is; an update keeps them unless
  // it gives new ones. Every other optional field an update leaves out is reset, as AWS does.
  auto keep = [&](const char* key) {
    if (in.contains(key)) {
      spec[key] = in[key];
    } else if (current && current->contains(key)) {
      spec[key] = (*current)[key];
    }
  };
  keep("Name");
  keep("InstanceId");
  keep("Targets");
  for (const char* key : {"DocumentVersion", "Parameters", "ScheduleExpression", "ScheduleOffset",
                          "AssociationName", "MaxConcurrency", "MaxErrors", "ComplianceSeverity",
                          "SyncCompliance", "ApplyOnlyAtCronInterval", "OutputLocation"}) {
    if (in.contains(key)) spec[key] = in[key];
  }
  const std::string name = spec.value("Name", "");
  if (name.empty()) return errors::InvalidDocument(name);
  auto doc = documents_.Resolve(ctx, name, spec.value("DocumentVersion", ""));
  if (!doc.ok()) return doc.take_error();
  if (doc->document_type != "Command" && doc->document_type != "Policy") {
    return AwsError{"InvalidDocument",
                    fmt::format("Document {} of type {} cannot be associated here; groundcrew "
                                "runs Command and Policy documents from State Manager.",
                                doc->name, doc->document_type),
                    400};
  }
  std::map<std::string, std::vector<std::string>> given;
  const Json parameters = spec.value("Parameters", Json::object());
  for (const auto& [k, v] : parameters.items()) {
    std::vector<std::string> values;
    for (const auto& x : v) values.push_back(x.is_string() ? x.get<std::string>() : x.dump());
    given[k] = std::move(values);
  }
  if (auto p = ResolveParameters(doc->parameters, given); !p.ok()) return p.take_error();
  const bool has_id = !spec.value("InstanceId", "").empty();
  const bool has_targets = spec.contains("Targets") && !spec["Targets"].empty();
  if (has_id == has_targets) {
    return AwsError{"InvalidTarget",
                    has_id ? "Specify either InstanceId or Targets, not both."
                           : "Either InstanceId or Targets must be specified.",
                    400};
  }
  if (has_id) {
    auto node = nodes_.GetNode(ctx, spec["InstanceId"].get<std::string>());
    if (!node.ok()) return node.take_error();
    if (!*node || !(*node)->registered) {
      return errors::InvalidInstanceId(spec["InstanceId"].get<std::string>());
    }
  } else {
    auto found = nodes_.FindTargets(ctx, spec["Targets"]);
    if (!found.ok()) return AwsError{"InvalidTarget", found.error().message, 400};
  }
  const std::string expression = spec.value("ScheduleExpression", "");
  if (!expression.empty()) {
    auto schedule = scheduler::Schedule::Parse(expression, scheduler::Dialect::kAssociation);
    if (!schedule.ok()) return InvalidSchedule(schedule.error().message);
    if (spec.contains("ScheduleOffset") && schedule->kind() != scheduler::Schedule::Kind::kCron) {
      return AwsError{"ValidationException", "ScheduleOffset needs a cron expression.", 400};
    }
    // "To use offsets, you must specify the ApplyOnlyAtCronInterval parameter" (AWS).
    if (spec.contains("ScheduleOffset") && !spec.value("ApplyOnlyAtCronInterval", false)) {
      return AwsError{"ValidationException", "ScheduleOffset needs ApplyOnlyAtCronInterval.",
                      400};
    }
  } else if (spec.value("ApplyOnlyAtCronInterval", false)) {
    return InvalidSchedule("ApplyOnlyAtCronInterval needs a ScheduleExpression.");
  }
  for (const char* key : {"MaxConcurrency", "MaxErrors"}) {
    if (!spec.contains(key)) continue;
    const std::string v = spec[key].get<std::string>();
    const int64_t n = std::string(key) == "MaxConcurrency" ? cmd::ConcurrencyLimit(v, 100)
                                                           : cmd::ErrorLimit(v, 100);
    if (n < 0 || (std::string(key) == "MaxConcurrency" && n < 1)) {
      return AwsError{"ValidationException", fmt::format("Invalid {}: {}", key, v), 400};
    }
  }
  spec["DocumentVersion"] = spec.value("DocumentVersion", std::string("$DEFAULT"));
  if (!spec.contains("Parameters")) spec["Parameters"] = Json::object();
  return spec;
}

// ---- runs ------------------------------------------------------------------------------------

Status Associations::Run(const std::string& id, int64_t expected_due,
                         const std::vector<std::string>& only_nodes, bool once) {
  std::optional<Row> row;
  Status rd = store_.Read([&](Tx& tx) -> Status {
    auto r = LoadRow(tx, nullptr, id);
    if (!r.ok()) return r.take_error();
    row = std::move(*r);
    return Ok{};
  });
  if (!rd.ok()) return rd;
  if (!row) return Ok{};
  const int64_t now = clock_.NowMillis();
  Ctx ctx;
  ctx.account_id = row->account;
  ctx.region = row->region;
  ctx.caller_user_id = row->account;
  ctx.now_millis = now;
  const Json& spec = row->spec;
  // AWS runs an association on all its targets at once unless it says otherwise.
  Json in = {{"DocumentName", spec.value("Name", "")},
             {"DocumentVersion", spec.value("DocumentVersion", "$DEFAULT")},
             {"Parameters", spec.value("Parameters", Json::object())},
             {"MaxConcurrency", spec.value("MaxConcurrency", "100%")},
             {"MaxErrors", spec.value("MaxErrors", "100%")},
             {"Comment", fmt::format("State Manager association {}", id)}};
  if (!only_nodes.empty()) {
    in["InstanceIds"] = only_nodes;
  } else if (!spec.value("InstanceId", "").empty()) {
    in["InstanceIds"] = Json::array({spec["InstanceId"]});
  } else {
    in["Targets"] = spec["Targets"];
  }
  const std::string execution_id = crypto::Uuid4();
  auto prepared = run_command_.Prepare(ctx, in, fmt::format("association:{}:{}", id, execution_id));
  return run_command_.Write([&](Tx& tx, cmd::Effects& effects) -> Status {
    auto cur = LoadRow(tx, nullptr, id);
    if (!cur.ok()) return cur.take_error();
    if (!*cur) return Ok{};
    if (expected_due >= 0 && (*cur)->next_run_ms != expected_due) return Ok{};  // already ran
    if (once && !(*cur)->run_once) return Ok{};
    if (prepared.ok()) {
      auto e = tx.Exec("INSERT INTO ssm_association_execution (association_id, execution_id,"
                       " version, command_id, created_ms) VALUES (?, ?, ?, ?, ?)",
                       {id, execution_id, (*cur)->version, prepared->command_id, now});
      if (!e.ok()) return e.take_error();
      for (const auto& t : prepared->targets) {
        auto up = tx.Exec(
            "INSERT INTO ssm_association_target (association_id, node_id, execution_id,"
            " command_id, version, executed_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT"
            " (association_id, node_id) DO UPDATE SET execution_id = excluded.execution_id,"
            " command_id = excluded.command_id, version = excluded.version, executed_ms ="
            " excluded.executed_ms",
            {id, t.id, execution_id, prepared->command_id, (*cur)->version, now});
        if (!up.ok()) return up.take_error();
      }
      if (Status s = run_command_.Insert(tx, *prepared, effects); !s.ok()) return s;
    } else {
      // The targets cannot be run (a node deregistered since): no execution this time.
      fmt::print(stderr, "groundcrewd: association {}: {}\n", id, prepared.error().message);
    }
    std::string sql = "UPDATE ssm_association SET last_execution_ms = ?";
    std::vector<Value> args = {now};
    if (expected_due >= 0) {
      const int64_t next = NextDue(spec, now, expected_due);
      if (next < 0) {
        sql += ", next_run_ms = NULL";  // no more runs
      } else {
        sql += ", next_run_ms = ?";
        args.emplace_back(next);
      }
    }
    if (once) sql += ", run_once = 0";
    sql += " WHERE association_id = ?";
    args.emplace_back(id);
    auto u = tx.Exec(sql, args);
    if (!u.ok()) return u.take_error();
    return Ok{};
  });
}

void Associations::RunDue() {
  const int64_t now = clock_.NowMillis();
  struct Due {
    std::string id;
    int64_t due;
    bool once;
  };
  std::vector<Due> due;
  std::vector<Row> targeted;  // for the catch-up look
  const bool catch_up = checks_++ % kCatchUpEvery == 0;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT association_id, next_run_ms, run_once FROM ssm_association"
                         " WHERE deleted = 0 AND ((next_run_ms IS NOT NULL AND next_run_ms <= ?)"
                         " OR run_once = 1)",
                         {now});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      const bool is_due = !r.IsNull(1) && r.Int(1) <= now;
      if (is_due) due.push_back({r.Str(0), r.Int(1), false});
      if (r.Int(2) != 0) due.push_back({r.Str(0), -1, true});
    }
    if (!catch_up) return Ok{};
    auto all = tx.Query(fmt::format("SELECT {} FROM ssm_association WHERE deleted = 0",
                                    Row::kColumns));
    if (!all.ok()) return all.take_error();
    for (const auto& r : *all) {
      Row row = Row::From(r);
      if (row.spec.contains("Targets") && row.last_execution_ms > 0) {
        targeted.push_back(std::move(row));
      }
    }
    return Ok{};
  });
  if (!st.ok()) fmt::print(stderr, "groundcrewd: associations: {}\n", st.error().message);
  for (const auto& d : due) {
    Status r = Run(d.id, d.due, {}, d.once);
    if (!r.ok()) fmt::print(stderr, "groundcrewd: association {}: {}\n", d.id, r.error().message);
  }
  // Nodes that match an association's targets after it ran (registered or tagged later) get it.
  for (const auto& row : targeted) {
    Ctx ctx;
    ctx.account_id = row.account;
    ctx.region = row.region;
    ctx.now_millis = now;
    auto found = nodes_.FindTargets(ctx, row.spec["Targets"]);
    if (!found.ok()) continue;
    std::set<std::string> covered;
    Status c = store_.Read([&](Tx& tx) -> Status {
      auto rows = tx.Query("SELECT node_id FROM ssm_association_target WHERE association_id = ?",
                           {row.id});
      if (!rows.ok()) return rows.take_error();
      for (const auto& r : *rows) covered.insert(r.Str(0));
      return Ok{};
    });
    if (!c.ok()) continue;
    std::vector<std::string> fresh;
    for (const auto& n : *found) {
      if (n.registered && !covered.count(n.node_id)) fresh.push_back(n.node_id);
    }
    if (fresh.empty()) continue;
    Status r = Run(row.id, -1, fresh, false);
    if (!r.ok()) fmt::print(stderr, "groundcrewd: association {}: {}\n", row.id, r.error().message);
  }
  ScheduleCheck();
}

// ---- views -----------------------------------------------------------------------------------

Result<Json> Associations::Describe(const Ctx& ctx, const Row& row) {
  const Json& spec = row.spec;
  Json out = Json::object();
  for (const auto& [k, v] : spec.items()) {
    if (!k.empty() && k[0] != '_') out[k] = v;
  }
  out["AssociationId"] = row.id;
  out["AssociationVersion"] = std::to_string(row.version);
  out["Date"] = Seconds(row.created_ms);
  out["LastUpdateAssociationDate"] = Seconds(row.updated_ms);
  out["ApplyOnlyAtCronInterval"] = spec.value("ApplyOnlyAtCronInterval", false);
  std::string status = "Pending", details = "Pending";
  std::map<std::string, int64_t> counts;
  int64_t last_success = 0;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto execs = LoadExecutions(tx, row.id);
    if (!execs.ok()) return execs.take_error();
    if (!execs->empty()) {
      auto c = cmd::LoadCommand(tx, nullptr, execs->front().command_id);
      if (!c.ok()) return c.take_error();
      if (*c) {
        status = StatusOfCommand((*c)->status);
        details = (*c)->status == "InProgress" ? "InProgress" : (*c)->status;
        if (status == "Success") last_success = execs->front().created_ms;
      }
    }
    auto nodes = tx.Query(
        "SELECT i.details FROM ssm_association_target t JOIN ssm_invocation i ON"
        " i.command_id = t.command_id AND i.instance_id = t.node_id WHERE t.association_id = ?",
        {row.id});
    if (!nodes.ok()) return nodes.take_error();
    for (const auto& r : *nodes) ++counts[StatusOfInvocation(r.Str(0))];
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (spec.contains("_status")) {
    status = spec["_status"].value("Name", status);  // UpdateAssociationStatus (legacy agents)
  }
  out["Status"] = {{"Date", Seconds(row.updated_ms)}, {"Name", status}, {"Message", ""}};
  out["Overview"] = {{"Status", status},
                     {"DetailedStatus", details},
                     {"AssociationStatusAggregatedCount", counts}};
  if (row.last_execution_ms > 0) out["LastExecutionDate"] = Seconds(row.last_execution_ms);
  if (last_success > 0) out["LastSuccessfulExecutionDate"] = Seconds(last_success);
  (void)ctx;
  return out;
}

// ---- operations ------------------------------------------------------------------------------

Result<Json> Associations::CreateAssociation(const Ctx& ctx, const Json& in) {
  auto spec = SpecOf(ctx, in, nullptr);
  if (!spec.ok()) return spec.take_error();
  const int64_t now = clock_.NowMillis();
  const std::string id = crypto::Uuid4();
  // Applied at once unless it waits for its cron interval.
  int64_t next = now;
  if (spec->value("ApplyOnlyAtCronInterval", false)) next = NextDue(*spec, now, now);
  Status st = store_.Write([&](Tx& tx) -> Status {
    if (spec->contains("InstanceId")) {
      // One association of a document per node when it names the node (AWS).
      auto rows = tx.Query("SELECT spec FROM ssm_association WHERE account = ? AND region = ? AND"
                           " deleted = 0",
                           {ctx.account_id, ctx.region});
      if (!rows.ok()) return rows.take_error();
      for (const auto& r : *rows) {
        Json other = Json::parse(r.Str(0), nullptr, false);
        if (other.value("InstanceId", "") == (*spec)["InstanceId"] &&
            other.value("Name", "") == (*spec)["Name"]) {
          return AwsError{"AssociationAlreadyExists", "The specified association already exists.",
                          400};
        }
      }
    }
    auto ins = tx.Exec(fmt::format("INSERT INTO ssm_association ({}) VALUES (?, ?, ?, 1, ?, ?, ?,"
                                   " ?, 0, 0, 0)",
                                   Row::kColumns),
                       {id, ctx.account_id, ctx.region, spec->dump(), now, now,
                        next < 0 ? Value() : Value(next)});
    if (!ins.ok()) return ins.take_error();
    auto v = tx.Exec("INSERT INTO ssm_association_version (association_id, version, spec,"
                     " created_ms) VALUES (?, 1, ?, ?)",
                     {id, spec->dump(), now});
    if (!v.ok()) return v.take_error();
    return ResourceTags::PutTags(tx, ctx, kTagType, id, in.value("Tags", Json::array()));
  });
  if (!st.ok()) return st.take_error();
  if (next >= 0 && next <= now) pool_->Post([this] { RunDue(); });  // apply now, not in 1 s
  Row row;
  row.id = id;
  row.account = ctx.account_id;
  row.region = ctx.region;
  row.spec = *spec;
  row.created_ms = row.updated_ms = now;
  auto d = Describe(ctx, row);
  if (!d.ok()) return d.take_error();
  return Json{{"AssociationDescription", *d}};
}

Result<Json> Associations::CreateAssociationBatch(const Ctx& ctx, const Json& in) {
  Json ok = Json::array(), failed = Json::array();
  for (const auto& entry : in.value("Entries", Json::array())) {
    auto r = CreateAssociation(ctx, entry);
    if (r.ok()) {
      ok.push_back((*r)["AssociationDescription"]);
    } else {
      failed.push_back({{"Entry", entry}, {"Message", r.error().message}, {"Fault", "Client"}});
    }
  }
  return Json{{"Successful", ok}, {"Failed", failed}};
}

Result<Json> Associations::UpdateAssociation(const Ctx& ctx, const Json& in) {
  const std::string id = in.value("AssociationId", "");
  std::optional<Row> row;
  Status rd = store_.Read([&](Tx& tx) -> Status {
    auto r = LoadRow(tx, &ctx, id);
    if (!r.ok()) return r.take_error();
    row = std::move(*r);
    return Ok{};
  });
  if (!rd.ok()) return rd.take_error();
  if (!row) return DoesNotExist();
  if (in.contains("AssociationVersion") && in["AssociationVersion"] != "$LATEST" &&
      in["AssociationVersion"] != std::to_string(row->version)) {
    return AwsError{"InvalidAssociationVersion",
                    "The version you specified is not valid. Use ListAssociationVersions to view "
                    "all versions of an association according to the association ID. Or, use the "
                    "$LATEST parameter to view the latest version of the association.",
                    400};
  }
  auto spec = SpecOf(ctx, in, &row->spec);
  if (!spec.ok()) return spec.take_error();
  const int64_t now = clock_.NowMillis();
  int64_t next = now;  // an updated association applies again at once
  if (spec->value("ApplyOnlyAtCronInterval", false)) {
    next = NextDue(*spec, now, now);
  }
  const int64_t version = row->version + 1;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto u = tx.Exec("UPDATE ssm_association SET version = ?, spec = ?, updated_ms = ?,"
                     " next_run_ms = ? WHERE association_id = ? AND version = ? AND deleted = 0",
                     {version, spec->dump(), now, next < 0 ? Value() : Value(next), id,
                      row->version});
    if (!u.ok()) return u.take_error();
    if (*u == 0) return AwsError{"TooManyUpdates", "There are concurrent updates.", 400};
    auto v = tx.Exec("INSERT INTO ssm_association_version (association_id, version, spec,"
                     " created_ms) VALUES (?, ?, ?, ?)",
                     {id, version, spec->dump(), now});
    if (!v.ok()) return v.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (next >= 0 && next <= now) pool_->Post([this] { RunDue(); });
  row->version = version;
  row->spec = *spec;
  row->updated_ms = now;
  auto d = Describe(ctx, *row);
  if (!d.ok()) return d.take_error();
  return Json{{"AssociationDescription", *d}};
}

namespace {

// AssociationId, or Name + InstanceId (the older form): the association's id, "" if none.
Result<std::string> FindId(Tx& tx, const wire::CallContext& ctx, const Json& in) {
  if (in.contains("AssociationId")) return in.value("AssociationId", "");
  const std::string name = in.value("Name", ""), node = in.value("InstanceId", "");
  auto rows = tx.Query("SELECT association_id, spec FROM ssm_association WHERE account = ? AND"
                       " region = ? AND deleted = 0",
                       {ctx.account_id, ctx.region});
  if (!rows.ok()) return rows.take_error();
  for (const auto& r : *rows) {
    Json spec = Json::parse(r.Str(1), nullptr, false);
    if (spec.value("Name", "") == name && spec.value("InstanceId", "") == node) return r.Str(0);
  }
  return std::string();
}

}  // namespace

Result<Json> Associations::DeleteAssociation(const Ctx& ctx, const Json& in) {
  bool found = false;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto id = FindId(tx, ctx, in);
    if (!id.ok()) return id.take_error();
    auto row = LoadRow(tx, &ctx, *id);
    if (!row.ok()) return row.take_error();
    found = row->has_value();
    if (!found) return Ok{};
    auto u = tx.Exec("UPDATE ssm_association SET deleted = 1, next_run_ms = NULL, run_once = 0"
                     " WHERE association_id = ?",
                     {*id});
    if (!u.ok()) return u.take_error();
    auto t = tx.Exec("DELETE FROM ssm_association_target WHERE association_id = ?", {*id});
    if (!t.ok()) return t.take_error();
    return ResourceTags::DeleteAllTags(tx, ctx, kTagType, *id);
  });
  if (!st.ok()) return st.take_error();
  if (!found) return DoesNotExist();
  return Json::object();
}

Result<std::string> Associations::ResolveExisting(const Ctx& ctx, const std::string& id) {
  bool found = false;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto row = LoadRow(tx, &ctx, id);
    if (!row.ok()) return row.take_error();
    found = row->has_value();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!found) return errors::InvalidResourceId();
  return id;
}

Result<Json> Associations::DescribeAssociation(const Ctx& ctx, const Json& in) {
  std::optional<Row> row;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto id = FindId(tx, ctx, in);
    if (!id.ok()) return id.take_error();
    auto r = LoadRow(tx, &ctx, *id);
    if (!r.ok()) return r.take_error();
    row = std::move(*r);
    if (!row || !in.contains("AssociationVersion") || in["AssociationVersion"] == "$LATEST") {
      return Ok{};
    }
    auto v = tx.Query("SELECT spec, created_ms FROM ssm_association_version WHERE"
                      " association_id = ? AND version = ?",
                      {row->id, int64_t{std::atoll(in["AssociationVersion"].get<std::string>()
                                                       .c_str())}});
    if (!v.ok()) return v.take_error();
    if (v->empty()) {
      return AwsError{"InvalidAssociationVersion", "The version you specified is not valid.",
                      400};
    }
    row->version = std::atoll(in["AssociationVersion"].get<std::string>().c_str());
    row->spec = Json::parse(v->front().Str(0), nullptr, false);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!row) return DoesNotExist();
  auto d = Describe(ctx, *row);
  if (!d.ok()) return d.take_error();
  return Json{{"AssociationDescription", *d}};
}

Result<Json> Associations::ListAssociations(const Ctx& ctx, const Json& in) {
  std::vector<Row> rows;
  std::map<std::string, std::set<std::string>> nodes_of;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto r = tx.Query(fmt::format("SELECT {} FROM ssm_association WHERE account = ? AND region = ?"
                                  " AND deleted = 0 ORDER BY association_id",
                                  Row::kColumns),
                      {ctx.account_id, ctx.region});
    if (!r.ok()) return r.take_error();
    for (const auto& x : *r) rows.push_back(Row::From(x));
    auto t = tx.Query("SELECT association_id, node_id FROM ssm_association_target");
    if (!t.ok()) return t.take_error();
    for (const auto& x : *t) nodes_of[x.Str(0)].insert(x.Str(1));
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  auto after = DecodeNextToken(in, "associations");
  if (!after.ok()) return after.take_error();
  int64_t max = in.value("MaxResults", int64_t{50});
  if (max <= 0 || max > 50) max = 50;
  Json list = Json::array();
  for (const auto& row : rows) {
    if (!after->empty() && row.id <= *after) continue;
    auto d = Describe(ctx, row);
    if (!d.ok()) return d.take_error();
    bool ok = true;
    for (const auto& f : in.value("AssociationFilterList", Json::array())) {
      const std::string key = f.value("key", ""), value = f.value("value", "");
      if (key == "InstanceId") {
        ok = row.spec.value("InstanceId", "") == value || nodes_of[row.id].count(value);
      } else if (key == "Name") {
        ok = row.spec.value("Name", "") == value;
      } else if (key == "AssociationId") {
        ok = row.id == value;
      } else if (key == "AssociationName") {
        ok = row.spec.value("AssociationName", "") == value;
      } else if (key == "AssociationStatusName") {
        ok = (*d)["Overview"]["Status"] == value;
      } else if (key == "LastExecutedBefore" || key == "LastExecutedAfter") {
        const int64_t t = ParseIsoMs(value);
        if (t < 0) return AwsError{"ValidationException", "Invalid date: " + value, 400};
        ok = row.last_execution_ms > 0 && (key == "LastExecutedBefore"
                                               ? row.last_execution_ms < t
                                               : row.last_execution_ms > t);
      } else if (key == "ResourceGroupName") {
        ok = false;  // resource groups are not supported
      }
      if (!ok) break;
    }
    if (!ok) continue;
    if (static_cast<int64_t>(list.size()) == max) {
      return Json{{"Associations", list},
                  {"NextToken", EncodeNextToken("associations",
                                                list.back()["AssociationId"].get<std::string>())}};
    }
    Json a = {{"AssociationId", row.id},
              {"AssociationVersion", (*d)["AssociationVersion"]},
              {"Name", row.spec.value("Name", "")},
              {"DocumentVersion", row.spec.value("DocumentVersion", "$DEFAULT")},
              {"Overview", (*d)["Overview"]}};
    for (const char* k : {"InstanceId", "Targets", "ScheduleExpression", "AssociationName",
                          "ScheduleOffset", "LastExecutionDate"}) {
      if (d->contains(k)) a[k] = (*d)[k];
    }
    list.push_back(std::move(a));
  }
  return Json{{"Associations", list}};
}

Result<Json> Associations::ListAssociationVersions(const Ctx& ctx, const Json& in) {
  const std::string id = in.value("AssociationId", "");
  Json list = Json::array();
  Status st = ReadAssociation(store_, ctx, id, [&](Tx& tx, const Row&) -> Status {
    auto r = tx.Query("SELECT version, spec, created_ms FROM ssm_association_version WHERE"
                      " association_id = ? ORDER BY version",
                      {id});
    if (!r.ok()) return r.take_error();
    for (const auto& x : *r) {
      Json v = Json::parse(x.Str(1), nullptr, false);
      Json out = {{"AssociationId", id},
                  {"AssociationVersion", std::to_string(x.Int(0))},
                  {"CreatedDate", Seconds(x.Int(2))}};
      for (const auto& [k, val] : v.items()) {
        if (k != "InstanceId" && !k.empty() && k[0] != '_') out[k] = val;
      }
      list.push_back(std::move(out));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"AssociationVersions", list}};
}

Result<Json> Associations::DescribeAssociationExecutions(const Ctx& ctx, const Json& in) {
  const std::string id = in.value("AssociationId", "");
  Json list = Json::array();
  Status st = ReadAssociation(store_, ctx, id, [&](Tx& tx, const Row&) -> Status {
    auto execs = LoadExecutions(tx, id);
    if (!execs.ok()) return execs.take_error();
    for (const auto& e : *execs) {
      auto c = cmd::LoadCommand(tx, nullptr, e.command_id);
      if (!c.ok()) return c.take_error();
      const std::string status = *c ? StatusOfCommand((*c)->status) : "Failed";
      auto counts = tx.Query("SELECT details, COUNT(*) FROM ssm_invocation WHERE command_id = ?"
                             " GROUP BY details ORDER BY details",
                             {e.command_id});
      if (!counts.ok()) return counts.take_error();
      std::string by_status = "{";
      for (const auto& r : *counts) {
        if (by_status.size() > 1) by_status += ", ";
        by_status += fmt::format("{}={}", r.Str(0), r.Int(1));
      }
      by_status += "}";
      Json x = {{"AssociationId", id},
                {"AssociationVersion", std::to_string(e.version)},
                {"ExecutionId", e.id},
                {"Status", status},
                {"DetailedStatus", *c ? (*c)->status : "Failed"},
                {"CreatedTime", Seconds(e.created_ms)},
                {"LastExecutionDate", Seconds(e.created_ms)},
                {"ResourceCountByStatus", by_status}};
      bool ok = true;
      for (const auto& f : in.value("Filters", Json::array())) {
        const std::string key = f.value("Key", ""), value = f.value("Value", "");
        const std::string type = f.value("Type", "EQUAL");
        if (key == "ExecutionId") ok = e.id == value;
        if (key == "Status") ok = status == value;
        if (key == "CreatedTime") {
          const int64_t t = ParseIsoMs(value);
          ok = type == "LESS_THAN"      ? e.created_ms < t
               : type == "GREATER_THAN" ? e.created_ms > t
                                        : e.created_ms / 1000 == t / 1000;
        }
        if (!ok) break;
      }
      if (ok) list.push_back(std::move(x));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"AssociationExecutions", list}};
}

Result<Json> Associations::DescribeAssociationExecutionTargets(const Ctx& ctx, const Json& in) {
  const std::string id = in.value("AssociationId", "");
  const std::string execution = in.value("ExecutionId", "");
  Json list = Json::array();
  bool exec_found = false;
  Status st = ReadAssociation(store_, ctx, id, [&](Tx& tx, const Row&) -> Status {
    auto e = tx.Query("SELECT command_id, version FROM ssm_association_execution WHERE"
                      " association_id = ? AND execution_id = ?",
                      {id, execution});
    if (!e.ok()) return e.take_error();
    exec_found = !e->empty();
    if (!exec_found) return Ok{};
    const std::string command_id = e->front().Str(0);
    auto invs = cmd::LoadInvocations(tx, command_id);
    if (!invs.ok()) return invs.take_error();
    for (const auto& i : *invs) {
      const std::string status = StatusOfInvocation(i.details);
      bool ok = true;
      for (const auto& f : in.value("Filters", Json::array())) {
        const std::string key = f.value("Key", ""), value = f.value("Value", "");
        if (key == "Status") ok = status == value;
        if (key == "ResourceId") ok = i.instance_id == value;
        if (key == "ResourceType") ok = value == "ManagedInstance";
        if (!ok) break;
      }
      if (!ok) continue;
      list.push_back({{"AssociationId", id},
                      {"AssociationVersion", std::to_string(e->front().Int(1))},
                      {"ExecutionId", execution},
                      {"ResourceId", i.instance_id},
                      {"ResourceType", "ManagedInstance"},
                      {"Status", status},
                      {"DetailedStatus", i.details},
                      {"LastExecutionDate", Seconds(i.end_ms ? i.end_ms : i.updated_ms)},
                      {"OutputSource",
                       {{"OutputSourceId", command_id}, {"OutputSourceType", "RunCommand"}}}});
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!exec_found) {
    return AwsError{"AssociationExecutionDoesNotExist",
                    "The specified execution ID does not exist. Verify the ID number and try "
                    "again.",
                    400};
  }
  return Json{{"AssociationExecutionTargets", list}};
}

Result<Json> Associations::StartAssociationsOnce(const Ctx& ctx, const Json& in) {
  const Json ids = in.value("AssociationIds", Json::array());
  Status st = store_.Write([&](Tx& tx) -> Status {
    for (const auto& id : ids) {
      auto row = LoadRow(tx, &ctx, id.get<std::string>());
      if (!row.ok()) return row.take_error();
      if (!*row) return DoesNotExist();
      auto u = tx.Exec("UPDATE ssm_association SET run_once = 1 WHERE association_id = ?",
                       {id.get<std::string>()});
      if (!u.ok()) return u.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  pool_->Post([this] { RunDue(); });
  return Json::object();
}

Result<Json> Associations::DescribeInstanceAssociationsStatus(const Ctx& ctx, const Json& in) {
  const std::string node = in.value("InstanceId", "");
  auto state = nodes_.GetNode(ctx, node);
  if (!state.ok()) return state.take_error();
  if (!*state) return errors::InvalidInstanceId(node);
  Json list = Json::array();
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        fmt::format("SELECT t.association_id, t.command_id, t.version, t.executed_ms, a.spec"
                    " FROM ssm_association_target t JOIN ssm_association a ON a.association_id"
                    " = t.association_id WHERE t.node_id = ? AND a.deleted = 0 ORDER BY"
                    " t.association_id"),
        {node});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      Json spec = Json::parse(r.Str(4), nullptr, false);
      auto inv = cmd::LoadInvocation(tx, r.Str(1), node);
      if (!inv.ok()) return inv.take_error();
      const std::string details = *inv ? (*inv)->details : std::string(cmd::kPending);
      Json x = {{"AssociationId", r.Str(0)},
                {"Name", spec.value("Name", "")},
                {"DocumentVersion", spec.value("DocumentVersion", "$DEFAULT")},
                {"AssociationVersion", std::to_string(r.Int(2))},
                {"InstanceId", node},
                {"ExecutionDate", Seconds(r.Int(3))},
                {"Status", StatusOfInvocation(details)},
                {"DetailedStatus", details},
                {"ExecutionSummary", *inv ? ExecutionSummary((*inv)->state) : ""},
                {"ErrorCode", ""}};
      if (spec.contains("AssociationName")) x["AssociationName"] = spec["AssociationName"];
      list.push_back(std::move(x));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"InstanceAssociationStatusInfos", list}};
}

Result<Json> Associations::DescribeEffectiveInstanceAssociations(const Ctx& ctx, const Json& in) {
  const std::string node = in.value("InstanceId", "");
  auto state = nodes_.GetNode(ctx, node);
  if (!state.ok()) return state.take_error();
  if (!*state) return errors::InvalidInstanceId(node);
  std::vector<Row> rows;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto r = tx.Query(fmt::format("SELECT {} FROM ssm_association WHERE account = ? AND region = ?"
                                  " AND deleted = 0 ORDER BY association_id",
                                  Row::kColumns),
                      {ctx.account_id, ctx.region});
    if (!r.ok()) return r.take_error();
    for (const auto& x : *r) rows.push_back(Row::From(x));
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json list = Json::array();
  for (const auto& row : rows) {
    bool targets_node = row.spec.value("InstanceId", "") == node;
    if (!targets_node && row.spec.contains("Targets")) {
      auto found = nodes_.FindTargets(ctx, row.spec["Targets"]);
      if (found.ok()) {
        for (const auto& n : *found) targets_node = targets_node || n.node_id == node;
      }
    }
    if (!targets_node) continue;
    auto doc = documents_.Resolve(ctx, row.spec.value("Name", ""),
                                  row.spec.value("DocumentVersion", ""));
    list.push_back({{"AssociationId", row.id},
                    {"InstanceId", node},
                    {"Content", doc.ok() ? doc->content.dump() : ""},
                    {"AssociationVersion", std::to_string(row.version)}});
  }
  return Json{{"Associations", list}};
}

Result<Json> Associations::UpdateAssociationStatus(const Ctx& ctx, const Json& in) {
  std::optional<Row> row;
  const Json status = in.value("AssociationStatus", Json::object());
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto id = FindId(tx, ctx, in);
    if (!id.ok()) return id.take_error();
    auto r = LoadRow(tx, &ctx, *id);
    if (!r.ok()) return r.take_error();
    row = std::move(*r);
    if (!row) return Ok{};
    if (row->spec.contains("_status") && row->spec["_status"] == status) {
      return AwsError{"StatusUnchanged", "The updated status is the same as the current status.",
                      400};
    }
    row->spec["_status"] = status;
    auto u = tx.Exec("UPDATE ssm_association SET spec = ? WHERE association_id = ?",
                     {row->spec.dump(), row->id});
    if (!u.ok()) return u.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!row) return DoesNotExist();
  auto d = Describe(ctx, *row);
  if (!d.ok()) return d.take_error();
  return Json{{"AssociationDescription", *d}};
}

Result<std::vector<ComplianceItem>> Associations::ComplianceItems(const Ctx& ctx) {
  std::vector<ComplianceItem> out;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        "SELECT t.association_id, t.node_id, t.execution_id, t.executed_ms, a.spec, i.details"
        " FROM ssm_association_target t JOIN ssm_association a ON a.association_id ="
        " t.association_id JOIN ssm_invocation i ON i.command_id = t.command_id AND"
        " i.instance_id = t.node_id WHERE a.account = ? AND a.region = ? AND a.deleted = 0"
        " ORDER BY t.node_id, t.association_id",
        {ctx.account_id, ctx.region});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      const std::string details = r.Str(5);
      if (!cmd::IsTerminal(details)) continue;  // still running: nothing to say yet
      Json spec = Json::parse(r.Str(4), nullptr, false);
      if (spec.value("SyncCompliance", "AUTO") == "MANUAL") continue;
      ComplianceItem i;
      i.compliance_type = "Association";
      i.resource_id = r.Str(1);
      i.id = r.Str(0);
      i.title = spec.value("AssociationName", "");
      i.status = details == cmd::kSuccess ? "COMPLIANT" : "NON_COMPLIANT";
      i.severity = spec.value("ComplianceSeverity", "UNSPECIFIED");
      i.details = {{"DocumentName", spec.value("Name", "")},
                   {"DocumentVersion", spec.value("DocumentVersion", "$DEFAULT")}};
      i.execution_summary = {{"ExecutionTime", Seconds(r.Int(3))},
                             {"ExecutionId", r.Str(2)},
                             {"ExecutionType", "Command"}};
      out.push_back(std::move(i));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

}  // namespace gc::ssm
