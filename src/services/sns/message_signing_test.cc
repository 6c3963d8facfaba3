#include "services/sns/message_signing.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace gc::sns {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// An independent verifier: Python's `cryptography`, with the string to sign rebuilt from AWS's
// documentation ("Verifying the signatures of Amazon SNS messages"), not from our C++.
// Reads a JSON array of messages; prints VALID or INVALID per message, one a line; exits 3 when
// the package is missing.
constexpr char kVerifier[] = R"PY(
import base64, json, sys
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
except ImportError:
    print("NOCRYPTO")
    sys.exit(3)

with open(sys.argv[1], encoding="utf-8") as f:
    messages = json.load(f)
with open(sys.argv[2], "rb") as f:
    cert = x509.load_pem_x509_certificate(f.read())

for msg in messages:
    # The signed fields, in this order; Subject only when the notification has one.
    if msg["Type"] == "Notification":
        fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                  "Type"]
    text = "".join(f"{k}\n{msg[k]}\n" for k in fields if k in msg)
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[msg["SignatureVersion"]]
    try:
        cert.public_key().verify(base64.b64decode(msg["Signature"]), text.encode("utf-8"),
                                 padding.PKCS1v15(), algorithm)
        print("VALID")
    except InvalidSignature:
        print("INVALID")
)PY";

class MessageSigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/sns_signing_test.XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    std::ofstream(dir_ / "verify.py") << kVerifier;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Signer> Load() {
    auto signer = Signer::LoadOrCreate((dir_ / "keys").string());
    EXPECT_TRUE(signer.ok()) << (signer.ok() ? "" : signer.error().message);
    return signer.ok() ? std::move(signer).value() : nullptr;
  }

  // Runs the Python verifier on `messages` with the signer's certificate: VALID / INVALID per
  // message, one a line.
  std::string VerifyAll(const Signer& signer, const Json& messages) {
    std::ofstream(dir_ / "message.json") << messages.dump();
    std::ofstream(dir_ / "cert.pem") << signer.cert_pem();
    const std::string cmd = "python3 " + (dir_ / "verify.py").string() + " " +
                            (dir_ / "message.json").string() + " " + (dir_ / "cert.pem").string() +
                            " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return "popen failed";
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  std::string Verify(const Signer& signer, const Json& message) {
    return VerifyAll(signer, Json::array({message}));
  }

  fs::path dir_;
};

NotificationParams Sample() {
  NotificationParams p;
  p.topic_arn = "arn:aws:sns:us-east-1:123456789012:MyTopic";
  p.message_id = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324";
  p.message = "Hello \"world\"\nline two, ünïcødé ✓ 🚀";
  p.subject = "My First Message";
  p.timestamp_millis = 1335473104751;  // 2012-04-26T20:45:04.751Z
  p.signing_cert_url = "https://localhost:4566/_groundcrew/sns/SimpleNotificationService.pem";
  p.unsubscribe_url =
      "https://localhost:4566/_groundcrew/sns/unsubscribe?Action=Unsubscribe&SubscriptionArn="
      "arn:aws:sns:us-east-1:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96";
  p.message_attributes = {{"store", {{"DataType", "String"}, {"StringValue", "example_corp"}}},
                          {"price", {{"DataType", "Number"}, {"StringValue", "10.5"}}},
                          {"blob", {{"DataType", "Binary"}, {"BinaryValue", "AAEC"}}}};
  return p;
}

TEST_F(MessageSigningTest, CreatesKeyOnceAndReusesIt) {
  auto first = Load();
  ASSERT_NE(first, nullptr);
  const fs::path key = dir_ / "keys" / "sns-signing-key.pem";
  ASSERT_TRUE(fs::exists(key));
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(first->cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));

  auto second = Load();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->cert_pem(), first->cert_pem());

  // A lost certificate is made again for the same key: old signatures still verify.
  const Json doc = first->BuildNotification(Sample(), 2);
  fs::remove(dir_ / "keys" / "sns-signing-cert.pem");
  auto third = Load();
  ASSERT_NE(third, nullptr);
  EXPECT_NE(third->cert_pem(), first->cert_pem());
  EXPECT_EQ(Verify(*third, doc), "VALID");
}

TEST_F(MessageSigningTest, OpenForServerMakesTheKeyInTheBackgroundAndSignsOnceItIsThere) {
  const fs::path keys = dir_ / "server-keys";
  auto opened = Signer::OpenForServer(keys.string());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_TRUE(fs::is_directory(keys)) << "the directory is made before it returns";
  // The first signature waits for the key; the files are on disk by then.
  const Json doc = (*opened)->BuildNotification(Sample(), 1);
  EXPECT_FALSE(doc["Signature"].get<std::string>().empty());
  EXPECT_TRUE(fs::exists(keys / "sns-signing-key.pem"));
  EXPECT_EQ(Verify(**opened, doc), "VALID");
  // The next start loads the same key and certificate.
  const std::string cert = (*opened)->cert_pem();
  auto again = Signer::OpenForServer(keys.string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->cert_pem(), cert);
  // An unwritable place is an error at once, not on the first Publish.
  auto bad = Signer::OpenForServer("/proc/no-such-dir/keys");
  EXPECT_FALSE(bad.ok());
}

