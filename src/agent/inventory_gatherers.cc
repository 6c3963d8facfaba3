#include "agent/inventory_gatherers.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <set>
#include <tuple>
#include <utility>

#include "agent/files.h"
#include "agent/process.h"

namespace gc::agent {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxFieldBytes = 100;  // application.maxSummaryLength

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Lines of `text` without their '\n'.
template <class F>
void ForEachLine(std::string_view text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    f(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string FormatRfc3339(int64_t epoch_seconds) {
  const std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string UnderRoot(const std::string& root, const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end - start == 2 && path.compare(start, 2, "..") == 0) return "";
    start = end + 1;
  }
  std::string base = root.empty() ? std::string("/") : root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty() || p.front() != '/') p = "/" + p;
  if (base == "/") return p;
  return p == "/" ? base : base + p;
}

// ---- AWS:Application --------------------------------------------------------------------------

std::string FormatArchitecture(std::string_view arch) {
  std::string a = Lower(Trim(arch));
  if (a == "amd64") return "x86_64";
  if (a == "386") return "i386";
  return a;
}

std::string CleanField(std::string_view field) {
  if (size_t nl = field.find('\n'); nl != std::string_view::npos) field = field.substr(0, nl);
  std::string out;
  out.reserve(std::min(field.size(), kMaxFieldBytes));
  for (char c : field) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) continue;  // stripCtlFromUTF8
    out.push_back(c);
  }
  if (out.size() > kMaxFieldBytes) {
    size_t cut = kMaxFieldBytes;
    // Never split a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

json ApplicationEntries(const std::vector<DpkgRecord>& records, const std::string& admindir) {
  struct App {
    std::string name_key;
    std::string publisher_key;
    std::string version;
    std::string arch;
    json entry;
  };
  std::vector<App> apps;
  apps.reserve(records.size());
  for (const DpkgRecord& r : records) {
    if (!DpkgListed(r)) continue;
    App a;
    json e = json::object();
    const std::string name = CleanField(r.package);
    e["Name"] = name;
    e["Publisher"] = CleanField(r.maintainer);
    e["Version"] = CleanField(r.version);
    e["Architecture"] = FormatArchitecture(CleanField(r.architecture));
    if (!r.section.empty()) e["ApplicationType"] = CleanField(r.section);
    if (!r.homepage.empty()) e["URL"] = CleanField(r.homepage);
    if (!r.synopsis.empty()) e["Summary"] = CleanField(r.synopsis);
    e["PackageId"] = CleanField(r.package + "_" + r.version + "_" + r.architecture + ".deb");
    if (!admindir.empty()) {
      struct stat st {};
      const std::string info = admindir + "/info/" + r.package;
      if (::stat((info + ".list").c_str(), &st) == 0 ||
          ::stat((info + ":" + r.architecture + ".list").c_str(), &st) == 0) {
        e["InstalledTime"] = FormatRfc3339(st.st_mtim.tv_sec);
      }
    }
    a.name_key = Lower(name);
    a.publisher_key = Lower(e["Publisher"].get<std::string>());
    a.version = r.version;
    a.arch = r.architecture;
    a.entry = std::move(e);
    apps.push_back(std::move(a));
  }
  // model.MergeLists order; the architecture settles multi-arch twins so that the content (and
  // its hash) does not depend on the order of the status file.
  std::sort(apps.begin(), apps.end(), [](const App& x, const App& y) {
    return std::tie(x.name_key, x.publisher_key, x.version, x.arch) <
           std::tie(y.name_key, y.publisher_key, y.version, y.arch);
  });
  json out = json::array();
  for (App& a : apps) out.push_back(std::move(a.entry));
  return out;
}

namespace {

// INSTALLTIME as RFC 3339; "" unless it is a plain count of seconds (the real agent then sends
// rpm's text as it is).
std::string RpmInstalledTime(std::string_view seconds) {
  if (seconds.empty() || seconds.size() > 18 ||
      seconds.find_first_not_of("0123456789") != std::string_view::npos) {
    return "";
  }
  return FormatRfc3339(std::stoll(std::string(seconds)));
}

// rpm's package file name: name-version-release.arch.rpm (no .arch for gpg-pubkey's "(none)").
std::string RpmFileName(const RpmRecord& r) {
  return r.name + "-" + r.version + "-" + r.release + (r.arch.empty() ? "" : "." + r.arch) + ".rpm";
}

// The ApplicationEntries order, read from an entry.
auto ApplicationSortKey(const json& e) {
  return std::make_tuple(Lower(e.value("Name", "")), Lower(e.value("Publisher", "")),
                         e.value("Version", ""));
}

}  // namespace

json RpmApplicationEntries(const std::vector<RpmRecord>& records) {
  struct App {
    // name and publisher without case, version, then rpm's release and architecture.
    std::tuple<std::string, std::string, std::string, std::string, std::string> key;
    json entry;
  };
  std::vector<App> apps;
  apps.reserve(records.size());
  for (const RpmRecord& r : records) {
    json e = json::object();
    auto optional = [&e](const char* key, const std::string& value) {
      if (std::string v = CleanField(value); !v.empty()) e[key] = std::move(v);
    };
    e["Name"] = CleanField(r.name);
    e["Publisher"] = CleanField(r.vendor);
    e["Version"] = CleanField(r.version);
    optional("Release", r.release);
    optional("Epoch", r.epoch);
    optional("InstalledTime", RpmInstalledTime(r.install_time));
    optional("ApplicationType", r.group);
    e["Architecture"] = FormatArchitecture(CleanField(r.arch));
    optional("URL", r.url);
    optional("Summary", r.summary);
    optional("PackageId", r.source_rpm.empty() ? RpmFileName(r) : r.source_rpm);
    auto [name, publisher, version] = ApplicationSortKey(e);
    apps.push_back(
        App{{std::move(name), std::move(publisher), std::move(version), r.release, r.arch},
            std::move(e)});
  }
  // The release and architecture settle packages installed in several versions or for several
  // architectures, so that the content (and its hash) does not depend on rpm's database order.
  std::sort(apps.begin(), apps.end(), [](const App& x, const App& y) { return x.key < y.key; });
  json out = json::array();
  for (App& a : apps) out.push_back(std::move(a.entry));
  return out;
}

json MergeApplicationLists(json first, json second) {
  json out = json::array();
  auto a = first.begin();
  auto b = second.begin();
  while (a != first.end() && b != second.end()) {
    // A tie takes `first`'s entry: the order stays stable.
    if (ApplicationSortKey(*b) < ApplicationSortKey(*a)) {
      out.push_back(std::move(*b++));
    } else {
      out.push_back(std::move(*a++));
    }
  }
  for (; a != first.end(); ++a) out.push_back(std::move(*a));
  for (; b != second.end(); ++b) out.push_back(std::move(*b));
  return out;
}

bool IsAwsComponent(std::string_view name) {
  static const std::set<std::string, std::less<>> kNames = {
      "amazon-ssm-agent", "amazon ssm agent",  "aws tools for windows",
      "ec2configservice", "aws-cfn-bootstrap", "aws pv drivers"};
  const std::string n = Lower(Trim(name));
  return kNames.count(n) > 0 || n.find("aws-apitools-") != std::string::npos ||
         n.find("aws-amitools-") != std::string::npos;
}

json AwsComponentEntries(const json& applications) {
  json out = json::array();
  for (const json& e : applications) {
    auto it = e.find("Name");
    if (it != e.end() && it->is_string() && IsAwsComponent(it->get<std::string>())) {
      out.push_back(e);
    }
  }
  return out;
}

// ---- AWS:Network ------------------------------------------------------------------------------

json NetworkEntries() {
  json out = json::array();
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  struct Interface {
    std::string name;
    std::string mac;
    std::string ipv4;
    std::string ipv6;
    bool loopback = false;
  };
  std::vector<Interface> interfaces;  // in the order getifaddrs names them (interface index)
  auto find = [&](const char* name) -> Interface& {
    for (Interface& i : interfaces) {
      if (i.name == name) return i;
    }
    interfaces.push_back(Interface{name, "", "", "", false});
    return interfaces.back();
  };
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr) continue;
    Interface& i = find(a->ifa_name);
    if ((a->ifa_flags & IFF_LOOPBACK) != 0) i.loopback = true;
    if (a->ifa_addr == nullptr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    switch (a->ifa_addr->sa_family) {
      case AF_PACKET: {
        const auto* ll = reinterpret_cast<const sockaddr_ll*>(a->ifa_addr);
        std::string mac;
        for (int k = 0; k < ll->sll_halen && k < 8; ++k) {
          if (k > 0) mac.push_back(':');
          mac += fmt::format("{:02x}", ll->sll_addr[k]);
        }
        i.mac = mac;
        break;
      }
      case AF_INET: {
        const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
        if (::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) != nullptr) i.ipv4 = buf;
        break;
      }
      case AF_INET6: {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
        if (::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf) != nullptr) i.ipv6 = buf;
        break;
      }
      default:
        break;
    }
  }
  ::freeifaddrs(list);
  for (const Interface& i : interfaces) {
    if (i.loopback) continue;
    out.push_back({{"Name", i.name}, {"MacAddress", i.mac}, {"IPV4", i.ipv4}, {"IPV6", i.ipv6}});
  }
  return out;
}

