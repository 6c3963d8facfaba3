// The gatherers of aws:softwareInventory on Linux: each returns the Content of one inventory type
// (a JSON array of flat string→string objects, AGENT_PROTOCOL §3.4) built as amazon-ssm-agent's
// gatherers build it (agent/plugins/inventory/gatherers/). Files are read under the agent's
// --root; CPUs, the kernel and network interfaces are the host's. The parsers are pure; the
// gatherers do file I/O (and Services may run `systemctl`). All are thread-safe.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/dpkg.h"
#include "agent/rpm.h"
#include "common/status.h"

namespace gc::agent {

// ---- AWS:Application (1.1) and AWS:AWSComponent (1.0) ------------------------------------------

// model.FormatArchitecture: lower-cased and trimmed; amd64 → x86_64, 386 → i386.
std::string FormatArchitecture(std::string_view arch);

// cleanupJSONField: the first line, cut to at most 100 bytes (at a UTF-8 character boundary;
// amazon-ssm-agent cuts at the byte), control characters removed.
std::string CleanField(std::string_view field);

// The entries of the installed packages (DpkgInstalled) as the dpkg gatherer's `dpkg-query -W`
// format makes them: Name, Publisher (Maintainer), Version (with the epoch), ApplicationType
// (Section), Architecture, URL (Homepage), Summary (the synopsis), PackageId
// (<Package>_<Version>_<Architecture>.deb), every value through CleanField, empty optional keys
// omitted; plus InstalledTime (RFC 3339 UTC, the time dpkg last wrote the package's file list
// ADMINDIR/info/<pkg>[:<arch>].list) when `admindir` is given and the list exists. Sorted as
// model.MergeLists sorts: name, then publisher (both without case), then version.
nlohmann::json ApplicationEntries(const std::vector<DpkgRecord>& records,
                                  const std::string& admindir);

// The entries of rpm's installed packages as amazon-ssm-agent's rpm query makes them: Name,
// Publisher (Vendor), Version, Release, Epoch, InstalledTime (RFC 3339 UTC from INSTALLTIME),
// ApplicationType (Group), Architecture (FormatArchitecture), URL, Summary, PackageId (the
// source RPM; name-version-release.arch.rpm for a package without one, such as gpg-pubkey,
// where the real agent sends "(none)"), every value through CleanField. Name, Publisher,
// Version and Architecture are always present; the others are left out when rpm has no value
// (the real agent sends "(none)" for a missing Vendor or URL). Sorted as ApplicationEntries,
// then by release and architecture.
nlohmann::json RpmApplicationEntries(const std::vector<RpmRecord>& records);

// The entries of two package databases (dpkg's and rpm's, each sorted) in one list, in the
// order of ApplicationEntries: name, then publisher (both without case), then version; entries
// that tie keep their order, `first`'s before `second`'s. Nothing is merged away: the two
// databases describe different packages.
nlohmann::json MergeApplicationLists(nlohmann::json first, nlohmann::json second);

// awscomponent.FilterAWSComponent: the entries whose name (trimmed, lower-cased) is one of
// amazon-ssm-agent, aws-cfn-bootstrap, ec2configservice, "amazon ssm agent", "aws tools for
// windows", "aws pv drivers", or contains aws-apitools- or aws-amitools-.
bool IsAwsComponent(std::string_view name);
nlohmann::json AwsComponentEntries(const nlohmann::json& applications);

// ---- AWS:Network (1.0) -------------------------------------------------------------------------

// The host's interfaces except loopback, in interface order: Name, MacAddress ("aa:bb:…", "" when
// none), IPV4 and IPV6 (the last address of each family, "" when none), as the real agent's
// net.Interfaces() walk. SubnetMask, Gateway, DHCPServer, DNSServer are never filled (as AWS).
nlohmann::json NetworkEntries();

// ---- AWS:InstanceDetailedInformation (1.0) -----------------------------------------------------

// One entry from /proc/cpuinfo text (the fields lscpu derives): CPUModel ("model name", else
// "Model Name", "cpu model", "Processor"), CPUs (processor entries), CPUSockets (distinct
// physical ids, 1 when none), CPUCores (distinct physical id/core id pairs, else sockets × "cpu
// cores", else CPUs), CPUHyperThreadEnabled ("true" when CPUs > CPUCores), CPUSpeedMHz ("cpu MHz"
// truncated, else `max_khz` / 1000, else ""), OSServicePack "" and KernelVersion `kernel`.
nlohmann::json InstanceDetailedEntries(std::string_view cpuinfo, const std::string& kernel,
                                       std::string_view max_khz);
// The same for this host: /proc/cpuinfo, uname(2)'s release, cpu0's cpufreq maximum.
nlohmann::json HostInstanceDetailedEntries();

// ---- AWS:Service (1.0), systemd services -------------------------------------------------------

// `systemctl list-units --type=service --all --plain --no-legend` lines → unit → Status:
// Running (active, reloading), StartPending (activating), StopPending (deactivating), Stopped
// (anything else).
std::map<std::string, std::string> ParseSystemctlUnits(std::string_view text);

// The *.service unit files under `root` (/etc/systemd/system, /run/systemd/system and its
// generator directories when root is "/", /usr/local/lib, /usr/lib and /lib systemd/system; the
// first directory holding a name wins; templates (name@.service) and alias links are left out),
// sorted by name: Name (the unit, e.g. "ssh.service"), DisplayName (Description=), ServiceType
// (Type=, default "simple"; "" when masked), StartType (Disabled when masked, Automatic when a
// *.wants/ or *.requires/ link names it, else Manual), Status, and DependentServices /
// ServicesDependedOn "". `active` is ParseSystemctlUnits of the host: a unit it lacks is
// Stopped; nullptr (systemd not running, or root is not "/") leaves every Status "" (unknown).
// Drop-ins (name.service.d/) are not read.
nlohmann::json ServiceEntries(const std::string& root,
                              const std::map<std::string, std::string>* active);
// ServiceEntries with `systemctl` asked (10 s at most) when root is "/" and systemd runs.
nlohmann::json HostServiceEntries(const std::string& root);

// ---- AWS:File (1.0) ----------------------------------------------------------------------------

// file gatherer limits (dataProvider.go).
inline constexpr int kFileCountLimit = 500;
inline constexpr int kDirScanLimit = 5000;

// The `files` parameter: a JSON list of {Path, Pattern[], Recursive, DirScanLimit}. Each Path
// ($VAR / ${VAR} expanded from the agent's environment, '\' read as '/') is resolved under
// `root`; names matching any Pattern (fnmatch, as Go's filepath.Match) are collected, from the
// directory itself or, Recursive, from the whole tree (lexical order, symbolic links not
// followed). Entries: Name, Size, ModificationTime (RFC 3339 UTC), InstalledDir (the directory
// as the node sees it, i.e. without `root`), and Description, FileVersion, InstalledDate,
// LastAccessTime, ProductName, CompanyName, ProductVersion, ProductLanguage "". A missing path is
// skipped. AgentError for a parameter that is not such a list, a path with a ".." component,
// more than 500 files ("File Count Limit Exceeded") or more than DirScanLimit (default 5000)
// directories scanned ("Directory Scan Limit Exceeded"), which fail the whole gatherer as in
// amazon-ssm-agent.
Result<nlohmann::json> FileEntries(const std::string& root, const std::string& filters);

// ---- Custom:* ----------------------------------------------------------------------------------

struct CustomItem {
  std::string type_name;       // Custom:…
  std::string schema_version;  // e.g. "1.0"
  nlohmann::json content;      // array of objects of strings
};

// custom.convertToItem for one file's text: {"TypeName":"Custom:X","SchemaVersion":"1.0",
// "Content": {…} or [{…}, …]}. AgentError (why) for anything else: TypeName empty, longer than
// 100 or not starting with "Custom:"; SchemaVersion not like 1.0; an entry that is not an object,
// has more than 50 attributes, an attribute name empty or longer than 64, a value that is not a
// string or longer than 4096 bytes.
Result<CustomItem> ParseCustomInventory(std::string_view text);

// The *.json files of `dir` in name order (a missing folder is none). Bad files and repeated
// type names are skipped, each with a line in `warnings`. AgentError when there are more than 20
// files (the real agent's CustomInventoryCountLimit).
Result<std::vector<CustomItem>> CustomEntries(const std::string& dir,
                                              std::vector<std::string>* warnings);

// Helpers shared with the plugin.
// RFC 3339 UTC, seconds: "2024-10-16T10:00:01Z" (the inventory's CaptureTime format too).
std::string FormatRfc3339(int64_t epoch_seconds);
// `path` (taken as absolute) under `root`, trailing slashes dropped; with root "/" the path
// itself. "" when `path` has a ".." component (it could leave the root).
std::string UnderRoot(const std::string& root, const std::string& path);

}  // namespace gc::agent
