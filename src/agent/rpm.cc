#include "agent/rpm.h"

#include <unistd.h>

#include <array>
#include <cstdlib>

#include "agent/files.h"
#include "agent/inventory_gatherers.h"
#include "agent/process.h"

namespace gc::agent {
namespace {

constexpr char kValueEnd = '\x1f';
constexpr char kRecordEnd = '\x1e';
constexpr size_t kValuesPerRecord = 11;  // the tags of kRpmQueryFormat
constexpr size_t kMaxQueryBytes = 64 << 20;
// What rpm prints for a tag the package's header does not have.
constexpr std::string_view kNone = "(none)";

// One record's values; false when it does not have exactly kValuesPerRecord of them.
bool SplitValues(std::string_view record, std::array<std::string, kValuesPerRecord>* values) {
  size_t n = 0;
  size_t pos = 0;
  while (pos < record.size()) {
    const size_t end = record.find(kValueEnd, pos);
    if (end == std::string_view::npos || n == kValuesPerRecord) return false;
    std::string_view v = record.substr(pos, end - pos);
    (*values)[n++] = v == kNone ? std::string() : std::string(v);
    pos = end + 1;
  }
  return n == kValuesPerRecord;
}

// The first line of `text`, for an error message.
std::string FirstLine(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
  return std::string(text.substr(0, text.find('\n')));
}

}  // namespace

std::vector<RpmRecord> ParseRpmQuery(std::string_view text) {
  std::vector<RpmRecord> out;
  std::array<std::string, kValuesPerRecord> v;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find(kRecordEnd, pos);
    if (end == std::string_view::npos) break;  // a tail without its end: cut short
    std::string_view record = text.substr(pos, end - pos);
    pos = end + 1;
    // rpm prints nothing between records, but a stray newline must not shift the name.
    while (!record.empty() && (record.front() == '\n' || record.front() == '\r')) {
      record.remove_prefix(1);
    }
    if (!SplitValues(record, &v) || v[0].empty()) continue;
    out.push_back(RpmRecord{.name = std::move(v[0]),
                            .vendor = std::move(v[1]),
                            .version = std::move(v[2]),
                            .release = std::move(v[3]),
                            .epoch = std::move(v[4]),
                            .install_time = std::move(v[5]),
                            .group = std::move(v[6]),
                            .arch = std::move(v[7]),
                            .url = std::move(v[8]),
                            .summary = std::move(v[9]),
                            .source_rpm = std::move(v[10])});
  }
  return out;
}

std::string RpmDatabasePath(const std::string& root) {
  for (const char* dbpath : {"/var/lib/rpm", "/usr/lib/sysimage/rpm"}) {
    const std::string dir = UnderRoot(root, dbpath);
    for (const char* file : {"rpmdb.sqlite", "Packages", "Packages.db"}) {
      if (FileExists(dir + "/" + file)) return dbpath;
    }
  }
  return "";
}

std::string FindRpmProgram() {
  const char* env = std::getenv("PATH");
  // Go's exec.LookPath with PATH unset finds nothing; a daemon started without PATH is more
  // likely a mistake, so look where distributions install rpm.
  const std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find(':', pos);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(pos, end - pos);
    pos = end + 1;
    if (dir.empty() || dir.front() != '/') continue;  // relative entries depend on the cwd
    const std::string candidate = dir + "/rpm";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

Result<std::vector<RpmRecord>> QueryRpmDatabase(const std::string& root, const std::string& dbpath,
                                                int64_t timeout_millis) {
  const std::string rpm = FindRpmProgram();
  if (rpm.empty()) return LocalError("the rpm program is not installed (not found on PATH)");
  ProcessSpec spec;
  spec.argv = {rpm,    "--root", root.empty() ? "/" : root, "--dbpath",
               dbpath, "-qa",    "--queryformat",           kRpmQueryFormat};
  // Summaries untranslated, as the header's C text.
  spec.env = EnvironmentWith({{"LC_ALL", "C"}});
  spec.timeout_millis = timeout_millis;
  spec.max_capture = kMaxQueryBytes;
  ProcessResult p = RunProcess(spec, nullptr);
  if (!p.started) return LocalError(rpm + " did not start: " + p.error);
  if (p.timed_out) {
    return LocalError(rpm + " -qa took longer than " + std::to_string(timeout_millis / 1000) +
                      " s and was stopped");
  }
  if (p.exit_code != 0) {
    return LocalError(rpm + " -qa exited with " + std::to_string(p.exit_code) + ": " +
                      FirstLine(p.stderr_text));
  }
  if (p.stdout_bytes > p.stdout_text.size()) {
    return LocalError(rpm + " -qa printed more than " + std::to_string(kMaxQueryBytes >> 20) +
                      " MiB");
  }
  return ParseRpmQuery(p.stdout_text);
}

}  // namespace gc::agent
