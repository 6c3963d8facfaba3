#include "services/ssm/command_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <unordered_map>

#include "services/ssm/command_rules.h"

namespace gc::ssm::commands {
namespace {

using Json = nlohmann::json;
using store::Row;
using store::Tx;

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// A command's spec, parsed once: every acknowledgement and reply loads the command row, and the
// spec (which holds the document) is most of its parsing. Keyed by command id and checked
// against the text, so a reused id (a reset store, tests) never gets another command's spec.
std::shared_ptr<const Json> ParsedSpec(const std::string& command_id, const std::string& text) {
  struct Parsed {
    std::string text;
    std::shared_ptr<const Json> json;
  };
  static std::mutex mu;
  static std::unordered_map<std::string, Parsed> cache;
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(command_id); it != cache.end() && it->second.text == text) {
      return it->second.json;
    }
  }
  auto parsed = std::make_shared<const Json>(Json::parse(text, nullptr, false));
  std::lock_guard lock(mu);
  if (cache.size() >= 1024) cache.clear();
  cache[command_id] = Parsed{text, parsed};
  return parsed;
}

// NotificationConfig asks for `status` (an API status; "All" asks for every one but Pending).
bool Wanted(const Json& config, const std::string& type, const std::string& status) {
  if (!config.is_object() || config.value("NotificationArn", "").empty()) return false;
  if (config.value("NotificationType", "") != type) return false;
  if (status == "Pending") return false;
  for (const auto& e : config.value("NotificationEvents", Json::array())) {
    if (!e.is_string()) continue;
    if (e == "All" || e == status) return true;
  }
  return false;
}

}  // namespace

std::string IsoMillis(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

int64_t ParseIsoMillis(const std::string& s) {
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
  return static_cast<int64_t>(timegm(&tm)) * 1000 + static_cast<int64_t>(sec * 1000);
}

std::string MessageIdOf(const std::string& command_id, const std::string& node_id) {
  return fmt::format("aws.ssm.{}.{}", command_id, node_id);
}

// ---- rows ------------------------------------------------------------------------------------

const char* CommandRow::Columns() {
  return "command_id, account, region, requested_ms, expires_ms, spec, max_concurrency,"
         " max_errors, status, status_details, target_count, completed_count, error_count,"
         " dt_count, cancel_requested, active, released_count, et_count, success_count,"
         " cancelled_count";
}

CommandRow CommandRow::From(const Row& r) {
  CommandRow c;
  c.command_id = r.Str(0);
  c.account = r.Str(1);
  c.region = r.Str(2);
  c.requested_ms = r.Int(3);
  c.expires_ms = r.Int(4);
  c.spec = ParsedSpec(c.command_id, r.Str(5));
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
  c.released_count = r.Int(16);
  c.et_count = r.Int(17);
  c.success_count = r.Int(18);
  c.cancelled_count = r.Int(19);
  return c;
}

Json CommandRow::ToJson() const {
  Json out = Json::object();
  for (const auto& [k, v] : spec->items()) {
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

const char* InvocationRow::Columns() {
  return "command_id, instance_id, seq, instance_name, details, released, delivered, updated_ms,"
         " start_ms, end_ms, state";
}

InvocationRow InvocationRow::From(const Row& r) {
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

Result<std::optional<CommandRow>> LoadCommand(Tx& tx, const wire::CallContext* ctx,
                                             const std::string& command_id) {
  auto rows = tx.Query(
      fmt::format("SELECT {} FROM ssm_command WHERE command_id = ?", CommandRow::Columns()),
      {command_id});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<CommandRow>();
  CommandRow c = CommandRow::From(rows->front());
  if (ctx && (c.account != ctx->account_id || c.region != ctx->region)) {
    return std::optional<CommandRow>();
  }
  return std::optional<CommandRow>(std::move(c));
}

Result<std::optional<InvocationRow>> LoadInvocation(Tx& tx, const std::string& command_id,
                                                    const std::string& node_id) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_invocation WHERE command_id = ? AND"
                                   " instance_id = ?",
                                   InvocationRow::Columns()),
                       {command_id, node_id});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<InvocationRow>();
  return std::optional<InvocationRow>(InvocationRow::From(rows->front()));
}

Result<std::vector<InvocationRow>> LoadInvocations(Tx& tx, const std::string& command_id) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_invocation WHERE command_id = ? ORDER BY seq",
                                   InvocationRow::Columns()),
                       {command_id});
  if (!rows.ok()) return rows.take_error();
  std::vector<InvocationRow> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) out.push_back(InvocationRow::From(r));
  return out;
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

