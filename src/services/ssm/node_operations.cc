// The operation table of hybrid activations and managed nodes, and who may call what: the agent's
// operations are open to a node's own credentials, the rest to the operator only.
#include "services/ssm/ssm_service.h"

namespace gc::ssm {
namespace {

template <class Area, class Method>
wire::OperationHandler Bind(Area* area, Method method) {
  return [area, method](const wire::CallContext& ctx, const nlohmann::json& in) {
    return (area->*method)(ctx, in);
  };
}

// What amazon-ssm-agent calls as a node (docs/AGENT_PROTOCOL.md sections 1, 3 and 5), including
// the legacy association path it falls back to and operations other areas implement; an
// operation not implemented yet still answers UnknownOperationException.
constexpr const char* kNodeOperations[] = {
    "RequestManagedInstanceRoleToken",
    "UpdateManagedInstancePublicKey",
    "UpdateInstanceInformation",
    "PutInventory",
    "PutComplianceItems",
    "ListInstanceAssociations",
    "UpdateInstanceAssociationStatus",
    "ListAssociations",
    "DescribeAssociation",
    "UpdateAssociationStatus",
    "GetDocument",
    "DescribeDocument",
    "GetParameters",
    "GetParameter",
    "GetDeployablePatchSnapshotForInstance",
};

}  // namespace

void SsmService::AddNodeOperations(wire::ServiceDef& def) {
  Activations* a = &activations_;
  ManagedNodes* n = &nodes_;
  def.operations.insert({
      {"CreateActivation", Bind(a, &Activations::CreateActivation)},
      {"DescribeActivations", Bind(a, &Activations::DescribeActivations)},
      {"DeleteActivation", Bind(a, &Activations::DeleteActivation)},
      {"RegisterManagedInstance", Bind(n, &ManagedNodes::RegisterManagedInstance)},
      {"RequestManagedInstanceRoleToken", Bind(n, &ManagedNodes::RequestManagedInstanceRoleToken)},
      {"UpdateManagedInstancePublicKey", Bind(n, &ManagedNodes::UpdateManagedInstancePublicKey)},
      {"UpdateInstanceInformation", Bind(n, &ManagedNodes::UpdateInstanceInformation)},
      {"DescribeInstanceInformation", Bind(n, &ManagedNodes::DescribeInstanceInformation)},
      {"DeregisterManagedInstance", Bind(n, &ManagedNodes::DeregisterManagedInstance)},
  });
  for (const char* op : kNodeOperations) def.node_operations[op] = true;
  // Signed with the node's registration key (RSA), never with an access key.
  def.node_key_operations["RequestManagedInstanceRoleToken"] = true;
  def.node_key_operations["UpdateManagedInstancePublicKey"] = true;
}

}  // namespace gc::ssm
