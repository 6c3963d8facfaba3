#include "services/ssm/node_rules.h"

#include <gtest/gtest.h>

#include <set>

namespace gc::ssm::nodes {
namespace {

using Json = nlohmann::json;

TEST(NodeIds, NewIdsHaveAwsFormats) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string id = NewNodeId();
    EXPECT_TRUE(IsNodeId(id)) << id;
    EXPECT_TRUE(IsInstanceId(id)) << id;
    seen.insert(id);
    std::string code = NewActivationCode();
    EXPECT_EQ(code.size(), 20u);
    EXPECT_EQ(
        code.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
        std::string::npos);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(NodeIds, Recognition) {
  EXPECT_TRUE(IsNodeId("mi-0123456789abcdef0"));
  EXPECT_FALSE(IsNodeId("mi-0123456789ABCDEF0"));  // AWS mints lowercase hex
  EXPECT_FALSE(IsNodeId("mi-0123456789abcdef"));
  EXPECT_FALSE(IsNodeId("i-0123456789abcdef0"));
  EXPECT_TRUE(IsInstanceId("i-0123456789abcdef0"));
  EXPECT_TRUE(IsInstanceId("i-01234567"));
  EXPECT_FALSE(IsInstanceId("i-0123"));
  EXPECT_FALSE(IsInstanceId("node1"));
}

TEST(NodeIds, ActivationIdsAndAgentVersions) {
  EXPECT_TRUE(IsActivationId("5ee2a5c6-1f2b-4a77-9d0e-4b1f3c2d1e0f"));
  EXPECT_FALSE(IsActivationId("5EE2A5C6-1f2b-4a77-9d0e-4b1f3c2d1e0f"));
  EXPECT_FALSE(IsActivationId("5ee2a5c6-1f2b-4a77-9d0e-4b1f3c2d1e0"));
  EXPECT_FALSE(IsActivationId("5ee2a5c6x1f2b-4a77-9d0e-4b1f3c2d1e0f"));
  EXPECT_TRUE(IsLatestAgentVersion("3.3.1142.0"));
  EXPECT_TRUE(IsLatestAgentVersion("3.3.1142.1"));
  EXPECT_TRUE(IsLatestAgentVersion("3.4.0.0"));
  EXPECT_FALSE(IsLatestAgentVersion("3.3.987.0"));
  EXPECT_FALSE(IsLatestAgentVersion("0.1.0"));
  EXPECT_FALSE(IsLatestAgentVersion(""));
  EXPECT_FALSE(IsLatestAgentVersion("3..1"));
}

TEST(PingStatus, ConnectionLostAfterTheTimeout) {
  EXPECT_EQ(PingStatusAt(1000, 1000, 600), PingStatus::kOnline);
  EXPECT_EQ(PingStatusAt(1000, 1600, 600), PingStatus::kOnline);
  EXPECT_EQ(PingStatusAt(1000, 1600.5, 600), PingStatus::kConnectionLost);
  EXPECT_EQ(PingStatusName(PingStatus::kConnectionLost), "ConnectionLost");
}

NodeView Node(std::string id) {
  NodeView n;
  n.node_id = std::move(id);
  n.activation_id = "5ee2a5c6-1f2b-4a77-9d0e-4b1f3c2d1e0f";
  n.iam_role = "SSMServiceRole";
  n.agent_version = "3.3.1142.0";
  n.platform_type = "Linux";
  n.tags = {{"Environment", "Test"}, {"Team", "ops"}};
  return n;
}

TEST(InstanceInformationFilters, BothFormsParseAndMatch) {
  auto legacy = ParseInstanceInformationFilters(
      {{"InstanceInformationFilterList",
        {{{"key", "PlatformTypes"}, {"valueSet", {"Linux", "Windows"}}}}}});
  ASSERT_TRUE(legacy.ok()) << legacy.error().message;
  EXPECT_TRUE(Matches(Node("mi-0123456789abcdef0"), *legacy));

  auto current = ParseInstanceInformationFilters(
      {{"Filters",
        {{{"Key", "tag:Environment"}, {"Values", {"Prod", "Test"}}},
         {{"Key", "PingStatus"}, {"Values", {"Online"}}},
         {{"Key", "ActivationIds"}, {"Values", {"5ee2a5c6-1f2b-4a77-9d0e-4b1f3c2d1e0f"}}}}}});
  ASSERT_TRUE(current.ok()) << current.error().message;
  NodeView n = Node("mi-0123456789abcdef0");
  EXPECT_TRUE(Matches(n, *current));
  n.ping = PingStatus::kConnectionLost;
  EXPECT_FALSE(Matches(n, *current));  // filters are ANDed
  n.ping = PingStatus::kOnline;
  n.tags["Environment"] = "Dev";
  EXPECT_FALSE(Matches(n, *current));
}

TEST(InstanceInformationFilters, EveryKeyMatchesItsField) {
  NodeView n = Node("mi-0123456789abcdef0");
  n.association_status = "Success";
  const std::vector<std::pair<std::string, std::string>> hits = {
      {"InstanceIds", "mi-0123456789abcdef0"},
      {"AgentVersion", "3.3.1142.0"},
      {"PingStatus", "Online"},
      {"PlatformTypes", "Linux"},
      {"ActivationIds", n.activation_id},
      {"IamRole", "SSMServiceRole"},
      {"ResourceType", "ManagedInstance"},
      {"AssociationStatus", "Success"},
      {"tag:Team", "ops"},
      {"tag-key", "Team"},
  };
  for (const auto& [key, value] : hits) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(Matches(n, {{key, {value}}}));
    EXPECT_FALSE(Matches(n, {{key, {"something-else"}}}));
  }
}

TEST(InstanceInformationFilters, AwsErrorsForBadFilters) {
  auto bad_key =
      ParseInstanceInformationFilters({{"Filters", {{{"Key", "Colour"}, {"Values", {"x"}}}}}});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().code, "InvalidFilterKey");

