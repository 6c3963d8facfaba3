#include "agent/reply.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "agent/aws_client.h"
#include "agent/timefmt.h"

#ifndef GC_AGENT_VERSION
#define GC_AGENT_VERSION "0.0.0"
#endif

namespace gc::agent {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::string_view kErrorTitle = "\n----------ERROR-------\n";
constexpr std::string_view kTruncateOut = "\n---Output truncated---";
constexpr std::string_view kTruncateError = "\n---Error truncated----";
constexpr std::string_view kStreamSuffix = "--output truncated--";
// groundcrew's addition: the captured stream (up to the capture cap) when the §2.5 form was cut,
// so GetCommandInvocation can serve it without S3.
constexpr const char* kFullStdout = "fullStandardOutput";
constexpr const char* kFullStderr = "fullStandardError";

// Go's s[:n] with n clamped to [0, len(s)] (Go would panic on the impossible cases).
std::string_view Prefix(std::string_view s, long n) {
  if (n <= 0) return {};
  return s.substr(0, std::min(s.size(), static_cast<size_t>(n)));
}

ojson AdditionalInfo(int64_t now_millis, const ojson& counts) {
  ojson agent;
  agent["lang"] = "en-US";
  agent["name"] = kAgentName;
  agent["os"] = "linux";
  agent["osver"] = "1";
  agent["ver"] = GC_AGENT_VERSION;
  ojson info;
  info["agent"] = std::move(agent);
  info["dateTime"] = FormatIsoMillis(now_millis);
  info["runId"] = "";
  info["runtimeStatusCounts"] = counts;
  info["ableToOpenMGSConnection"] = false;
  return info;
}

ojson RuntimeStatus(const PluginResult& r) {
  ojson s;
  s["status"] = r.status;
  // §2.5: a Failed plugin with code 0 is reported with code 1.
  s["code"] = (r.status == status::kFailed && r.code == 0) ? 1 : r.code;
  s["name"] = r.name;
  s["output"] = TruncateOutput(r.stdout_text, r.stderr_text, kMaxPluginOutput);
  s["startDateTime"] = FormatIsoMillis(r.start_millis);
  s["endDateTime"] = FormatIsoMillis(r.end_millis);
  s["outputS3BucketName"] = "";
  s["outputS3KeyPrefix"] = "";
  s["stepName"] = "";
  s["standardOutput"] = StringPrefix(r.stdout_text, kMaxStandardOutput, kStreamSuffix);
  s["standardError"] = StringPrefix(r.stderr_text, kMaxStandardError, kStreamSuffix);
  if (r.stdout_text.size() >= kMaxStandardOutput || r.stdout_capped) {
    s[kFullStdout] = r.stdout_text;
  }
  if (r.stderr_text.size() >= kMaxStandardError || r.stderr_capped) {
    s[kFullStderr] = r.stderr_text;
  }
  return s;
}

ojson Counts(const std::vector<PluginResult>& results) {
  ojson counts = ojson::object();
  for (const auto& r : results) {
    counts[r.status] = counts.value(r.status, 0) + 1;
  }
  return counts;
}

std::string Payload(std::string_view document_status, std::string_view trace,
                    const ojson& runtime_status, const ojson& counts, int64_t now_millis) {
  ojson p;
  p["additionalInfo"] = AdditionalInfo(now_millis, counts);
  p["documentStatus"] = document_status;
  p["documentTraceOutput"] = trace;
  p["runtimeStatus"] = runtime_status;
  return DumpJson(p);
}

}  // namespace

std::string TruncateOutput(std::string_view out, std::string_view err, size_t capacity) {
  const long output_size = static_cast<long>(out.size());
  const long error_size = static_cast<long>(err.size());
  std::string_view title = error_size > 0 ? kErrorTitle : std::string_view();
  const long available = static_cast<long>(capacity) - static_cast<long>(title.size());
  std::string r;
  if (output_size + error_size < available) {
    r.append(out).append(title).append(err);
    return r;
  }
  if (output_size > available / 2 && error_size > available / 2) {
    const long size = available - static_cast<long>(kTruncateError.size() + kTruncateOut.size());
    r.append(Prefix(out, size / 2)).append(kTruncateOut).append(title);
    r.append(Prefix(err, size / 2)).append(kTruncateError);
    return r;
  }
  if (output_size < available / 2) {
    const long size = available - static_cast<long>(kTruncateError.size());
    r.append(out).append(title).append(Prefix(err, size - output_size)).append(kTruncateError);
    return r;
  }
  const long size = available - static_cast<long>(kTruncateOut.size());
  r.append(Prefix(out, size - error_size)).append(kTruncateOut).append(title).append(err);
  return r;
}

std::string StringPrefix(std::string_view input, size_t max_length, std::string_view suffix) {
  if (input.size() < max_length) return std::string(input);
  if (max_length > suffix.size()) {
    std::string r(input.substr(0, max_length - suffix.size()));
    r.append(suffix);
    return r;
  }
  return std::string(suffix.substr(0, max_length));
}

std::string AggregateStatus(const std::vector<std::string>& statuses) {
  auto any = [&](std::string_view s) {
    return std::find(statuses.begin(), statuses.end(), s) != statuses.end();
  };
  if (any(status::kSuccessAndReboot)) return std::string(status::kSuccessAndReboot);
  if (any(status::kFailed)) return std::string(status::kFailed);
  if (any(status::kTimedOut)) return std::string(status::kTimedOut);
  if (any(status::kCancelled)) return std::string(status::kCancelled);
  const bool all_done = std::all_of(statuses.begin(), statuses.end(), [](const std::string& s) {
    return s == status::kSuccess || s == status::kSkipped;
  });
  return std::string(all_done ? status::kSuccess : status::kInProgress);
}

std::string InProgressPayload(int64_t now_millis) {
  return Payload(status::kInProgress, "", nullptr, nullptr, now_millis);
}

std::string PluginDonePayload(const std::vector<PluginResult>& done, int64_t now_millis) {
  ojson runtime = ojson::object();
  if (!done.empty()) runtime[done.back().id] = RuntimeStatus(done.back());
  return Payload(status::kInProgress, "", runtime, Counts(done), now_millis);
}

std::string FinalPayload(const std::vector<PluginResult>& all, int64_t now_millis) {
  std::vector<std::string> statuses;
  for (const auto& r : all) statuses.push_back(r.status);
  ojson runtime = ojson::object();
  if (all.size() == 1) runtime[all[0].id] = RuntimeStatus(all[0]);
  return Payload(AggregateStatus(statuses), "", runtime, Counts(all), now_millis);
}

std::string TracePayload(std::string_view document_status, std::string_view trace,
                         int64_t now_millis) {
  return Payload(document_status, trace, ojson::object(), nullptr, now_millis);
}

std::string StripFullOutput(std::string_view payload) {
  ojson p = ojson::parse(payload, nullptr, false);
  if (!p.is_object()) return std::string(payload);
  if (auto rs = p.find("runtimeStatus"); rs != p.end() && rs->is_object()) {
    for (auto& [id, entry] : rs->items()) {
      if (!entry.is_object()) continue;
      entry.erase(kFullStdout);
      entry.erase(kFullStderr);
    }
  }
  return DumpJson(p);
}

}  // namespace gc::agent
