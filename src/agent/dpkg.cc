#include "agent/dpkg.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "agent/files.h"

namespace gc::agent {
namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The record field a status-file field name fills, or nullptr for fields the inventory ignores.
std::string* FieldSlot(DpkgRecord& r, std::string_view name) {
  if (name.empty()) return nullptr;
  switch (name[0] | 0x20) {  // lower-case first letter: most fields are skipped on it alone
    case 'p':
      if (EqualsNoCase(name, "Package")) return &r.package;
      return nullptr;
    case 's':
      if (EqualsNoCase(name, "Status")) return &r.status;
      if (EqualsNoCase(name, "Section")) return &r.section;
      return nullptr;
    case 'v':
      if (EqualsNoCase(name, "Version")) return &r.version;
      return nullptr;
    case 'a':
      if (EqualsNoCase(name, "Architecture")) return &r.architecture;
      return nullptr;
    case 'm':
      if (EqualsNoCase(name, "Maintainer")) return &r.maintainer;
      if (EqualsNoCase(name, "Multi-Arch")) return &r.multi_arch;
      return nullptr;
    case 'h':
      if (EqualsNoCase(name, "Homepage")) return &r.homepage;
      return nullptr;
    case 'd':
      if (EqualsNoCase(name, "Description")) return &r.synopsis;
      return nullptr;
    default:
      return nullptr;
  }
}

// dpkg's slot for a record: Multi-Arch: same packages have one per architecture.
std::string SlotKey(const DpkgRecord& r) {
  if (r.multi_arch == "same") return r.package + ":" + r.architecture;
  return r.package;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string_view DpkgState(const DpkgRecord& r) {
  std::string_view s = r.status;
  // "want flag state": the state is the last of three words.
  const size_t last = s.find_last_of(" \t");
  if (last == std::string_view::npos) return {};
  return s.substr(last + 1);
}

bool DpkgListed(const DpkgRecord& r) {
  const std::string_view state = DpkgState(r);
  return !state.empty() && state != "not-installed";
}

std::vector<DpkgRecord> ParseDpkgStatus(std::string_view text) {
  std::vector<DpkgRecord> out;
  DpkgRecord current;
  bool in_stanza = false;
  auto flush = [&] {
    if (in_stanza && !current.package.empty()) out.push_back(std::move(current));
    current = DpkgRecord{};
    in_stanza = false;
  };
  size_t pos = 0;
  while (pos < text.size()) {
    const char* start = text.data() + pos;
    const void* nl = std::memchr(start, '\n', text.size() - pos);
    const size_t end =
        nl ? static_cast<size_t>(static_cast<const char*>(nl) - text.data()) : text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') continue;  // continuation: only first lines are kept
    if (line[0] == '#') continue;                     // deb822 comment
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    in_stanza = true;
    if (std::string* slot = FieldSlot(current, line.substr(0, colon))) {
      *slot = std::string(TrimSpaces(line.substr(colon + 1)));
    }
  }
  flush();
  return out;
}

Result<std::vector<DpkgRecord>> ReadDpkgDatabase(const std::string& admindir) {
  const std::string status_path = admindir + "/status";
  auto text = ReadFile(status_path);
  if (!text) {
    return LocalError("cannot read the dpkg database " + status_path + ": " + std::strerror(errno));
  }
  std::vector<DpkgRecord> records = ParseDpkgStatus(*text);

  // The journal: what dpkg wrote since it last rewrote the status file (it merges these at its
  // next run with write access; dpkg-query applies them in memory, and so do we).
  std::vector<std::pair<unsigned long long, std::string>> journal;
  for (const std::string& name : ListDir(admindir + "/updates")) {
    if (AllDigits(name) && name.size() < 19) journal.emplace_back(std::stoull(name), name);
  }
  if (!journal.empty()) {
    std::sort(journal.begin(), journal.end());
    std::map<std::string, size_t> slots;
    for (size_t i = 0; i < records.size(); ++i) slots[SlotKey(records[i])] = i;
    for (const auto& [n, name] : journal) {
      auto update = ReadFile(admindir + "/updates/" + name);
      if (!update) continue;
      for (DpkgRecord& r : ParseDpkgStatus(*update)) {
        const std::string key = SlotKey(r);
        if (auto it = slots.find(key); it != slots.end()) {
          records[it->second] = std::move(r);
        } else {
          slots[key] = records.size();
          records.push_back(std::move(r));
        }
      }
    }
  }
  return records;
}

}  // namespace gc::agent
