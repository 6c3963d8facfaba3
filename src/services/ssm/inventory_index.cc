#include "services/ssm/inventory_index.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace gc::ssm::inventory {
namespace {

std::optional<double> Number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// a < b (-1), a == b (0), a > b (1): numerically when both are numbers.
int Compare(const std::string& a, const std::string& b) {
  auto x = Number(a), y = Number(b);
  if (x && y) return *x < *y ? -1 : (*x > *y ? 1 : 0);
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

std::optional<Op> ParseOp(std::string_view name) {
  if (name == "Equal") return Op::kEqual;
  if (name == "NotEqual") return Op::kNotEqual;
  if (name == "BeginWith") return Op::kBeginWith;
  if (name == "LessThan") return Op::kLessThan;
  if (name == "GreaterThan") return Op::kGreaterThan;
  if (name == "Exists") return Op::kExists;
  return std::nullopt;
}

InventoryIndex::Id InventoryIndex::Intern(std::string_view s) {
  if (s.empty()) return 0;
  auto it = ids_.find(std::string(s));
  if (it != ids_.end()) return it->second;
  Id id = static_cast<Id>(strings_.size());
  strings_.emplace_back(s);
  ids_.emplace(std::string(s), id);
  return id;
}

std::optional<InventoryIndex::Id> InventoryIndex::Find(std::string_view s) const {
  if (s.empty()) return Id{0};
  auto it = ids_.find(std::string(s));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void InventoryIndex::Put(const std::string& node, const Item& item) {
  std::unique_lock lock(mu_);
  Table& t = tables_[item.type_name];
  for (const auto& entry : item.entries) {
    for (const auto& [k, v] : entry) {
      if (t.column_of.emplace(k, static_cast<uint32_t>(t.columns.size())).second) {
        t.columns.push_back(k);
      }
    }
  }
  Rows rows;
  rows.width = static_cast<uint32_t>(std::max<size_t>(1, t.columns.size()));
  rows.cells.assign(rows.width * item.entries.size(), 0);
  for (size_t r = 0; r < item.entries.size(); ++r) {
    for (const auto& [k, v] : item.entries[r]) {
      rows.cells[r * rows.width + t.column_of[k]] = Intern(v);
    }
  }
  rows.schema_version = Intern(item.schema_version);
  rows.capture_time = Intern(item.capture_time);
  rows.content_hash = Intern(item.content_hash);
  t.nodes[node] = std::move(rows);
}

void InventoryIndex::Touch(const std::string& node, const std::string& type_name,
                           const std::string& capture_time) {
  std::unique_lock lock(mu_);
  auto t = tables_.find(type_name);
  if (t == tables_.end()) return;
  auto n = t->second.nodes.find(node);
  if (n != t->second.nodes.end()) n->second.capture_time = Intern(capture_time);
}

void InventoryIndex::Remove(const std::string& node, const std::string& type_name) {
  std::unique_lock lock(mu_);
  auto t = tables_.find(type_name);
  if (t == tables_.end()) return;
  t->second.nodes.erase(node);
  if (t->second.nodes.empty()) tables_.erase(t);
}

void InventoryIndex::RemoveNode(const std::string& node) {
  std::unique_lock lock(mu_);
  for (auto it = tables_.begin(); it != tables_.end();) {
    it->second.nodes.erase(node);
    it = it->second.nodes.empty() ? tables_.erase(it) : std::next(it);
  }
}

void InventoryIndex::Clear() {
  std::unique_lock lock(mu_);
  tables_.clear();
  strings_.assign(1, "");
  ids_.clear();
}

bool EntryMatches(const Entry& entry, const Condition& c) {
  const std::string* value = nullptr;
  for (const auto& [k, v] : entry) {
    if (k == c.attribute) value = &v;
  }
  const bool present = value && !value->empty();
  auto equal = [&] {
    return present && std::find(c.values.begin(), c.values.end(), *value) != c.values.end();
  };
  switch (c.op) {
    case Op::kExists:
      return present;
    case Op::kEqual:
      return equal();
    case Op::kNotEqual:
      return !equal();
    case Op::kBeginWith:
      if (!present) return false;
      for (const auto& v : c.values) {
        if (value->compare(0, v.size(), v) == 0) return true;
      }
      return false;
    case Op::kLessThan:
    case Op::kGreaterThan:
      if (!present) return false;
      for (const auto& v : c.values) {
        int cmp = Compare(*value, v);
        if ((c.op == Op::kLessThan && cmp < 0) || (c.op == Op::kGreaterThan && cmp > 0)) {
          return true;
        }
      }
      return false;
  }
  return false;
}

int64_t InventoryIndex::RemoveType(const std::string& type_name) {
  std::unique_lock lock(mu_);
  auto t = tables_.find(type_name);
  if (t == tables_.end()) return 0;
  auto n = static_cast<int64_t>(t->second.nodes.size());
  tables_.erase(t);
  return n;
}

std::optional<Item> InventoryIndex::Get(const std::string& node,
                                        const std::string& type_name) const {
  std::shared_lock lock(mu_);
  auto t = tables_.find(type_name);
  if (t == tables_.end()) return std::nullopt;
  auto n = t->second.nodes.find(node);
  if (n == t->second.nodes.end()) return std::nullopt;
  const Rows& rows = n->second;
  Item item;
  item.type_name = type_name;
  item.schema_version = Str(rows.schema_version);
  item.capture_time = Str(rows.capture_time);
  item.content_hash = Str(rows.content_hash);
  item.entries.reserve(rows.count());
  for (size_t r = 0; r < rows.count(); ++r) {
    Entry e;
    for (uint32_t c = 0; c < rows.width && c < t->second.columns.size(); ++c) {
      if (Id v = rows.cells[r * rows.width + c]; v != 0) {
        e.emplace_back(t->second.columns[c], Str(v));
      }
    }
    std::sort(e.begin(), e.end());
    item.entries.push_back(std::move(e));
  }
  return item;
}

std::vector<std::string> InventoryIndex::TypesOf(const std::string& node) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, t] : tables_) {
    if (t.nodes.count(node)) out.push_back(name);
  }
  return out;
}

