#include "services/ssm/inventory_index.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/json_text.h"

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

EntryCells EntryCells::Of(const std::vector<Entry>& entries) {
  EntryCells out;
  for (const Entry& e : entries) {
    for (const auto& [k, v] : e) out.cells.emplace_back(k, v);
    out.EndEntry();
  }
  return out;
}

InventoryIndex::Id InventoryIndex::Intern(std::string_view s) {
  if (s.empty()) return 0;
  auto it = ids_.find(s);
  if (it != ids_.end()) return it->second;
  Id id = static_cast<Id>(strings_.size());
  strings_.emplace_back(s);
  plain_.push_back(std::none_of(s.begin(), s.end(), [](char ch) {
    return static_cast<unsigned char>(ch) < 0x20 || ch == '"' || ch == '\\';
  }));
  ids_.emplace(std::string(s), id);
  return id;
}

void InventoryIndex::AppendStr(Id id, std::string& out) const {
  if (!plain_[id]) return AppendJsonString(out, strings_[id]);
  out += '"';
  out += strings_[id];
  out += '"';
}

std::optional<InventoryIndex::Id> InventoryIndex::Find(std::string_view s) const {
  if (s.empty()) return Id{0};
  auto it = ids_.find(s);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void InventoryIndex::Put(const std::string& node, const Item& item) {
  Put(node, {item.type_name, item.schema_version, item.capture_time, item.content_hash},
      EntryCells::Of(item.entries));
}

void InventoryIndex::Put(const std::string& node, const ItemMeta& meta, const EntryCells& item) {
  std::unique_lock lock(mu_);
  auto t_it = tables_.find(meta.type_name);
  if (t_it == tables_.end()) t_it = tables_.emplace(std::string(meta.type_name), Table{}).first;
  Table& t = t_it->second;
  // The column of each cell, adding the attributes this table has not seen.
  std::vector<uint32_t> column(item.cells.size());
  for (size_t i = 0; i < item.cells.size(); ++i) {
    const std::string_view k = item.cells[i].first;
    auto c = t.column_of.find(k);
    if (c == t.column_of.end()) {
      c = t.column_of.emplace(std::string(k), static_cast<uint32_t>(t.columns.size())).first;
      t.columns.emplace_back(k);
    }
    column[i] = c->second;
  }
  Rows rows;
  rows.width = static_cast<uint32_t>(std::max<size_t>(1, t.columns.size()));
  rows.entries = static_cast<uint32_t>(item.size());
  rows.cells.assign(rows.width * item.size(), 0);
  uint32_t begin = 0;
  for (size_t r = 0; r < item.size(); ++r) {
    for (uint32_t i = begin; i < item.ends[r]; ++i) {
      rows.cells[column[i] * item.size() + r] = Intern(item.cells[i].second);
    }
    begin = item.ends[r];
  }
  rows.schema_version = Intern(meta.schema_version);
  rows.capture_time = Intern(meta.capture_time);
  rows.content_hash = Intern(meta.content_hash);
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
  plain_.assign(1, true);
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
      if (Id v = rows.at(r, c); v != 0) {
        e.emplace_back(t->second.columns[c], Str(v));
      }
    }
    std::sort(e.begin(), e.end());
    item.entries.push_back(std::move(e));
  }
  return item;
}

std::optional<std::pair<std::string, std::string>> InventoryIndex::HashAndCaptureTime(
    const std::string& node, const std::string& type_name) const {
  std::shared_lock lock(mu_);
  auto t = tables_.find(type_name);
  if (t == tables_.end()) return std::nullopt;
  auto n = t->second.nodes.find(node);
  if (n == t->second.nodes.end()) return std::nullopt;
  return std::make_pair(Str(n->second.content_hash), Str(n->second.capture_time));
}

std::vector<std::string> InventoryIndex::TypesOf(const std::string& node) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, t] : tables_) {
    if (t.nodes.count(node)) out.push_back(name);
  }
  return out;
}

int InventoryIndex::AppendDataJson(const std::string& node, const std::string& only_type,
                                   std::string& out) const {
  std::shared_lock lock(mu_);
  int appended = 0;
  for (const auto& [name, t] : tables_) {
    if (!only_type.empty() && name != only_type) continue;
    auto n = t.nodes.find(node);
    if (n == t.nodes.end()) continue;
    const Rows& rows = n->second;
    // Attributes in name order, as a JSON object's members are.
    std::vector<uint32_t> order;
    for (uint32_t c = 0; c < rows.width && c < t.columns.size(); ++c) order.push_back(c);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return t.columns[a] < t.columns[b]; });
    std::vector<std::string> names(order.size());  // `"Name":`
    for (uint32_t c : order) {
      AppendJsonString(names[c], t.columns[c]);
      names[c] += ':';
    }
    if (appended++ > 0) out += ',';
    AppendJsonString(out, name);
    out += ':';
    char sep = '{';
    if (rows.capture_time != 0) {
      out += "{\"CaptureTime\":";
      AppendStr(rows.capture_time, out);
      sep = ',';
    }
    out += sep;
    out += "\"Content\":[";
    for (size_t r = 0; r < rows.count(); ++r) {
      if (r > 0) out += ',';
      char inner = '{';
      for (uint32_t c : order) {
        const Id v = rows.at(r, c);
        if (v == 0) continue;
        out += inner;
        inner = ',';
        out += names[c];
        AppendStr(v, out);
      }
      out += inner == '{' ? "{}" : "}";
    }
    out += ']';
    if (rows.content_hash != 0) {
      out += ",\"ContentHash\":";
      AppendStr(rows.content_hash, out);
    }
    out += ",\"SchemaVersion\":";
    AppendStr(rows.schema_version, out);
    out += ",\"TypeName\":";
    AppendJsonString(out, name);
    out += '}';
  }
  return appended;
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

