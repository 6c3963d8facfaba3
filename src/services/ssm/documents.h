// Documents: SSM documents — CreateDocument … ModifyDocumentPermission over the Store, the
// AWS-owned documents (aws_documents.h), and Resolve, which the Run Command engine uses to find
// the document a command runs. Thread-safe: all mutable state is in the store; the AWS-owned
// catalog is built in the constructor and read-only after.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "services/ssm/document_content.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

// The stored document a command runs: what DocumentName + DocumentVersion resolve to.
struct ResolvedDocument {
  std::string name;            // the document's name (not the ARN it may have been asked by)
  std::string owner;           // the owning account id, or "Amazon"
  std::string document_type;   // "Command", "Automation", "Policy", …
  std::string schema_version;  // "2.2"
  int64_t version = 0;         // the number "$DEFAULT" / "$LATEST" / "" resolved to
  std::string version_name;    // "" when the version has none
  std::string hash;            // sha256 hex of the content as it was created (HashType Sha256)
  nlohmann::json content;      // the content, parsed: JSON whatever format it was written in
  std::vector<ParameterDef> parameters;     // for ResolveParameters (document_content.h)
  std::vector<std::string> platform_types;  // Windows, Linux, MacOS
};

class Documents {
 public:
  explicit Documents(store::Store& store);
  ~Documents();  // out of line: Version is complete only in documents.cc

  static std::vector<store::Migration> Migrations();

  // Per account and region, as AWS's default quota.
  static constexpr int64_t kMaxDocuments = 500;
  static constexpr int64_t kMaxVersions = 1000;

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> CreateDocument(const Ctx& ctx, const Json& in);
  Result<Json> UpdateDocument(const Ctx& ctx, const Json& in);
  Result<Json> GetDocument(const Ctx& ctx, const Json& in);
  Result<Json> DescribeDocument(const Ctx& ctx, const Json& in);
  Result<Json> ListDocuments(const Ctx& ctx, const Json& in);
  Result<Json> DeleteDocument(const Ctx& ctx, const Json& in);
  Result<Json> ListDocumentVersions(const Ctx& ctx, const Json& in);
  Result<Json> UpdateDocumentDefaultVersion(const Ctx& ctx, const Json& in);
  Result<Json> DescribeDocumentPermission(const Ctx& ctx, const Json& in);
  Result<Json> ModifyDocumentPermission(const Ctx& ctx, const Json& in);

  // For the tag operations (ResourceType "Document"): the name of one of the caller's own
  // documents, given by name or ARN, or InvalidResourceId.
  Result<std::string> ResolveExisting(const Ctx& ctx, const std::string& name_or_arn);

  // For Run Command: the caller's own, an AWS-owned, or a document shared with the caller (by
  // ARN). `version` is "", "$DEFAULT", "$LATEST" or a version number. Fails as GetDocument
  // does: InvalidDocument (no such document), InvalidDocumentVersion (no such version).
  Result<ResolvedDocument> Resolve(const Ctx& ctx, const std::string& name_or_arn,
                                   const std::string& version);

  // One stored version of a document (or an AWS-owned document); defined in documents.cc.
  struct Version;

 private:
  store::Store& store_;
  std::vector<Version> aws_;  // the AWS-owned documents, by name
};

}  // namespace gc::ssm
