// ParameterStore: SSM Parameter Store operations (PutParameter ... LabelParameterVersion) over the
// Store. Thread-safe: all state is in the store; writes are serialised by the store.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

class ParameterStore {
 public:
  // `encryption_key` is the 32-byte AES key SecureString values are sealed with at rest.
  ParameterStore(store::Store& store, std::string encryption_key);

  static std::vector<store::Migration> Migrations();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> PutParameter(const Ctx& ctx, const Json& in);
  Result<Json> GetParameter(const Ctx& ctx, const Json& in);
  Result<Json> GetParameters(const Ctx& ctx, const Json& in);
  Result<Json> GetParametersByPath(const Ctx& ctx, const Json& in);
  Result<Json> DescribeParameters(const Ctx& ctx, const Json& in);
  Result<Json> GetParameterHistory(const Ctx& ctx, const Json& in);
  Result<Json> DeleteParameter(const Ctx& ctx, const Json& in);
  Result<Json> DeleteParameters(const Ctx& ctx, const Json& in);
  Result<Json> LabelParameterVersion(const Ctx& ctx, const Json& in);
  Result<Json> UnlabelParameterVersion(const Ctx& ctx, const Json& in);

  // For the tag operations: the canonical name of an existing parameter (a name or an ARN), or
  // InvalidResourceId.
  Result<std::string> ResolveExisting(const Ctx& ctx, const std::string& name_or_arn);

 private:
  store::Store& store_;
  std::string key_;
};

}  // namespace gc::ssm
