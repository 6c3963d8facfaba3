#include "services/sts/sts_service.h"

#include <nlohmann/json.hpp>

#include "wire/model.h"

namespace gc::sts {

wire::ServiceDef MakeStsService() {
  wire::ServiceDef def;
  def.name = "sts";
  def.model = &model::Models::Get("sts");
  def.operations["GetCallerIdentity"] = [](const wire::CallContext& ctx,
                                           const nlohmann::json&) -> Result<nlohmann::json> {
    return nlohmann::json{
        {"UserId", ctx.caller_user_id}, {"Account", ctx.account_id}, {"Arn", ctx.caller_arn}};
  };
  // Nodes may ask who they are.
  def.node_operations["GetCallerIdentity"] = true;
  return def;
}

}  // namespace gc::sts
