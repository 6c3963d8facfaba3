// Inventory: SSM Inventory — PutInventory from the agents (content hashes, so unchanged types
// are not sent again), GetInventory (filters, aggregators with nested groups, result
// attributes, paging), ListInventoryEntries, GetInventorySchema (built-in and custom types),
// DeleteInventory and DescribeInventoryDeletions for custom types. AWS:InstanceInformation is a
// projection of the managed nodes, as in AWS. The store keeps every node's items (table
// ssm_inventory) and custom schemas; queries run on an in-memory index (inventory_index.h)
// loaded from the store on first use.
//
// Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "common/status.h"
#include "services/ssm/inventory_index.h"
#include "services/ssm/managed_nodes.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

class Inventory {
 public:
  Inventory(store::Store& store, ManagedNodes& nodes);
  ~Inventory();  // waits for StartLoading's thread
  Inventory(const Inventory&) = delete;
  Inventory& operator=(const Inventory&) = delete;

  // Loads the index from the store on a thread of its own, so that the first inventory call
  // after a start need not wait for it (it waits only while the load is still running).
  void StartLoading();

  static std::vector<store::Migration> Migrations();
  void AddOperations(wire::ServiceDef& def);

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> PutInventory(const Ctx& ctx, const Json& in);
  Result<std::string> GetInventory(const Ctx& ctx, const Json& in);  // the response body
  Result<Json> ListInventoryEntries(const Ctx& ctx, const Json& in);
  Result<Json> GetInventorySchema(const Ctx& ctx, const Json& in);
  Result<Json> DeleteInventory(const Ctx& ctx, const Json& in);
  Result<Json> DescribeInventoryDeletions(const Ctx& ctx, const Json& in);

  // Forgets the in-memory index (after the store was reset); it reloads on next use.
  void ForgetCachedState();

 private:
  // Loads the index from the store once. With a shared store (PostgreSQL replicas) and
  // `catch_up` (queries), also takes in what other processes put or deleted since it last looked.
  Status EnsureLoaded(bool catch_up);
  // Takes in rows other processes changed; true when one deleted a type (reload all). Needs
  // load_mu_.
  Result<bool> CatchUp();
  // The projected types' entries, by type then node: AWS:InstanceInformation of every registered
  // node when `info`, and AWS:Tag of the nodes in `tags_of` (every node when null).
  using Projected = std::map<std::string, std::map<std::string, std::vector<inventory::Entry>>>;
  Result<Projected> Project(const Ctx& ctx, bool info, const std::vector<std::string>* tags_of);

  store::Store& store_;
  ManagedNodes& nodes_;
  inventory::InventoryIndex index_;
  std::mutex load_mu_;
  bool loaded_ = false;  // GUARDED_BY(load_mu_)
  // Replicas: the index has taken in every row updated before `seen_updated_ms_` (less a margin
  // for clocks), and the deletions it knows of (its own and other processes').
  const bool shared_store_;
  int64_t seen_updated_ms_ = 0;            // GUARDED_BY(load_mu_)
  std::set<std::string> known_deletions_;  // GUARDED_BY(load_mu_)
  std::thread preload_;
};

}  // namespace gc::ssm
