// Documents on a temp SQLite store: the AWS-owned catalog, Resolve for Run Command (versions,
// YAML-authored documents, documents shared by another account) and the document quota.
#include "services/ssm/documents.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "common/crypto.h"
#include "services/ssm/aws_documents.h"
#include "services/ssm/ssm_service.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;

class DocumentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_documents_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto st = store::Store::Open(dir_ + "/ssm.db");
    ASSERT_TRUE(st.ok()) << st.error().message;
    store_ = std::move(*st);
    ASSERT_TRUE(store_->Migrate(SsmService::Migrations()).ok());
    docs_ = std::make_unique<Documents>(*store_);
  }
  void TearDown() override {
    docs_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static wire::CallContext Ctx(const std::string& account = "123456789012") {
    wire::CallContext ctx;
    ctx.account_id = account;
    ctx.region = "us-east-1";
    ctx.now_millis = 1'700'000'000'000;
    return ctx;
  }

  Json Create(const std::string& name, const std::string& content,
              const std::string& format = "JSON", const wire::CallContext& ctx = Ctx()) {
    auto r = docs_->CreateDocument(ctx, {{"Name", name},
                                         {"Content", content},
                                         {"DocumentFormat", format},
                                         {"DocumentType", "Command"}});
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : Json();
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Documents> docs_;
};

std::string Steps(const std::string& command) {
  return R"({"schemaVersion": "2.2", "parameters": {"who": {"type": "String", "default": "you"}},
    "mainSteps": [{"action": "aws:runShellScript", "name": "run",
                   "inputs": {"runCommand": [")" +
         command + R"( {{ who }}"]}}]})";
}

TEST_F(DocumentsTest, AwsRunShellScriptResolvesToTheAgentPayload) {
  auto doc = docs_->Resolve(Ctx(), "AWS-RunShellScript", "$DEFAULT");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(doc->owner, "Amazon");
  EXPECT_EQ(doc->document_type, "Command");
  EXPECT_EQ(doc->schema_version, "1.2");
  EXPECT_EQ(doc->version, 1);
  EXPECT_EQ(doc->platform_types, (std::vector<std::string>{"Linux", "MacOS"}));
  std::string source;
  for (const auto& s : AwsDocumentSources()) {
    if (s.name == "AWS-RunShellScript") source = std::string(s.content);
  }
  EXPECT_EQ(doc->hash, crypto::Hex(crypto::Sha256(source)));

  // As SendCommand gives parameters, then what the agent receives (AGENT_PROTOCOL.md §2.4).
  auto values = ResolveParameters(doc->parameters, {{"commands", {"echo hello"}}});
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(Json(*values), Json::parse(R"({"commands": ["echo hello"], "executionTimeout": "3600",
                                            "workingDirectory": ""})"));
  Json content = Substitute(doc->content, *values);
  EXPECT_EQ(content["runtimeConfig"]["aws:runShellScript"]["properties"][0],
            Json::parse(R"({"id": "0.aws:runShellScript", "runCommand": ["echo hello"],
                            "workingDirectory": "", "timeoutSeconds": "3600"})"));
  EXPECT_EQ(content["parameters"]["commands"]["type"], "StringList");

  EXPECT_FALSE(ResolveParameters(doc->parameters, {}).ok());  // commands is required
  EXPECT_FALSE(
      ResolveParameters(doc->parameters, {{"commands", {"x"}}, {"executionTimeout", {"0"}}}).ok());
}

TEST_F(DocumentsTest, AwsOwnedDocumentsAreThereWithTheirParameters) {
  auto patch = docs_->Resolve(Ctx(), "AWS-RunPatchBaseline", "");
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(patch->schema_version, "2.2");
  std::vector<std::string> names;
  for (const auto& p : patch->parameters) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Operation", "SnapshotId", "InstallOverrideList",
                                             "BaselineOverride", "RebootOption"}));
  EXPECT_FALSE(ResolveParameters(patch->parameters, {{"Operation", {"Foo"}}}).ok());
  auto scan = ResolveParameters(patch->parameters, {{"Operation", {"Scan"}}});
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ((*scan)["RebootOption"], "RebootIfNeeded");

  auto inventory = docs_->Resolve(Ctx(), "AWS-GatherSoftwareInventory", "");
  ASSERT_TRUE(inventory.ok());
  EXPECT_EQ(inventory->document_type, "Policy");
  EXPECT_EQ(inventory->schema_version, "2.0");
  EXPECT_EQ(inventory->parameters.size(), 11u);

  auto missing = docs_->Resolve(Ctx(), "AWS-Nope", "");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "InvalidDocument");
  EXPECT_EQ(docs_->Resolve(Ctx(), "AWS-RunShellScript", "2").error().code,
            "InvalidDocumentVersion");
}

