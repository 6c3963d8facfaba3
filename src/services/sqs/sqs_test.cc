// SqsService with a fake clock on a temp SQLite store: visibility timeouts, delays, retention,
// FIFO ordering and deduplication windows, dead-letter redrive, ReceiveRequestAttemptId, and the
// MD5 digests against values recorded from AWS.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <string>

#include "services/sqs/message_attributes.h"
#include "services/sqs/sqs_service.h"

namespace gc::sqs {
namespace {

using Json = nlohmann::json;

TEST(MessageAttributesTest, Md5MatchesRecordedAws) {
  auto s = [](const char* v) { return Json{{"DataType", "String"}, {"StringValue", v}}; };
  EXPECT_EQ(AttributesMd5({{"MyAttribute", s("foobar")}}), "adb59cd4678ea5a855436b949cd07ab6");
  EXPECT_EQ(AttributesMd5({{"Help.Me", s("Me")}, {"Hello", s("There")}, {"General", s("Kenobi")}}),
            "4c360f3fdafd970e05fae2f149d997f5");
  EXPECT_EQ(AttributesMd5({{"Hello", s("There")}, {"Help.Me", s("Me")}}),
            "83fee93c1bcd8b9a5a923ffacdc636c7");
  EXPECT_EQ(AttributesMd5({{"k", s("x")}}), "a45daa70926828a2f0a1db3418e6feb4");
  EXPECT_EQ(
      AttributesMd5({{"timestamp", {{"DataType", "Number"}, {"StringValue", "1493147359900"}}}}),
      "235c5c510d26fb653d073faed50ae77c");
  // Binary: base64 of b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01".
  EXPECT_EQ(AttributesMd5({{"attr1",
                            {{"DataType", "Binary"},
                             {"BinaryValue",
                              "dHJhY2VwYXJlbnQeMDAtNzc0MDYyZDZjMzcwODFhNWEwYjliNWI4OGUzMDYyN2Mt"
                              "MmQyNDgyMjExZjY0ODlkYS0wMQ=="}}}}),
            "8cbe4db156db8a94db8b801b7addb984");
  EXPECT_EQ(AttributesMd5({{"AWSTraceHeader",
                            s("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
                              "Sampled=1")}}),
            "5ae4d5d7636402d80f4eb6d213245a88");
  EXPECT_EQ(BodyMd5("message"), "78e731027d8fd50ed642340b7c9a63b3");
}

TEST(MessageAttributesTest, MessageText) {
  EXPECT_TRUE(IsValidMessageText("plain \t\r\n ascii \xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidMessageText(std::string("nul\0", 4)));
  EXPECT_FALSE(IsValidMessageText("\x01"));
  EXPECT_FALSE(IsValidMessageText("\xef\xbf\xbf"));  // U+FFFF
  EXPECT_FALSE(IsValidMessageText("\xc3"));          // truncated UTF-8
}

TEST(MessageAttributesTest, Filter) {
  Json attrs = {{"Hello", 1}, {"Help.Me", 2}, {"General", 3}};
  EXPECT_EQ(FilterMessageAttributes(attrs, {"All"}).size(), 3u);
  EXPECT_EQ(FilterMessageAttributes(attrs, {".*"}).size(), 3u);
  EXPECT_EQ(FilterMessageAttributes(attrs, {"Hel.*"}).size(), 2u);
  EXPECT_EQ(FilterMessageAttributes(attrs, {"Foo", "Hello"}).size(), 1u);
  EXPECT_TRUE(FilterMessageAttributes(attrs, {}).empty());
}

TEST(LongPollTest, NotifyTimerAndShutdown) {
  TimerQueue timers;
  LongPoll polls(timers);
  std::atomic<int> woken{0};
  std::atomic<int> shut{0};
  auto count = [&](bool shutting_down) { (shutting_down ? shut : woken)++; };
  polls.Park("q", polls.Generation("q"), 60'000, count);
  EXPECT_EQ(polls.Parked(), 1u);
  polls.Notify("other", 1);
  EXPECT_EQ(woken, 0);
  polls.Notify("q", 1);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(polls.Parked(), 0u);
  // A Notify between reading the generation and parking is not missed.
  uint64_t seen = polls.Generation("q");
  polls.Notify("q", 1);
  polls.Park("q", seen, 60'000, count);
  EXPECT_EQ(woken, 2);
  // The timer wakes it.
  std::promise<void> fired;
  polls.Park("q", polls.Generation("q"), 10, [&](bool) { fired.set_value(); });
  EXPECT_EQ(fired.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  // Shutdown answers everything parked, and later parks at once.
  polls.Park("q", polls.Generation("q"), 60'000, count);
  polls.Shutdown();
  EXPECT_EQ(shut, 1);
  polls.Park("q", polls.Generation("q"), 60'000, count);
  EXPECT_EQ(shut, 2);
  EXPECT_EQ(polls.Parked(), 0u);
}

class SqsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_sqs_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto st = store::Store::Open(dir_ + "/sqs.db");
    ASSERT_TRUE(st.ok()) << st.error().message;
    store_ = std::move(*st);
    clock_.Set(1'700'000'000'000);
    sqs_ = std::make_unique<SqsService>(*store_, clock_);
    ASSERT_TRUE(store_->Migrate(SqsService::Migrations()).ok());
    ASSERT_TRUE(sqs_->Start().ok());
    def_ = sqs_->Definition();
  }
  void TearDown() override {
    sqs_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  wire::CallContext Ctx() {
    wire::CallContext ctx;
    ctx.account_id = "123456789012";
    ctx.region = "us-east-1";
    ctx.caller_user_id = "123456789012";
    ctx.endpoint = "http://localhost:4566";
    ctx.now_millis = clock_.NowMillis();
    return ctx;
  }

  Result<Json> Call(const std::string& op, const Json& in) {
    if (def_.pre_validate) {
      if (Status st = def_.pre_validate(op, in); !st.ok()) return st.take_error();
    }
    if (auto async = def_.async_operations.find(op); async != def_.async_operations.end()) {
      // Answered from the service's pool; the context and input must outlive the answer.
      wire::CallContext ctx = Ctx();
      std::promise<Result<Json>> answer;
      async->second(ctx, in, [&](Result<Json> r) { answer.set_value(std::move(r)); });
      return answer.get_future().get();
    }
    return def_.operations.at(op)(Ctx(), in);
  }

  Json Must(const std::string& op, const Json& in) {
    auto r = Call(op, in);
    EXPECT_TRUE(r.ok()) << op << ": " << (r.ok() ? "" : r.error().code + " " + r.error().message);
    return r.ok() ? *r : Json();
  }

  std::string ErrorCode(const std::string& op, const Json& in) {
    auto r = Call(op, in);
    return r.ok() ? "(ok)" : r.error().code;
  }

  std::string Create(const std::string& name, const Json& attrs = Json::object()) {
    Json in = {{"QueueName", name}};
    if (!attrs.empty()) in["Attributes"] = attrs;
    return Must("CreateQueue", in)["QueueUrl"].get<std::string>();
  }

  Json Receive(const std::string& url, int max = 10, const Json& extra = Json::object()) {
    Json in = {{"QueueUrl", url}, {"MaxNumberOfMessages", max}, {"WaitTimeSeconds", 0}};
    in.update(extra);
    return Must("ReceiveMessage", in).value("Messages", Json::array());
  }

  std::vector<std::string> Bodies(const Json& messages) {
    std::vector<std::string> out;
    for (const auto& m : messages) out.push_back(m["Body"].get<std::string>());
    return out;
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SqsService> sqs_;
  wire::ServiceDef def_;
};

TEST_F(SqsServiceTest, VisibilityTimeoutFollowsTheClock) {
  std::string url = Create("q", {{"VisibilityTimeout", "30"}});
  Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "hello"}});
  Json first = Receive(url);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(Receive(url).empty());
  clock_.Advance(29'000);
  EXPECT_TRUE(Receive(url).empty());
  clock_.Advance(2'000);
  Json again = Receive(url, 1, {{"AttributeNames", {"All"}}});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]["Attributes"]["ApproximateReceiveCount"], "2");
  EXPECT_NE(again[0]["ReceiptHandle"], first[0]["ReceiptHandle"]);
  // ChangeMessageVisibility to 0 makes it visible at once; delete removes it for good.
  Must("ChangeMessageVisibility",
       {{"QueueUrl", url}, {"ReceiptHandle", again[0]["ReceiptHandle"]}, {"VisibilityTimeout", 0}});
  Json third = Receive(url);
  ASSERT_EQ(third.size(), 1u);
  Must("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", third[0]["ReceiptHandle"]}});
  clock_.Advance(60'000);
  EXPECT_TRUE(Receive(url).empty());
  EXPECT_EQ(ErrorCode("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", "garbage"}}),
            "ReceiptHandleIsInvalid");
}

TEST_F(SqsServiceTest, DelayAndCounts) {
  std::string url = Create("q");
  Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "now"}});
  Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "later"}, {"DelaySeconds", 5}});
  Json attrs = Must("GetQueueAttributes", {{"QueueUrl", url}, {"AttributeNames", {"All"}}});
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessages"], "1");
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"], "1");
  EXPECT_EQ(Bodies(Receive(url)), std::vector<std::string>{"now"});
  attrs = Must("GetQueueAttributes", {{"QueueUrl", url}, {"AttributeNames", {"All"}}});
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "1");
  clock_.Advance(5'000);
  EXPECT_EQ(Bodies(Receive(url)), std::vector<std::string>{"later"});
}