// ---- Update -----------------------------------------------------------------------------------

Result<std::optional<Update>> Update::Load(Tx& tx, const std::string& command_id, int64_t now,
                                           Effects& effects) {
  auto c = LoadCommand(tx, nullptr, command_id);
  if (!c.ok()) return c.take_error();
  if (!*c) return std::optional<Update>();
  return std::optional<Update>(Update(tx, std::move(**c), now, effects));
}

Update::Update(Tx& tx, CommandRow row, int64_t now, Effects& effects)
    : tx_(&tx), c_(std::move(row)), loaded_(c_), now_(now), effects_(&effects) {}

Status Update::WriteInvocation(const InvocationRow& inv) {
  auto r = tx_->Exec(
      "UPDATE ssm_invocation SET details = ?, released = ?, delivered = ?, updated_ms = ?,"
      " start_ms = ?, end_ms = ?, state = ? WHERE command_id = ? AND instance_id = ?",
      {inv.details, int64_t{inv.released ? 1 : 0}, int64_t{inv.delivered ? 1 : 0}, inv.updated_ms,
       inv.start_ms, inv.end_ms, inv.state.dump(), inv.command_id, inv.instance_id});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Status Update::Set(InvocationRow& inv, std::string_view details) {
  const std::string old = inv.details;
  inv.updated_ms = now_;
  if (old != details && !IsTerminal(old)) {
    inv.details = std::string(details);
    if (details == kInProgress && inv.start_ms == 0) inv.start_ms = now_;
    if (IsTerminal(details)) {
      if (inv.end_ms == 0) inv.end_ms = now_;
      if (!inv.released) ++c_.released_count;  // counted as released once final
      ++c_.completed_count;
      if (CountsAsError(details)) ++c_.error_count;
      if (details == kDeliveryTimedOut) ++c_.dt_count;
      if (details == kExecutionTimedOut) ++c_.et_count;
      if (details == kSuccess) ++c_.success_count;
      if (details == kCancelled) ++c_.cancelled_count;
    }
    const std::string status = InvocationStatus(details);
    if (status != InvocationStatus(old)) Notify(&inv, status, inv.details);
  }
  return WriteInvocation(inv);
}

Status Update::Finish() {
  const int64_t waiting = c_.target_count - c_.released_count;
  if (waiting > 0) {
    const bool stop = c_.cancel_requested || ErrorsExceeded(c_.error_count, c_.max_errors);
    const int64_t in_flight = c_.released_count - c_.completed_count;
    const int64_t allowed = stop ? waiting : Releasable(c_.max_concurrency, in_flight, waiting);
    if (allowed > 0) {
      auto rows = tx_->Query(
          fmt::format("SELECT {} FROM ssm_invocation WHERE command_id = ? AND released = 0 AND"
                      " details IN ('Pending', 'Delayed') ORDER BY seq LIMIT ?",
                      InvocationRow::Columns()),
          {c_.command_id, allowed});
      if (!rows.ok()) return rows.take_error();
      const std::string payload =
          stop ? std::string() : c_.spec->value("_payload", Json::object()).dump();
      for (const auto& r : *rows) {
        InvocationRow inv = InvocationRow::From(r);
        if (stop) {
          // Cancelled, or MaxErrors exceeded: the rest is never started (AWS: Terminated).
          if (Status st = Set(inv, c_.cancel_requested ? kCancelled : kTerminated); !st.ok()) {
            return st;
          }
          continue;
        }
        inv.released = true;
        inv.updated_ms = now_;
        ++c_.released_count;
        if (Status st = WriteInvocation(inv); !st.ok()) return st;
        if (Status st = InsertMessage(*tx_, MessageIdOf(c_.command_id, inv.instance_id),
                                      inv.instance_id, c_.command_id, kSendKind, payload, now_);
            !st.ok()) {
          return st;
        }
        effects_->released.push_back(inv.instance_id);
      }
    }
  }
  Counts n;
  n.targets = c_.target_count;
  n.released = c_.released_count;
  n.completed = c_.completed_count;
  n.errors = c_.error_count;
  n.delivery_timed_out = c_.dt_count;
  n.execution_timed_out = c_.et_count;
  n.success = c_.success_count;
  n.cancelled = c_.cancelled_count;
  CommandStatus s = Aggregate(n, c_.max_errors, c_.cancel_requested);
  if (s.status != c_.status) Notify(nullptr, s.status, s.details);
  c_.status = s.status;
  c_.status_details = s.details;
  c_.active = !s.terminal;
  const CommandRow& o = loaded_;
  if (c_.status == o.status && c_.status_details == o.status_details && c_.active == o.active &&
      c_.target_count == o.target_count && c_.released_count == o.released_count &&
      c_.completed_count == o.completed_count && c_.error_count == o.error_count &&
      c_.dt_count == o.dt_count && c_.et_count == o.et_count &&
      c_.success_count == o.success_count && c_.cancelled_count == o.cancelled_count &&
      c_.cancel_requested == o.cancel_requested) {
    return Ok{};  // an acknowledgement or an InProgress reply: the command row stays as it is
  }
  loaded_ = c_;
  auto r = tx_->Exec(
      "UPDATE ssm_command SET status = ?, status_details = ?, target_count = ?,"
      " completed_count = ?, error_count = ?, dt_count = ?, active = ?, released_count = ?,"
      " et_count = ?, success_count = ?, cancelled_count = ?, cancel_requested = ?"
      " WHERE command_id = ?",
      {c_.status, c_.status_details, c_.target_count, c_.completed_count, c_.error_count,
       c_.dt_count, int64_t{c_.active ? 1 : 0}, c_.released_count, c_.et_count, c_.success_count,
       c_.cancelled_count, int64_t{c_.cancel_requested ? 1 : 0}, c_.command_id});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Status Update::Recount() {
  auto rows = tx_->Query(
      "SELECT details, released, COUNT(*) FROM ssm_invocation WHERE command_id = ?"
      " GROUP BY details, released",
      {c_.command_id});
  if (!rows.ok()) return rows.take_error();
  c_.target_count = c_.released_count = c_.completed_count = c_.error_count = 0;
  c_.dt_count = c_.et_count = c_.success_count = c_.cancelled_count = 0;
  for (const auto& r : *rows) {
    const std::string d = r.Str(0);
    const int64_t k = r.Int(2);
    c_.target_count += k;
    if (r.Int(1) != 0 || IsTerminal(d)) c_.released_count += k;
    if (!IsTerminal(d)) continue;
    c_.completed_count += k;
    if (CountsAsError(d)) c_.error_count += k;
    if (d == kDeliveryTimedOut) c_.dt_count += k;
    if (d == kExecutionTimedOut) c_.et_count += k;
    if (d == kSuccess) c_.success_count += k;
    if (d == kCancelled) c_.cancelled_count += k;
  }
  return Ok{};
}

// The messages follow AWS's examples ("Example Amazon SNS notifications for AWS Systems
// Manager"): one per command status change (NotificationType Command) or per invocation status
// change (Invocation).
void Update::Notify(const InvocationRow* inv, const std::string& status,
                    const std::string& details) {
  const Json config = c_.spec->value("NotificationConfig", Json::object());
  if (!Wanted(config, inv ? "Invocation" : "Command", status)) return;
  Json m = {{"commandId", c_.command_id}, {"documentName", c_.spec->value("DocumentName", "")}};
  if (inv) {
    m["instanceId"] = inv->instance_id;
    m["requestedDateTime"] = IsoMillis(c_.requested_ms);
    m["status"] = status;
    m["detailedStatus"] = details;
  } else {
    m["instanceIds"] = c_.spec->value("InstanceIds", Json::array());
    m["requestedDateTime"] = IsoMillis(c_.requested_ms);
    m["expiresAfter"] = IsoMillis(c_.expires_ms);
    m["outputS3BucketName"] = c_.spec->value("OutputS3BucketName", "");
    m["outputS3KeyPrefix"] = c_.spec->value("OutputS3KeyPrefix", "");
    m["status"] = status;
  }
  m["eventTime"] = IsoMillis(now_);
  effects_->notices.push_back(
      {c_.account, c_.region, config.value("NotificationArn", ""), m.dump()});
}

}  // namespace gc::ssm::commands