TEST_F(DocumentsTest, ResolveFollowsDefaultAndLatestVersions) {
  Json created = Create("hello", Steps("echo one"));
  EXPECT_EQ(created["DocumentDescription"]["Status"], "Creating");
  auto update = docs_->UpdateDocument(
      Ctx(), {{"Name", "hello"}, {"Content", Steps("echo two")}, {"DocumentVersion", "$LATEST"}});
  ASSERT_TRUE(update.ok()) << update.error().message;

  auto command = [&](const std::string& version) {
    auto doc = docs_->Resolve(Ctx(), "hello", version);
    EXPECT_TRUE(doc.ok()) << doc.error().message;
    return doc.ok() ? doc->content["mainSteps"][0]["inputs"]["runCommand"][0].get<std::string>()
                    : "";
  };
  EXPECT_EQ(command(""), "echo one {{ who }}");
  EXPECT_EQ(command("$DEFAULT"), "echo one {{ who }}");
  EXPECT_EQ(command("$LATEST"), "echo two {{ who }}");
  EXPECT_EQ(command("2"), "echo two {{ who }}");
  EXPECT_EQ(docs_->Resolve(Ctx(), "hello", "3").error().code, "InvalidDocumentVersion");
  EXPECT_EQ(docs_->Resolve(Ctx(), "nope", "").error().code, "InvalidDocument");

  ASSERT_TRUE(
      docs_->UpdateDocumentDefaultVersion(Ctx(), {{"Name", "hello"}, {"DocumentVersion", "2"}})
          .ok());
  auto doc = docs_->Resolve(Ctx(), "hello", "");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->version, 2);
  EXPECT_EQ(doc->owner, "123456789012");
  EXPECT_EQ(doc->hash, crypto::Hex(crypto::Sha256(Steps("echo two"))));
}

TEST_F(DocumentsTest, YamlDocumentsResolveToJsonContent) {
  Create("yamldoc",
         "schemaVersion: '2.2'\n"
         "description: from YAML\n"
         "parameters:\n"
         "  count:\n"
         "    type: Integer\n"
         "    default: 2\n"
         "mainSteps:\n"
         "- action: aws:runShellScript\n"
         "  name: run\n"
         "  precondition:\n"
         "    StringEquals: [platformType, Linux]\n"
         "  inputs:\n"
         "    runCommand:\n"
         "    - seq {{ count }}\n",
         "YAML");
  auto doc = docs_->Resolve(Ctx(), "yamldoc", "");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(doc->platform_types, (std::vector<std::string>{"Linux"}));
  auto values = ResolveParameters(doc->parameters, {});
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(Substitute(doc->content, *values)["mainSteps"][0]["inputs"]["runCommand"][0], "seq 2");

  // GetDocument gives JSON unless YAML is asked for; YAML comes back as written.
  auto json = docs_->GetDocument(Ctx(), {{"Name", "yamldoc"}});
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)["DocumentFormat"], "JSON");
  EXPECT_EQ(Json::parse((*json)["Content"].get<std::string>())["description"], "from YAML");
  auto yaml = docs_->GetDocument(Ctx(), {{"Name", "yamldoc"}, {"DocumentFormat", "YAML"}});
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ((*yaml)["Content"].get<std::string>().rfind("schemaVersion: '2.2'\n", 0), 0u);
}

TEST_F(DocumentsTest, SharedDocumentsResolveByArnForTheAccountsTheyAreSharedWith) {
  Create("team-doc", Steps("echo shared"));
  const std::string arn = "arn:aws:ssm:us-east-1:123456789012:document/team-doc";
  auto other = Ctx("210987654321");
  EXPECT_EQ(docs_->Resolve(other, arn, "").error().code, "InvalidDocument");
  ASSERT_TRUE(docs_
                  ->ModifyDocumentPermission(Ctx(), {{"Name", "team-doc"},
                                                     {"PermissionType", "Share"},
                                                     {"AccountIdsToAdd", {"210987654321"}}})
                  .ok());
  auto doc = docs_->Resolve(other, arn, "");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(doc->owner, "123456789012");
  EXPECT_EQ(docs_->Resolve(Ctx("333333333333"), arn, "").error().code, "InvalidDocument");
  // The other account sees it in ListDocuments, by ARN, as a privately shared document.
  auto listed =
      docs_->ListDocuments(other, {{"Filters", {{{"Key", "Owner"}, {"Values", {"Private"}}}}}});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ((*listed)["DocumentIdentifiers"].size(), 1u);
  EXPECT_EQ((*listed)["DocumentIdentifiers"][0]["Name"], arn);
}

TEST_F(DocumentsTest, DocumentQuota) {
  for (int i = 0; i < Documents::kMaxDocuments; ++i) {
    auto r = docs_->CreateDocument(Ctx(), {{"Name", "doc-" + std::to_string(i)},
                                           {"Content", Steps("echo " + std::to_string(i))}});
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  auto over = docs_->CreateDocument(Ctx(), {{"Name", "one-more"}, {"Content", Steps("echo x")}});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "DocumentLimitExceeded");
  // Another region has its own quota.
  auto west = Ctx();
  west.region = "us-west-2";
  EXPECT_TRUE(
      docs_->CreateDocument(west, {{"Name", "one-more"}, {"Content", Steps("echo x")}}).ok());
}

}  // namespace
}  // namespace gc::ssm
