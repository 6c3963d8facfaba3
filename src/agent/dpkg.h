// The dpkg database read directly, without running dpkg-query: ADMINDIR/status plus the journal
// of updates dpkg has not merged yet (ADMINDIR/updates/NNNN), as dpkg-query reads them. Used by
// aws:softwareInventory for AWS:Application. Pure functions over text and files; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::agent {

// One stanza of the status file: the fields the inventory reports, as dpkg stores them
// (Description is only its first line, the synopsis).
struct DpkgRecord {
  std::string package;
  std::string status;   // "want flag state", e.g. "install ok installed"
  std::string version;  // with the epoch, as dpkg-query's ${Version}: "1:2.3-4"
  std::string architecture;
  std::string multi_arch;
  std::string maintainer;
  std::string section;
  std::string homepage;
  std::string synopsis;
};

// The third word of Status: not-installed, config-files, half-installed, unpacked,
// half-configured, triggers-awaited, triggers-pending or installed ("" when missing).
std::string_view DpkgState(const DpkgRecord& r);

// What `dpkg-query -W` lists, and so what amazon-ssm-agent reports (it runs dpkg-query): every
// package the database knows except purged ones (not-installed) — installed ones, and also
// half-installed, unpacked and removed-but-not-purged (config-files) ones.
bool DpkgListed(const DpkgRecord& r);

// Every stanza with a Package field, in file order. deb822: stanzas separated by blank lines,
// "Field: value" with continuation lines starting with a space or tab, field names compared
// without case. Never fails; malformed lines are skipped.
std::vector<DpkgRecord> ParseDpkgStatus(std::string_view text);

// ADMINDIR/status with the journal ADMINDIR/updates/<digits> applied in numeric order: a journal
// stanza replaces the package's record (one slot per name, or per name and architecture for
// Multi-Arch: same, as dpkg keys them). Returns every record (dpkg-query -W lists those whose
// state is not not-installed; filter with DpkgListed). AgentError when the status file is
// missing or unreadable (the message says which).
Result<std::vector<DpkgRecord>> ReadDpkgDatabase(const std::string& admindir);

}  // namespace gc::agent
