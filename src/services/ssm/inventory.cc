#include "services/ssm/inventory.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "common/crypto.h"
#include "common/json_text.h"
#include "services/ssm/inventory_codec.h"
#include "services/ssm/node_errors.h"
#include "services/ssm/paging.h"
#include "services/ssm/resource_tags.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;
using store::Tx;
using inventory::Condition;
using inventory::EntryMatches;
using inventory::Entry;
using inventory::Item;

constexpr const char* kInstanceInformation = "AWS:InstanceInformation";
// AWS:Tag is the managed node's tags (AddTagsToResource ResourceType ManagedInstance): the
// server has them, a hybrid node has no tags of its own to report.
constexpr const char* kTag = "AWS:Tag";
constexpr const char* kNodeResourceType = "ManagedInstance";
const std::vector<std::string> kNoNodes;
// ItemSizeLimitExceededException: the agent itself allows 3 MB per type (a host with a few
// thousand packages sends over 1 MB of AWS:Application).
constexpr size_t kMaxItemBytes = 4 << 20;
constexpr size_t kMaxTotalBytes = 10 << 20;      // TotalSizeLimitExceededException
constexpr size_t kMaxCustomTypes = 20;           // CustomSchemaCountLimitExceededException
constexpr size_t kMaxAttributes = 200;           // attributes of a custom type

AwsError InvalidTypeName(const std::string& type) {
  return {"InvalidTypeNameException", fmt::format("The type name {} is not valid.", type), 400};
}
AwsError InvalidItemContent(const std::string& why) {
  return {"InvalidItemContentException", why, 400};
}
AwsError InvalidFilter(const std::string& why) { return {"InvalidFilter", why, 400}; }

// The built-in types, their schema versions and attributes ("number" where AWS says so).
struct BuiltIn {
  const char* type;
  const char* version;
  std::vector<std::pair<const char*, const char*>> attributes;
};
const std::vector<BuiltIn>& BuiltIns() {
  static const std::vector<BuiltIn> kTypes = {
      {"AWS:Application", "1.1",
       {{"Name", "string"}, {"ApplicationType", "string"}, {"Publisher", "string"},
        {"Version", "string"}, {"Release", "string"}, {"Epoch", "string"},
        {"InstalledTime", "string"}, {"Architecture", "string"}, {"URL", "string"},
        {"Summary", "string"}, {"PackageId", "string"}}},
      {"AWS:AWSComponent", "1.0",
       {{"Name", "string"}, {"ApplicationType", "string"}, {"Publisher", "string"},
        {"Version", "string"}, {"InstalledTime", "string"}, {"Architecture", "string"},
        {"URL", "string"}}},
      {"AWS:File", "1.0",
       {{"Name", "string"}, {"Size", "number"}, {"Description", "string"},
        {"FileVersion", "string"}, {"InstalledDate", "string"}, {"ModificationTime", "string"},
        {"LastAccessTime", "string"}, {"ProductName", "string"}, {"InstalledDir", "string"},
        {"CompanyName", "string"}, {"ProductVersion", "string"}, {"ProductLanguage", "string"}}},
      {"AWS:InstanceDetailedInformation", "1.0",
       {{"CPUModel", "string"}, {"CPUCores", "number"}, {"CPUs", "number"},
        {"CPUSpeedMHz", "number"}, {"CPUSockets", "number"}, {"CPUHyperThreadEnabled", "string"},
        {"OSServicePack", "string"}, {"KernelVersion", "string"}}},
      {kInstanceInformation, "1.0",
       {{"AgentType", "string"}, {"AgentVersion", "string"}, {"ComputerName", "string"},
        {"InstanceId", "string"}, {"IpAddress", "string"}, {"PlatformName", "string"},
        {"PlatformType", "string"}, {"PlatformVersion", "string"}, {"ResourceType", "string"},
        {"InstanceStatus", "string"}}},
      {"AWS:Network", "1.0",
       {{"Name", "string"}, {"SubnetMask", "string"}, {"Gateway", "string"},
        {"DHCPServer", "string"}, {"DNSServer", "string"}, {"MacAddress", "string"},
        {"IPV4", "string"}, {"IPV6", "string"}}},
      {"AWS:Service", "1.0",
       {{"Name", "string"}, {"DisplayName", "string"}, {"ServiceType", "string"},
        {"Status", "string"}, {"DependentServices", "string"}, {"ServicesDependedOn", "string"},
        {"StartType", "string"}}},
      {"AWS:Tag", "1.0", {{"Key", "string"}, {"Value", "string"}}},
      {"AWS:WindowsUpdate", "1.0",
       {{"HotFixId", "string"}, {"Description", "string"}, {"InstalledTime", "string"},
        {"InstalledBy", "string"}}},
      {"AWS:ComplianceItem", "1.0",
       {{"ComplianceType", "string"}, {"ExecutionId", "string"}, {"ExecutionType", "string"},
        {"ExecutionTime", "string"}, {"Id", "string"}, {"Title", "string"}, {"Status", "string"},
        {"Severity", "string"}, {"DocumentName", "string"}, {"DocumentVersion", "string"},
        {"Classification", "string"}, {"PatchBaselineId", "string"}, {"PatchSeverity", "string"},
        {"PatchState", "string"}, {"PatchGroup", "string"}, {"InstalledTime", "string"}}},
      {"AWS:PatchSummary", "1.0",
       {{"PatchGroup", "string"}, {"BaselineId", "string"}, {"SnapshotId", "string"},
        {"OwnerInformation", "string"}, {"InstalledCount", "number"},
        {"InstalledOtherCount", "number"}, {"InstalledPendingRebootCount", "number"},
        {"InstalledRejectedCount", "number"}, {"NotApplicableCount", "number"},
        {"MissingCount", "number"}, {"FailedCount", "number"}, {"OperationType", "string"},
        {"OperationStartTime", "string"}, {"OperationEndTime", "string"},
        {"RebootOption", "string"}}},
  };
  return kTypes;
}
const BuiltIn* FindBuiltIn(const std::string& type) {
  for (const auto& b : BuiltIns()) {
    if (type == b.type) return &b;
  }
  return nullptr;
}
bool IsCustom(const std::string& type) { return type.rfind("Custom:", 0) == 0 && type.size() > 7; }

