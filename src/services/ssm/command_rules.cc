#include "services/ssm/command_rules.h"

#include <algorithm>
#include <charconv>

namespace gc::ssm::commands {
namespace {

// "10" → {10, false}; "10%" → {10, true}; bad text → {-1, false}.
std::pair<int64_t, bool> ParseAmount(std::string_view value) {
  bool percent = !value.empty() && value.back() == '%';
  if (percent) value.remove_suffix(1);
  int64_t n = -1;
  if (value.empty()) return {-1, false};
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < 0) return {-1, false};
  if (percent && n > 100) return {-1, false};
  return {n, percent};
}

// Plugin statuses the agent reports as final (2.6).
bool PluginFinal(std::string_view s) {
  return s == "Success" || s == "Failed" || s == "Cancelled" || s == "TimedOut" ||
         s == "Skipped" || s == "SuccessAndReboot" || s == "PassedAndReboot" ||
         s == "TestFailure" || s == "TestPass";
}

}  // namespace

bool IsTerminal(std::string_view d) {
  return !(d == kPending || d == kInProgress || d == kDelayed);
}

std::string InvocationStatus(std::string_view d) {
  if (d == kDeliveryTimedOut || d == kExecutionTimedOut) return "TimedOut";
  if (d == kUndeliverable) return "Failed";
  // Invocations the system cancelled because MaxErrors was exceeded.
  if (d == kTerminated) return "Cancelled";
  return std::string(d);
}

bool CountsAsError(std::string_view d) { return d == kFailed || d == kExecutionTimedOut; }

int64_t ConcurrencyLimit(std::string_view value, int64_t targets) {
  auto [n, percent] = ParseAmount(value);
  if (n < 0) return -1;
  if (!percent) return n;
  return std::max<int64_t>(1, (n * targets + 99) / 100);
}

int64_t ErrorLimit(std::string_view value, int64_t targets) {
  auto [n, percent] = ParseAmount(value);
  if (n < 0) return -1;
  if (!percent) return n;
  return n * targets / 100;
}

int64_t Releasable(int64_t max_concurrency, int64_t in_flight, int64_t not_released) {
  return std::clamp<int64_t>(max_concurrency - in_flight, 0, not_released);
}

CommandStatus Aggregate(const Counts& c, int64_t max_errors, bool cancel_requested) {
  if (c.completed < c.targets) {
    if (c.released > 0) return {"InProgress", "In Progress", false};
    return {"Pending", "Pending", false};
  }
  if (cancel_requested && c.cancelled > 0) return {"Cancelled", "Cancelled", true};
  if (c.success == c.targets) return {"Success", "Success", true};
  const int64_t threshold = std::max<int64_t>(1, max_errors);
  if (c.errors - c.execution_timed_out >= threshold || c.errors > max_errors) {
    return {"Failed", "Failed", true};
  }
  if (c.delivery_timed_out >= threshold) return {"TimedOut", "Delivery Timed Out", true};
  if (c.execution_timed_out >= threshold) return {"TimedOut", "Execution Timed Out", true};
  return {"Failed", "Incomplete", true};
}

std::string DetailsFromDocumentStatus(std::string_view s) {
  if (s == "Success" || s == "PassedAndReboot" || s == "TestPass" || s == "Skipped") {
    return std::string(kSuccess);
  }
  if (s == "Failed" || s == "TestFailure") return std::string(kFailed);
  if (s == "TimedOut") return std::string(kExecutionTimedOut);
  if (s == "Cancelled") return std::string(kCancelled);
  return "";
}

bool MergeReply(nlohmann::json& state, const nlohmann::json& payload) {
  if (!state.is_object()) state = nlohmann::json::object();
  bool changed = false;
  auto rs = payload.find("runtimeStatus");
  if (rs != payload.end() && rs->is_object()) {
    auto& plugins = state["plugins"];
    if (!plugins.is_object()) plugins = nlohmann::json::object();
    for (const auto& [id, entry] : rs->items()) {
      if (!entry.is_object()) continue;
      auto old = plugins.find(id);
      if (old != plugins.end()) {
        bool old_final = PluginFinal(old->value("status", ""));
        bool new_final = PluginFinal(entry.value("status", ""));
        if (old_final && !new_final) continue;  // a late InProgress never undoes a result
      }
      plugins[id] = entry;
      changed = true;
    }
  }
  auto ds = payload.find("documentStatus");
  if (ds != payload.end() && ds->is_string()) {
    const std::string& next = ds->get_ref<const std::string&>();
    std::string cur = state.value("documentStatus", "");
    bool cur_final = !DetailsFromDocumentStatus(cur).empty();
    if (!cur_final && next != cur) {
      state["documentStatus"] = next;
      changed = true;
    }
  }
  auto trace = payload.find("documentTraceOutput");
  if (trace != payload.end() && trace->is_string() && !trace->get_ref<const std::string&>().empty()) {
    state["traceOutput"] = *trace;
    changed = true;
  }
  return changed;
}

}  // namespace gc::ssm::commands