InventoryIndex::Resolved InventoryIndex::ResolveLocked(const Condition& c) const {
  Resolved r;
  r.condition = &c;
  auto t = tables_.find(c.type_name);
  if (t == tables_.end()) return r;
  r.table = &t->second;
  auto col = t->second.column_of.find(c.attribute);
  if (col != t->second.column_of.end()) r.column = col->second;
  // Equal and NotEqual compare interned ids; values never seen cannot be equal.
  if (c.op == Op::kEqual || c.op == Op::kNotEqual) {
    for (const auto& v : c.values) {
      if (auto id = Find(v)) r.wanted.push_back(*id);
    }
  }
  return r;
}

bool InventoryIndex::MatchesLocked(const Rows& rows, const Resolved& r) const {
  const Condition& c = *r.condition;
  if (r.column < 0 || static_cast<uint32_t>(r.column) >= rows.width) return c.op == Op::kNotEqual;
  const Id* cells = rows.column(static_cast<size_t>(r.column));
  const Id* end = cells + rows.count();
  switch (c.op) {
    case Op::kExists:
      return std::find_if(cells, end, [](Id v) { return v != 0; }) != end;
    case Op::kEqual:
    case Op::kNotEqual: {
      bool any_equal = false;
      for (Id wanted : r.wanted) any_equal = any_equal || std::find(cells, end, wanted) != end;
      return c.op == Op::kEqual ? any_equal : !any_equal;
    }
    case Op::kBeginWith:
      for (const Id* cell = cells; cell != end; ++cell) {
        if (*cell == 0) continue;
        for (const auto& v : c.values) {
          if (Str(*cell).compare(0, v.size(), v) == 0) return true;
        }
      }
      return false;
    case Op::kLessThan:
    case Op::kGreaterThan:
      for (const Id* cell = cells; cell != end; ++cell) {
        if (*cell == 0) continue;
        for (const auto& v : c.values) {
          int cmp = Compare(Str(*cell), v);
          if ((c.op == Op::kLessThan && cmp < 0) || (c.op == Op::kGreaterThan && cmp > 0)) {
            return true;
          }
        }
      }
      return false;
  }
  return false;
}

bool InventoryIndex::Matches(const std::string& node, const Condition& c) const {
  std::shared_lock lock(mu_);
  Resolved r = ResolveLocked(c);
  if (r.table == nullptr) return false;
  auto n = r.table->nodes.find(node);
  if (n == r.table->nodes.end()) return false;
  return MatchesLocked(n->second, r);
}

std::vector<std::string> InventoryIndex::Select(const std::vector<std::string>& nodes,
                                                const std::vector<Condition>& all) const {
  std::shared_lock lock(mu_);
  std::vector<Resolved> resolved;
  for (const auto& c : all) {
    resolved.push_back(ResolveLocked(c));
    if (resolved.back().table == nullptr) return {};  // no node has the type
  }
  std::vector<std::string> out;
  for (const auto& node : nodes) {
    bool ok = true;
    for (const Resolved& r : resolved) {
      auto n = r.table->nodes.find(node);
      if (n == r.table->nodes.end() || !MatchesLocked(n->second, r)) {
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
  // Each combination of interned values (its ids as bytes): nodes counted, and the last one, so
  // that a node with the combination in several entries counts once.
  struct Count {
    int64_t nodes = 0;
    size_t last = SIZE_MAX;
  };
  std::unordered_map<std::string, Count, StringHash, std::equal_to<>> counts;
  std::string key;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto n = t->second.nodes.find(nodes[i]);
    if (n == t->second.nodes.end()) continue;
    const Rows& rows = n->second;
    for (size_t r = 0; r < rows.count(); ++r) {
      key.clear();
      bool present = false;
      for (int64_t c : cols) {
        Id v = (c >= 0 && static_cast<uint32_t>(c) < rows.width)
                   ? rows.at(r, static_cast<size_t>(c))
                   : 0;
        present = present || v != 0;
        key.append(reinterpret_cast<const char*>(&v), sizeof v);
      }
      if (!present) continue;
      auto it = counts.find(std::string_view(key));
      if (it == counts.end()) it = counts.emplace(key, Count{}).first;
      if (it->second.last != i) {
        it->second.last = i;
        ++it->second.nodes;
      }
    }
  }
  for (const auto& [ids, count] : counts) {
    std::vector<std::string> values;
    for (size_t k = 0; k + sizeof(Id) <= ids.size(); k += sizeof(Id)) {
      Id id = 0;
      std::memcpy(&id, ids.data() + k, sizeof id);
      values.push_back(Str(id));
    }
    out[values] += count.nodes;
  }
  return out;
}

}  // namespace gc::ssm::inventory