// A type name the API takes: a built-in AWS: type or Custom:<name>.
Status CheckTypeName(const std::string& type) {
  if (FindBuiltIn(type) || IsCustom(type)) return Ok{};
  return InvalidTypeName(type);
}

// "AWS:Application.Name" → {type, attribute}; the attribute follows the last '.'.
std::optional<std::pair<std::string, std::string>> SplitKey(const std::string& key) {
  size_t dot = key.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == key.size()) return std::nullopt;
  std::string type = key.substr(0, dot);
  if (!FindBuiltIn(type) && !IsCustom(type)) return std::nullopt;
  return std::make_pair(type, key.substr(dot + 1));
}

Result<std::vector<Condition>> ParseConditions(const Json& filters) {
  std::vector<Condition> out;
  for (const auto& f : filters) {
    const std::string key = f.value("Key", "");
    auto split = SplitKey(key);
    if (!split) return InvalidFilter(fmt::format("The filter key {} is not valid.", key));
    auto op = inventory::ParseOp(f.value("Type", "Equal"));
    if (!op) return InvalidFilter(fmt::format("The filter type of {} is not valid.", key));
    Condition c{split->first, split->second, *op, {}};
    for (const auto& v : f.value("Values", Json::array())) {
      if (v.is_string()) c.values.push_back(v.get<std::string>());
    }
    if (c.values.empty() && *op != inventory::Op::kExists) {
      return InvalidFilter(fmt::format("The filter {} needs at least one value.", key));
    }
    out.push_back(std::move(c));
  }
  return out;
}

// The AWS:InstanceInformation entry of a managed node.
Entry InstanceEntry(const ManagedNodes::NodeState& n) {
  Entry e = {{"AgentType", "amazon-ssm-agent"},
             {"AgentVersion", n.agent_version},
             {"ComputerName", n.computer_name},
             {"InstanceId", n.node_id},
             {"InstanceStatus", "Active"},
             {"IpAddress", n.ip_address},
             {"PlatformName", n.platform_name},
             {"PlatformType", n.platform_type},
             {"PlatformVersion", n.platform_version},
             {"ResourceType", "ManagedInstance"}};
  e.erase(std::remove_if(e.begin(), e.end(), [](const auto& kv) { return kv.second.empty(); }),
          e.end());
  return e;
}

Json EntryJson(const Entry& e) {
  Json out = Json::object();
  for (const auto& [k, v] : e) out[k] = v;
  return out;
}

Json ItemJson(const Item& item) {
  Json content = Json::array();
  for (const auto& e : item.entries) content.push_back(EntryJson(e));
  Json out = {{"TypeName", item.type_name},
              {"SchemaVersion", item.schema_version},
              {"Content", std::move(content)}};
  if (!item.capture_time.empty()) out["CaptureTime"] = item.capture_time;
  if (!item.content_hash.empty()) out["ContentHash"] = item.content_hash;
  return out;
}

// Appends GetInventory's member for a projected type of a node.
void AppendProjected(const char* type, const std::vector<Entry>& entries, bool comma,
                     std::string& out) {
  if (comma) out += ',';
  AppendJsonString(out, type);
  out += ':';
  out += ItemJson(Item{type, "1.0", "", "", entries}).dump();
}

bool IsProjection(const std::string& type) { return type == kInstanceInformation || type == kTag; }

// Whether a node's entries of a projected type pass `c`: some entry does; NotEqual passes a node
// that has the type and no entry equal to a value (as the index's types).
bool ProjectedMatches(const std::vector<Entry>& entries, const Condition& c) {
  if (c.op != inventory::Op::kNotEqual) {
    return std::any_of(entries.begin(), entries.end(),
                       [&](const Entry& e) { return EntryMatches(e, c); });
  }
  Condition equal = c;
  equal.op = inventory::Op::kEqual;
  return !entries.empty() && std::none_of(entries.begin(), entries.end(), [&](const Entry& e) {
    return EntryMatches(e, equal);
  });
}

// An item's Content as `in` has it (the generic decoding path), borrowing its strings.
Result<inventory::Content> ParseContent(const Json& content, const std::string& type) {
  inventory::Content out;
  if (!content.is_array()) return InvalidItemContent("Content of " + type + " is not a list.");
  for (const auto& row : content) {
    if (!row.is_object()) {
      return InvalidItemContent("Each entry of " + type + " must be a map of strings.");
    }
    if (row.size() > kMaxAttributes) {
      return InvalidItemContent(fmt::format("An entry of {} has more than {} attributes.", type,
                                            kMaxAttributes));
    }
    for (const auto& [k, v] : row.items()) {
      if (!v.is_string()) {
        return InvalidItemContent(
            fmt::format("The value of {} in {} must be a string.", k, type));
      }
      out.entries.cells.emplace_back(k, v.get_ref<const std::string&>());
    }
    out.entries.EndEntry();
  }
  out.text = content.dump();
  return out;
}

}  // namespace

Inventory::Inventory(store::Store& store, ManagedNodes& nodes)
    : store_(store), nodes_(nodes), shared_store_(store.Backend() == "postgres") {}

