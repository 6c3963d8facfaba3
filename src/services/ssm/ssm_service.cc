#include "services/ssm/ssm_service.h"

#include "common/crypto.h"
#include "wire/model.h"

namespace gc::ssm {

SsmService::SsmService(store::Store& store, std::string encryption_key, NodeOptions nodes)
    : parameters_(store, std::move(encryption_key)),
      documents_(store),
      tags_(store),
      activations_(store),
      node_credentials_(
          store, nodes.credentials_key.empty() ? crypto::RandomBytes(32) : nodes.credentials_key),
      nodes_(store, node_credentials_, nodes.ping_timeout_seconds),
      inventory_(store, nodes_),
      compliance_(store, nodes_) {
  tags_.RegisterType("ManagedInstance",
                     [this](const wire::CallContext& ctx, const std::string& id) {
                       return nodes_.ResolveExisting(ctx, id);
                     });
  tags_.RegisterType("Parameter", [this](const wire::CallContext& ctx, const std::string& id) {
    return parameters_.ResolveExisting(ctx, id);
  });
  tags_.RegisterType("Document", [this](const wire::CallContext& ctx, const std::string& id) {
    return documents_.ResolveExisting(ctx, id);
  });
}

std::vector<store::Migration> SsmService::Migrations() {
  std::vector<store::Migration> all = ResourceTags::Migrations();
  for (auto& m : ParameterStore::Migrations()) all.push_back(std::move(m));
  for (auto& m : Activations::Migrations()) all.push_back(std::move(m));
  for (auto& m : ManagedNodes::Migrations()) all.push_back(std::move(m));
  for (auto& m : NodeCredentials::Migrations()) all.push_back(std::move(m));
  for (auto& m : Documents::Migrations()) all.push_back(std::move(m));
  for (auto& m : Inventory::Migrations()) all.push_back(std::move(m));
  for (auto& m : Compliance::Migrations()) all.push_back(std::move(m));
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
  Documents* d = &documents_;
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
      {"CreateDocument", bind(d, &Documents::CreateDocument)},
      {"UpdateDocument", bind(d, &Documents::UpdateDocument)},
      {"GetDocument", bind(d, &Documents::GetDocument)},
      {"DescribeDocument", bind(d, &Documents::DescribeDocument)},
      {"ListDocuments", bind(d, &Documents::ListDocuments)},
      {"DeleteDocument", bind(d, &Documents::DeleteDocument)},
      {"ListDocumentVersions", bind(d, &Documents::ListDocumentVersions)},
      {"UpdateDocumentDefaultVersion", bind(d, &Documents::UpdateDocumentDefaultVersion)},
      {"DescribeDocumentPermission", bind(d, &Documents::DescribeDocumentPermission)},
      {"ModifyDocumentPermission", bind(d, &Documents::ModifyDocumentPermission)},
      {"AddTagsToResource", bind(&tags_, &ResourceTags::AddTagsToResource)},
      {"RemoveTagsFromResource", bind(&tags_, &ResourceTags::RemoveTagsFromResource)},
      {"ListTagsForResource", bind(&tags_, &ResourceTags::ListTagsForResource)},
  };
  AddNodeOperations(def);
  inventory_.AddOperations(def);
  compliance_.AddOperations(def);
  return def;
}

}  // namespace gc::ssm
