// The Run Command engine on a temp SQLite store: rate control releases no more than
// MaxConcurrency, MaxErrors ends the rest Terminated, a cancel ends it Cancelled, the counters
// kept change by change equal a recount from the rows, and NotificationConfig yields the notices
// AWS sends (Command and Invocation types, filtered by event).
#include "services/ssm/command_engine.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "services/ssm/command_rules.h"
#include "services/ssm/run_command.h"

namespace gc::ssm::commands {
namespace {

using Json = nlohmann::json;
constexpr int64_t kNow = 1'700'000'000'000;

class CommandEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_command_engine_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto st = store::Store::Open(dir_ + "/ssm.db");
    ASSERT_TRUE(st.ok()) << st.error().message;
    store_ = std::move(*st);
    ASSERT_TRUE(store_->Migrate(RunCommand::Migrations()).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A command for `targets` nodes n0, n1, …, as SendCommand writes it, then Finish.
  Effects Create(int targets, int64_t max_concurrency, int64_t max_errors,
                 Json notification = Json::object()) {
    Effects effects;
    Json spec = {{"DocumentName", "AWS-RunShellScript"},
                 {"InstanceIds", Json::array()},
                 {"NotificationConfig", notification},
                 {"_payload", {{"CommandId", "c1"}}}};
    Status st = store_->Write([&](store::Tx& tx) -> Status {
      effects.Clear();
      auto r = tx.Exec(fmt::format("INSERT INTO ssm_command ({}, recount) VALUES ('c1', "
                                   "'123456789012', 'us-east-1', ?, ?, ?, ?, ?, 'Pending', "
                                   "'Pending', ?, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0)",
                                   CommandRow::Columns()),
                       {kNow, kNow + 3600000, spec.dump(), max_concurrency, max_errors,
                        int64_t{targets}});
      if (!r.ok()) return r.take_error();
      for (int i = 0; i < targets; ++i) {
        auto ins = tx.Exec(fmt::format("INSERT INTO ssm_invocation ({}) VALUES ('c1', ?, ?, '', "
                                       "'Pending', 0, 0, ?, 0, 0, '{{}}')",
                                       InvocationRow::Columns()),
                           {fmt::format("n{}", i), int64_t{i}, kNow});
        if (!ins.ok()) return ins.take_error();
      }
      auto u = Update::Load(tx, "c1", kNow, effects);
      if (!u.ok()) return u.take_error();
      return (*u)->Finish();
    });
    EXPECT_TRUE(st.ok()) << st.error().message;
    return effects;
  }

  // Moves node `node` to `details` and finishes, as a reply would.
  Effects SetStatus(int node, std::string_view details, int64_t now = kNow + 1000) {
    Effects effects;
    Status st = store_->Write([&](store::Tx& tx) -> Status {
      effects.Clear();
      auto u = Update::Load(tx, "c1", now, effects);
      if (!u.ok()) return u.take_error();
      auto inv = LoadInvocation(tx, "c1", fmt::format("n{}", node));
      if (!inv.ok()) return inv.take_error();
      if (Status s = (*u)->Set(**inv, details); !s.ok()) return s;
      return (*u)->Finish();
    });
    EXPECT_TRUE(st.ok()) << st.error().message;
    return effects;
  }

  CommandRow Command() {
    CommandRow c;
    Status st = store_->Read([&](store::Tx& tx) -> Status {
      auto r = LoadCommand(tx, nullptr, "c1");
      if (!r.ok()) return r.take_error();
      c = **r;
      return Ok{};
    });
    EXPECT_TRUE(st.ok());
    return c;
  }

  std::vector<InvocationRow> Invocations() {
    std::vector<InvocationRow> out;
    Status st = store_->Read([&](store::Tx& tx) -> Status {
      auto r = LoadInvocations(tx, "c1");
      if (!r.ok()) return r.take_error();
      out = std::move(*r);
      return Ok{};
    });
    EXPECT_TRUE(st.ok());
    return out;
  }

  int64_t Messages() {
    int64_t n = 0;
    Status st = store_->Read([&](store::Tx& tx) -> Status {
      auto r = tx.Query("SELECT COUNT(*) FROM ssm_node_message WHERE kind = 'send'");
      if (!r.ok()) return r.take_error();
      n = r->front().Int(0);
      return Ok{};
    });
    EXPECT_TRUE(st.ok());
    return n;
  }

  // The counters must equal a recount from the rows.
  void ExpectCountersMatchRows() {
    CommandRow kept = Command();
    Effects effects;
    CommandRow recounted;
    Status st = store_->Write([&](store::Tx& tx) -> Status {
      auto u = Update::Load(tx, "c1", kNow, effects);
      if (!u.ok()) return u.take_error();
      if (Status s = (*u)->Recount(); !s.ok()) return s;
      recounted = (*u)->command();
      return Ok{};
    });
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(kept.target_count, recounted.target_count);
    EXPECT_EQ(kept.released_count, recounted.released_count);
    EXPECT_EQ(kept.completed_count, recounted.completed_count);
    EXPECT_EQ(kept.error_count, recounted.error_count);
    EXPECT_EQ(kept.dt_count, recounted.dt_count);
    EXPECT_EQ(kept.et_count, recounted.et_count);
    EXPECT_EQ(kept.success_count, recounted.success_count);
    EXPECT_EQ(kept.cancelled_count, recounted.cancelled_count);
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(CommandEngineTest, ReleasesNoMoreThanMaxConcurrencyAndMoreAsTheyFinish) {
  Effects e = Create(10, 3, 10);
  EXPECT_EQ(e.released, (std::vector<std::string>{"n0", "n1", "n2"}));
  EXPECT_EQ(Messages(), 3);
  EXPECT_EQ(Command().status, "InProgress");
  e = SetStatus(0, kInProgress);
  EXPECT_TRUE(e.released.empty());
  e = SetStatus(0, kSuccess);
  EXPECT_EQ(e.released, (std::vector<std::string>{"n3"}));
  e = SetStatus(1, kFailed);
  EXPECT_EQ(e.released, (std::vector<std::string>{"n4"}));
  EXPECT_EQ(Messages(), 5);
  ExpectCountersMatchRows();
  for (int i = 2; i < 10; ++i) SetStatus(i, kSuccess);
  CommandRow c = Command();
  EXPECT_EQ(Messages(), 10);
  // One failure, within MaxErrors 10: not every invocation succeeded, so Incomplete.
  EXPECT_EQ((std::tuple{c.status, c.status_details, c.completed_count, c.error_count, c.active}),
            (std::tuple{std::string("Failed"), std::string("Incomplete"), int64_t{10},
                        int64_t{1}, false}));
  ExpectCountersMatchRows();
}

TEST_F(CommandEngineTest, ErrorsBeyondMaxErrorsTerminateTheRest) {
  Create(6, 2, 1);
  SetStatus(0, kFailed);
  SetStatus(1, kFailed);  // 2 errors > MaxErrors 1; n2 was released after n0 failed
  auto invs = Invocations();
  EXPECT_EQ(invs[2].details, kPending);
  EXPECT_TRUE(invs[2].released);
  for (int i = 3; i < 6; ++i) EXPECT_EQ(invs[i].details, kTerminated) << i;
  EXPECT_EQ(InvocationStatus(kTerminated), "Cancelled");
  CommandRow c = Command();
  EXPECT_TRUE(c.active);  // n2 is still in flight
  SetStatus(2, kSuccess);
  c = Command();
  EXPECT_EQ((std::tuple{c.status, c.status_details, c.active}),
            (std::tuple{std::string("Failed"), std::string("Failed"), false}));
  EXPECT_EQ(Messages(), 3);
  ExpectCountersMatchRows();
}

TEST_F(CommandEngineTest, FinalStatusesAreNeverLeft) {
  Create(1, 1, 0);
  SetStatus(0, kSuccess);
  SetStatus(0, kInProgress);  // a late report
  SetStatus(0, kFailed);
  EXPECT_EQ(Invocations()[0].details, kSuccess);
  EXPECT_EQ(Command().status, "Success");
  ExpectCountersMatchRows();
}

TEST_F(CommandEngineTest, NoticesFollowTheNotificationConfig) {
  Json command_all = {{"NotificationArn", "arn:aws:sns:us-east-1:123456789012:t"},
                      {"NotificationEvents", {"All"}},
                      {"NotificationType", "Command"}};
  Effects e = Create(2, 2, 0, command_all);
  ASSERT_EQ(e.notices.size(), 1u);
  Json m = Json::parse(e.notices[0].message);
  EXPECT_EQ(m["status"], "InProgress");
  EXPECT_EQ(m["commandId"], "c1");
  EXPECT_EQ(e.notices[0].topic_arn, "arn:aws:sns:us-east-1:123456789012:t");
  EXPECT_EQ(e.notices[0].account, "123456789012");
  EXPECT_TRUE(SetStatus(0, kInProgress).notices.empty());  // the command stays InProgress
  EXPECT_TRUE(SetStatus(0, kSuccess).notices.empty());
  e = SetStatus(1, kSuccess);
  ASSERT_EQ(e.notices.size(), 1u);
  EXPECT_EQ(Json::parse(e.notices[0].message)["status"], "Success");
}

TEST_F(CommandEngineTest, InvocationNoticesOnlyForTheEventsAskedFor) {
  Json invocation_failed = {{"NotificationArn", "arn:aws:sns:us-east-1:123456789012:t"},
                            {"NotificationEvents", {"Failed", "TimedOut"}},
                            {"NotificationType", "Invocation"}};
  EXPECT_TRUE(Create(3, 3, 5, invocation_failed).notices.empty());
  EXPECT_TRUE(SetStatus(0, kInProgress).notices.empty());
  EXPECT_TRUE(SetStatus(0, kSuccess).notices.empty());
  Effects e = SetStatus(1, kFailed);
  ASSERT_EQ(e.notices.size(), 1u);
  Json m = Json::parse(e.notices[0].message);
  EXPECT_EQ((std::tuple{m["instanceId"], m["status"], m["detailedStatus"]}),
            (std::tuple{Json("n1"), Json("Failed"), Json("Failed")}));
  e = SetStatus(2, kDeliveryTimedOut);
  ASSERT_EQ(e.notices.size(), 1u);
  EXPECT_EQ(Json::parse(e.notices[0].message)["status"], "TimedOut");
  EXPECT_EQ(Json::parse(e.notices[0].message)["detailedStatus"], "DeliveryTimedOut");
}

}  // namespace
}  // namespace gc::ssm::commands
