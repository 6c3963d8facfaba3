// Agent logging: one line per event on stderr, which systemd's journal keeps:
//   2024-10-16T10:00:01.532Z info job start aws.ssm.<id>.mi-… (AWS-RunShellScript)
// The timestamps make the agent's own log a record of when work started and ended. Thread-safe.
#pragma once

#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace gc::agent {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below `level` are dropped (default kInfo; GC_AGENT_LOG_LEVEL=debug lowers it).
void SetLogLevel(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

template <class... A>
void LogDebug(fmt::format_string<A...> f, A&&... a) {
  LogLine(LogLevel::kDebug, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void LogInfo(fmt::format_string<A...> f, A&&... a) {
  LogLine(LogLevel::kInfo, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void LogWarn(fmt::format_string<A...> f, A&&... a) {
  LogLine(LogLevel::kWarn, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void LogError(fmt::format_string<A...> f, A&&... a) {
  LogLine(LogLevel::kError, fmt::format(f, std::forward<A>(a)...));
}

}  // namespace gc::agent
