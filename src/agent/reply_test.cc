// SendReply payloads (§2.5), output truncation and status aggregation (§2.6).
#include "agent/reply.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gc::agent {
namespace {

using json = nlohmann::json;

const std::string kTitle = "\n----------ERROR-------\n";
const std::string kOutCut = "\n---Output truncated---";
const std::string kErrCut = "\n---Error truncated----";

TEST(TruncateOutputTest, FitsWhole) {
  EXPECT_EQ(TruncateOutput("hello\n", "", 2500), "hello\n");
  EXPECT_EQ(TruncateOutput("out", "err", 2500), "out" + kTitle + "err");
  EXPECT_EQ(TruncateOutput("", "err", 2500), kTitle + "err");
}

TEST(TruncateOutputTest, BothLong) {
  const std::string out(3000, 'o');
  const std::string err(3000, 'e');
  const std::string r = TruncateOutput(out, err, 2500);
  const size_t available = 2500 - kTitle.size();
  const size_t half = (available - kOutCut.size() - kErrCut.size()) / 2;
  EXPECT_EQ(r, std::string(half, 'o') + kOutCut + kTitle + std::string(half, 'e') + kErrCut);
  EXPECT_LE(r.size(), 2500u);
}

TEST(TruncateOutputTest, ShortOutputLongError) {
  const std::string out(100, 'o');
  const std::string err(5000, 'e');
  const std::string r = TruncateOutput(out, err, 2500);
  const size_t available = 2500 - kTitle.size();
  EXPECT_EQ(r, out + kTitle + std::string(available - kErrCut.size() - 100, 'e') + kErrCut);
  EXPECT_EQ(r.size(), 2500u);
}

TEST(TruncateOutputTest, LongOutputShortError) {
  const std::string out(5000, 'o');
  const std::string err(100, 'e');
  const std::string r = TruncateOutput(out, err, 2500);
  const size_t available = 2500 - kTitle.size();
  EXPECT_EQ(r, std::string(available - kOutCut.size() - 100, 'o') + kOutCut + kTitle + err);
  EXPECT_EQ(r.size(), 2500u);
}

TEST(TruncateOutputTest, OutputOnlyAtTheLimit) {
  // No stderr: the whole capacity is available; an output of exactly 2500 does not fit ("<").
  EXPECT_EQ(TruncateOutput(std::string(2499, 'o'), "", 2500), std::string(2499, 'o'));
  const std::string r = TruncateOutput(std::string(2500, 'o'), "", 2500);
  EXPECT_EQ(r, std::string(2500 - kOutCut.size(), 'o') + kOutCut);
}

TEST(StringPrefixTest, CutsWithSuffixInsideTheLimit) {
  EXPECT_EQ(StringPrefix("abc", 24000, "--output truncated--"), "abc");
  const std::string at_limit(24000, 'x');
  const std::string r = StringPrefix(at_limit, 24000, "--output truncated--");
  EXPECT_EQ(r.size(), 24000u);
  EXPECT_TRUE(r.ends_with("--output truncated--"));
  EXPECT_EQ(StringPrefix(std::string(23999, 'x'), 24000, "--output truncated--").size(), 23999u);
  EXPECT_EQ(StringPrefix("abcdef", 3, "--output truncated--"), "--o");
}

TEST(AggregateStatusTest, Section26Order) {
  EXPECT_EQ(AggregateStatus({"Success", "Skipped"}), "Success");
  EXPECT_EQ(AggregateStatus({"Success", "Failed", "TimedOut"}), "Failed");
  EXPECT_EQ(AggregateStatus({"TimedOut", "Cancelled"}), "TimedOut");
  EXPECT_EQ(AggregateStatus({"Cancelled", "Success"}), "Cancelled");
  EXPECT_EQ(AggregateStatus({"Failed", "SuccessAndReboot"}), "SuccessAndReboot");
  EXPECT_EQ(AggregateStatus({"Success", "InProgress"}), "InProgress");
  EXPECT_EQ(AggregateStatus({"Skipped"}), "Success");
}

PluginResult Plugin(std::string id, std::string status, int code, std::string out,
                    std::string err = "") {
  PluginResult r;
  r.id = std::move(id);
  r.name = "aws:runShellScript";
  r.status = std::move(status);
  r.code = code;
  r.stdout_text = std::move(out);
  r.stderr_text = std::move(err);
  r.start_millis = 1729072801610;
  r.end_millis = 1729072801655;
  return r;
}

TEST(PayloadTest, InProgressOnReceipt) {
  json p = json::parse(InProgressPayload(1729072801532));
  EXPECT_EQ(p["documentStatus"], "InProgress");
  EXPECT_EQ(p["documentTraceOutput"], "");
  EXPECT_TRUE(p["runtimeStatus"].is_null());
  EXPECT_TRUE(p["additionalInfo"]["runtimeStatusCounts"].is_null());
  EXPECT_EQ(p["additionalInfo"]["dateTime"], "2024-10-16T10:00:01.532Z");
  EXPECT_EQ(p["additionalInfo"]["runId"], "");
  EXPECT_EQ(p["additionalInfo"]["ableToOpenMGSConnection"], false);
  EXPECT_EQ(p["additionalInfo"]["agent"]["name"], "groundcrew-agent");
  EXPECT_EQ(p["additionalInfo"]["agent"]["os"], "linux");
}

TEST(PayloadTest, PluginDoneHoldsOnlyThatPlugin) {
  std::vector<PluginResult> done = {Plugin("first", "Success", 0, "a\n"),
                                    Plugin("second", "Failed", 2, "", "bad\n")};
  json p = json::parse(PluginDonePayload(done, 1729072801700));
  EXPECT_EQ(p["documentStatus"], "InProgress");
  ASSERT_EQ(p["runtimeStatus"].size(), 1u);
  const json& s = p["runtimeStatus"]["second"];
  EXPECT_EQ(s["status"], "Failed");
  EXPECT_EQ(s["code"], 2);
  EXPECT_EQ(s["name"], "aws:runShellScript");
  EXPECT_EQ(s["output"], kTitle + "bad\n");
  EXPECT_EQ(s["standardOutput"], "");
  EXPECT_EQ(s["standardError"], "bad\n");
  EXPECT_EQ(s["startDateTime"], "2024-10-16T10:00:01.610Z");
  EXPECT_EQ(s["endDateTime"], "2024-10-16T10:00:01.655Z");
  EXPECT_EQ(s["outputS3BucketName"], "");
  EXPECT_EQ(s["outputS3KeyPrefix"], "");
  EXPECT_EQ(s["stepName"], "");
  EXPECT_FALSE(s.contains("fullStandardOutput"));
  EXPECT_EQ(p["additionalInfo"]["runtimeStatusCounts"], json({{"Success", 1}, {"Failed", 1}}));
}

TEST(PayloadTest, FinalCarriesTheSinglePluginOnly) {
  json one = json::parse(FinalPayload({Plugin("aws:runShellScript", "Success", 0, "hi\n")}, 1));
  EXPECT_EQ(one["documentStatus"], "Success");
  EXPECT_EQ(one["runtimeStatus"]["aws:runShellScript"]["standardOutput"], "hi\n");

  json two = json::parse(
      FinalPayload({Plugin("a", "Success", 0, ""), Plugin("b", "TimedOut", 137, "")}, 1));
  EXPECT_EQ(two["documentStatus"], "TimedOut");
  EXPECT_TRUE(two["runtimeStatus"].is_object());
  EXPECT_TRUE(two["runtimeStatus"].empty());
  EXPECT_EQ(two["additionalInfo"]["runtimeStatusCounts"], json({{"Success", 1}, {"TimedOut", 1}}));
}

TEST(PayloadTest, FailedWithCodeZeroIsReportedAsOne) {
  json p = json::parse(FinalPayload({Plugin("x", "Failed", 0, "")}, 1));
  EXPECT_EQ(p["runtimeStatus"]["x"]["code"], 1);
}

TEST(PayloadTest, LongStreamsAreCutAndKeptWhole) {
  PluginResult r = Plugin("x", "Success", 0, std::string(30000, 'o'), std::string(9000, 'e'));
  json s = json::parse(FinalPayload({r}, 1))["runtimeStatus"]["x"];
  EXPECT_EQ(s["standardOutput"].get<std::string>().size(), 24000u);
  EXPECT_TRUE(s["standardOutput"].get<std::string>().ends_with("--output truncated--"));
  EXPECT_EQ(s["standardError"].get<std::string>().size(), 8000u);
  EXPECT_EQ(s["output"].get<std::string>().size(), 2500u);
  EXPECT_EQ(s["fullStandardOutput"].get<std::string>().size(), 30000u);
  EXPECT_EQ(s["fullStandardError"].get<std::string>().size(), 9000u);

  json stripped = json::parse(StripFullOutput(FinalPayload({r}, 1)))["runtimeStatus"]["x"];
  EXPECT_FALSE(stripped.contains("fullStandardOutput"));
  EXPECT_FALSE(stripped.contains("fullStandardError"));
  EXPECT_EQ(stripped["standardOutput"], s["standardOutput"]);
}

TEST(PayloadTest, InvalidUtf8IsReplacedNotFatal) {
  PluginResult r = Plugin("x", "Success", 0, std::string("ok \xff\xfe end"));
  json s = json::parse(FinalPayload({r}, 1))["runtimeStatus"]["x"];
  EXPECT_EQ(s["standardOutput"], "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST(PayloadTest, TraceForADocumentThatNeverRan) {
  json p = json::parse(TracePayload("Failed", "payload is not JSON", 1));
  EXPECT_EQ(p["documentStatus"], "Failed");
  EXPECT_EQ(p["documentTraceOutput"], "payload is not JSON");
  EXPECT_TRUE(p["runtimeStatus"].empty());
}

}  // namespace
}  // namespace gc::agent
