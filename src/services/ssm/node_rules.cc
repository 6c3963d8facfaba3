#include "services/ssm/node_rules.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "common/crypto.h"
#include "services/ssm/node_errors.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm::nodes {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTagPrefix = "tag:";
constexpr std::string_view kTagKey = "tag-key";

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsWordChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool AllOf(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }

bool Contains(const std::vector<std::string>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// Keys whose values come from a closed set; a value outside it is an error, not a non-match.
const std::vector<std::string>* AllowedValues(std::string_view key) {
  static const std::vector<std::string> kPing = {"Online", "ConnectionLost", "Inactive"};
  static const std::vector<std::string> kPlatforms = {"Windows", "Linux", "MacOS"};
  static const std::vector<std::string> kResourceTypes = {"ManagedInstance", "EC2Instance"};
  if (key == "PingStatus") return &kPing;
  if (key == "PlatformTypes") return &kPlatforms;
  if (key == "ResourceType") return &kResourceTypes;
  return nullptr;
}

bool IsKnownKey(std::string_view key) {
  static const std::vector<std::string> kKeys = {"InstanceIds",   "AgentVersion",     "PingStatus",
                                                 "PlatformTypes", "ActivationIds",    "IamRole",
                                                 "ResourceType",  "AssociationStatus"};
  return Contains(kKeys, key) || key == kTagKey ||
         (key.substr(0, kTagPrefix.size()) == kTagPrefix && key.size() > kTagPrefix.size());
}

Status CheckValues(const NodeFilter& f) {
  if (f.key == "InstanceIds") {
    for (const auto& v : f.values) {
      if (!IsInstanceId(v)) return errors::InvalidInstanceId(v);
    }
  }
  if (const auto* allowed = AllowedValues(f.key)) {
    for (const auto& v : f.values) {
      if (!Contains(*allowed, v)) {
        return errors::InvalidInstanceInformationFilterValue(
            fmt::format("The filter value {} is not valid for key {}. Valid values: {}.", v, f.key,
                        fmt::join(*allowed, ", ")));
      }
    }
  }
  return Ok{};
}

std::vector<std::string> Strings(const Json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const auto& v : list) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// Reads [{<key_member>: k, <values_member>: [..]}] into filters (model validation already ran).
std::vector<NodeFilter> ReadFilters(const Json& list, const char* key_member,
                                    const char* values_member) {
  std::vector<NodeFilter> out;
  if (!list.is_array()) return out;
  for (const auto& f : list) {
    out.push_back({f.value(key_member, ""), Strings(f.value(values_member, Json::array()))});
  }
  return out;
}

// The value(s) a node has under a filter key: the node id for InstanceIds, etc.
bool MatchOne(const NodeView& n, const NodeFilter& f) {
  if (f.key == "InstanceIds") return Contains(f.values, n.node_id);
  if (f.key == "AgentVersion") return Contains(f.values, n.agent_version);
  if (f.key == "PingStatus") return Contains(f.values, PingStatusName(n.ping));
  if (f.key == "PlatformTypes") return Contains(f.values, n.platform_type);
  if (f.key == "ActivationIds") return Contains(f.values, n.activation_id);
  if (f.key == "IamRole") return Contains(f.values, n.iam_role);
  if (f.key == "ResourceType") return Contains(f.values, n.resource_type);
  if (f.key == "AssociationStatus") return Contains(f.values, n.association_status);
  if (f.key == kTagKey) {
    return std::any_of(f.values.begin(), f.values.end(),
                       [&](const std::string& k) { return n.tags.count(k) > 0; });
  }
  if (f.key.substr(0, kTagPrefix.size()) == kTagPrefix) {
    auto it = n.tags.find(f.key.substr(kTagPrefix.size()));
    return it != n.tags.end() && Contains(f.values, it->second);
  }
  return false;
}

std::string RandomFrom(std::string_view alphabet, size_t n) {
  std::string raw = crypto::RandomBytes(n * 2);
  std::string out;
  out.reserve(n);
  // Rejection sampling keeps every character equally likely.
  const size_t limit = 256 - 256 % alphabet.size();
  for (size_t i = 0; out.size() < n; ++i) {
    if (i == raw.size()) {
      raw = crypto::RandomBytes(n * 2);
      i = 0;
    }
    auto b = static_cast<unsigned char>(raw[i]);
    if (b < limit) out.push_back(alphabet[b % alphabet.size()]);
  }
  return out;
}

}  // namespace

std::string NewNodeId() { return "mi-" + crypto::RandomHex(17); }

bool IsNodeId(std::string_view id) {
  return id.size() == 20 && id.substr(0, 3) == "mi-" && AllOf(id.substr(3), IsLowerHex);
}

