// InventoryIndex: every node's inventory in memory, for GetInventory's filters and aggregators
// over any attribute of any type. Strings are interned and each type's entries are rows of
// interned cells, so 10,000 nodes × 500 applications fit in a few hundred MB and a filter scans
// them in milliseconds. The store keeps the durable copy (inventory.h); this is rebuilt from it.
//
// Thread-safe: queries share a lock, changes take it alone.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gc::ssm::inventory {

// One entry of an item's Content: attribute → value.
using Entry = std::vector<std::pair<std::string, std::string>>;

// An inventory item of one node: its type and entries (PutInventory's InventoryItem).
struct Item {
  std::string type_name, schema_version, capture_time, content_hash;
  std::vector<Entry> entries;
};

// GetInventory / ListInventoryEntries filter operators.
enum class Op { kEqual, kNotEqual, kBeginWith, kLessThan, kGreaterThan, kExists };
std::optional<Op> ParseOp(std::string_view name);  // "Equal" … ; nullopt otherwise

// A test on one attribute of one type: true for a node when some entry of the type passes;
// NotEqual passes a node that has the type and no entry equal to any value. Numbers compare as
// numbers when both sides are numeric, else as strings.
struct Condition {
  std::string type_name, attribute;
  Op op = Op::kEqual;
  std::vector<std::string> values;
};

// Whether one entry passes `c` (its attribute compared as Matches does).
bool EntryMatches(const Entry& entry, const Condition& c);

class InventoryIndex {
 public:
  // Replaces `node`'s item of `item.type_name`.
  void Put(const std::string& node, const Item& item);
  // An unchanged item uploaded again (only its hash came): its new capture time.
  void Touch(const std::string& node, const std::string& type_name,
             const std::string& capture_time);
  void Remove(const std::string& node, const std::string& type_name);
  void RemoveNode(const std::string& node);
  void Clear();
  // Drops a type's data on every node; returns how many nodes had it.
  int64_t RemoveType(const std::string& type_name);

  // The item as stored, nullopt when `node` has none of that type.
  std::optional<Item> Get(const std::string& node, const std::string& type_name) const;
  // The types `node` has, sorted.
  std::vector<std::string> TypesOf(const std::string& node) const;
  // Every type with data, with its attribute names (sorted) and the number of nodes.
  struct TypeInfo {
    std::string type_name, schema_version;
    std::vector<std::string> attributes;
    int64_t nodes = 0;
  };
  std::vector<TypeInfo> Types() const;

  // Whether `node` passes `c`.
  bool Matches(const std::string& node, const Condition& c) const;
  // The nodes of `nodes` (in their order) that pass every condition.
  std::vector<std::string> Select(const std::vector<std::string>& nodes,
                                  const std::vector<Condition>& all) const;
  // Counts over `nodes` of the distinct values of each attribute in `attributes` (all of the
  // same type), taken together per entry: {values…} → number of nodes having such an entry.
  std::map<std::vector<std::string>, int64_t> Aggregate(
      const std::vector<std::string>& nodes, const std::string& type_name,
      const std::vector<std::string>& attributes) const;

 private:
  using Id = uint32_t;  // interned string; 0 is "absent"
  Id Intern(std::string_view s);
  std::optional<Id> Find(std::string_view s) const;
  const std::string& Str(Id id) const { return strings_[id]; }

  struct Rows {
    uint32_t width = 0;      // columns when stored
    std::vector<Id> cells;   // row-major, width cells a row
    Id schema_version = 0, capture_time = 0, content_hash = 0;
    size_t count() const { return width ? cells.size() / width : 0; }
  };
  struct Table {
    std::vector<std::string> columns;
    std::unordered_map<std::string, uint32_t> column_of;
    std::unordered_map<std::string, Rows> nodes;
  };
  bool MatchesLocked(const Rows& rows, const Table& table, const Condition& c) const;

  mutable std::shared_mutex mu_;
  std::vector<std::string> strings_{""};
  std::unordered_map<std::string, Id> ids_;
  std::map<std::string, Table> tables_;  // by type name
};

}  // namespace gc::ssm::inventory
