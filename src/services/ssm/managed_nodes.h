// ManagedNodes: hybrid managed nodes — RegisterManagedInstance (unsigned, with an activation),
// RequestManagedInstanceRoleToken and UpdateManagedInstancePublicKey (signed with the node's
// registration key), UpdateInstanceInformation (the heartbeat), DescribeInstanceInformation,
// DeregisterManagedInstance — plus the C++ API other SSM areas use (Run Command: targets, a node's
// state). Table ssm_node (a deregistered node keeps its row with deregistered_ms set, so that
// later work for it can say it was deregistered). Thread-safe: all state is in the store.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "services/ssm/activations.h"
#include "services/ssm/node_credentials.h"
#include "services/ssm/node_rules.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

class ManagedNodes {
 public:
  // `ping_timeout_seconds`: a node without a heartbeat for longer is ConnectionLost (the agent
  // pings every 5 minutes; groundcrewd's --node-ping-timeout, default 600).
  ManagedNodes(store::Store& store, NodeCredentials& credentials, int64_t ping_timeout_seconds);

  static std::vector<store::Migration> Migrations();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> RegisterManagedInstance(const Ctx& ctx, const Json& in);
  Result<Json> RequestManagedInstanceRoleToken(const Ctx& ctx, const Json& in);
  Result<Json> UpdateManagedInstancePublicKey(const Ctx& ctx, const Json& in);
  Result<Json> UpdateInstanceInformation(const Ctx& ctx, const Json& in);
  Result<Json> DescribeInstanceInformation(const Ctx& ctx, const Json& in);
  Result<Json> DeregisterManagedInstance(const Ctx& ctx, const Json& in);

  // For the tag operations (ResourceType ManagedInstance): `id` if it is a registered node of the
  // caller's account and region, else InvalidResourceId.
  Result<std::string> ResolveExisting(const Ctx& ctx, const std::string& id);

  // ---- For other SSM areas (Run Command, State Manager, Inventory) ----

  struct NodeState {
    std::string node_id;
    bool registered = false;  // false once deregistered
    nodes::PingStatus ping = nodes::PingStatus::kConnectionLost;
    double last_ping_seconds = 0;
    std::string name;
    std::string platform_type;  // "Linux", ... ("" before the first heartbeat)
    std::string platform_name;
    std::string platform_version;
    std::string agent_version;
    std::string ip_address;
    std::string computer_name;
  };
  // The node's state in the caller's account and region, deregistered or not; nullopt when no
  // such node was ever registered there.
  Result<std::optional<NodeState>> GetNode(const Ctx& ctx, const std::string& node_id);
  // The registered nodes matching Run Command's Targets (InstanceIds, tag:<key>, tag-key; ANDed
  // across targets, values ORed), sorted by id. InvalidTarget for other keys. Unknown instance
  // ids are simply not in the result.
  Result<std::vector<NodeState>> FindTargets(const Ctx& ctx, const Json& targets);
  // Every registered node of the caller's account and region, in id order (Inventory's
  // AWS:InstanceInformation).
  Result<std::vector<NodeState>> ListRegistered(const Ctx& ctx);
  // Their ids only (a fleet-wide inventory filter that needs nothing else of the nodes).
  Result<std::vector<std::string>> ListRegisteredIds(const Ctx& ctx);
  // Records a node's association status (State Manager), shown and filtered as AssociationStatus.
  Status SetAssociationStatus(const Ctx& ctx, const std::string& node_id,
                              const std::string& status);
  // For agent-facing operations that name a node: passes for the operator and for the node
  // itself; AccessDeniedException when a node's credentials name another node.
  static Status RequireSelf(const Ctx& ctx, const std::string& node_id, const std::string& action);

 private:
  struct Row;
  // The registered nodes of the caller's account and region with ids after `after_id`, in id
  // order, each with the view filters look at (tags included).
  Result<std::vector<std::pair<Row, nodes::NodeView>>> Scan(const Ctx& ctx,
                                                            const std::string& after_id);
  nodes::PingStatus PingOf(const Row& row, int64_t now_millis) const;
  NodeState StateOf(const Row& row, int64_t now_millis) const;

  store::Store& store_;
  NodeCredentials& credentials_;
  const int64_t ping_timeout_seconds_;
};

}  // namespace gc::ssm
