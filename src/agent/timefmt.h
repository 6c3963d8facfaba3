// Time formats the agent protocol uses. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace gc::agent {

// ISO-8601 UTC with milliseconds, as in replies' dateTime: "2024-10-16T10:00:01.532Z".
std::string FormatIsoMillis(int64_t epoch_millis);
// SigV4's X-Amz-Date: "20241016T100001Z".
std::string FormatAmzDate(int64_t epoch_millis);
// Epoch seconds with a millisecond fraction, as the JSON protocols send timestamps: 1729072861.123.
double EpochSeconds(int64_t epoch_millis);

}  // namespace gc::agent
