// Managed nodes on a temp SQLite store: registration through an activation, credentials found by
// access key and revoked with deregistration (also from the cache), registration-key signatures
// with the rotation grace, and the C++ API Run Command uses (FindTargets, GetNode).
#include "services/ssm/managed_nodes.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "common/crypto.h"
#include "common/rsa_pss.h"
#include "services/ssm/ssm_service.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;

constexpr int64_t kNow = 1'700'000'000'000;

class ManagedNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_managed_nodes_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto st = store::Store::Open(dir_ + "/ssm.db");
    ASSERT_TRUE(st.ok()) << st.error().message;
    store_ = std::move(*st);
    ASSERT_TRUE(store_->Migrate(SsmService::Migrations()).ok());
    ssm_ = std::make_unique<SsmService>(*store_, crypto::RandomBytes(32),
                                        NodeOptions{crypto::RandomBytes(32), 600});
    def_ = ssm_->Definition();
  }
  void TearDown() override {
    ssm_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static wire::CallContext Operator(int64_t now = kNow) {
    wire::CallContext ctx;
    ctx.account_id = "123456789012";
    ctx.region = "us-east-1";
    ctx.now_millis = now;
    return ctx;
  }
  // What the dispatcher makes of a request the node signed.
  static wire::CallContext Node(const std::string& node_id, int64_t now = kNow) {
    wire::CallContext ctx = Operator(now);
    ctx.caller_user_id = node_id;
    ctx.caller_arn = "arn:aws:sts::123456789012:assumed-role/Role/" + node_id;
    ctx.is_node = true;
    return ctx;
  }

  Result<Json> Call(const std::string& op, const wire::CallContext& ctx, const Json& in) {
    return def_.operations.at(op)(ctx, in);
  }

  // Registers a node with a fresh activation carrying `tags`; returns its id.
  std::string Register(const crypto::RsaKeyPair& key, const Json& tags = Json::array()) {
    auto act = Call("CreateActivation", Operator(),
                    {{"IamRole", "Role"}, {"DefaultInstanceName", "web"}, {"Tags", tags}});
    EXPECT_TRUE(act.ok());
    wire::CallContext anonymous;  // the agent's registration is not signed
    anonymous.now_millis = kNow;
    auto reg = Call("RegisterManagedInstance", anonymous,
                    {{"ActivationCode", (*act)["ActivationCode"]},
                     {"ActivationId", (*act)["ActivationId"]},
                     {"PublicKey", key.public_key},
                     {"Fingerprint", "fp"}});
    EXPECT_TRUE(reg.ok()) << reg.error().message;
    return reg.ok() ? (*reg)["InstanceId"].get<std::string>() : "";
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SsmService> ssm_;
  wire::ServiceDef def_;
};

TEST_F(ManagedNodesTest, CredentialsAreFoundUntilDeregistration) {
  const crypto::RsaKeyPair key = crypto::GenerateRsaKeyPair();
  const std::string node = Register(key);
  auto token = Call("RequestManagedInstanceRoleToken", Node(node), {{"Fingerprint", "fp"}});
  ASSERT_TRUE(token.ok()) << token.error().message;
  const std::string ak = (*token)["AccessKeyId"];
  const wire::NodeAuthority& auth = ssm_->node_authority();

  auto cred = auth.FindCredential(ak);  // from the store, then from the cache
  ASSERT_TRUE(cred.has_value());
  EXPECT_EQ(cred->node.node_id, node);
  EXPECT_EQ(cred->node.region, "us-east-1");
  EXPECT_EQ(cred->secret_access_key, (*token)["SecretAccessKey"]);
  EXPECT_EQ(cred->session_token_sha256,
            crypto::Sha256((*token)["SessionToken"].get<std::string>()));
  EXPECT_EQ(cred->expires_millis, kNow + NodeCredentials::kLifetimeMillis);
  ASSERT_TRUE(auth.FindCredential(ak).has_value());
  EXPECT_FALSE(auth.FindCredential("ASIAUNKNOWNUNKNOWN00").has_value());

  ASSERT_TRUE(Call("DeregisterManagedInstance", Operator(), {{"InstanceId", node}}).ok());
  EXPECT_FALSE(auth.FindCredential(ak).has_value());  // the cached copy went too
  auto again = Call("RequestManagedInstanceRoleToken", Node(node), {{"Fingerprint", "fp"}});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "InvalidInstanceId");
  EXPECT_EQ(
      auth.CheckNodeSignature(node, "sts", *crypto::RsaPssSign(key.private_key, "sts"), kNow).check,
      wire::NodeSignatureCheck::kUnknownNode);
}

TEST_F(ManagedNodesTest, FingerprintMustMatch) {
  const std::string node = Register(crypto::GenerateRsaKeyPair());
  auto token = Call("RequestManagedInstanceRoleToken", Node(node), {{"Fingerprint", "other"}});
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code, "MachineFingerprintDoesNotMatch");
}