std::vector<store::Migration> Inventory::Migrations() {
  return {{"ssm.inventory", 1,
           "CREATE TABLE ssm_inventory ("
           " node_id TEXT NOT NULL, type_name TEXT NOT NULL, account TEXT NOT NULL,"
           " region TEXT NOT NULL, schema_version TEXT NOT NULL, capture_time TEXT NOT NULL,"
           " content_hash TEXT NOT NULL, content TEXT NOT NULL, updated_ms BIGINT NOT NULL,"
           " PRIMARY KEY (node_id, type_name));"
           "CREATE INDEX ssm_inventory_type ON ssm_inventory (type_name);"
           "CREATE TABLE ssm_inventory_schema ("
           " account TEXT NOT NULL, region TEXT NOT NULL, type_name TEXT NOT NULL,"
           " version TEXT NOT NULL, attributes TEXT NOT NULL, disabled_version TEXT NOT NULL,"
           " PRIMARY KEY (account, region, type_name));"
           "CREATE TABLE ssm_inventory_deletion ("
           " deletion_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
           " type_name TEXT NOT NULL, started_ms BIGINT NOT NULL, summary TEXT NOT NULL)"},
          // Replicas catch up on recent rows (CatchUp) without scanning the table.
          {"ssm.inventory", 2,
           "CREATE INDEX ssm_inventory_updated ON ssm_inventory (updated_ms);"
           "CREATE INDEX ssm_inventory_deletion_started ON ssm_inventory_deletion (started_ms)"}};
}

void Inventory::AddOperations(wire::ServiceDef& def) {
  auto bind = [this](Result<Json> (Inventory::*m)(const Ctx&, const Json&)) {
    return [this, m](const Ctx& ctx, const Json& in) { return (this->*m)(ctx, in); };
  };
  def.operations["PutInventory"] = bind(&Inventory::PutInventory);
  // A page holds up to 50 nodes' whole inventories (7.5 MB at 500 packages each): written as text.
  def.encoded_operations["GetInventory"] = [this](const Ctx& ctx, const Json& in) {
    return GetInventory(ctx, in);
  };
  def.input_decoders["PutInventory"] = [](std::string_view body, Json& input) {
    return std::shared_ptr<const void>(inventory::DecodedPut::Decode(body, input));
  };
  def.operations["ListInventoryEntries"] = bind(&Inventory::ListInventoryEntries);
  def.operations["GetInventorySchema"] = bind(&Inventory::GetInventorySchema);
  def.operations["DeleteInventory"] = bind(&Inventory::DeleteInventory);
  def.operations["DescribeInventoryDeletions"] = bind(&Inventory::DescribeInventoryDeletions);
  // Fleet-wide queries: 0.5-1 s at 10,000 nodes x 500 applications (bench/README.md).
  def.slow_reads["GetInventory"] = true;
}

void Inventory::ForgetCachedState() {
  std::lock_guard lock(load_mu_);
  index_.Clear();
  loaded_ = false;
  seen_updated_ms_ = 0;
  known_deletions_.clear();
}

Status Inventory::EnsureLoaded(bool catch_up) {
  std::lock_guard lock(load_mu_);
  if (loaded_ && shared_store_ && catch_up) {
    auto reload = CatchUp();
    if (!reload.ok()) return reload.take_error();
    if (*reload) {  // another replica deleted a custom type (rare): load everything again
      index_.Clear();
      known_deletions_.clear();
      loaded_ = false;
    }
  }
  if (loaded_) return Ok{};
  if (shared_store_) {
    // What is stored from here on is taken in by CatchUp.
    Status st = store_.Read([&](Tx& tx) -> Status {
      auto latest = tx.Query("SELECT MAX(updated_ms) FROM ssm_inventory");
      if (!latest.ok()) return latest.take_error();
      seen_updated_ms_ = latest->empty() ? 0 : latest->front().Int(0);
      auto deletions = tx.Query("SELECT deletion_id FROM ssm_inventory_deletion");
      if (!deletions.ok()) return deletions.take_error();
      for (const auto& r : *deletions) known_deletions_.insert(r.Str(0));
      return Ok{};
    });
    if (!st.ok()) return st;
  }
  // In pages, so that memory holds one page of stored content at a time (10,000 nodes x 500
  // applications is 1.5 GB of it), each page read with simdjson into the index.
  constexpr int64_t kPage = 256;
  inventory::ContentReader reader;
  inventory::EntryCells entries;
  std::string after_node, after_type;
  for (bool more = true; more;) {
    Status st = store_.Read([&](Tx& tx) -> Status {
      auto rows = tx.Query("SELECT node_id, type_name, schema_version, capture_time,"
                           " content_hash, content FROM ssm_inventory WHERE node_id > ? OR"
                           " (node_id = ? AND type_name > ?) ORDER BY node_id, type_name LIMIT ?",
                           {after_node, after_node, after_type, kPage});
      if (!rows.ok()) return rows.take_error();
      more = static_cast<int64_t>(rows->size()) == kPage;
      for (const auto& r : *rows) {
        after_node = r.Str(0);
        after_type = r.Str(1);
        const std::string content = r.Str(5);
        if (!reader.Read(content, entries)) continue;
        const std::string version = r.Str(2), captured = r.Str(3), hash = r.Str(4);
        index_.Put(after_node, {after_type, version, captured, hash}, entries);
      }
      return Ok{};
    });
    if (!st.ok()) return st;
  }
  loaded_ = true;
  return Ok{};
}

