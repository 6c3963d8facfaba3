#include "services/ssm/resource_tags.h"

#include "services/ssm/ssm_errors.h"

namespace gc::ssm {

using Json = nlohmann::json;
using store::Tx;

constexpr int64_t kMaxTagsPerResource = 50;

std::vector<store::Migration> ResourceTags::Migrations() {
  return {{"ssm.tags", 1,
           "CREATE TABLE ssm_tag ("
           " account TEXT NOT NULL, region TEXT NOT NULL, resource_type TEXT NOT NULL,"
           " resource_id TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL,"
           " PRIMARY KEY (account, region, resource_type, resource_id, tag_key))"}};
}

void ResourceTags::RegisterType(const std::string& type, Resolver resolver) {
  resolvers_[type] = std::move(resolver);
}

Result<std::string> ResourceTags::Resolve(const wire::CallContext& ctx, const Json& in) {
  std::string type = in.value("ResourceType", "");
  auto it = resolvers_.find(type);
  if (it == resolvers_.end()) return errors::InvalidResourceType();
  return it->second(ctx, in.value("ResourceId", ""));
}

Status ResourceTags::PutTags(Tx& tx, const wire::CallContext& ctx, const std::string& type,
                             const std::string& id, const Json& tags) {
  for (const auto& tag : tags) {
    auto r = tx.Exec(
        "INSERT INTO ssm_tag (account, region, resource_type, resource_id, tag_key, tag_value) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, resource_type, resource_id, "
        "tag_key) DO UPDATE SET tag_value = excluded.tag_value",
        {ctx.account_id, ctx.region, type, id, tag.value("Key", ""), tag.value("Value", "")});
    if (!r.ok()) return r.take_error();
  }
  auto count = tx.Query(
      "SELECT COUNT(*) FROM ssm_tag WHERE account = ? AND region = ? AND resource_type = ? AND "
      "resource_id = ?",
      {ctx.account_id, ctx.region, type, id});
  if (!count.ok()) return count.take_error();
  if (count->front().Int(0) > kMaxTagsPerResource) return errors::TooManyTags();
  return Ok{};
}

Result<Json> ResourceTags::LoadTags(Tx& tx, const wire::CallContext& ctx, const std::string& type,
                                    const std::string& id) {
  auto rows = tx.Query(
      "SELECT tag_key, tag_value FROM ssm_tag WHERE account = ? AND region = ? AND "
      "resource_type = ? AND resource_id = ? ORDER BY tag_key",
      {ctx.account_id, ctx.region, type, id});
  if (!rows.ok()) return rows.take_error();
  Json list = Json::array();
  for (const auto& r : *rows) list.push_back({{"Key", r.Str(0)}, {"Value", r.Str(1)}});
  return list;
}

Status ResourceTags::DeleteAllTags(Tx& tx, const wire::CallContext& ctx, const std::string& type,
                                   const std::string& id) {
  auto r = tx.Exec(
      "DELETE FROM ssm_tag WHERE account = ? AND region = ? AND resource_type = ? AND "
      "resource_id = ?",
      {ctx.account_id, ctx.region, type, id});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Result<std::map<std::string, ResourceTags::TagMap>> ResourceTags::LoadTagsOfType(
    Tx& tx, const wire::CallContext& ctx, const std::string& type) {
  auto rows = tx.Query(
      "SELECT resource_id, tag_key, tag_value FROM ssm_tag WHERE account = ? AND region = ? AND "
      "resource_type = ?",
      {ctx.account_id, ctx.region, type});
  if (!rows.ok()) return rows.take_error();
  std::map<std::string, TagMap> out;
  for (const auto& r : *rows) out[r.Str(0)][r.Str(1)] = r.Str(2);
  return out;
}

Result<Json> ResourceTags::AddTagsToResource(const wire::CallContext& ctx, const Json& in) {
  auto id = Resolve(ctx, in);
  if (!id.ok()) return id.take_error();
  const std::string type = in.value("ResourceType", "");
  Status st = store_.Write(
      [&](Tx& tx) { return PutTags(tx, ctx, type, *id, in.value("Tags", Json::array())); });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> ResourceTags::RemoveTagsFromResource(const wire::CallContext& ctx, const Json& in) {
  auto id = Resolve(ctx, in);
  if (!id.ok()) return id.take_error();
  const std::string type = in.value("ResourceType", "");
  Status st = store_.Write([&](Tx& tx) -> Status {
    for (const auto& key : in.value("TagKeys", Json::array())) {
      auto r = tx.Exec(
          "DELETE FROM ssm_tag WHERE account = ? AND region = ? AND resource_type = ? AND "
          "resource_id = ? AND tag_key = ?",
          {ctx.account_id, ctx.region, type, *id, key.get<std::string>()});
      if (!r.ok()) return r.take_error();
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> ResourceTags::ListTagsForResource(const wire::CallContext& ctx, const Json& in) {
  auto id = Resolve(ctx, in);
  if (!id.ok()) return id.take_error();
  const std::string type = in.value("ResourceType", "");
  Json list;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto tags = LoadTags(tx, ctx, type, *id);
    if (!tags.ok()) return tags.take_error();
    list = std::move(*tags);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"TagList", std::move(list)}};
}

}  // namespace gc::ssm