TEST_F(MessageSigningTest, RejectsCertificateOfAnotherKey) {
  ASSERT_NE(Load(), nullptr);
  const fs::path other = dir_ / "other";
  ASSERT_TRUE(Signer::LoadOrCreate(other.string()).ok());
  fs::copy_file(other / "sns-signing-cert.pem", dir_ / "keys" / "sns-signing-cert.pem",
                fs::copy_options::overwrite_existing);
  auto signer = Signer::LoadOrCreate((dir_ / "keys").string());
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.error().code, "InternalFailure");
}

TEST_F(MessageSigningTest, NotificationDocument) {
  auto signer = Load();
  ASSERT_NE(signer, nullptr);
  NotificationParams p = Sample();
  Json doc = signer->BuildNotification(p, 1);
  EXPECT_EQ(doc["Type"], "Notification");
  EXPECT_EQ(doc["MessageId"], p.message_id);
  EXPECT_EQ(doc["TopicArn"], p.topic_arn);
  EXPECT_EQ(doc["Subject"], p.subject);
  EXPECT_EQ(doc["Message"], p.message);
  EXPECT_EQ(doc["Timestamp"], "2012-04-26T20:45:04.751Z");
  EXPECT_EQ(doc["SignatureVersion"], "1");
  EXPECT_EQ(doc["SigningCertURL"], p.signing_cert_url);
  EXPECT_EQ(doc["UnsubscribeURL"], p.unsubscribe_url);
  EXPECT_EQ(doc["MessageAttributes"],
            Json::parse(R"({"store": {"Type": "String", "Value": "example_corp"},
                            "price": {"Type": "Number", "Value": "10.5"},
                            "blob": {"Type": "Binary", "Value": "AAEC"}})"));
  EXPECT_FALSE(doc.contains("SequenceNumber"));

  p.subject.clear();
  p.message_attributes = nullptr;
  p.sequence_number = "10000000000000003000";
  doc = signer->BuildNotification(p, 2);
  EXPECT_FALSE(doc.contains("Subject"));
  EXPECT_FALSE(doc.contains("MessageAttributes"));
  EXPECT_EQ(doc["SequenceNumber"], "10000000000000003000");
  EXPECT_EQ(doc["SignatureVersion"], "2");
}

TEST_F(MessageSigningTest, StringToSignFollowsAwsRules) {
  Json n = {{"Type", "Notification"}, {"MessageId", "id"}, {"TopicArn", "arn"},
            {"Message", "m"},         {"Timestamp", "t"},  {"SignatureVersion", "1"},
            {"UnsubscribeURL", "u"},  {"Subject", "s"}};
  EXPECT_EQ(Signer::StringToSign(n),
            "Message\nm\nMessageId\nid\nSubject\ns\nTimestamp\nt\nTopicArn\narn\nType\n"
            "Notification\n");
  n.erase("Subject");
  EXPECT_EQ(Signer::StringToSign(n),
            "Message\nm\nMessageId\nid\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n");
  Json c = {{"Type", "SubscriptionConfirmation"},
            {"MessageId", "id"},
            {"Token", "tok"},
            {"TopicArn", "arn"},
            {"Message", "m"},
            {"SubscribeURL", "url"},
            {"Timestamp", "t"},
            {"Subject", "ignored"}};
  EXPECT_EQ(Signer::StringToSign(c),
            "Message\nm\nMessageId\nid\nSubscribeURL\nurl\nTimestamp\nt\nToken\ntok\nTopicArn\n"
            "arn\nType\nSubscriptionConfirmation\n");
}