TEST_F(SqsServiceTest, RetentionExpiry) {
  std::string url = Create("q", {{"MessageRetentionPeriod", "60"}});
  Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "old"}});
  clock_.Advance(30'000);
  Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "new"}});
  clock_.Advance(31'000);
  EXPECT_EQ(Bodies(Receive(url)), std::vector<std::string>{"new"});
  clock_.Advance(60'000);
  ASSERT_TRUE(sqs_->messages().Sweep(clock_.NowMillis()).ok());
  Json attrs = Must("GetQueueAttributes", {{"QueueUrl", url}, {"AttributeNames", {"All"}}});
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "0");
}

TEST_F(SqsServiceTest, FifoOrderBlockingAndDedupWindow) {
  std::string url =
      Create("q.fifo", {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}});
  for (const char* b : {"g1-m1", "g2-m1", "g1-m2", "g1-m3"}) {
    std::string group = std::string(b).substr(0, 2);
    Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", b}, {"MessageGroupId", group}});
  }
  // Messages of a group come together, in order.
  Json got = Receive(url, 2);
  EXPECT_EQ(Bodies(got), (std::vector<std::string>{"g1-m1", "g1-m2"}));
  // Group 1 is blocked while in flight.
  EXPECT_EQ(Bodies(Receive(url)), std::vector<std::string>{"g2-m1"});
  EXPECT_TRUE(Receive(url).empty());
  Must("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", got[0]["ReceiptHandle"]}});
  Must("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", got[1]["ReceiptHandle"]}});
  EXPECT_EQ(Bodies(Receive(url)), std::vector<std::string>{"g1-m3"});
  // Content-based deduplication: same body within 5 minutes is accepted but not enqueued.
  Json a =
      Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "dup"}, {"MessageGroupId", "g"}});
  Json b =
      Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "dup"}, {"MessageGroupId", "g"}});
  EXPECT_EQ(a["MessageId"], b["MessageId"]);
  EXPECT_EQ(a["SequenceNumber"], b["SequenceNumber"]);
  clock_.Advance(301'000);
  Json c =
      Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "dup"}, {"MessageGroupId", "g"}});
  EXPECT_NE(a["MessageId"], c["MessageId"]);
  EXPECT_LT(a["SequenceNumber"].get<std::string>(), c["SequenceNumber"].get<std::string>());
}