TEST_F(ManagedNodesTest, RotatedKeyKeepsSigningForTheGracePeriod) {
  const crypto::RsaKeyPair old_key = crypto::GenerateRsaKeyPair();
  const crypto::RsaKeyPair new_key = crypto::GenerateRsaKeyPair();
  const std::string node = Register(old_key);
  const wire::NodeAuthority& auth = ssm_->node_authority();
  const std::string sts = "AWS4-HMAC-SHA256\n...";
  const std::string by_old = *crypto::RsaPssSign(old_key.private_key, sts);
  const std::string by_new = *crypto::RsaPssSign(new_key.private_key, sts);
  EXPECT_EQ(auth.CheckNodeSignature(node, sts, by_old, kNow).check,
            wire::NodeSignatureCheck::kMatch);
  EXPECT_EQ(auth.CheckNodeSignature(node, sts, by_new, kNow).check,
            wire::NodeSignatureCheck::kMismatch);

  ASSERT_TRUE(Call("UpdateManagedInstancePublicKey", Node(node),
                   {{"NewPublicKey", new_key.public_key}, {"NewPublicKeyType", "Rsa"}})
                  .ok());
  auto match = auth.CheckNodeSignature(node, sts, by_new, kNow);
  EXPECT_EQ(match.check, wire::NodeSignatureCheck::kMatch);
  EXPECT_EQ(match.node.arn, "arn:aws:sts::123456789012:assumed-role/Role/" + node);
  EXPECT_EQ(auth.CheckNodeSignature(node, sts, by_old, kNow + 1000).check,
            wire::NodeSignatureCheck::kMatch);
  const int64_t after_grace = kNow + NodeCredentials::kPreviousKeyGraceMillis + 1;
  EXPECT_EQ(auth.CheckNodeSignature(node, sts, by_old, after_grace).check,
            wire::NodeSignatureCheck::kMismatch);
}

TEST_F(ManagedNodesTest, TargetsAndNodeState) {
  const crypto::RsaKeyPair key = crypto::GenerateRsaKeyPair();
  const std::string test1 = Register(key, Json::array({{{"Key", "Env"}, {"Value", "Test"}}}));
  const std::string test2 = Register(key, Json::array({{{"Key", "Env"}, {"Value", "Test"}}}));
  const std::string prod = Register(key, Json::array({{{"Key", "Env"}, {"Value", "Prod"}}}));
  ManagedNodes& nodes = ssm_->nodes();

  auto by_tag =
      nodes.FindTargets(Operator(), Json::array({{{"Key", "tag:Env"}, {"Values", {"Test"}}}}));
  ASSERT_TRUE(by_tag.ok()) << by_tag.error().message;
  std::vector<std::string> ids;
  for (const auto& n : *by_tag) ids.push_back(n.node_id);
  std::vector<std::string> expected = {test1, test2};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);

  ASSERT_TRUE(Call("DeregisterManagedInstance", Operator(), {{"InstanceId", test1}}).ok());
  auto by_key =
      nodes.FindTargets(Operator(), Json::array({{{"Key", "tag-key"}, {"Values", {"Env"}}}}));
  ASSERT_TRUE(by_key.ok());
  EXPECT_EQ(by_key->size(), 2u);  // the deregistered node is no target

  auto gone = nodes.GetNode(Operator(), test1);
  ASSERT_TRUE(gone.ok() && gone->has_value());
  EXPECT_FALSE((*gone)->registered);
  auto fresh = nodes.GetNode(Operator(), prod);
  ASSERT_TRUE(fresh.ok() && fresh->has_value());
  EXPECT_TRUE((*fresh)->registered);
  EXPECT_EQ((*fresh)->name, "web");
  EXPECT_EQ((*fresh)->ping, nodes::PingStatus::kOnline);  // registration counts as contact
  auto later = nodes.GetNode(Operator(kNow + 601'000), prod);
  EXPECT_EQ((*later)->ping, nodes::PingStatus::kConnectionLost);
  auto unknown = nodes.GetNode(Operator(), "mi-0123456789abcdef0");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());

  auto groups = nodes.FindTargets(
      Operator(), Json::array({{{"Key", "resource-groups:Name"}, {"Values", {"g"}}}}));
  ASSERT_FALSE(groups.ok());
  EXPECT_EQ(groups.error().code, "InvalidTarget");
}

TEST_F(ManagedNodesTest, ANodeActsOnlyOnItself) {
  const crypto::RsaKeyPair key = crypto::GenerateRsaKeyPair();
  const std::string a = Register(key);
  const std::string b = Register(key);
  auto denied = Call("UpdateInstanceInformation", Node(a), {{"InstanceId", b}});
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, "AccessDeniedException");
  EXPECT_TRUE(Call("UpdateInstanceInformation", Node(a), {{"InstanceId", a}}).ok());
  EXPECT_TRUE(Call("UpdateInstanceInformation", Operator(), {{"InstanceId", b}}).ok());
  auto unknown =
      Call("UpdateInstanceInformation", Operator(), {{"InstanceId", "mi-0123456789abcdef0"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "InvalidInstanceId");
}

}  // namespace
}  // namespace gc::ssm
