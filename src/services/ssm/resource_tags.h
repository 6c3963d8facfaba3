// ResourceTags: AddTagsToResource / RemoveTagsFromResource / ListTagsForResource for every SSM
// resource type. Each resource type registers how to find its resources. Thread-safe after setup.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

class ResourceTags {
 public:
  explicit ResourceTags(store::Store& store) : store_(store) {}

  static std::vector<store::Migration> Migrations();

  // Returns the canonical id of an existing resource, or InvalidResourceId.
  using Resolver = std::function<Result<std::string>(const wire::CallContext&, const std::string&)>;
  // Registers a resource type ("Parameter", "ManagedInstance", ...). Call before serving.
  void RegisterType(const std::string& type, Resolver resolver);

  using Json = nlohmann::json;
  Result<Json> AddTagsToResource(const wire::CallContext& ctx, const Json& in);
  Result<Json> RemoveTagsFromResource(const wire::CallContext& ctx, const Json& in);
  Result<Json> ListTagsForResource(const wire::CallContext& ctx, const Json& in);

  // For areas that handle tags inside their own transactions (Tags given at creation, tags
  // removed with the resource, tags shown in listings):
  // Sets `tags` ([{Key, Value}]) on a resource; TooManyTagsError past 50 tags.
  static Status PutTags(store::Tx& tx, const wire::CallContext& ctx, const std::string& type,
                        const std::string& id, const Json& tags);
  // The resource's tags as a TagList, ordered by key.
  static Result<Json> LoadTags(store::Tx& tx, const wire::CallContext& ctx, const std::string& type,
                               const std::string& id);
  // Removes every tag of the resource.
  static Status DeleteAllTags(store::Tx& tx, const wire::CallContext& ctx, const std::string& type,
                              const std::string& id);
  // Every tag of every resource of `type`, by resource id then key (tag filters over a listing).
  using TagMap = std::map<std::string, std::string>;
  static Result<std::map<std::string, TagMap>> LoadTagsOfType(store::Tx& tx,
                                                              const wire::CallContext& ctx,
                                                              const std::string& type);

 private:
  Result<std::string> Resolve(const wire::CallContext& ctx, const Json& in);

  store::Store& store_;
  std::map<std::string, Resolver> resolvers_;  // written only before serving
};

}  // namespace gc::ssm