std::vector<InventoryIndex::TypeInfo> InventoryIndex::Types() const {
  std::shared_lock lock(mu_);
  std::vector<TypeInfo> out;
  for (const auto& [name, t] : tables_) {
    TypeInfo info;
    info.type_name = name;
    info.attributes = t.columns;
    std::sort(info.attributes.begin(), info.attributes.end());
    info.nodes = static_cast<int64_t>(t.nodes.size());
    if (!t.nodes.empty()) info.schema_version = Str(t.nodes.begin()->second.schema_version);
    out.push_back(std::move(info));
  }
  return out;
}

bool InventoryIndex::MatchesLocked(const Rows& rows, const Table& table,
                                   const Condition& c) const {
  auto col = table.column_of.find(c.attribute);
  if (col == table.column_of.end()) return c.op == Op::kNotEqual;
  const uint32_t k = col->second;
  if (k >= rows.width) return c.op == Op::kNotEqual;
  // Equal and NotEqual compare interned ids; values never seen cannot be equal.
  std::vector<Id> wanted;
  if (c.op == Op::kEqual || c.op == Op::kNotEqual) {
    for (const auto& v : c.values) {
      if (auto id = Find(v)) wanted.push_back(*id);
    }
  }
  bool any_equal = false;
  for (size_t r = 0; r < rows.count(); ++r) {
    const Id cell = rows.cells[r * rows.width + k];
    switch (c.op) {
      case Op::kExists:
        if (cell != 0) return true;
        break;
      case Op::kEqual:
      case Op::kNotEqual:
        if (std::find(wanted.begin(), wanted.end(), cell) != wanted.end()) any_equal = true;
        break;
      case Op::kBeginWith:
        if (cell == 0) break;
        for (const auto& v : c.values) {
          if (Str(cell).compare(0, v.size(), v) == 0) return true;
        }
        break;
      case Op::kLessThan:
      case Op::kGreaterThan:
        if (cell == 0) break;
        for (const auto& v : c.values) {
          int cmp = Compare(Str(cell), v);
          if ((c.op == Op::kLessThan && cmp < 0) || (c.op == Op::kGreaterThan && cmp > 0)) {
            return true;
          }
        }
        break;
    }
    if (any_equal) break;
  }
  if (c.op == Op::kEqual) return any_equal;
  if (c.op == Op::kNotEqual) return !any_equal;
  return false;
}

bool InventoryIndex::Matches(const std::string& node, const Condition& c) const {
  std::shared_lock lock(mu_);
  auto t = tables_.find(c.type_name);
  if (t == tables_.end()) return false;
  auto n = t->second.nodes.find(node);
  if (n == t->second.nodes.end()) return false;
  return MatchesLocked(n->second, t->second, c);
}

std::vector<std::string> InventoryIndex::Select(const std::vector<std::string>& nodes,
                                                const std::vector<Condition>& all) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& node : nodes) {
    bool ok = true;
    for (const auto& c : all) {
      auto t = tables_.find(c.type_name);
      if (t == tables_.end()) {
        ok = false;
        break;
      }
      auto n = t->second.nodes.find(node);
      if (n == t->second.nodes.end() || !MatchesLocked(n->second, t->second, c)) {
        ok = false;
        break;
      }
    }
    if (ok) out.push_back(node);
  }
  return out;
}

std::map<std::vector<std::string>, int64_t> InventoryIndex::Aggregate(
    const std::vector<std::string>& nodes, const std::string& type_name,
    const std::vector<std::string>& attributes) const {
  std::shared_lock lock(mu_);
  std::map<std::vector<std::string>, int64_t> out;
  auto t = tables_.find(type_name);
  if (t == tables_.end()) return out;
  std::vector<int64_t> cols;
  for (const auto& a : attributes) {
    auto it = t->second.column_of.find(a);
    cols.push_back(it == t->second.column_of.end() ? -1 : it->second);
  }
  std::map<std::vector<Id>, int64_t> counts;
  std::vector<std::vector<Id>> seen;  // per node: each combination once
  for (const auto& node : nodes) {
    auto n = t->second.nodes.find(node);
    if (n == t->second.nodes.end()) continue;
    const Rows& rows = n->second;
    seen.clear();
    seen.reserve(rows.count());
    for (size_t r = 0; r < rows.count(); ++r) {
      std::vector<Id> key;
      bool present = false;
      for (int64_t c : cols) {
        Id v = (c >= 0 && static_cast<uint32_t>(c) < rows.width)
                   ? rows.cells[r * rows.width + static_cast<size_t>(c)]
                   : 0;
        present = present || v != 0;
        key.push_back(v);
      }
      if (present) seen.push_back(std::move(key));
    }
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (auto& key : seen) ++counts[key];
  }
  for (const auto& [key, n] : counts) {
    std::vector<std::string> values;
    for (Id id : key) values.push_back(Str(id));
    out[values] += n;
  }
  return out;
}

}  // namespace gc::ssm::inventory