  auto bad_ping = ParseInstanceInformationFilters(
      {{"Filters", {{{"Key", "PingStatus"}, {"Values", {"Asleep"}}}}}});
  ASSERT_FALSE(bad_ping.ok());
  EXPECT_EQ(bad_ping.error().code, "InvalidInstanceInformationFilterValue");

  auto bad_platform = ParseInstanceInformationFilters(
      {{"InstanceInformationFilterList", {{{"key", "PlatformTypes"}, {"valueSet", {"BeOS"}}}}}});
  ASSERT_FALSE(bad_platform.ok());
  EXPECT_EQ(bad_platform.error().code, "InvalidInstanceInformationFilterValue");

  auto bad_id = ParseInstanceInformationFilters(
      {{"Filters", {{{"Key", "InstanceIds"}, {"Values", {"node-1"}}}}}});
  ASSERT_FALSE(bad_id.ok());
  EXPECT_EQ(bad_id.error().code, "InvalidInstanceId");

  auto both = ParseInstanceInformationFilters(
      {{"Filters", {{{"Key", "PingStatus"}, {"Values", {"Online"}}}}},
       {"InstanceInformationFilterList", {{{"key", "PingStatus"}, {"valueSet", {"Online"}}}}}});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().code, "InvalidInstanceInformationFilterValue");

  auto empty_tag =
      ParseInstanceInformationFilters({{"Filters", {{{"Key", "tag:"}, {"Values", {"x"}}}}}});
  ASSERT_FALSE(empty_tag.ok());
  EXPECT_EQ(empty_tag.error().code, "InvalidFilterKey");

  auto none = ParseInstanceInformationFilters(Json::object());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(Targets, InstanceIdsAndTags) {
  auto t = ParseTargets(Json::array({{{"Key", "tag:Environment"}, {"Values", {"Test"}}},
                                     {{"Key", "tag-key"}, {"Values", {"Team"}}}}));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(Matches(Node("mi-0123456789abcdef0"), *t));

  auto ids =
      ParseTargets(Json::array({{{"Key", "InstanceIds"}, {"Values", {"mi-0123456789abcdef0"}}}}));
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(Matches(Node("mi-0123456789abcdef0"), *ids));
  EXPECT_FALSE(Matches(Node("mi-1123456789abcdef0"), *ids));

  auto groups = ParseTargets(Json::array({{{"Key", "resource-groups:Name"}, {"Values", {"web"}}}}));
  ASSERT_FALSE(groups.ok());
  EXPECT_EQ(groups.error().code, "InvalidTarget");
  auto empty = ParseTargets(Json::array({{{"Key", "tag:Environment"}, {"Values", Json::array()}}}));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "InvalidTarget");
}

TEST(NodeArns, RoleNameIsTheLastPathPart) {
  EXPECT_EQ(NodeCallerArn("123456789012", "service-role/SSMRole", "mi-0123456789abcdef0"),
            "arn:aws:sts::123456789012:assumed-role/SSMRole/mi-0123456789abcdef0");
  EXPECT_EQ(NodeCallerArn("123456789012", "SSMRole", "mi-0123456789abcdef0"),
            "arn:aws:sts::123456789012:assumed-role/SSMRole/mi-0123456789abcdef0");
  EXPECT_EQ(NodeArn("us-east-1", "123456789012", "mi-0123456789abcdef0"),
            "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-0123456789abcdef0");
}

}  // namespace
}  // namespace gc::ssm::nodes