// ---- AWS:InstanceDetailedInformation ----------------------------------------------------------

json InstanceDetailedEntries(std::string_view cpuinfo, const std::string& kernel,
                             std::string_view max_khz) {
  int processors = 0;
  std::string model;
  std::string model_fallback;
  std::string mhz;
  std::string cpu_cores;
  std::set<std::string> sockets;
  std::set<std::pair<std::string, std::string>> cores;
  std::string physical_id;  // of the processor being read
  ForEachLine(cpuinfo, [&](std::string_view line) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::string key = Lower(Trim(line.substr(0, colon)));
    const std::string value(Trim(line.substr(colon + 1)));
    if (key == "processor") {
      ++processors;
      physical_id.clear();
    } else if (key == "model name" || key == "cpu model") {
      if (model.empty()) model = value;
    } else if (key == "hardware" && model_fallback.empty()) {
      model_fallback = value;
    } else if (key == "cpu mhz") {
      if (mhz.empty()) mhz = value;
    } else if (key == "cpu cores") {
      if (cpu_cores.empty()) cpu_cores = value;
    } else if (key == "physical id") {
      physical_id = value;
      sockets.insert(value);
    } else if (key == "core id") {
      cores.insert({physical_id, value});
    }
  });
  if (model.empty()) model = model_fallback;
  const int socket_count =
      sockets.empty() ? (processors > 0 ? 1 : 0) : static_cast<int>(sockets.size());
  int core_count = processors;
  if (!cores.empty()) {
    core_count = static_cast<int>(cores.size());
  } else if (!cpu_cores.empty()) {
    core_count = socket_count * std::atoi(cpu_cores.c_str());
  }
  std::string speed;
  if (!mhz.empty()) {
    char* end = nullptr;
    const double d = std::strtod(mhz.c_str(), &end);
    if (end != mhz.c_str() && std::isfinite(d)) speed = std::to_string(static_cast<long>(d));
  }
  if (speed.empty()) {
    const std::string k(Trim(max_khz));
    if (!k.empty() &&
        std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      speed = std::to_string(std::atoll(k.c_str()) / 1000);
    }
  }
  json e = {
      {"CPUModel", model},
      {"CPUSpeedMHz", speed},
      {"CPUs", processors > 0 ? std::to_string(processors) : ""},
      {"CPUSockets", socket_count > 0 ? std::to_string(socket_count) : ""},
      {"CPUCores", core_count > 0 ? std::to_string(core_count) : ""},
      {"CPUHyperThreadEnabled", processors > 0 ? (processors > core_count ? "true" : "false") : ""},
      {"OSServicePack", ""},
      {"KernelVersion", kernel}};
  return json::array({std::move(e)});
}