Result<bool> Inventory::CatchUp() {
  // Rows another replica updated: one query of their hashes, then the content of those that
  // changed. A margin covers clocks a little apart (updated_ms is the writer's clock).
  constexpr int64_t kClockMarginMs = 5000;
  struct Changed {
    std::string node, type;
  };
  std::vector<Changed> changed;
  bool foreign_deletion = false;
  int64_t latest = seen_updated_ms_;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT node_id, type_name, content_hash, capture_time, updated_ms FROM"
                         " ssm_inventory WHERE updated_ms >= ?",
                         {seen_updated_ms_ - kClockMarginMs});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      latest = std::max(latest, r.Int(4));
      auto known = index_.HashAndCaptureTime(r.Str(0), r.Str(1));
      if (!known || known->first != r.Str(2)) {
        changed.push_back({r.Str(0), r.Str(1)});
      } else if (known->second != r.Str(3)) {
        index_.Touch(r.Str(0), r.Str(1), r.Str(3));
      }
    }
    auto deletions = tx.Query("SELECT deletion_id FROM ssm_inventory_deletion WHERE"
                              " started_ms >= ?",
                              {seen_updated_ms_ - kClockMarginMs});
    if (!deletions.ok()) return deletions.take_error();
    for (const auto& r : *deletions) {
      foreign_deletion = known_deletions_.insert(r.Str(0)).second || foreign_deletion;
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (foreign_deletion) return true;
  inventory::ContentReader reader;
  inventory::EntryCells entries;
  for (const Changed& c : changed) {
    st = store_.Read([&](Tx& tx) -> Status {
      auto rows = tx.Query("SELECT schema_version, capture_time, content_hash, content FROM"
                           " ssm_inventory WHERE node_id = ? AND type_name = ?",
                           {c.node, c.type});
      if (!rows.ok()) return rows.take_error();
      if (rows->empty()) return Ok{};
      const std::string content = rows->front().Str(3);
      if (!reader.Read(content, entries)) return Ok{};
      const std::string version = rows->front().Str(0), captured = rows->front().Str(1),
                        hash = rows->front().Str(2);
      index_.Put(c.node, {c.type, version, captured, hash}, entries);
      return Ok{};
    });
    if (!st.ok()) return st.take_error();
  }
  seen_updated_ms_ = latest;
  return false;
}

void Inventory::StartLoading() {
  if (preload_.joinable()) return;
  preload_ = std::thread([this] {
    if (Status st = EnsureLoaded(/*catch_up=*/false); !st.ok()) {
      fmt::print(stderr, "groundcrewd: inventory index not loaded yet: {}\n", st.error().message);
    }
  });
}

Inventory::~Inventory() {
  if (preload_.joinable()) preload_.join();
}

// ---- PutInventory -------------------------------------------------------------------------------

