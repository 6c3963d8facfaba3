// The rpm database read as amazon-ssm-agent reads it: by running the `rpm` program with a query
// format (agent/plugins/inventory/gatherers/application/dataProvider_unix.go), never by linking
// librpm (it would cost the idle daemon memory, and its database formats change between
// releases). Used by aws:softwareInventory for AWS:Application. The parser is pure; the query runs
// one process. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::agent {

// One installed package, the tags amazon-ssm-agent's rpm query asks for. rpm's "(none)" (a tag
// the header lacks) is read as "".
struct RpmRecord {
  std::string name;          // NAME
  std::string vendor;        // VENDOR
  std::string version;       // VERSION
  std::string release;       // RELEASE
  std::string epoch;         // EPOCH
  std::string install_time;  // INSTALLTIME: seconds since the epoch, as text
  std::string group;         // GROUP
  std::string arch;          // ARCH
  std::string url;           // URL
  std::string summary;       // SUMMARY
  std::string source_rpm;    // SOURCERPM, e.g. "bash-5.1.8-9.el9.src.rpm"
};

// amazon-ssm-agent's rpmQueryFormatArgs asks for these tags in this order, inside a JSON
// template with random markers around each value. We ask for the same tags, but end each value
// with 0x1F (unit separator) and each package with 0x1E (record separator): a summary may hold
// quotes, backslashes and commas, and control characters are the one thing CleanField drops
// from every value anyway.
inline constexpr char kRpmQueryFormat[] =
    "%{NAME}\x1f%{VENDOR}\x1f%{VERSION}\x1f%{RELEASE}\x1f%{EPOCH}\x1f%{INSTALLTIME}\x1f"
    "%{GROUP}\x1f%{ARCH}\x1f%{URL}\x1f%{SUMMARY}\x1f%{SOURCERPM}\x1f\x1e";

// The packages in `rpm -qa --queryformat kRpmQueryFormat` output, in output order. A record
// without the 11 values (a truncated tail) or without a name is skipped; never fails.
std::vector<RpmRecord> ParseRpmQuery(std::string_view text);

// Where rpm keeps its database under `root`, as a path inside the root: "/var/lib/rpm" (RHEL,
// Amazon Linux, SUSE; a link to the next one on Fedora) or "/usr/lib/sysimage/rpm" (rpm's own
// default since 4.17), the first that holds a database file (rpmdb.sqlite, Packages or
// Packages.db). "" when neither does: Debian's rpm package leaves an empty /var/lib/rpm behind.
std::string RpmDatabasePath(const std::string& root);

// The `rpm` program on the agent's PATH (as Go's exec.LookPath, which amazon-ssm-agent uses
// to choose its package manager). "" when there is none.
std::string FindRpmProgram();

// Runs `rpm --root ROOT --dbpath DBPATH -qa --queryformat kRpmQueryFormat` (LC_ALL=C, at most
// `timeout_millis`) and parses its output. --dbpath is always given: Debian's rpm would
// otherwise look in ~/.rpmdb. AgentError (why) when the rpm program is absent, does not start,
// times out, exits non-zero (with its first stderr line) or prints more than 64 MiB.
Result<std::vector<RpmRecord>> QueryRpmDatabase(const std::string& root, const std::string& dbpath,
                                                int64_t timeout_millis);

}  // namespace gc::agent