TEST_F(SqsServiceTest, FifoExpiredReceiptHandle) {
  std::string url = Create("q.fifo", {{"FifoQueue", "true"}, {"VisibilityTimeout", "10"}});
  Must("SendMessage", {{"QueueUrl", url},
                       {"MessageBody", "x"},
                       {"MessageGroupId", "g"},
                       {"MessageDeduplicationId", "d"}});
  Json got = Receive(url);
  ASSERT_EQ(got.size(), 1u);
  clock_.Advance(11'000);
  EXPECT_EQ(
      ErrorCode("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", got[0]["ReceiptHandle"]}}),
      "InvalidParameterValue");
}

TEST_F(SqsServiceTest, ReceiveRequestAttemptIdReplays) {
  std::string url =
      Create("q.fifo", {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}});
  Must("SendMessage", {{"QueueUrl", url}, {"MessageBody", "x"}, {"MessageGroupId", "g"}});
  Json first = Receive(url, 1, {{"ReceiveRequestAttemptId", "attempt-1"}});
  Json second = Receive(url, 1, {{"ReceiveRequestAttemptId", "attempt-1"}});
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(first[0]["ReceiptHandle"], second[0]["ReceiptHandle"]);
  EXPECT_TRUE(Receive(url, 1, {{"ReceiveRequestAttemptId", "attempt-2"}}).empty());
}

TEST_F(SqsServiceTest, DeadLetterRedriveAndMoveBack) {
  std::string dlq = Create("dlq");
  std::string arn = "arn:aws:sqs:us-east-1:123456789012:dlq";
  std::string src = Create(
      "src",
      {{"VisibilityTimeout", "0"},
       {"RedrivePolicy", Json{{"deadLetterTargetArn", arn}, {"maxReceiveCount", 2}}.dump()}});
  Must("SendMessage", {{"QueueUrl", src}, {"MessageBody", "poison"}});
  EXPECT_EQ(Receive(src).size(), 1u);
  EXPECT_EQ(Receive(src).size(), 1u);
  EXPECT_TRUE(Receive(src).empty());  // third receive moves it
  Json moved = Receive(dlq, 1, {{"AttributeNames", {"All"}}});
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0]["Attributes"]["DeadLetterQueueSourceArn"],
            "arn:aws:sqs:us-east-1:123456789012:src");
  EXPECT_EQ(moved[0]["Attributes"]["ApproximateReceiveCount"], "3");
  Json sources = Must("ListDeadLetterSourceQueues", {{"QueueUrl", dlq}});
  EXPECT_EQ(sources["queueUrls"], Json::array({src}));
  clock_.Advance(31'000);  // the DLQ's default visibility timeout
  auto n = sqs_->messages().Redrive({"123456789012", "us-east-1", "dlq"}, std::nullopt, 10,
                                    clock_.NowMillis());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(Bodies(Receive(src)), std::vector<std::string>{"poison"});
}