json HostInstanceDetailedEntries() {
  const std::string cpuinfo = ReadFile("/proc/cpuinfo").value_or("");
  const std::string max_khz =
      ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").value_or("");
  utsname u{};
  std::string kernel;
  if (::uname(&u) == 0) kernel = u.release;
  return InstanceDetailedEntries(cpuinfo, kernel, max_khz);
}

// ---- AWS:Service ------------------------------------------------------------------------------

std::map<std::string, std::string> ParseSystemctlUnits(std::string_view text) {
  std::map<std::string, std::string> out;
  ForEachLine(text, [&](std::string_view line) {
    line = Trim(line);
    // A failed unit may be flagged with a leading "●" (not with --plain, but be lenient).
    if (line.substr(0, 3) == "\xe2\x97\x8f") line = Trim(line.substr(3));
    std::vector<std::string_view> words;
    size_t pos = 0;
    while (pos < line.size() && words.size() < 4) {
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      const size_t start = pos;
      while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
      if (pos > start) words.push_back(line.substr(start, pos - start));
    }
    if (words.size() < 3 || !words[0].ends_with(".service")) return;
    const std::string_view active = words[2];
    std::string status = "Stopped";
    if (active == "active" || active == "reloading" || active == "refreshing") {
      status = "Running";
    } else if (active == "activating") {
      status = "StartPending";
    } else if (active == "deactivating") {
      status = "StopPending";
    }
    out[std::string(words[0])] = status;
  });
  return out;
}

