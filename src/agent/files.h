// Small file helpers for the agent's state directory: private directories (0700), files written
// atomically with mode 0600, listing, removal. Thread-safe (plain system calls).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::agent {

// An error that never came from a server (file system, OpenSSL, bad local input): code
// "AgentError", HTTP status 0.
AwsError LocalError(std::string message);

// Creates `path` and missing parents with `mode`; an existing `path` is chmod-ed to `mode`.
Status MakePrivateDir(const std::string& path, unsigned mode = 0700);
// Writes `data` to a temporary file beside `path`, fsyncs it, then renames it over `path`.
Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode = 0600);
std::optional<std::string> ReadFile(const std::string& path);
bool FileExists(const std::string& path);
// Names in `dir` (no "." / ".."), sorted; empty if `dir` is missing.
std::vector<std::string> ListDir(const std::string& dir);
void RemoveFile(const std::string& path);
void RemoveTree(const std::string& path);
// Seconds since `path` was last modified, or -1 if it is missing.
int64_t AgeSeconds(const std::string& path);
// `name` made safe as one path component: [A-Za-z0-9._-] kept, anything else '_', never "." or
// "..", at most 200 characters (longer names end with a hash of the whole name).
std::string SafeFileName(std::string_view name);
// `path` made absolute against the current directory ("" stays "").
std::string AbsolutePath(const std::string& path);

}  // namespace gc::agent
