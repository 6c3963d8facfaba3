// What the node reports about itself in UpdateInstanceInformation (AGENT_PROTOCOL §3.1):
// platform name and version from ROOT/etc/os-release, the first non-loopback IP address, the
// computer name. Functions are thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace gc::agent {

struct PlatformInfo {
  std::string name;     // os-release NAME, e.g. "Debian GNU/Linux"
  std::string version;  // os-release VERSION_ID, e.g. "12"
  std::string ip_address;
  std::string computer_name;
};

// KEY=value lines; values may be quoted ("…" or '…') with backslash escapes in double quotes.
std::map<std::string, std::string> ParseOsRelease(std::string_view text);

// Reads ROOT/etc/os-release (else ROOT/usr/lib/os-release). The computer name is
// ROOT/etc/hostname when `root` is not "/" and has one, else the host's name.
PlatformInfo ReadPlatform(const std::string& root);

}  // namespace gc::agent