namespace {

struct UnitFile {
  std::string description;
  std::string type;
  bool masked = false;
};

UnitFile ParseUnitFile(std::string_view text) {
  UnitFile u;
  std::string section;
  ForEachLine(text, [&](std::string_view raw) {
    std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') return;
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(line.substr(1, line.size() - 2));
      return;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return;
    const std::string_view key = Trim(line.substr(0, eq));
    const std::string_view value = Trim(line.substr(eq + 1));
    if (section == "Unit" && key == "Description") u.description = std::string(value);
    if (section == "Service" && key == "Type") u.type = std::string(value);
  });
  return u;
}

// Reads the unit `name` found in `dir` (a directory under the root). false for an alias link
// (another unit's name) or an unreadable file.
bool LoadUnit(const std::string& root, const std::string& dir, const std::string& name,
              UnitFile* out) {
  const std::string path = dir + "/" + name;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  std::string file = path;
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return false;
    const std::string target(buf, static_cast<size_t>(n));
    if (target == "/dev/null") {
      out->masked = true;
      return true;
    }
    if (BaseName(target) != name) return false;  // an alias of another unit
    file = target.front() == '/' ? UnderRoot(root, target) : dir + "/" + target;
    if (file.empty()) return false;
  }
  struct stat fst {};
  if (::stat(file.c_str(), &fst) != 0 || !S_ISREG(fst.st_mode)) return false;
  if (fst.st_size == 0) {  // systemd: an empty unit file is masked
    out->masked = true;
    return true;
  }
  auto text = ReadFile(file);
  if (!text) return false;
  *out = ParseUnitFile(*text);
  return true;
}

}  // namespace

json ServiceEntries(const std::string& root, const std::map<std::string, std::string>* active) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  const bool host = r == "/";
  std::vector<std::string> dirs = {"/etc/systemd/system"};
  if (host) {
    dirs.insert(dirs.end(), {"/run/systemd/system", "/run/systemd/generator"});
  }
  dirs.insert(dirs.end(),
              {"/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"});
  if (host) dirs.push_back("/run/systemd/generator.late");

  std::map<std::string, std::pair<std::string, UnitFile>> units;  // name → (dir, file)
  std::set<std::string> seen_dirs;
  std::set<std::string> wanted;
  for (const std::string& d : dirs) {
    const std::string dir = UnderRoot(root, d);
    // /lib is /usr/lib on merged-/usr systems: read each real directory once.
    char resolved[4096];
    if (::realpath(dir.c_str(), resolved) == nullptr) continue;
    if (!seen_dirs.insert(resolved).second) continue;
    for (const std::string& name : ListDir(dir)) {
      if ((name.ends_with(".wants") || name.ends_with(".requires")) && IsDir(dir + "/" + name)) {
        for (const std::string& w : ListDir(dir + "/" + name)) wanted.insert(w);
        continue;
      }
      if (!name.ends_with(".service") || name.ends_with("@.service")) continue;
      if (units.count(name) > 0) continue;  // a directory before this one holds it
      UnitFile u;
      if (LoadUnit(root, dir, name, &u)) units.emplace(name, std::make_pair(dir, std::move(u)));
    }
  }
  json out = json::array();
  for (const auto& [name, found] : units) {
    const UnitFile& u = found.second;
    std::string start_type = "Manual";
    if (u.masked) {
      start_type = "Disabled";
    } else if (wanted.count(name) > 0) {
      start_type = "Automatic";
    }
    std::string status;
    if (active != nullptr) {
      auto it = active->find(name);
      status = it != active->end() ? it->second : "Stopped";
    }
    out.push_back({{"Name", name},
                   {"DisplayName", u.description},
                   {"ServiceType", u.masked ? "" : (u.type.empty() ? "simple" : u.type)},
                   {"Status", status},
                   {"StartType", start_type},
                   {"DependentServices", ""},
                   {"ServicesDependedOn", ""}});
  }
  return out;
}

