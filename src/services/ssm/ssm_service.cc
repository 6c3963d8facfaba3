#include "services/ssm/ssm_service.h"

#include "wire/model.h"

namespace gc::ssm {

SsmService::SsmService(store::Store& store, std::string encryption_key)
    : parameters_(store, std::move(encryption_key)), tags_(store) {
  tags_.RegisterType("Parameter", [this](const wire::CallContext& ctx, const std::string& id) {
    return parameters_.ResolveExisting(ctx, id);
  });
}

std::vector<store::Migration> SsmService::Migrations() {
  std::vector<store::Migration> all = ResourceTags::Migrations();
  for (auto& m : ParameterStore::Migrations()) all.push_back(std::move(m));
  return all;
}

wire::ServiceDef SsmService::Definition() {
  wire::ServiceDef def;
  def.name = "ssm";
  def.model = &model::Models::Get("ssm");
  auto bind = [](auto* self, auto method) -> wire::OperationHandler {
    return [self, method](const wire::CallContext& ctx, const nlohmann::json& in) {
      return (self->*method)(ctx, in);
    };
  };
  ParameterStore* p = &parameters_;
  def.operations = {
      {"PutParameter", bind(p, &ParameterStore::PutParameter)},
      {"GetParameter", bind(p, &ParameterStore::GetParameter)},
      {"GetParameters", bind(p, &ParameterStore::GetParameters)},
      {"GetParametersByPath", bind(p, &ParameterStore::GetParametersByPath)},
      {"DescribeParameters", bind(p, &ParameterStore::DescribeParameters)},
      {"GetParameterHistory", bind(p, &ParameterStore::GetParameterHistory)},
      {"DeleteParameter", bind(p, &ParameterStore::DeleteParameter)},
      {"DeleteParameters", bind(p, &ParameterStore::DeleteParameters)},
      {"LabelParameterVersion", bind(p, &ParameterStore::LabelParameterVersion)},
      {"UnlabelParameterVersion", bind(p, &ParameterStore::UnlabelParameterVersion)},
      {"AddTagsToResource", bind(&tags_, &ResourceTags::AddTagsToResource)},
      {"RemoveTagsFromResource", bind(&tags_, &ResourceTags::RemoveTagsFromResource)},
      {"ListTagsForResource", bind(&tags_, &ResourceTags::ListTagsForResource)},
  };
  return def;
}

}  // namespace gc::ssm