Result<Json> Inventory::PutInventory(const Ctx& ctx, const Json& in) {
  const std::string node = in.value("InstanceId", "");
  if (Status s = ManagedNodes::RequireSelf(ctx, node, "ssm:PutInventory"); !s.ok()) return s.take_error();
  auto state = nodes_.GetNode(ctx, node);
  if (!state.ok()) return state.take_error();
  if (!*state || !(*state)->registered) return errors::InvalidInstanceId(node);
  if (Status s = EnsureLoaded(/*catch_up=*/false); !s.ok()) return s.take_error();

  // The items' contents: decoded with the body (inventory_codec.h), or read from `in` when the
  // decoder left the body to the generic path.
  auto decoded = std::static_pointer_cast<const inventory::DecodedPut>(ctx.decoded);
  std::vector<inventory::Content> from_input;
  const Json& items = in.at("Items");
  from_input.reserve(items.size());
  struct Put {
    std::string type_name, schema_version, capture_time, content_hash;
    const inventory::Content* content = nullptr;  // null: only the hash came
  };
  std::vector<Put> puts;
  size_t total = 0;
  std::set<std::string> types;
  for (size_t k = 0; k < items.size(); ++k) {
    const Json& it = items[k];
    Put p;
    p.type_name = it.value("TypeName", "");
    if (Status s = CheckTypeName(p.type_name); !s.ok()) return s.take_error();
    if (IsProjection(p.type_name)) {
      return InvalidTypeName(p.type_name);  // a projection of the node, never put
    }
    if (!types.insert(p.type_name).second) {
      return InvalidItemContent("The type " + p.type_name + " appears more than once.");
    }
    p.schema_version = it.value("SchemaVersion", "");
    static const std::regex kVersion(R"(^([0-9]{1,6})(\.[0-9]{1,6})$)");
    if (!std::regex_match(p.schema_version, kVersion)) {
      return AwsError{"UnsupportedInventorySchemaVersionException",
                      "The schema version " + p.schema_version + " is not supported.", 400};
    }
    p.capture_time = it.value("CaptureTime", "");
    p.content_hash = it.value("ContentHash", "");
    if (decoded) {
      if (const auto& c = decoded->content(k)) p.content = &*c;
    } else if (it.contains("Content")) {
      auto entries = ParseContent(it["Content"], p.type_name);
      if (!entries.ok()) return entries.take_error();
      p.content = &from_input.emplace_back(std::move(*entries));
    }
    if (p.content) {
      if (p.content->text.size() > kMaxItemBytes) {
        return AwsError{"ItemSizeLimitExceededException",
                        "The inventory item " + p.type_name + " is larger than 4 MB.", 400};
      }
      total += p.content->text.size();
      if (p.content_hash.empty()) {
        p.content_hash = crypto::Base64Encode(crypto::Md5(p.content->text));
      }
    } else if (p.content_hash.empty()) {
      return InvalidItemContent("The item " + p.type_name + " has neither Content nor "
                                "ContentHash.");
    }
    puts.push_back(std::move(p));
  }
  if (total > kMaxTotalBytes) {
    return AwsError{"TotalSizeLimitExceededException",
                    "The inventory of one call must not exceed 10 MB.", 400};
  }
  std::vector<size_t> stored;  // which of `puts` the index takes after the commit
  Status st = store_.Write([&](Tx& tx) -> Status {
    stored.clear();
    for (size_t k = 0; k < puts.size(); ++k) {
      const Put& p = puts[k];
      if (IsCustom(p.type_name)) {
        auto schema = tx.Query("SELECT attributes, disabled_version FROM ssm_inventory_schema"
                               " WHERE account = ? AND region = ? AND type_name = ?",
                               {ctx.account_id, ctx.region, p.type_name});
        if (!schema.ok()) return schema.take_error();
        std::set<std::string> attrs;
        std::string disabled;
        if (schema->empty()) {
          auto n = tx.Query("SELECT COUNT(*) FROM ssm_inventory_schema WHERE account = ? AND"
                            " region = ?",
                            {ctx.account_id, ctx.region});
          if (!n.ok()) return n.take_error();
          if (static_cast<size_t>(n->front().Int(0)) >= kMaxCustomTypes) {
            return AwsError{"CustomSchemaCountLimitExceededException",
                            "You have exceeded the limit for custom schemas.", 400};
          }
        } else {
          for (const auto& a : Json::parse(schema->front().Str(0), nullptr, false)) {
            if (a.is_string()) attrs.insert(a.get<std::string>());
          }
          disabled = schema->front().Str(1);
        }
        if (!disabled.empty() && std::stod(p.schema_version) <= std::stod(disabled)) {
          continue;  // a disabled schema ignores this version and earlier (DeleteInventory)
        }
        if (p.content) {
          for (const auto& [name, value] : p.content->entries.cells) attrs.emplace(name);
        }
        if (attrs.size() > kMaxAttributes) {
          return InvalidItemContent("A custom inventory type has at most 200 attributes.");
        }
        auto up = tx.Exec(
            "INSERT INTO ssm_inventory_schema (account, region, type_name, version, attributes,"
            " disabled_version) VALUES (?, ?, ?, ?, ?, '') ON CONFLICT (account, region,"
            " type_name) DO UPDATE SET version = excluded.version, attributes ="
            " excluded.attributes, disabled_version = ''",
            {ctx.account_id, ctx.region, p.type_name, p.schema_version,
             Json(attrs).dump()});
        if (!up.ok()) return up.take_error();
      }
      if (!p.content) {
        // Unchanged since the last upload: only the hash came. It must be what we have.
        auto cur = tx.Query("SELECT content_hash FROM ssm_inventory WHERE node_id = ? AND"
                            " type_name = ?",
                            {node, p.type_name});
        if (!cur.ok()) return cur.take_error();
        if (cur->empty() || cur->front().Str(0) != p.content_hash) {
          return AwsError{"ItemContentMismatchException",
                          "The inventory item " + p.type_name +
                              " has a content hash that does not match what was stored.",
                          400};
        }
        auto u = tx.Exec("UPDATE ssm_inventory SET capture_time = ?, updated_ms = ? WHERE"
                         " node_id = ? AND type_name = ?",
                         {p.capture_time, ctx.now_millis, node, p.type_name});
        if (!u.ok()) return u.take_error();
        stored.push_back(k);
        continue;
      }
      auto w = tx.Exec(
          "INSERT INTO ssm_inventory (node_id, type_name, account, region, schema_version,"
          " capture_time, content_hash, content, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
          " ON CONFLICT (node_id, type_name) DO UPDATE SET schema_version ="
          " excluded.schema_version, capture_time = excluded.capture_time, content_hash ="
          " excluded.content_hash, content = excluded.content, updated_ms = excluded.updated_ms",
          {node, p.type_name, ctx.account_id, ctx.region, p.schema_version,
           p.capture_time, p.content_hash, p.content->text, ctx.now_millis});
      if (!w.ok()) return w.take_error();
      stored.push_back(k);
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  for (size_t k : stored) {
    const Put& p = puts[k];
    if (p.content) {
      index_.Put(node, {p.type_name, p.schema_version, p.capture_time, p.content_hash},
                 p.content->entries);
    } else {
      index_.Touch(node, p.type_name, p.capture_time);
    }
  }
  return Json::object();
}

// ---- GetInventory -------------------------------------------------------------------------------

Result<Inventory::Projected> Inventory::Project(const Ctx& ctx, bool info,
                                                const std::vector<std::string>* tags_of) {
  Projected out;
  if (info) {
    auto registered = nodes_.ListRegistered(ctx);
    if (!registered.ok()) return registered.take_error();
    for (const auto& n : *registered) out[kInstanceInformation][n.node_id] = {InstanceEntry(n)};
  }
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto add = [&](const std::string& node, const ResourceTags::TagMap& tags) {
      auto& entries = out[kTag][node];
      for (const auto& [key, value] : tags) entries.push_back({{"Key", key}, {"Value", value}});
    };
    if (tags_of == nullptr) {
      auto all = ResourceTags::LoadTagsOfType(tx, ctx, kNodeResourceType);
      if (!all.ok()) return all.take_error();
      for (const auto& [node, tags] : *all) add(node, tags);
      return Ok{};
    }
    for (const std::string& node : *tags_of) {
      auto tags = ResourceTags::LoadTags(tx, ctx, kNodeResourceType, node);
      if (!tags.ok()) return tags.take_error();
      ResourceTags::TagMap map;
      for (const auto& t : *tags) map[t.value("Key", "")] = t.value("Value", "");
      if (!map.empty()) add(node, map);
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<std::string> Inventory::GetInventory(const Ctx& ctx, const Json& in) {
  if (Status s = EnsureLoaded(/*catch_up=*/true); !s.ok()) return s.take_error();
  auto conditions = ParseConditions(in.value("Filters", Json::array()));
  if (!conditions.ok()) return conditions.take_error();
  std::string only;
  for (const auto& r : in.value("ResultAttributes", Json::array())) {
    only = r.value("TypeName", "");
    if (!FindBuiltIn(only) && !IsCustom(only)) {
      return AwsError{"InvalidResultAttributeException",
                      fmt::format("The result attribute {} is not valid.", only), 400};
    }
  }
  const bool aggregate = in.contains("Aggregators");
  // The projected types (AWS:InstanceInformation, AWS:Tag) are read for every node when a filter
  // or an aggregator may look at them; else only for the nodes of the page.
  auto filters_on = [&](const char* type) {
    return std::any_of(conditions->begin(), conditions->end(),
                       [&](const Condition& c) { return c.type_name == type; });
  };
  const bool all_info = aggregate || filters_on(kInstanceInformation);
  const bool all_tags = aggregate || filters_on(kTag);
  Projected projected;
  if (all_info || all_tags) {
    auto p = Project(ctx, all_info, all_tags ? nullptr : &kNoNodes);
    if (!p.ok()) return p.take_error();
    projected = std::move(*p);
  }
  auto projected_of = [&](const std::string& type, const std::string& node) -> const auto& {
    static const std::vector<Entry> kNone;
    auto t = projected.find(type);
    if (t == projected.end()) return kNone;
    auto n = t->second.find(node);
    return n == t->second.end() ? kNone : n->second;
  };
  auto passes = [&](const std::string& node, const Condition& c) {
    return IsProjection(c.type_name) ? ProjectedMatches(projected_of(c.type_name, node), c)
                                     : index_.Matches(node, c);
  };

  std::vector<std::string> candidates;
  std::vector<Condition> indexed;
  for (const auto& c : *conditions) {
    if (!IsProjection(c.type_name)) indexed.push_back(c);
  }
  if (all_info) {
    for (const auto& [node, entries] : projected[kInstanceInformation]) candidates.push_back(node);
  } else {
    auto ids = nodes_.ListRegisteredIds(ctx);
    if (!ids.ok()) return ids.take_error();
    candidates = std::move(*ids);
  }
  if (indexed.size() != conditions->size()) {
    std::erase_if(candidates, [&](const std::string& node) {
      return !std::all_of(conditions->begin(), conditions->end(), [&](const Condition& c) {
        return !IsProjection(c.type_name) || passes(node, c);
      });
    });
  }
  std::vector<std::string> matched = index_.Select(candidates, indexed);

  // Aggregators: counts instead of entities.
  if (aggregate) {
    Json entities = Json::array();
    for (const auto& agg : in["Aggregators"]) {
      Json data = Json::object();
      if (agg.contains("Groups")) {
        // Each group counts the nodes that pass all its filters, and those that do not.
        for (const auto& g : agg["Groups"]) {
          auto gc = ParseConditions(g.value("Filters", Json::array()));
          if (!gc.ok()) {
            return AwsError{"InvalidInventoryGroupException", gc.error().message, 400};
          }
          int64_t matching = 0;
          for (const auto& node : matched) {
            if (std::all_of(gc->begin(), gc->end(),
                            [&](const Condition& c) { return passes(node, c); })) {
              ++matching;
            }
          }
          const std::string name = g.value("Name", "");
          data[name] = {{"TypeName", name},
                        {"SchemaVersion", ""},
                        {"Content",
                         {{{"matchingCount", std::to_string(matching)}},
                          {{"notMatchingCount",
                            std::to_string(static_cast<int64_t>(matched.size()) - matching)}}}}};
        }
        entities.push_back({{"Data", data}});
        continue;
      }
      // Expression, with nested aggregators over the same type: one count per combination.
      std::vector<std::string> exprs = {agg.value("Expression", "")};
      for (const auto& nested : agg.value("Aggregators", Json::array())) {
        exprs.push_back(nested.value("Expression", ""));
      }
      std::string type;
      std::vector<std::string> attrs;
      for (const auto& x : exprs) {
        auto split = SplitKey(x);
        if (!split || (!type.empty() && split->first != type)) {
          return AwsError{"InvalidAggregatorException",
                          fmt::format("The aggregator expression {} is not valid.", x), 400};
        }
        type = split->first;
        attrs.push_back(split->second);
      }
      std::map<std::vector<std::string>, int64_t> counts;
      if (IsProjection(type)) {
        for (const auto& node : matched) {
          std::set<std::vector<std::string>> seen;  // each combination once per node
          for (const Entry& e : projected_of(type, node)) {
            std::vector<std::string> key;
            bool present = false;
            for (const auto& a : attrs) {
              std::string v;
              for (const auto& [k, val] : e) {
                if (k == a) v = val;
              }
              present = present || !v.empty();
              key.push_back(v);
            }
            if (present) seen.insert(std::move(key));
          }
          for (const auto& key : seen) ++counts[key];
        }
      } else {
        counts = index_.Aggregate(matched, type, attrs);
      }
      Json content = Json::array();
      for (const auto& [key, n] : counts) {
        Json row = Json::object();
        for (size_t k = 0; k < attrs.size(); ++k) row[attrs[k]] = key[k];
        row["Count"] = std::to_string(n);
        content.push_back(std::move(row));
      }
      data[type] = {{"TypeName", type}, {"SchemaVersion", ""}, {"Content", std::move(content)}};
      entities.push_back({{"Data", data}});
    }
    return Json{{"Entities", entities}}.dump();
  }

  auto after = DecodeNextToken(in, "inventory");
  if (!after.ok()) return after.take_error();
  int64_t max = in.value("MaxResults", int64_t{50});
  if (max <= 0 || max > 50) max = 50;
  // The page: the nodes after the token, up to `max` that have something to show (all of them
  // unless ResultAttributes names a type), and whether one more would follow.
  std::vector<std::string> page;
  bool more = false;
  for (const auto& node : matched) {
    if (!after->empty() && node <= *after) continue;
    if (!only.empty() && !IsProjection(only)) {
      auto types = index_.TypesOf(node);
      if (std::find(types.begin(), types.end(), only) == types.end()) continue;
    }
    if (static_cast<int64_t>(page.size()) == max) {
      more = true;
      break;
    }
    page.push_back(node);
  }
  // The projections the page shows and were not read above.
  const bool show_info = only.empty() || only == kInstanceInformation;
  const bool show_tags = only.empty() || only == kTag;
  if ((show_info && !all_info) || (show_tags && !all_tags)) {
    auto p = Project(ctx, false, show_tags && !all_tags ? &page : &kNoNodes);
    if (!p.ok()) return p.take_error();
    for (auto& [type, by_node] : *p) projected[type].merge(by_node);
    if (show_info && !all_info) {
      for (const auto& node : page) {
        auto state = nodes_.GetNode(ctx, node);
        if (!state.ok()) return state.take_error();
        if (*state) projected[kInstanceInformation][node] = {InstanceEntry(**state)};
      }
    }
  }
  std::string out = "{\"Entities\":[";
  int64_t count = 0;
  for (const auto& node : page) {
    // {"Data":{the index's types, then the projections},"Id":node}
    const size_t start = out.size();
    out += count > 0 ? ",{\"Data\":{" : "{\"Data\":{";
    int members = index_.AppendDataJson(node, only, out);
    for (const char* type : {kInstanceInformation, kTag}) {
      if (!only.empty() && only != type) continue;
      const auto& entries = projected_of(type, node);
      if (entries.empty()) continue;
      AppendProjected(type, entries, members > 0, out);
      ++members;
    }
    if (members == 0) {  // shows nothing (a node without tags, asked for AWS:Tag only)
      out.resize(start);
      continue;
    }
    out += "},\"Id\":";
    AppendJsonString(out, node);
    out += '}';
    ++count;
  }
  out += ']';
  if (more && !page.empty()) {
    out += ",\"NextToken\":";
    AppendJsonString(out, EncodeNextToken("inventory", page.back()));
  }
  out += '}';
  return out;
}

// ---- ListInventoryEntries -----------------------------------------------------------------------

Result<Json> Inventory::ListInventoryEntries(const Ctx& ctx, const Json& in) {
  const std::string node = in.value("InstanceId", "");
  const std::string type = in.value("TypeName", "");
  auto state = nodes_.GetNode(ctx, node);
  if (!state.ok()) return state.take_error();
  if (!*state) return errors::InvalidInstanceId(node);
  if (Status s = CheckTypeName(type); !s.ok()) return s.take_error();
  if (Status s = EnsureLoaded(/*catch_up=*/true); !s.ok()) return s.take_error();
  std::vector<Condition> conditions;
  for (const auto& f : in.value("Filters", Json::array())) {
    auto op = inventory::ParseOp(f.value("Type", "Equal"));
    if (!op || f.value("Key", "").empty()) return InvalidFilter("The filter is not valid.");
    Condition c{type, f.value("Key", ""), *op, {}};
    for (const auto& v : f.value("Values", Json::array())) c.values.push_back(v.get<std::string>());
    conditions.push_back(std::move(c));
  }
  std::optional<Item> item;
  if (type == kInstanceInformation) {
    item = Item{type, "1.0", "", "", {InstanceEntry(**state)}};
  } else if (type == kTag) {
    const std::vector<std::string> one = {node};
    auto p = Project(ctx, false, &one);
    if (!p.ok()) return p.take_error();
    if (auto& by_node = (*p)[kTag]; by_node.count(node)) {
      item = Item{type, "1.0", "", "", by_node[node]};
    }
  } else {
    item = index_.Get(node, type);
  }
  Json out = {{"TypeName", type}, {"InstanceId", node}, {"Entries", Json::array()}};
  if (!item) return out;
  out["SchemaVersion"] = item->schema_version;
  if (!item->capture_time.empty()) out["CaptureTime"] = item->capture_time;
  auto after = DecodeNextToken(in, "entries");
  if (!after.ok()) return after.take_error();
  const size_t start = after->empty() ? 0 : std::stoul(*after);
  int64_t max = in.value("MaxResults", int64_t{50});
  if (max <= 0 || max > 50) max = 50;
  size_t k = 0;
  for (const auto& e : item->entries) {
    ++k;
    if (k <= start) continue;
    bool ok = true;
    for (const auto& c : conditions) {
      if (!EntryMatches(e, c)) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    if (static_cast<int64_t>(out["Entries"].size()) == max) {
      out["NextToken"] = EncodeNextToken("entries", std::to_string(k - 1));
      return out;
    }
    out["Entries"].push_back(EntryJson(e));
  }
  return out;
}

// ---- GetInventorySchema -------------------------------------------------------------------------

Result<Json> Inventory::GetInventorySchema(const Ctx& ctx, const Json& in) {
  const std::string prefix = in.value("TypeName", "");
  const bool aggregator = in.value("Aggregator", false);
  Json schemas = Json::array();
  auto add = [&](const std::string& type, const std::string& version,
                 const std::vector<std::pair<std::string, std::string>>& attrs) {
    if (!prefix.empty() && type.rfind(prefix, 0) != 0) return;
    Json a = Json::array();
    for (const auto& [name, data_type] : attrs) {
      a.push_back({{"Name", name}, {"DataType", data_type}});
    }
    Json s = {{"TypeName", type}, {"Version", version}, {"Attributes", std::move(a)}};
    if (type == "AWS:Application") s["DisplayName"] = "Applications";
    schemas.push_back(std::move(s));
  };
  for (const auto& b : BuiltIns()) {
    std::vector<std::pair<std::string, std::string>> attrs;
    for (const auto& [n, t] : b.attributes) {
      // Aggregator: only the attributes AWS lets one aggregate on (strings that name a kind).
      if (aggregator && std::string(t) == "number") continue;
      attrs.emplace_back(n, t);
    }
    add(b.type, b.version, attrs);
  }
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT type_name, version, attributes FROM ssm_inventory_schema WHERE"
                         " account = ? AND region = ? AND disabled_version = '' ORDER BY"
                         " type_name",
                         {ctx.account_id, ctx.region});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      std::vector<std::pair<std::string, std::string>> attrs;
      for (const auto& a : Json::parse(r.Str(2), nullptr, false)) {
        attrs.emplace_back(a.get<std::string>(), "string");
      }
      add(r.Str(0), r.Str(1), attrs);
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!prefix.empty() && schemas.empty() && !FindBuiltIn(prefix) && !IsCustom(prefix) &&
      prefix.rfind("AWS:", 0) != 0 && prefix.rfind("Custom:", 0) != 0) {
    return InvalidTypeName(prefix);
  }
  auto after = DecodeNextToken(in, "schemas");
  if (!after.ok()) return after.take_error();
  int64_t max = in.value("MaxResults", int64_t{200});
  if (max < 50 || max > 200) max = 200;
  Json page = Json::array();
  bool skipping = !after->empty();
  for (const auto& s : schemas) {
    const std::string name = s["TypeName"];
    if (skipping) {
      if (name == *after) skipping = false;
      continue;
    }
    if (static_cast<int64_t>(page.size()) == max) {
      return Json{{"Schemas", page},
                  {"NextToken", EncodeNextToken("schemas", page.back()["TypeName"].get<std::string>())}};
    }
    page.push_back(s);
  }
  return Json{{"Schemas", page}};
}

// ---- DeleteInventory / DescribeInventoryDeletions -----------------------------------------------

Result<Json> Inventory::DeleteInventory(const Ctx& ctx, const Json& in) {
  const std::string type = in.value("TypeName", "");
  if (!IsCustom(type)) {
    return InvalidTypeName(type);  // only custom types can be deleted
  }
  const std::string option = in.value("SchemaDeleteOption", "");
  if (!option.empty() && option != "DisableSchema" && option != "DeleteSchema") {
    return AwsError{"InvalidOptionException",
                    "The delete inventory option specified is not valid.", 400};
  }
  if (Status s = EnsureLoaded(/*catch_up=*/false); !s.ok()) return s.take_error();
  const bool dry_run = in.value("DryRun", false);
  const std::string deletion_id = crypto::Uuid4();
  Json summary;
  std::vector<std::string> removed;
  Status st = store_.Write([&](Tx& tx) -> Status {
    removed.clear();
    auto schema = tx.Query("SELECT version FROM ssm_inventory_schema WHERE account = ? AND"
                           " region = ? AND type_name = ?",
                           {ctx.account_id, ctx.region, type});
    if (!schema.ok()) return schema.take_error();
    if (schema->empty()) return InvalidTypeName(type);
    auto rows = tx.Query("SELECT node_id, schema_version FROM ssm_inventory WHERE account = ? AND"
                         " region = ? AND type_name = ?",
                         {ctx.account_id, ctx.region, type});
    if (!rows.ok()) return rows.take_error();
    std::map<std::string, int64_t> by_version;
    for (const auto& r : *rows) {
      removed.push_back(r.Str(0));
      ++by_version[r.Str(1)];
    }
    Json items = Json::array();
    for (const auto& [v, n] : by_version) {
      items.push_back({{"Version", v}, {"Count", n}, {"RemainingCount", 0}});
    }
    summary = {{"TotalCount", static_cast<int64_t>(removed.size())},
               {"RemainingCount", 0},
               {"SummaryItems", items}};
    if (dry_run) return Ok{};
    auto d = tx.Exec("DELETE FROM ssm_inventory WHERE account = ? AND region = ? AND"
                     " type_name = ?",
                     {ctx.account_id, ctx.region, type});
    if (!d.ok()) return d.take_error();
    if (option == "DeleteSchema") {
      auto s = tx.Exec("DELETE FROM ssm_inventory_schema WHERE account = ? AND region = ? AND"
                       " type_name = ?",
                       {ctx.account_id, ctx.region, type});
      if (!s.ok()) return s.take_error();
    } else if (option == "DisableSchema") {
      auto s = tx.Exec("UPDATE ssm_inventory_schema SET disabled_version = version WHERE"
                       " account = ? AND region = ? AND type_name = ?",
                       {ctx.account_id, ctx.region, type});
      if (!s.ok()) return s.take_error();
    }
    auto ins = tx.Exec("INSERT INTO ssm_inventory_deletion (deletion_id, account, region,"
                       " type_name, started_ms, summary) VALUES (?, ?, ?, ?, ?, ?)",
                       {deletion_id, ctx.account_id, ctx.region, type, ctx.now_millis,
                        summary.dump()});
    if (!ins.ok()) return ins.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"TypeName", type}, {"DeletionSummary", summary}};
  if (!dry_run) {
    {
      std::lock_guard lock(load_mu_);
      known_deletions_.insert(deletion_id);  // not another replica's (CatchUp)
    }
    for (const auto& node : removed) index_.Remove(node, type);
    out["DeletionId"] = deletion_id;
  }
  return out;
}

Result<Json> Inventory::DescribeInventoryDeletions(const Ctx& ctx, const Json& in) {
  const std::string id = in.value("DeletionId", "");
  auto after = DecodeNextToken(in, "deletions");
  if (!after.ok()) return after.take_error();
  int64_t max = in.value("MaxResults", int64_t{50});
  if (max <= 0 || max > 50) max = 50;
  Json list = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    std::string sql =
        "SELECT deletion_id, type_name, started_ms, summary FROM ssm_inventory_deletion WHERE"
        " account = ? AND region = ? AND deletion_id > ?";
    std::vector<store::Value> args = {ctx.account_id, ctx.region, *after};
    if (!id.empty()) {
      sql += " AND deletion_id = ?";
      args.emplace_back(id);
    }
    auto rows = tx.Query(sql + " ORDER BY deletion_id", args);
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      if (static_cast<int64_t>(list.size()) == max) {
        next = EncodeNextToken("deletions", list.back()["DeletionId"].get<std::string>());
        break;
      }
      const double t = static_cast<double>(r.Int(2)) / 1000.0;
      list.push_back({{"DeletionId", r.Str(0)},
                      {"TypeName", r.Str(1)},
                      {"DeletionStartTime", t},
                      {"LastStatus", "Complete"},
                      {"LastStatusMessage", "Deletion is successful"},
                      {"DeletionSummary", Json::parse(r.Str(3), nullptr, false)},
                      {"LastStatusUpdateTime", t}});
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (!id.empty() && list.empty()) {
    return AwsError{"InvalidDeletionIdException", "The ID specified for the delete operation "
                    "does not exist or is not valid. Verify the ID and try again.", 400};
  }
  Json out = {{"InventoryDeletions", list}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

}  // namespace gc::ssm