json HostServiceEntries(const std::string& root) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (r != "/" || !IsDir("/run/systemd/system")) return ServiceEntries(root, nullptr);
  ProcessSpec spec;
  spec.argv = {"/bin/systemctl", "list-units",  "--type=service", "--all",
               "--plain",        "--no-legend", "--no-pager",     "--full"};
  if (!FileExists(spec.argv[0])) spec.argv[0] = "/usr/bin/systemctl";
  spec.env = EnvironmentWith({{"SYSTEMD_COLORS", "0"}, {"LC_ALL", "C"}});
  spec.timeout_millis = 10000;
  spec.max_capture = 8 << 20;
  ProcessResult p = RunProcess(spec, nullptr);
  if (!p.started || p.exit_code != 0) return ServiceEntries(root, nullptr);
  const auto active = ParseSystemctlUnits(p.stdout_text);
  return ServiceEntries(root, &active);
}

// ---- AWS:File ---------------------------------------------------------------------------------

namespace {

// os.Expand over the agent's environment: $NAME and ${NAME}.
std::string ExpandEnv(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    std::string name;
    size_t next = i + 1;
    if (s[next] == '{') {
      const size_t close = s.find('}', next);
      if (close == std::string::npos) {
        out.push_back(s[i]);
        continue;
      }
      name = s.substr(next + 1, close - next - 1);
      next = close + 1;
    } else {
      while (next < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[next])) || s[next] == '_')) {
        name.push_back(s[next++]);
      }
      if (name.empty()) {
        out.push_back(s[i]);
        continue;
      }
    }
    if (const char* v = std::getenv(name.c_str())) out += v;
    i = next - 1;
  }
  return out;
}

