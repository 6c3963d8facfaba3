#include "services/ssm/command_rules.h"

#include <gtest/gtest.h>

namespace gc::ssm::commands {
namespace {

using nlohmann::json;

TEST(RateControl, NumbersAndPercentages) {
  EXPECT_EQ(ConcurrencyLimit("50", 3), 50);
  EXPECT_EQ(ConcurrencyLimit("1", 3), 1);
  EXPECT_EQ(ConcurrencyLimit("50%", 3), 2);    // rounds up
  EXPECT_EQ(ConcurrencyLimit("1%", 3), 1);     // at least one
  EXPECT_EQ(ConcurrencyLimit("100%", 10000), 10000);
  EXPECT_EQ(ConcurrencyLimit("x", 3), -1);
  EXPECT_EQ(ConcurrencyLimit("", 3), -1);
  EXPECT_EQ(ConcurrencyLimit("101%", 3), -1);
  EXPECT_EQ(ErrorLimit("0", 3), 0);
  EXPECT_EQ(ErrorLimit("10%", 50), 5);  // AWS: stops at the sixth error
  EXPECT_EQ(ErrorLimit("50%", 3), 1);   // rounds down
  EXPECT_EQ(ErrorLimit("0%", 3), 0);
  EXPECT_EQ(ErrorLimit("-1", 3), -1);
}

TEST(RateControl, Releasable) {
  EXPECT_EQ(Releasable(1, 0, 3), 1);
  EXPECT_EQ(Releasable(1, 1, 2), 0);
  EXPECT_EQ(Releasable(50, 2, 1), 1);
  EXPECT_EQ(Releasable(2, 5, 1), 0);
  EXPECT_TRUE(ErrorsExceeded(1, 0));
  EXPECT_FALSE(ErrorsExceeded(1, 1));
}

TEST(Status, InvocationMapping) {
  EXPECT_EQ(InvocationStatus(kDeliveryTimedOut), "TimedOut");
  EXPECT_EQ(InvocationStatus(kExecutionTimedOut), "TimedOut");
  EXPECT_EQ(InvocationStatus(kUndeliverable), "Failed");
  EXPECT_EQ(InvocationStatus(kSuccess), "Success");
  EXPECT_FALSE(IsTerminal(kPending));
  EXPECT_FALSE(IsTerminal(kInProgress));
  EXPECT_TRUE(IsTerminal(kCancelled));
  EXPECT_TRUE(CountsAsError(kExecutionTimedOut));
  EXPECT_FALSE(CountsAsError(kDeliveryTimedOut));
  EXPECT_EQ(DetailsFromDocumentStatus("TimedOut"), "ExecutionTimedOut");
  EXPECT_EQ(DetailsFromDocumentStatus("InProgress"), "");
}

TEST(Status, CommandAggregation) {
  Counts c{.targets = 3};
  EXPECT_EQ(Aggregate(c, 0, false).status, "Pending");
  c.released = 1;
  EXPECT_EQ(Aggregate(c, 0, false).details, "In Progress");
  c = {.targets = 3, .released = 3, .completed = 3, .success = 3};
  EXPECT_EQ(Aggregate(c, 0, false).status, "Success");
  EXPECT_TRUE(Aggregate(c, 0, false).terminal);
  c = {.targets = 3, .released = 3, .completed = 3, .errors = 1, .success = 2};
  EXPECT_EQ(Aggregate(c, 0, false).status, "Failed");
  EXPECT_EQ(Aggregate(c, 5, false).details, "Incomplete");
  c = {.targets = 2, .released = 2, .completed = 2, .delivery_timed_out = 1, .success = 1};
  auto s = Aggregate(c, 0, false);
  EXPECT_EQ(s.status, "TimedOut");
  EXPECT_EQ(s.details, "Delivery Timed Out");
  c = {.targets = 2, .released = 2, .completed = 2, .success = 1, .cancelled = 1};
  EXPECT_EQ(Aggregate(c, 0, true).status, "Cancelled");
}

json Reply(const std::string& doc, json runtime) {
  return {{"documentStatus", doc}, {"documentTraceOutput", ""}, {"runtimeStatus", runtime}};
}

TEST(MergeReply, KeepsPluginsAndFinalStatus) {
  json state;
  EXPECT_TRUE(MergeReply(state, Reply("InProgress", nullptr)));
  EXPECT_EQ(state["documentStatus"], "InProgress");
  json p1 = {{"0.a", {{"status", "Success"}, {"code", 0}, {"output", "one"}}}};
  json p2 = {{"1.b", {{"status", "Failed"}, {"code", 2}, {"output", "two"}}}};
  EXPECT_TRUE(MergeReply(state, Reply("InProgress", p1)));
  EXPECT_TRUE(MergeReply(state, Reply("InProgress", p2)));
  // Final reply of a multi-plugin document: runtimeStatus is {}.
  EXPECT_TRUE(MergeReply(state, Reply("Failed", json::object())));
  EXPECT_EQ(state["documentStatus"], "Failed");
  EXPECT_EQ(state["plugins"].size(), 2u);
  EXPECT_EQ(state["plugins"]["0.a"]["output"], "one");
  // A late InProgress (resent from the agent's outbox) changes nothing.
  json late = {{"0.a", {{"status", "InProgress"}}}};
  EXPECT_FALSE(MergeReply(state, Reply("InProgress", late)));
  EXPECT_EQ(state["documentStatus"], "Failed");
  EXPECT_EQ(state["plugins"]["0.a"]["status"], "Success");
}

TEST(MergeReply, IgnoresMalformedParts) {
  json state;
  EXPECT_FALSE(MergeReply(state, json{{"runtimeStatus", "x"}, {"documentStatus", 3}}));
  EXPECT_FALSE(MergeReply(state, json{{"runtimeStatus", {{"p", 1}}}}));
}

}  // namespace
}  // namespace gc::ssm::commands
