// InventoryIndex: every node's inventory in memory, for GetInventory's filters and aggregators
// over any attribute of any type. Strings are interned and each type's entries are rows of
// interned cells, so 10,000 nodes × 500 applications fit in a few hundred MB and a filter scans
// them in milliseconds. The store keeps the durable copy (inventory.h); this is rebuilt from it.
//
// Thread-safe: queries share a lock, changes take it alone.
#pragma once

#include <cstdint>
#include <functional>
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

// Entries with their strings borrowed (from a decoded request body or a stored row): the
// attributes of every entry one after another, entry r being cells [ends[r-1], ends[r]).
struct EntryCells {
  std::vector<std::pair<std::string_view, std::string_view>> cells;
  std::vector<uint32_t> ends;
  size_t size() const { return ends.size(); }
  void EndEntry() { ends.push_back(static_cast<uint32_t>(cells.size())); }
  static EntryCells Of(const std::vector<Entry>& entries);  // borrows from `entries`
};

// An item's type and header fields, borrowed.
struct ItemMeta {
  std::string_view type_name, schema_version, capture_time, content_hash;
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
  void Put(const std::string& node, const ItemMeta& meta, const EntryCells& entries);
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
  // The content hash and capture time of `node`'s item of `type_name`; nullopt when none.
  std::optional<std::pair<std::string, std::string>> HashAndCaptureTime(
      const std::string& node, const std::string& type_name) const;
  // The types `node` has, sorted.
  std::vector<std::string> TypesOf(const std::string& node) const;
  // Appends `node`'s items as GetInventory's Data members, `"Type":{"CaptureTime":…,"Content":
  // [{…}],…}` joined by commas, in type order (only `only_type` when not empty; attributes sorted
  // by name in each entry). Returns how many it appended.
  int AppendDataJson(const std::string& node, const std::string& only_type,
                     std::string& out) const;
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
  // Heterogeneous lookup: interning a string_view allocates only for a string not seen before.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  Id Intern(std::string_view s);
  std::optional<Id> Find(std::string_view s) const;
  const std::string& Str(Id id) const { return strings_[id]; }

  // One node's item: its entries as columns (a filter scans one attribute's ids contiguously).
  struct Rows {
    uint32_t width = 0;    // columns when stored
    uint32_t entries = 0;  // entries (rows)
    std::vector<Id> cells;  // column-major: column c is cells [c * entries, (c + 1) * entries)
    Id schema_version = 0, capture_time = 0, content_hash = 0;
    size_t count() const { return entries; }
    const Id* column(size_t c) const { return cells.data() + c * entries; }
    Id at(size_t row, size_t c) const { return cells[c * entries + row]; }
  };
  struct Table {
    std::vector<std::string> columns;
    std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> column_of;
    std::unordered_map<std::string, Rows> nodes;
  };
  // A condition resolved against one table once: its column and the interned values it names.
  struct Resolved {
    const Table* table = nullptr;
    const Condition* condition = nullptr;
    int64_t column = -1;     // -1: no node has the attribute
    std::vector<Id> wanted;  // Equal / NotEqual: ids of the values ever seen
  };
  Resolved ResolveLocked(const Condition& c) const;
  bool MatchesLocked(const Rows& rows, const Resolved& r) const;

  mutable std::shared_mutex mu_;
  std::vector<std::string> strings_{""};
  std::vector<bool> plain_{true};  // by id: the string needs no escaping in JSON
  // Appends string `id` as a JSON string literal.
  void AppendStr(Id id, std::string& out) const;
  std::unordered_map<std::string, Id, StringHash, std::equal_to<>> ids_;
  std::map<std::string, Table, std::less<>> tables_;  // by type name
};

}  // namespace gc::ssm::inventory
