// Compliance: SSM Compliance — PutComplianceItems (custom types, and Association/Patch items a
// node reports itself), ListComplianceItems, ListComplianceSummaries and
// ListResourceComplianceSummaries. State Manager's compliance type `Association` comes from the
// associations themselves (AssociationCompliance, set by app wiring): one item per association
// and node, COMPLIANT when the node's latest run of it succeeded, with the association's
// ComplianceSeverity — unless the association's SyncCompliance is MANUAL, or the node put its
// own Association items. Table ssm_compliance_item.
//
// Thread-safe: all state is in the store.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "services/ssm/managed_nodes.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

// One compliance item of one resource (the API's ComplianceItem).
struct ComplianceItem {
  std::string compliance_type, resource_type = "ManagedInstance", resource_id;
  std::string id, title, status, severity;
  nlohmann::json execution_summary = nlohmann::json::object();
  nlohmann::json details = nlohmann::json::object();
};

class Compliance {
 public:
  Compliance(store::Store& store, ManagedNodes& nodes);

  static std::vector<store::Migration> Migrations();
  void AddOperations(wire::ServiceDef& def);

  // The items State Manager derives for the caller's account and region.
  using DerivedItems = std::function<Result<std::vector<ComplianceItem>>(const wire::CallContext&)>;
  void set_association_items(DerivedItems fn) { association_items_ = std::move(fn); }

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> PutComplianceItems(const Ctx& ctx, const Json& in);
  Result<Json> ListComplianceItems(const Ctx& ctx, const Json& in);
  Result<Json> ListComplianceSummaries(const Ctx& ctx, const Json& in);
  Result<Json> ListResourceComplianceSummaries(const Ctx& ctx, const Json& in);

 private:
  // Every item of the caller's account and region: stored and derived.
  Result<std::vector<ComplianceItem>> AllItems(const Ctx& ctx);

  store::Store& store_;
  ManagedNodes& nodes_;
  DerivedItems association_items_;
};

}  // namespace gc::ssm
