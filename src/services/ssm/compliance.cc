#include "services/ssm/compliance.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "services/ssm/node_errors.h"
#include "services/ssm/paging.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;
using store::Tx;

constexpr size_t kMaxItemBytes = 800 * 1024;  // ItemSizeLimitExceededException
constexpr size_t kMaxComplianceTypes = 10;    // custom types per resource

AwsError InvalidFilter(const std::string& m) { return {"InvalidFilter", m, 400}; }

const std::vector<std::string>& Severities() {
  static const std::vector<std::string> k = {"CRITICAL", "HIGH",          "MEDIUM",
                                             "LOW",      "INFORMATIONAL", "UNSPECIFIED"};
  return k;
}
int Rank(const std::string& severity) {
  auto it = std::find(Severities().begin(), Severities().end(), severity);
  return static_cast<int>(it - Severities().begin());
}

Json SeveritySummary(const std::map<std::string, int64_t>& counts) {
  auto n = [&](const char* s) {
    auto it = counts.find(s);
    return it == counts.end() ? int64_t{0} : it->second;
  };
  return {{"CriticalCount", n("CRITICAL")}, {"HighCount", n("HIGH")},
          {"MediumCount", n("MEDIUM")},     {"LowCount", n("LOW")},
          {"InformationalCount", n("INFORMATIONAL")},
          {"UnspecifiedCount", n("UNSPECIFIED")}};
}

Json ItemJson(const ComplianceItem& i) {
  return {{"ComplianceType", i.compliance_type}, {"ResourceType", i.resource_type},
          {"ResourceId", i.resource_id},         {"Id", i.id},
          {"Title", i.title},                    {"Status", i.status},
          {"Severity", i.severity},              {"ExecutionSummary", i.execution_summary},
          {"Details", i.details}};
}

// A ComplianceStringFilter on one field's value.
struct Filter {
  std::string key, type;
  std::vector<std::string> values;
  bool Passes(const std::string& v) const {
    for (const auto& want : values) {
      if (type == "EQUAL" && v == want) return true;
      if (type == "BEGIN_WITH" && v.rfind(want, 0) == 0) return true;
      if (type == "LESS_THAN" && v < want) return true;
      if (type == "GREATER_THAN" && v > want) return true;
    }
    if (type == "NOT_EQUAL") {
      return std::find(values.begin(), values.end(), v) == values.end();
    }
    return false;
  }
};

Result<std::vector<Filter>> ParseFilters(const Json& in, const std::set<std::string>& keys) {
  std::vector<Filter> out;
  for (const auto& f : in.value("Filters", Json::array())) {
    Filter x{f.value("Key", ""), f.value("Type", "EQUAL"), {}};
    if (!keys.count(x.key) && x.key.rfind("Details.", 0) != 0) {
      return InvalidFilter(fmt::format("The filter key {} is not valid.", x.key));
    }
    for (const auto& v : f.value("Values", Json::array())) x.values.push_back(v.get<std::string>());
    out.push_back(std::move(x));
  }
  return out;
}

std::string FieldOf(const ComplianceItem& i, const std::string& key) {
  if (key == "ComplianceType") return i.compliance_type;
  if (key == "Status") return i.status;
  if (key == "Severity") return i.severity;
  if (key == "Id") return i.id;
  if (key == "Title") return i.title;
  if (key == "ResourceId" || key == "InstanceId") return i.resource_id;
  if (key == "ResourceType") return i.resource_type;
  if (key == "ExecutionId") return i.execution_summary.value("ExecutionId", "");
  if (key.rfind("Details.", 0) == 0) return i.details.value(key.substr(8), "");
  if (key == "DocumentName" || key == "PatchGroup" || key == "PatchBaselineId") {
    return i.details.value(key, "");
  }
  return "";
}

bool PassesAll(const ComplianceItem& i, const std::vector<Filter>& filters) {
  for (const auto& f : filters) {
    if (!f.Passes(FieldOf(i, f.key))) return false;
  }
  return true;
}

const std::set<std::string> kItemKeys = {"ComplianceType", "Status", "Severity", "Id", "Title",
                                         "ResourceId", "InstanceId", "ResourceType",
                                         "ExecutionId", "DocumentName", "PatchGroup",
                                         "PatchBaselineId"};

}  // namespace

Compliance::Compliance(store::Store& store, ManagedNodes& nodes) : store_(store), nodes_(nodes) {}

