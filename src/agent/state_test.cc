// The state directory: identity, pending replies (§2.8) and the message record survive a restart.
#include "agent/state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/backoff.h"
#include "agent/files.h"
#include "agent/platform.h"

namespace gc::agent {
namespace {

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_agent_state_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = std::string(tmpl) + "/state";
  }
  void TearDown() override { RemoveTree(dir_.substr(0, dir_.rfind('/'))); }

  static unsigned Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }

  std::string dir_;
};

TEST_F(StateTest, IdentityRoundTripWithPrivateModes) {
  Identity id;
  id.instance_id = "mi-0123456789abcdef0";
  id.region = "us-east-1";
  id.endpoint = "https://127.0.0.1:8443/";
  id.public_key = "PUB";
  id.private_key = "PRIV";
  id.fingerprint = "0d3c7f3e-8a8b-4d7e-9b47-1c2f5d6a7e8f";
  id.ca_file = "/etc/ca.pem";
  id.registered_millis = 1729072801000;
  ::umask(022);
  ASSERT_TRUE(SaveIdentity(dir_, id).ok());
  EXPECT_EQ(Mode(dir_), 0700u);
  EXPECT_EQ(Mode(dir_ + "/identity.json"), 0600u);
  auto back = LoadIdentity(dir_);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->instance_id, id.instance_id);
  EXPECT_EQ(back->region, id.region);
  EXPECT_EQ(back->endpoint, id.endpoint);
  EXPECT_EQ(back->public_key, id.public_key);
  EXPECT_EQ(back->private_key, id.private_key);
  EXPECT_EQ(back->fingerprint, id.fingerprint);
  EXPECT_EQ(back->ca_file, id.ca_file);
  EXPECT_EQ(back->registered_millis, id.registered_millis);
}

TEST_F(StateTest, MissingIdentitySaysRegister) {
  auto id = LoadIdentity(dir_);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.error().message.find("register"), std::string::npos);
}

TEST_F(StateTest, PendingRepliesSurviveARestartInOrder) {
  {
    ReplyOutbox outbox(dir_ + "/replies");
    ASSERT_TRUE(outbox.Open().ok());
    outbox.Add("m1", "r1", R"({"documentStatus":"InProgress"})", 1000);
    outbox.Add("m1", "r2", R"({"documentStatus":"Success"})", 1000);
    outbox.Add("m2", "r3", "{}", 2000);
    EXPECT_EQ(outbox.size(), 3u);
    EXPECT_EQ(Mode(dir_ + "/replies"), 0700u);
    for (const auto& name : ListDir(dir_ + "/replies")) {
      EXPECT_EQ(Mode(dir_ + "/replies/" + name), 0600u);
    }
    outbox.Remove("r1");
  }
  ReplyOutbox again(dir_ + "/replies");
  ASSERT_TRUE(again.Open().ok());
  ASSERT_EQ(again.size(), 2u);
  auto front = again.Front();
  ASSERT_TRUE(front);
  EXPECT_EQ(front->message_id, "m1");
  EXPECT_EQ(front->reply_id, "r2");  // the same ReplyId is resent
  EXPECT_EQ(front->payload, R"({"documentStatus":"Success"})");
  EXPECT_EQ(front->created_millis, 1000);
  again.Replace("r2", "{\"smaller\":1}");
  again.Remove("r9");  // unknown: nothing happens
  {
    ReplyOutbox third(dir_ + "/replies");
    ASSERT_TRUE(third.Open().ok());
    EXPECT_EQ(third.Front()->payload, "{\"smaller\":1}");
  }
  again.Remove("r2");
  EXPECT_EQ(again.Front()->reply_id, "r3");
  again.Remove("r3");
  EXPECT_FALSE(again.Front());
  EXPECT_TRUE(ListDir(dir_ + "/replies").empty());
}

TEST_F(StateTest, MessageRecordSurvivesARestart) {
  {
    MessageLog log(dir_ + "/messages");
    ASSERT_TRUE(log.Open(3600).ok());
    EXPECT_EQ(log.Get("aws.ssm.c1.mi-1"), MessageLog::State::kUnknown);
    log.MarkStarted("aws.ssm.c1.mi-1");
    log.MarkStarted("aws.ssm.c2.mi-1");
    log.MarkDone("aws.ssm.c2.mi-1");
    log.MarkDone("weird/id with spaces");
  }
  MessageLog log(dir_ + "/messages");
  ASSERT_TRUE(log.Open(3600).ok());
  EXPECT_EQ(log.Get("aws.ssm.c1.mi-1"), MessageLog::State::kStarted);
  EXPECT_EQ(log.Get("aws.ssm.c2.mi-1"), MessageLog::State::kDone);
  EXPECT_EQ(log.Get("weird/id with spaces"), MessageLog::State::kDone);
  EXPECT_EQ(log.Unfinished(), std::vector<std::string>{"aws.ssm.c1.mi-1"});
  log.Prune(-1);  // everything finished is old enough
  EXPECT_EQ(log.Get("aws.ssm.c2.mi-1"), MessageLog::State::kUnknown);
  EXPECT_EQ(log.Get("aws.ssm.c1.mi-1"), MessageLog::State::kStarted);  // unfinished stays
}

TEST(FilesTest, SafeFileName) {
  EXPECT_EQ(SafeFileName("aws.ssm.1f2e.mi-0a1b"), "aws.ssm.1f2e.mi-0a1b");
  EXPECT_EQ(SafeFileName("a/b c"), "a_b_c");
  EXPECT_EQ(SafeFileName(".."), "_..");
  EXPECT_EQ(SafeFileName(""), "_");
  EXPECT_EQ(SafeFileName(std::string(500, 'x')).size(), 183u);
}

TEST(BackoffTest, GrowsToTheCapWithJitter) {
  Backoff b(1000, 30000, 42);
  const int64_t bases[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (int64_t base : bases) {
    const int64_t d = b.Next();
    EXPECT_LE(d, base);
    EXPECT_GE(d, base - base / 4);
  }
  b.Reset();
  EXPECT_LE(b.Next(), 1000);
}

TEST(PlatformTest, OsRelease) {
  auto kv = ParseOsRelease(
      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
      "VERSION_ID=\"12\"\n# comment\nID=debian\nHOME_URL='https://www.debian.org/'\n");
  EXPECT_EQ(kv["NAME"], "Debian GNU/Linux");
  EXPECT_EQ(kv["VERSION_ID"], "12");
  EXPECT_EQ(kv["ID"], "debian");
  EXPECT_EQ(kv["HOME_URL"], "https://www.debian.org/");
}

TEST_F(StateTest, PlatformFromARoot) {
  ASSERT_TRUE(MakePrivateDir(dir_ + "/root/etc").ok());
  ASSERT_TRUE(
      WriteFileAtomic(dir_ + "/root/etc/os-release", "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\n")
          .ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/root/etc/hostname", "node7\n").ok());
  PlatformInfo p = ReadPlatform(dir_ + "/root");
  EXPECT_EQ(p.name, "Ubuntu");
  EXPECT_EQ(p.version, "22.04");
  EXPECT_EQ(p.computer_name, "node7");
  PlatformInfo empty = ReadPlatform(dir_ + "/nothing");
  EXPECT_EQ(empty.name, "Linux");
  EXPECT_FALSE(empty.computer_name.empty());
}

}  // namespace
}  // namespace gc::agent