bool IsInstanceId(std::string_view id) {
  if (id.substr(0, 3) == "mi-") return id.size() == 20 && AllOf(id.substr(3), IsWordChar);
  if (id.substr(0, 2) != "i-") return false;
  std::string_view rest = id.substr(2);
  return (rest.size() == 8 || rest.size() == 17) && AllOf(rest, IsWordChar);
}

std::string NewActivationCode() {
  return RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 20);
}

bool IsActivationId(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : !IsLowerHex(id[i])) return false;
  }
  return true;
}

bool IsLatestAgentVersion(std::string_view version) {
  auto parse = [](std::string_view v, std::vector<int64_t>& parts) {
    int64_t n = 0;
    bool digit = false;
    for (char c : v) {
      if (c == '.') {
        if (!digit) return false;
        parts.push_back(n);
        n = 0;
        digit = false;
      } else if (c >= '0' && c <= '9' && n < 1000000) {
        n = n * 10 + (c - '0');
        digit = true;
      } else {
        return false;
      }
    }
    parts.push_back(n);
    return digit;
  };
  std::vector<int64_t> have;
  std::vector<int64_t> latest;
  if (!parse(version, have) || !parse(kLatestAgentVersion, latest)) return false;
  return !std::lexicographical_compare(have.begin(), have.end(), latest.begin(), latest.end());
}

std::string_view PingStatusName(PingStatus status) {
  switch (status) {
    case PingStatus::kOnline:
      return "Online";
    case PingStatus::kConnectionLost:
      return "ConnectionLost";
    case PingStatus::kInactive:
      return "Inactive";
  }
  return "Inactive";
}

PingStatus PingStatusAt(double last_ping_seconds, double now_seconds, int64_t timeout_seconds) {
  return now_seconds - last_ping_seconds > static_cast<double>(timeout_seconds)
             ? PingStatus::kConnectionLost
             : PingStatus::kOnline;
}

Result<std::vector<NodeFilter>> ParseInstanceInformationFilters(const Json& input) {
  const bool legacy = input.contains("InstanceInformationFilterList") &&
                      !input["InstanceInformationFilterList"].empty();
  const bool current = input.contains("Filters") && !input["Filters"].empty();
  if (legacy && current) {
    return errors::InvalidInstanceInformationFilterValue(
        "InstanceInformationFilterList and Filters cannot be used together; use Filters.");
  }
  std::vector<NodeFilter> filters =
      legacy ? ReadFilters(input["InstanceInformationFilterList"], "key", "valueSet")
             : ReadFilters(input.value("Filters", Json::array()), "Key", "Values");
  for (const NodeFilter& f : filters) {
    if (!IsKnownKey(f.key)) {
      return errors::InvalidFilterKey(fmt::format("The filter key {} is not valid.", f.key));
    }
    if (Status st = CheckValues(f); !st.ok()) return st.take_error();
  }
  return filters;
}

Result<std::vector<NodeFilter>> ParseTargets(const Json& targets) {
  std::vector<NodeFilter> filters = ReadFilters(targets, "Key", "Values");
  for (const NodeFilter& f : filters) {
    const bool supported =
        f.key == "InstanceIds" || f.key == kTagKey ||
        (f.key.substr(0, kTagPrefix.size()) == kTagPrefix && f.key.size() > kTagPrefix.size());
    if (!supported) {
      return AwsError{"InvalidTarget",
                      fmt::format("Target key {} is not supported: use InstanceIds, tag:<key> or "
                                  "tag-key.",
                                  f.key),
                      400};
    }
    if (f.values.empty()) {
      return AwsError{"InvalidTarget", fmt::format("Target {} has no values.", f.key), 400};
    }
    if (Status st = CheckValues(f); !st.ok()) return st.take_error();
  }
  return filters;
}

bool Matches(const NodeView& node, const std::vector<NodeFilter>& filters) {
  return std::all_of(filters.begin(), filters.end(),
                     [&](const NodeFilter& f) { return MatchOne(node, f); });
}

std::string NodeCallerArn(const std::string& account, const std::string& iam_role,
                          const std::string& node_id) {
  // A role may be given with a path ("service-role/Name") or as an ARN: the name is the last part.
  size_t slash = iam_role.rfind('/');
  std::string role = slash == std::string::npos ? iam_role : iam_role.substr(slash + 1);
  return fmt::format("arn:aws:sts::{}:assumed-role/{}/{}", account, role, node_id);
}

std::string NodeArn(const std::string& region, const std::string& account,
                    const std::string& node_id) {
  return fmt::format("arn:aws:ssm:{}:{}:managed-instance/{}", region, account, node_id);
}

}  // namespace gc::ssm::nodes