std::vector<store::Migration> Compliance::Migrations() {
  return {{"ssm.compliance", 1,
           "CREATE TABLE ssm_compliance_item ("
           " account TEXT NOT NULL, region TEXT NOT NULL, resource_id TEXT NOT NULL,"
           " resource_type TEXT NOT NULL, compliance_type TEXT NOT NULL, item_id TEXT NOT NULL,"
           " title TEXT NOT NULL, status TEXT NOT NULL, severity TEXT NOT NULL,"
           " details TEXT NOT NULL, execution TEXT NOT NULL, content_hash TEXT NOT NULL,"
           " updated_ms BIGINT NOT NULL,"
           " PRIMARY KEY (resource_id, compliance_type, item_id));"
           "CREATE INDEX ssm_compliance_item_account ON ssm_compliance_item (account, region)"}};
}

void Compliance::AddOperations(wire::ServiceDef& def) {
  auto bind = [this](Result<Json> (Compliance::*m)(const Ctx&, const Json&)) {
    return [this, m](const Ctx& ctx, const Json& in) { return (this->*m)(ctx, in); };
  };
  def.operations["PutComplianceItems"] = bind(&Compliance::PutComplianceItems);
  def.operations["ListComplianceItems"] = bind(&Compliance::ListComplianceItems);
  def.operations["ListComplianceSummaries"] = bind(&Compliance::ListComplianceSummaries);
  def.operations["ListResourceComplianceSummaries"] =
      bind(&Compliance::ListResourceComplianceSummaries);
}