bool MatchesAny(const std::vector<std::string>& patterns, const std::string& name) {
  for (const std::string& p : patterns) {
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

struct FileScan {
  const std::string& root;
  const std::vector<std::string>& patterns;
  int file_limit;
  int dir_limit;
  int dirs_scanned = 0;
  std::vector<std::string> found;  // node paths
  std::string error;

  // filepath.Walk from `node` (lexical order, links not followed). false to stop.
  bool Walk(const std::string& node) {
    const std::string path = UnderRoot(root, node);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return true;
    if (S_ISDIR(st.st_mode)) {
      if (++dirs_scanned > dir_limit) {
        error = "Directory Scan Limit Exceeded";
        return false;
      }
      for (const std::string& name : ListDir(path)) {
        if (!Walk(node == "/" ? "/" + name : node + "/" + name)) return false;
      }
      return true;
    }
    return Add(node);
  }

  // ioutil.ReadDir of `node`: its files (not directories) whose names match.
  bool List(const std::string& node) {
    const std::string path = UnderRoot(root, node);
    ++dirs_scanned;
    for (const std::string& name : ListDir(path)) {
      struct stat st {};
      const std::string child = node == "/" ? "/" + name : node + "/" + name;
      if (::lstat(UnderRoot(root, child).c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
      if (!Add(child)) return false;
    }
    return true;
  }

  bool Add(const std::string& node) {
    if (!MatchesAny(patterns, BaseName(node))) return true;
    found.push_back(node);
    if (static_cast<int>(found.size()) > file_limit) {
      error = "File Count Limit Exceeded";
      return false;
    }
    return true;
  }
};

}  // namespace

Result<json> FileEntries(const std::string& root, const std::string& filters) {
  json list = json::parse(filters, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) {
    return LocalError(
        "the files parameter is not a JSON list of {\"Path\", \"Pattern\", "
        "\"Recursive\", \"DirScanLimit\"} objects");
  }
  std::vector<std::string> files;  // node paths, in order, without repeats
  std::set<std::string> seen;
  for (const json& f : list) {
    if (!f.is_object()) return LocalError("each entry of the files parameter must be an object");
    auto path_it = f.find("Path");
    if (path_it == f.end() || !path_it->is_string()) {
      return LocalError("an entry of the files parameter has no Path");
    }
    std::vector<std::string> patterns;
    if (auto p = f.find("Pattern"); p != f.end()) {
      if (!p->is_array()) return LocalError("Pattern in the files parameter must be a list");
      for (const json& x : *p) {
        if (!x.is_string()) return LocalError("Pattern in the files parameter must be strings");
        patterns.push_back(x.get<std::string>());
      }
    }
    bool recursive = false;
    if (auto p = f.find("Recursive"); p != f.end() && !p->is_null()) {
      if (!p->is_boolean()) return LocalError("Recursive in the files parameter must be a boolean");
      recursive = p->get<bool>();
    }
    int dir_limit = kDirScanLimit;
    if (auto p = f.find("DirScanLimit"); p != f.end() && !p->is_null()) {
      if (!p->is_number_integer()) {
        return LocalError("DirScanLimit in the files parameter must be an integer");
      }
      dir_limit = p->get<int>();
    }
    std::string node = ExpandEnv(path_it->get<std::string>());
    std::replace(node.begin(), node.end(), '\\', '/');
    if (UnderRoot(root, node).empty()) {
      return LocalError("the files parameter's path " + node +
                        " has a '..' component; paths are read under the agent's root " + root);
    }
    if (node.empty() || node.front() != '/') node = "/" + node;
    while (node.size() > 1 && node.back() == '/') node.pop_back();
    const std::string host = UnderRoot(root, node);
    struct stat st {};
    if (::stat(host.c_str(), &st) != 0) continue;  // missing: skipped, as the real agent does
    FileScan scan{root, patterns, kFileCountLimit - static_cast<int>(files.size()), dir_limit, 0,
                  {},   {}};
    if (recursive) {
      scan.Walk(node);
    } else if (S_ISDIR(st.st_mode)) {
      scan.List(node);
    }
    if (!scan.error.empty()) return LocalError(scan.error);
    for (std::string& p : scan.found) {
      if (seen.insert(p).second) files.push_back(std::move(p));
    }
  }
  json out = json::array();
  for (const std::string& node : files) {
    struct stat st {};
    if (::stat(UnderRoot(root, node).c_str(), &st) != 0) continue;
    out.push_back({{"Name", BaseName(node)},
                   {"Size", std::to_string(static_cast<long long>(st.st_size))},
                   {"Description", ""},
                   {"FileVersion", ""},
                   {"InstalledDate", ""},
                   {"ModificationTime", FormatRfc3339(st.st_mtim.tv_sec)},
                   {"LastAccessTime", ""},
                   {"ProductName", ""},
                   {"InstalledDir", DirName(node)},
                   {"CompanyName", ""},
                   {"ProductVersion", ""},
                   {"ProductLanguage", ""}});
  }
  return out;
}

// ---- Custom:* ---------------------------------------------------------------------------------

namespace {

constexpr size_t kTypeNameLengthLimit = 100;
constexpr size_t kCustomInventoryCountLimit = 20;
constexpr size_t kAttributeCountLimit = 50;
constexpr size_t kAttributeNameLengthLimit = 64;
constexpr size_t kAttributeValueLengthLimit = 4096;

Status CheckCustomEntry(const json& entry) {
  if (!entry.is_object()) return LocalError("Custom inventory entry is not valid");
  if (entry.size() > kAttributeCountLimit) {
    return LocalError(fmt::format("an entry has {} attributes, more than the limit {}",
                                  entry.size(), kAttributeCountLimit));
  }
  for (const auto& [name, value] : entry.items()) {
    if (name.empty()) return LocalError("Custom inventory contains an empty attribute name");
    if (name.size() > kAttributeNameLengthLimit) {
      return LocalError(
          fmt::format("attribute name {} is longer than {}", name, kAttributeNameLengthLimit));
    }
    if (!value.is_string()) {
      return LocalError("the value of attribute " + name +
                        " is not a string (only strings are supported; use \"\" for null)");
    }
    if (value.get_ref<const std::string&>().size() > kAttributeValueLengthLimit) {
      return LocalError(fmt::format("the value of attribute {} is longer than {}", name,
                                    kAttributeValueLengthLimit));
    }
  }
  return Ok{};
}

}  // namespace

Result<CustomItem> ParseCustomInventory(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return LocalError("the file is not a JSON object");
  CustomItem item;
  if (auto it = doc.find("TypeName"); it != doc.end() && it->is_string()) {
    item.type_name = it->get<std::string>();
  }
  if (item.type_name.empty())
    return LocalError("Custom inventory item has missed or empty TypeName");
  if (item.type_name.size() > kTypeNameLengthLimit) {
    return LocalError(
        fmt::format("TypeName {} is longer than {}", item.type_name, kTypeNameLengthLimit));
  }
  if (!item.type_name.starts_with("Custom:")) {
    return LocalError("TypeName " + item.type_name + " has to start with Custom:");
  }
  if (auto it = doc.find("SchemaVersion"); it != doc.end() && it->is_string()) {
    item.schema_version = it->get<std::string>();
  }
  if (item.schema_version.empty())
    return LocalError("Custom inventory item has missed SchemaVersion");
  static const std::regex kVersion(R"(^([0-9]{1,6})(\.[0-9]{1,6})$)");
  if (!std::regex_match(item.schema_version, kVersion)) {
    return LocalError("SchemaVersion " + item.schema_version +
                      " is not valid; it has to be like 1.0, 1.1, 2.0");
  }
  auto content = doc.find("Content");
  if (content == doc.end() || content->is_null()) {
    return LocalError("Custom inventory item missed Content property.");
  }
  item.content = json::array();
  if (content->is_object()) {
    if (Status s = CheckCustomEntry(*content); !s.ok()) return s.take_error();
    item.content.push_back(*content);
  } else if (content->is_array()) {
    for (const json& e : *content) {
      if (Status s = CheckCustomEntry(e); !s.ok()) return s.take_error();
      item.content.push_back(e);
    }
  } else {
    return LocalError("Content of " + item.type_name + " is not an object or a list of objects");
  }
  return item;
}

Result<std::vector<CustomItem>> CustomEntries(const std::string& dir,
                                              std::vector<std::string>* warnings) {
  std::vector<std::string> names;
  for (const std::string& name : ListDir(dir)) {
    if (name.size() > 5 && name.ends_with(".json")) names.push_back(name);
  }
  if (names.size() > kCustomInventoryCountLimit) {
    return LocalError(fmt::format("Total custom inventory file count ({}) exceed limit ({})",
                                  names.size(), kCustomInventoryCountLimit));
  }
  std::vector<CustomItem> out;
  std::set<std::string> types;
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    auto text = ReadFile(path);
    if (!text) {
      warnings->push_back("custom inventory file " + path + " cannot be read; skipped");
      continue;
    }
    auto item = ParseCustomInventory(*text);
    if (!item.ok()) {
      warnings->push_back("custom inventory file " + path + " skipped: " + item.error().message);
      continue;
    }
    if (!types.insert(item->type_name).second) {
      warnings->push_back("custom inventory file " + path + " skipped: another file holds " +
                          item->type_name);
      continue;
    }
    out.push_back(std::move(*item));
  }
  return out;
}

}  // namespace gc::agent
