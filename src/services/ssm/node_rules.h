// Pure rules about managed nodes: id and code formats, PingStatus, the DescribeInstanceInformation
// filters and Run Command's Targets (both become NodeFilters matched against a NodeView). No I/O;
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::ssm::nodes {

// "mi-" + 17 lowercase hex digits, as AWS (and botocore's ManagedInstanceId pattern) has them.
std::string NewNodeId();
bool IsNodeId(std::string_view id);
// An EC2 instance id (i- + 8 or 17 word characters) or a managed node id: botocore's InstanceId.
bool IsInstanceId(std::string_view id);
// 20 random characters from [A-Za-z0-9] (~119 bits): the agent's SDK wants at least 20.
std::string NewActivationCode();
// A lowercase UUID, botocore's ActivationId pattern (the agent's SDK wants at least 36 chars).
bool IsActivationId(std::string_view id);

// amazon-ssm-agent's version when this was written: IsLatestVersion compares against it, since
// groundcrew has no release feed to ask.
inline constexpr std::string_view kLatestAgentVersion = "3.3.1142.0";
// True when dotted-number `version` is at least kLatestAgentVersion; false for non-numbers.
bool IsLatestAgentVersion(std::string_view version);

enum class PingStatus { kOnline, kConnectionLost, kInactive };
std::string_view PingStatusName(PingStatus status);
// Online while the last heartbeat is at most `timeout_seconds` old, else ConnectionLost.
PingStatus PingStatusAt(double last_ping_seconds, double now_seconds, int64_t timeout_seconds);

// The parts of a node that filters and targets look at.
struct NodeView {
  std::string node_id;
  std::string activation_id;
  std::string iam_role;
  std::string agent_version;
  std::string platform_type;
  std::string association_status;
  std::string resource_type = "ManagedInstance";
  PingStatus ping = PingStatus::kOnline;
  std::map<std::string, std::string> tags;
};

// One criterion: the node matches when the value under `key` is one of `values` (values are ORed,
// filters ANDed). Keys: InstanceIds, AgentVersion, PingStatus, PlatformTypes, ActivationIds,
// IamRole, ResourceType, AssociationStatus, tag:<key>, tag-key.
struct NodeFilter {
  std::string key;
  std::vector<std::string> values;
};

// DescribeInstanceInformation's InstanceInformationFilterList (key/valueSet) or Filters
// (Key/Values), validated: InvalidFilterKey for an unknown key, InvalidInstanceId for a malformed
// instance id, InvalidInstanceInformationFilterValue for a value outside PingStatus, PlatformTypes
// or ResourceType, or when both lists are given.
Result<std::vector<NodeFilter>> ParseInstanceInformationFilters(const nlohmann::json& input);

// Run Command's Targets: InstanceIds, tag:<key> and tag-key; resource groups are refused with
// InvalidTarget ("not supported").
Result<std::vector<NodeFilter>> ParseTargets(const nlohmann::json& targets);

bool Matches(const NodeView& node, const std::vector<NodeFilter>& filters);

// "arn:aws:sts::<account>:assumed-role/<role name>/<node id>": the identity a node's temporary
// credentials carry in AWS (the activation's IAM role, with the node id as session name).
std::string NodeCallerArn(const std::string& account, const std::string& iam_role,
                          const std::string& node_id);
// "arn:aws:ssm:<region>:<account>:managed-instance/<node id>".
std::string NodeArn(const std::string& region, const std::string& account,
                    const std::string& node_id);

}  // namespace gc::ssm::nodes
