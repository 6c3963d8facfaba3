#include "agent/platform.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include "agent/files.h"

namespace gc::agent {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

std::string Unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
    return std::string(v.substr(1, v.size() - 2));
  }
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    std::string out;
    for (size_t i = 1; i + 1 < v.size(); ++i) {
      if (v[i] == '\\' && i + 2 < v.size()) ++i;
      out.push_back(v[i]);
    }
    return out;
  }
  return std::string(v);
}

std::string JoinRoot(const std::string& root, std::string_view path) {
  std::string r = root;
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r + std::string(path);
}

// First IPv4 address of an interface that is up and not loopback; else the first such IPv6.
std::string FirstAddress() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string v4;
  std::string v6;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_UP) == 0 ||
        (a->ifa_flags & IFF_LOOPBACK) != 0) {
      continue;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (a->ifa_addr->sa_family == AF_INET && v4.empty()) {
      auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      if (::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) != nullptr) v4 = buf;
    } else if (a->ifa_addr->sa_family == AF_INET6 && v6.empty()) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) continue;
      if (::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf) != nullptr) v6 = buf;
    }
  }
  ::freeifaddrs(list);
  return v4.empty() ? v6 : v4;
}

}  // namespace

std::map<std::string, std::string> ParseOsRelease(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string line = Trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out[Trim(std::string_view(line).substr(0, eq))] =
        Unquote(Trim(std::string_view(line).substr(eq + 1)));
  }
  return out;
}

PlatformInfo ReadPlatform(const std::string& root) {
  PlatformInfo info;
  auto text = ReadFile(JoinRoot(root, "/etc/os-release"));
  if (!text) text = ReadFile(JoinRoot(root, "/usr/lib/os-release"));
  if (text) {
    auto kv = ParseOsRelease(*text);
    info.name = kv["NAME"];
    info.version = kv["VERSION_ID"];
  }
  if (info.name.empty()) info.name = "Linux";
  info.ip_address = FirstAddress();
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (r != "/") {
    if (auto h = ReadFile(JoinRoot(root, "/etc/hostname"))) info.computer_name = Trim(*h);
  }
  if (info.computer_name.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) info.computer_name = host;
  }
  return info;
}

}  // namespace gc::agent
