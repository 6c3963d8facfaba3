// SsmService: the Systems Manager service module — its state (parameters, documents, tags) and its
// operation table for the dispatcher. Thread-safe once constructed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "services/ssm/activations.h"
#include "services/ssm/compliance.h"
#include "services/ssm/documents.h"
#include "services/ssm/inventory.h"
#include "services/ssm/managed_nodes.h"
#include "services/ssm/node_credentials.h"
#include "services/ssm/parameter_store.h"
#include "services/ssm/resource_tags.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

// Managed nodes' settings (groundcrewd: DATA_DIR/keys/nodes.key, --node-ping-timeout).
struct NodeOptions {
  std::string credentials_key;         // 32 bytes sealing node secrets; empty: a random one (tests)
  int64_t ping_timeout_seconds = 600;  // heartbeat age after which a node is ConnectionLost
};

class SsmService {
 public:
  // `encryption_key`: 32 bytes, the at-rest key for SecureString values.
  SsmService(store::Store& store, std::string encryption_key, NodeOptions nodes = {});

  static std::vector<store::Migration> Migrations();
  // The operation table; `this` must outlive it.
  wire::ServiceDef Definition();

  ParameterStore& parameters() { return parameters_; }
  Documents& documents() { return documents_; }
  ManagedNodes& nodes() { return nodes_; }
  ResourceTags& tags() { return tags_; }  // RegisterType for resource types served elsewhere
  Activations& activations() { return activations_; }
  Compliance& compliance() { return compliance_; }
  Inventory& inventory() { return inventory_; }
  // For the dispatcher: managed nodes' credentials and registration keys.
  const wire::NodeAuthority& node_authority() const { return node_credentials_; }
  // Drops in-memory copies of stored state (after the store was reset).
  void ForgetCachedState() {
    node_credentials_.ForgetAll();
    inventory_.ForgetCachedState();
  }

 private:
  ParameterStore parameters_;
  Documents documents_;
  ResourceTags tags_;
  // Hybrid activations and managed nodes (node_operations.cc adds their operations).
  void AddNodeOperations(wire::ServiceDef& def);
  Activations activations_;
  NodeCredentials node_credentials_;
  ManagedNodes nodes_;
  Inventory inventory_;
  Compliance compliance_;
};

}  // namespace gc::ssm
