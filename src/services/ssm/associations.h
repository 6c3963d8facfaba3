// Associations: SSM State Manager — CreateAssociation(Batch), UpdateAssociation (versions),
// DeleteAssociation, DescribeAssociation, ListAssociations, ListAssociationVersions,
// DescribeAssociationExecutions(Targets), StartAssociationsOnce,
// DescribeInstanceAssociationsStatus, DescribeEffectiveInstanceAssociations and
// UpdateAssociationStatus.
//
// An association applies at creation (unless ApplyOnlyAtCronInterval), on its schedule
// (scheduler/schedule_expression.h), on StartAssociationsOnce and to nodes that match its targets
// later. Each run is an execution whose work is a Run Command command (run_command.h, hidden
// from ListCommands), so delivery, rate control and statuses are Run Command's. The due time is
// a column of the association: the run, its command and the next due time commit in one
// transaction, so a restart (kill -9 included) neither loses nor repeats a run. Tables
// ssm_association, ssm_association_version, ssm_association_execution, ssm_association_target.
//
// Thread-safe. A timer checks for due runs every second against `clock` (the schedule clock,
// which `groundcrewd --dev` lets tests move forward).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/timer_queue.h"
#include "common/worker_pool.h"
#include "services/ssm/compliance.h"
#include "services/ssm/documents.h"
#include "services/ssm/managed_nodes.h"
#include "services/ssm/run_command.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

class Associations {
 public:
  Associations(store::Store& store, Documents& documents, ManagedNodes& nodes,
               RunCommand& run_command, const Clock& clock);
  ~Associations();  // stops the timer

  static std::vector<store::Migration> Migrations();
  // Adds the State Manager operations to SSM's table; `this` must outlive it.
  void AddOperations(wire::ServiceDef& ssm);
  // Starts checking for due runs. Call once serving.
  void Start();
  // Runs what is due now (tests; the timer calls it every second).
  void RunDue();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> CreateAssociation(const Ctx& ctx, const Json& in);
  Result<Json> CreateAssociationBatch(const Ctx& ctx, const Json& in);
  Result<Json> UpdateAssociation(const Ctx& ctx, const Json& in);
  Result<Json> DeleteAssociation(const Ctx& ctx, const Json& in);
  Result<Json> DescribeAssociation(const Ctx& ctx, const Json& in);
  Result<Json> ListAssociations(const Ctx& ctx, const Json& in);
  Result<Json> ListAssociationVersions(const Ctx& ctx, const Json& in);
  Result<Json> DescribeAssociationExecutions(const Ctx& ctx, const Json& in);
  Result<Json> DescribeAssociationExecutionTargets(const Ctx& ctx, const Json& in);
  Result<Json> StartAssociationsOnce(const Ctx& ctx, const Json& in);
  Result<Json> DescribeInstanceAssociationsStatus(const Ctx& ctx, const Json& in);
  Result<Json> DescribeEffectiveInstanceAssociations(const Ctx& ctx, const Json& in);
  Result<Json> UpdateAssociationStatus(const Ctx& ctx, const Json& in);
  // The id of the caller's association `id`, or InvalidResourceId (tags: ResourceType
  // "Association").
  Result<std::string> ResolveExisting(const Ctx& ctx, const std::string& id);

  // Compliance type "Association": per association and node whose latest run has ended,
  // COMPLIANT when it succeeded (SyncCompliance MANUAL associations excepted).
  Result<std::vector<ComplianceItem>> ComplianceItems(const Ctx& ctx);

  struct Row;

 private:
  // Validates a create/update request into the association's spec (the API's fields).
  Result<Json> SpecOf(const Ctx& ctx, const Json& in, const Json* current);
  // One run of `association_id` for `nodes` (all its targets when empty); `expected_due` guards
  // against a concurrent run of the same due time (-1: not a scheduled run).
  Status Run(const std::string& association_id, int64_t expected_due,
             const std::vector<std::string>& only_nodes, bool once);
  Result<Json> Describe(const Ctx& ctx, const Row& row);
  void ScheduleCheck();

  store::Store& store_;
  Documents& documents_;
  ManagedNodes& nodes_;
  RunCommand& run_command_;
  const Clock& clock_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<TimerQueue> timers_;
  std::atomic<int64_t> checks_ = 0;
  std::mutex mu_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
};

}  // namespace gc::ssm