Result<Json> Compliance::PutComplianceItems(const Ctx& ctx, const Json& in) {
  const std::string resource = in.value("ResourceId", "");
  const std::string resource_type = in.value("ResourceType", "");
  if (resource_type != "ManagedInstance") {
    return AwsError{"InvalidResourceType", "The resource type is not valid.", 400};
  }
  if (Status s = ManagedNodes::RequireSelf(ctx, resource, "ssm:PutComplianceItems"); !s.ok()) {
    return s.take_error();
  }
  auto node = nodes_.GetNode(ctx, resource);
  if (!node.ok()) return node.take_error();
  if (!*node || !(*node)->registered) {
    return AwsError{"InvalidResourceId", "The resource ID is not valid.", 400};
  }
  const std::string type = in.value("ComplianceType", "");
  const Json items = in.value("Items", Json::array());
  const std::string hash = in.value("ItemContentHash", "");
  if (items.dump().size() > kMaxItemBytes) {
    return AwsError{"ItemSizeLimitExceededException",
                    "The compliance items are larger than 800 KB.", 400};
  }
  for (const auto& i : items) {
    if (i.value("Status", "").empty() || i.value("Severity", "").empty()) {
      return AwsError{"InvalidItemContentException",
                      "Each compliance item needs a Severity and a Status.", 400};
    }
  }
  const bool partial = in.value("UploadType", "COMPLETE") == "PARTIAL";
  const Json execution = in.value("ExecutionSummary", Json::object());
  Status st = store_.Write([&](Tx& tx) -> Status {
    // The agent sends the same hash with no items when nothing changed: keep what is there.
    if (items.empty() && !hash.empty()) {
      auto cur = tx.Query("SELECT content_hash FROM ssm_compliance_item WHERE resource_id = ? AND"
                          " compliance_type = ? LIMIT 1",
                          {resource, type});
      if (!cur.ok()) return cur.take_error();
      if (!cur->empty() && cur->front().Str(0) == hash) return Ok{};
    }
    auto types = tx.Query("SELECT DISTINCT compliance_type FROM ssm_compliance_item WHERE"
                          " resource_id = ?",
                          {resource});
    if (!types.ok()) return types.take_error();
    std::set<std::string> existing;
    for (const auto& r : *types) existing.insert(r.Str(0));
    existing.insert(type);
    if (existing.size() > kMaxComplianceTypes) {
      return AwsError{"ComplianceTypeCountLimitExceededException",
                      "You specified too many custom compliance types.", 400};
    }
    if (!partial) {
      auto d = tx.Exec("DELETE FROM ssm_compliance_item WHERE resource_id = ? AND"
                       " compliance_type = ?",
                       {resource, type});
      if (!d.ok()) return d.take_error();
    }
    for (const auto& i : items) {
      auto w = tx.Exec(
          "INSERT INTO ssm_compliance_item (account, region, resource_id, resource_type,"
          " compliance_type, item_id, title, status, severity, details, execution,"
          " content_hash, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
          " ON CONFLICT (resource_id, compliance_type, item_id) DO UPDATE SET title ="
          " excluded.title, status = excluded.status, severity = excluded.severity, details ="
          " excluded.details, execution = excluded.execution, content_hash ="
          " excluded.content_hash, updated_ms = excluded.updated_ms",
          {ctx.account_id, ctx.region, resource, resource_type, type, i.value("Id", ""),
           i.value("Title", ""), i.value("Status", ""), i.value("Severity", ""),
           i.value("Details", Json::object()).dump(), execution.dump(), hash, ctx.now_millis});
      if (!w.ok()) return w.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<std::vector<ComplianceItem>> Compliance::AllItems(const Ctx& ctx) {
  std::vector<ComplianceItem> out;
  std::set<std::string> reported_associations;  // resources that put their own Association items
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT resource_id, resource_type, compliance_type, item_id, title,"
                         " status, severity, details, execution FROM ssm_compliance_item WHERE"
                         " account = ? AND region = ? ORDER BY resource_id, compliance_type,"
                         " item_id",
                         {ctx.account_id, ctx.region});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      ComplianceItem i;
      i.resource_id = r.Str(0);
      i.resource_type = r.Str(1);
      i.compliance_type = r.Str(2);
      i.id = r.Str(3);
      i.title = r.Str(4);
      i.status = r.Str(5);
      i.severity = r.Str(6);
      i.details = Json::parse(r.Str(7), nullptr, false);
      i.execution_summary = Json::parse(r.Str(8), nullptr, false);
      if (i.compliance_type == "Association") reported_associations.insert(i.resource_id);
      out.push_back(std::move(i));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  if (association_items_) {
    auto derived = association_items_(ctx);
    if (!derived.ok()) return derived.take_error();
    for (auto& i : *derived) {
      if (!reported_associations.count(i.resource_id)) out.push_back(std::move(i));
    }
  }
  return out;
}

Result<Json> Compliance::ListComplianceItems(const Ctx& ctx, const Json& in) {
  auto filters = ParseFilters(in, kItemKeys);
  if (!filters.ok()) return filters.take_error();
  std::set<std::string> ids, types;
  for (const auto& r : in.value("ResourceIds", Json::array())) ids.insert(r.get<std::string>());
  for (const auto& r : in.value("ResourceTypes", Json::array())) {
    if (r != "ManagedInstance") {
      return AwsError{"InvalidResourceType", "The resource type is not valid.", 400};
    }
  }
  auto all = AllItems(ctx);
  if (!all.ok()) return all.take_error();
  auto after = DecodeNextToken(in, "compliance");
  if (!after.ok()) return after.take_error();
  int64_t max = in.value("MaxResults", int64_t{10});
  if (max <= 0 || max > 50) max = 10;
  std::sort(all->begin(), all->end(), [](const auto& a, const auto& b) {
    return std::tie(a.resource_id, a.compliance_type, a.id) <
           std::tie(b.resource_id, b.compliance_type, b.id);
  });
  Json list = Json::array();
  std::string last;
  for (const auto& i : *all) {
    const std::string key = i.resource_id + "/" + i.compliance_type + "/" + i.id;
    if (!after->empty() && key <= *after) continue;
    if (!ids.empty() && !ids.count(i.resource_id)) continue;
    if (!PassesAll(i, *filters)) continue;
    if (static_cast<int64_t>(list.size()) == max) {
      return Json{{"ComplianceItems", list}, {"NextToken", EncodeNextToken("compliance", last)}};
    }
    list.push_back(ItemJson(i));
    last = key;
  }
  return Json{{"ComplianceItems", list}};
}

namespace {

// A resource's compliance for one type: non-compliant if any item is, with the worst severity
// of its non-compliant items (else of all).
struct ResourceSummary {
  std::string compliance_type, resource_type, resource_id;
  std::map<std::string, int64_t> compliant, non_compliant;
  Json execution = Json::object();
  bool IsCompliant() const { return non_compliant.empty(); }
  std::string OverallSeverity() const {
    const auto& counts = IsCompliant() ? compliant : non_compliant;
    std::string worst = "UNSPECIFIED";
    for (const auto& [s, n] : counts) {
      if (n > 0 && Rank(s) < Rank(worst)) worst = s;
    }
    return worst;
  }
};

std::vector<ResourceSummary> Summarise(const std::vector<ComplianceItem>& items) {
  std::map<std::tuple<std::string, std::string, std::string>, ResourceSummary> by;
  for (const auto& i : items) {
    auto& s = by[{i.compliance_type, i.resource_type, i.resource_id}];
    s.compliance_type = i.compliance_type;
    s.resource_type = i.resource_type;
    s.resource_id = i.resource_id;
    (i.status == "COMPLIANT" ? s.compliant : s.non_compliant)[i.severity]++;
    if (s.execution.empty() && i.execution_summary.is_object()) s.execution = i.execution_summary;
  }
  std::vector<ResourceSummary> out;
  for (auto& [k, s] : by) out.push_back(std::move(s));
  return out;
}

// The summary filters: ComplianceType, Status, OverallSeverity, ResourceType, ResourceId.
bool SummaryPasses(const ResourceSummary& s, const std::vector<Filter>& filters) {
  for (const auto& f : filters) {
    const std::string v = f.key == "ComplianceType"    ? s.compliance_type
                          : f.key == "Status"          ? (s.IsCompliant() ? "COMPLIANT"
                                                                          : "NON_COMPLIANT")
                          : f.key == "OverallSeverity" ? s.OverallSeverity()
                          : f.key == "ResourceType"    ? s.resource_type
                                                       : s.resource_id;
    if (!f.Passes(v)) return false;
  }
  return true;
}

int64_t Total(const std::map<std::string, int64_t>& m) {
  int64_t n = 0;
  for (const auto& [k, v] : m) n += v;
  return n;
}

}  // namespace

Result<Json> Compliance::ListResourceComplianceSummaries(const Ctx& ctx, const Json& in) {
  auto filters = ParseFilters(in, {"ComplianceType", "Status", "OverallSeverity", "ResourceId",
                                   "ResourceType", "InstanceId"});
  if (!filters.ok()) return filters.take_error();
  auto all = AllItems(ctx);
  if (!all.ok()) return all.take_error();
  Json list = Json::array();
  for (const auto& s : Summarise(*all)) {
    const std::string status = s.IsCompliant() ? "COMPLIANT" : "NON_COMPLIANT";
    if (!SummaryPasses(s, *filters)) continue;
    list.push_back({{"ComplianceType", s.compliance_type},
                    {"ResourceType", s.resource_type},
                    {"ResourceId", s.resource_id},
                    {"Status", status},
                    {"OverallSeverity", s.OverallSeverity()},
                    {"ExecutionSummary", s.execution},
                    {"CompliantSummary",
                     {{"CompliantCount", Total(s.compliant)},
                      {"SeveritySummary", SeveritySummary(s.compliant)}}},
                    {"NonCompliantSummary",
                     {{"NonCompliantCount", Total(s.non_compliant)},
                      {"SeveritySummary", SeveritySummary(s.non_compliant)}}}});
  }
  return Json{{"ResourceComplianceSummaryItems", list}};
}

Result<Json> Compliance::ListComplianceSummaries(const Ctx& ctx, const Json& in) {
  auto filters = ParseFilters(in, {"ComplianceType", "Status", "OverallSeverity",
                                   "ResourceType", "ResourceId", "InstanceId"});
  if (!filters.ok()) return filters.take_error();
  auto all = AllItems(ctx);
  if (!all.ok()) return all.take_error();
  // Per compliance type: how many resources are compliant / non-compliant, by severity.
  struct Counts {
    std::map<std::string, int64_t> compliant, non_compliant;
  };
  std::map<std::string, Counts> by_type;
  for (const auto& s : Summarise(*all)) {
    if (!SummaryPasses(s, *filters)) continue;
    auto& c = by_type[s.compliance_type];
    (s.IsCompliant() ? c.compliant : c.non_compliant)[s.OverallSeverity()]++;
  }
  Json list = Json::array();
  for (const auto& [type, c] : by_type) {
    list.push_back({{"ComplianceType", type},
                    {"CompliantSummary",
                     {{"CompliantCount", Total(c.compliant)},
                      {"SeveritySummary", SeveritySummary(c.compliant)}}},
                    {"NonCompliantSummary",
                     {{"NonCompliantCount", Total(c.non_compliant)},
                      {"SeveritySummary", SeveritySummary(c.non_compliant)}}}});
  }
  return Json{{"ComplianceSummaryItems", list}};
}

}  // namespace gc::ssm