TEST_F(MessageSigningTest, SignaturesVerifyIndependently) {
  auto signer = Load();
  ASSERT_NE(signer, nullptr);
  // Each case: a message and whether its signature must verify. Verified in one Python run.
  std::vector<std::pair<std::string, Json>> valid, invalid;
  for (int version : {1, 2}) {
    const std::string v = " v" + std::to_string(version);
    NotificationParams p = Sample();
    const Json doc = signer->BuildNotification(p, version);
    valid.emplace_back("notification" + v, doc);

    // Without a Subject, the string to sign leaves it out.
    p.subject.clear();
    valid.emplace_back("no subject" + v, signer->BuildNotification(p, version));

    // Tampering with any signed field breaks the signature...
    for (const char* field : {"Message", "Subject", "Timestamp", "MessageId", "TopicArn"}) {
      Json tampered = doc;
      tampered[field] = tampered[field].get<std::string>() + "x";
      invalid.emplace_back(std::string("tampered ") + field + v, tampered);
    }
    Json tampered = doc;
    tampered.erase("Subject");
    invalid.emplace_back("subject removed" + v, tampered);
    // ... but not the unsigned ones.
    tampered = doc;
    tampered["UnsubscribeURL"] = "https://elsewhere.example/";
    tampered["MessageAttributes"] = Json::object();
    valid.emplace_back("unsigned fields changed" + v, tampered);
    // The version names the hash: a v1 signature is not a v2 one.
    tampered = doc;
    tampered["SignatureVersion"] = version == 1 ? "2" : "1";
    invalid.emplace_back("other version" + v, tampered);

    Json sub = signer->BuildSubscriptionConfirmation(
        p.topic_arn, "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "2336412f37fb687f5d51e6e2425a8a58",
        "https://localhost:4566/_groundcrew/sns/confirm?Action=ConfirmSubscription&TopicArn=" +
            p.topic_arn + "&Token=2336412f37fb687f5d51e6e2425a8a58",
        p.signing_cert_url, p.timestamp_millis, version);
    valid.emplace_back("subscription confirmation" + v, sub);
    sub["Token"] = "0000";
    invalid.emplace_back("subscription confirmation, token changed" + v, sub);

    Json unsub = signer->BuildUnsubscribeConfirmation(
        p.topic_arn, p.topic_arn + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55", "47138184-6831",
        "2336412f37fb687f5d51e6e2425a8a58", "https://localhost:4566/resubscribe",
        p.signing_cert_url, p.timestamp_millis, version);
    valid.emplace_back("unsubscribe confirmation" + v, unsub);
    unsub["SubscribeURL"] = "https://evil.example/";
    invalid.emplace_back("unsubscribe confirmation, URL changed" + v, unsub);
  }
  Json all = Json::array();
  for (const auto& [name, doc] : valid) all.push_back(doc);
  for (const auto& [name, doc] : invalid) all.push_back(doc);
  const std::string out = VerifyAll(*signer, all);
  if (out == "NOCRYPTO") GTEST_SKIP() << "python3 with the cryptography package is missing";
  std::istringstream lines(out);
  std::string line;
  for (const auto& [name, doc] : valid) {
    ASSERT_TRUE(std::getline(lines, line)) << out;
    EXPECT_EQ(line, "VALID") << name;
  }
  for (const auto& [name, doc] : invalid) {
    ASSERT_TRUE(std::getline(lines, line)) << out;
    EXPECT_EQ(line, "INVALID") << name;
  }
  EXPECT_FALSE(std::getline(lines, line)) << out;
}

TEST_F(MessageSigningTest, ConfirmationDocuments) {
  auto signer = Load();
  ASSERT_NE(signer, nullptr);
  const std::string arn = "arn:aws:sns:us-west-2:123456789012:MyTopic";
  Json sub = signer->BuildSubscriptionConfirmation(arn, "mid", "tok", "https://x/confirm",
                                                   "https://x/cert.pem", 0, 1);
  EXPECT_EQ(sub["Type"], "SubscriptionConfirmation");
  EXPECT_EQ(sub["Message"],
            "You have chosen to subscribe to the topic " + arn +
                ".\nTo confirm the subscription, visit the SubscribeURL included in this "
                "message.");
  EXPECT_EQ(sub["Token"], "tok");
  EXPECT_EQ(sub["TopicArn"], arn);
  EXPECT_EQ(sub["SubscribeURL"], "https://x/confirm");
  EXPECT_EQ(sub["SigningCertURL"], "https://x/cert.pem");
  EXPECT_EQ(sub["Timestamp"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(sub["SignatureVersion"], "1");
  EXPECT_FALSE(sub["Signature"].get<std::string>().empty());
  EXPECT_FALSE(sub.contains("UnsubscribeURL"));

  Json unsub = signer->BuildUnsubscribeConfirmation(
      arn, arn + ":sub-id", "mid", "tok", "https://x/confirm", "https://x/cert.pem", 0, 2);
  EXPECT_EQ(unsub["Type"], "UnsubscribeConfirmation");
  EXPECT_EQ(unsub["Message"],
            "You have chosen to deactivate subscription " + arn +
                ":sub-id.\nTo cancel this operation and restore the subscription, visit the "
                "SubscribeURL included in this message.");
  EXPECT_EQ(unsub["SignatureVersion"], "2");
}

TEST(SnsTimestampTest, IsoWithMilliseconds) {
  EXPECT_EQ(SnsTimestamp(1335473104751), "2012-04-26T20:45:04.751Z");
  EXPECT_EQ(SnsTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(SnsTimestamp(1700000000005), "2023-11-14T22:13:20.005Z");
  EXPECT_EQ(SnsTimestamp(-1), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace gc::sns