TEST_F(SqsServiceTest, SendToQueueArnInProcess) {
  std::string url = Create("target");
  std::string fifo =
      Create("target.fifo", {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}});
  Json attrs = {{"Type", {{"DataType", "String"}, {"StringValue", "Notification"}}}};
  auto id =
      sqs_->SendToQueueArn("arn:aws:sqs:us-east-1:123456789012:target", "from sns", attrs, "", "");
  ASSERT_TRUE(id.ok()) << id.error().message;
  Json got = Receive(url, 1, {{"MessageAttributeNames", {"All"}}});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["MessageId"], *id);
  EXPECT_EQ(got[0]["MessageAttributes"], attrs);
  EXPECT_EQ(got[0]["MD5OfMessageAttributes"], AttributesMd5(attrs));
  auto missing =
      sqs_->SendToQueueArn("arn:aws:sqs:us-east-1:123456789012:nope", "x", Json(), "", "");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "AWS.SimpleQueueService.NonExistentQueue");
  EXPECT_FALSE(sqs_->SendToQueueArn("not-an-arn", "x", Json(), "", "").ok());
  auto no_group =
      sqs_->SendToQueueArn("arn:aws:sqs:us-east-1:123456789012:target.fifo", "x", Json(), "", "");
  ASSERT_FALSE(no_group.ok());
  EXPECT_EQ(no_group.error().code, "MissingParameter");
  auto a =
      sqs_->SendToQueueArn("arn:aws:sqs:us-east-1:123456789012:target.fifo", "x", Json(), "g", "");
  auto b =
      sqs_->SendToQueueArn("arn:aws:sqs:us-east-1:123456789012:target.fifo", "x", Json(), "g", "");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);  // deduplicated by content
  EXPECT_EQ(Receive(fifo).size(), 1u);
}

TEST_F(SqsServiceTest, ErrorsChangeNothing) {
  std::string url = Create("q");
  EXPECT_EQ(ErrorCode("CreateQueue", {{"QueueName", "q"}, {"Attributes", {{"DelaySeconds", "5"}}}}),
            "QueueAlreadyExists");
  EXPECT_EQ(ErrorCode("CreateQueue", {{"QueueName", "bad name"}}), "InvalidParameterValue");
  EXPECT_EQ(ErrorCode("CreateQueue", {{"QueueName", "x"}, {"Attributes", {{"Bogus", "1"}}}}),
            "InvalidAttributeName");
  EXPECT_EQ(ErrorCode("SetQueueAttributes",
                      {{"QueueUrl", url}, {"Attributes", {{"VisibilityTimeout", "99999"}}}}),
            "InvalidAttributeValue");
  EXPECT_EQ(ErrorCode("SendMessage", {{"QueueUrl", url}, {"MessageBody", ""}}), "MissingParameter");
  EXPECT_EQ(
      ErrorCode("SendMessage", {{"QueueUrl", "http://h/123456789012/nope"}, {"MessageBody", "x"}}),
      "AWS.SimpleQueueService.NonExistentQueue");
  EXPECT_EQ(ErrorCode("SendMessageBatch", {{"QueueUrl", url}, {"Entries", Json::array()}}),
            "AWS.SimpleQueueService.EmptyBatchRequest");
  EXPECT_EQ(ErrorCode("PurgeQueue", {{"QueueUrl", url}}), "(ok)");
  EXPECT_EQ(ErrorCode("PurgeQueue", {{"QueueUrl", url}}),
            "AWS.SimpleQueueService.PurgeQueueInProgress");
  clock_.Advance(61'000);
  EXPECT_EQ(ErrorCode("PurgeQueue", {{"QueueUrl", url}}), "(ok)");
  Json attrs = Must("GetQueueAttributes", {{"QueueUrl", url}, {"AttributeNames", {"All"}}});
  EXPECT_EQ(attrs["Attributes"]["VisibilityTimeout"], "30");
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessages"], "0");
}

}  // namespace
}  // namespace gc::sqs
