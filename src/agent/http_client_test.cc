// The HTTP side of the agent against a tiny loopback HTTP endpoint: error shapes, transport
// failures, timeouts, abort, the exact headers curl sends (so the RSA signature verifies over the
// wire), and registration's retry on 5xx.
#include "agent/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/aws_client.h"
#include "agent/files.h"
#include "agent/registration.h"
#include "agent/signing.h"
#include "common/rsa_pss.h"
#include "wire/sigv4.h"

namespace gc::agent {
namespace {

using json = nlohmann::json;

struct Captured {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One request per connection; answers each with the next scripted (status, body), or holds the
// connection open without answering when the status is 0.
class TinyServer {
 public:
  TinyServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int c : held_) ::close(c);
  }
  void Answer(int status, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.emplace_back(status, std::move(body));
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  std::vector<Captured> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string data;
      char buf[8192];
      size_t header_end = std::string::npos;
      size_t content_length = 0;
      for (;;) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
        if (header_end == std::string::npos) {
          header_end = data.find("\r\n\r\n");
          if (header_end != std::string::npos) {
            std::string lower = data.substr(0, header_end);
            for (char& ch : lower) ch = static_cast<char>(std::tolower(ch));
            size_t cl = lower.find("content-length:");
            if (cl != std::string::npos) content_length = std::stoul(lower.substr(cl + 15));
          }
        }
        if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) {
          break;
        }
      }
      Captured req;
      if (header_end != std::string::npos) {
        std::string head = data.substr(0, header_end);
        size_t line_end = head.find("\r\n");
        std::string first = head.substr(0, line_end);
        req.method = first.substr(0, first.find(' '));
        req.target = first.substr(first.find(' ') + 1, first.rfind(' ') - first.find(' ') - 1);
        size_t pos = line_end + 2;
        while (line_end != std::string::npos && pos < head.size()) {
          size_t e = head.find("\r\n", pos);
          std::string line = head.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
          size_t colon = line.find(':');
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          req.headers.emplace_back(line.substr(0, colon), value);
          if (e == std::string::npos) break;
          pos = e + 2;
        }
        req.body = data.substr(header_end + 4);
      }
      std::pair<int, std::string> answer{500, "{}"};
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req);
        if (!script_.empty()) {
          answer = script_.front();
          script_.pop_front();
        }
      }
      if (answer.first == 0) {
        held_.push_back(c);  // never answered
        continue;
      }
      std::string resp = "HTTP/1.1 " + std::to_string(answer.first) +
                         " X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: " +
                         std::to_string(answer.second.size()) + "\r\nConnection: close\r\n\r\n" +
                         answer.second;
      [[maybe_unused]] ssize_t w = ::write(c, resp.data(), resp.size());
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::deque<std::pair<int, std::string>> script_;
  std::vector<Captured> requests_;
  std::vector<int> held_;
};

AwsJsonClient Client(const TinyServer& server, const Clock& clock) {
  auto ep = ParseEndpoint(server.url());
  EXPECT_TRUE(ep.ok());
  return AwsJsonClient(*ep, "us-east-1", HttpOptions{"", "groundcrew-agent/test", 2000}, clock);
}

TEST(EndpointTest, Parse) {
  auto ep = ParseEndpoint("https://gc.example:8443");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->url, "https://gc.example:8443/");
  EXPECT_EQ(ep->authority, "gc.example:8443");
  EXPECT_EQ(ep->path, "/");
  EXPECT_TRUE(ParseEndpoint("HTTP://[::1]:4566/").ok());
  EXPECT_FALSE(ParseEndpoint("gc.example:8443").ok());
  EXPECT_FALSE(ParseEndpoint("ftp://gc.example").ok());
  EXPECT_FALSE(ParseEndpoint("https://").ok());
  EXPECT_FALSE(ParseEndpoint("https://h/?a=b").ok());
}

TEST(AwsJsonClientTest, SendsJson11AndParsesErrors) {
  TinyServer server;
  server.Answer(200, R"({"InstanceId":"mi-0123456789abcdef0"})");
  server.Answer(400, R"({"__type":"com.amazonaws.ssm#InvalidActivation","message":"bad code"})");
  server.Answer(503, "not json");
  SystemClock clock;
  AwsJsonClient client = Client(server, clock);

  auto ok = client.Call("AmazonSSM.RegisterManagedInstance", json{{"A", 1}}, "ssm",
                        AnonymousSigner(), 5000);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ((*ok)["InstanceId"], "mi-0123456789abcdef0");

  auto bad = client.Call("AmazonSSM.RegisterManagedInstance", json::object(), "ssm",
                         AnonymousSigner(), 5000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "InvalidActivation");
  EXPECT_EQ(bad.error().message, "bad code");
  EXPECT_EQ(bad.error().http_status, 400);
  EXPECT_FALSE(IsRetryable(bad.error()));

  auto down = client.Call("AmazonSSM.X", json::object(), "ssm", AnonymousSigner(), 5000);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().http_status, 503);
  EXPECT_TRUE(IsRetryable(down.error()));

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/");
  EXPECT_EQ(reqs[0].body, R"({"A":1})");
  std::map<std::string, std::string> h;
  for (const auto& [k, v] : reqs[0].headers) h[k] = v;
  EXPECT_EQ(h["Content-Type"], "application/x-amz-json-1.1");
  EXPECT_EQ(h["X-Amz-Target"], "AmazonSSM.RegisterManagedInstance");
  EXPECT_EQ(h.count("Authorization"), 0u);  // §1.2: unsigned
  EXPECT_EQ(h.count("X-Amz-Date"), 0u);
  EXPECT_EQ(h.count("Accept"), 0u);
  EXPECT_EQ(h["User-Agent"], "groundcrew-agent/test");
}

TEST(AwsJsonClientTest, RsaSignatureVerifiesOverTheWire) {
  TinyServer server;
  server.Answer(200, "{}");
  SystemClock clock;
  AwsJsonClient client = Client(server, clock);
  const crypto::RsaKeyPair keys = crypto::GenerateRsaKeyPair(2048);
  RsaSigner signer(keys.private_key, "mi-0123456789abcdef0");
  ASSERT_TRUE(client
                  .Call("AmazonSSM.RequestManagedInstanceRoleToken", json{{"Fingerprint", "f"}},
                        "ssm", signer, 5000)
                  .ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  // Rebuild the request from what arrived and verify it as the server does.
  sigv4::Request got{reqs[0].method, reqs[0].target, reqs[0].headers, reqs[0].body};
  sigv4::VerifyOptions options;
  options.now_millis = clock.NowMillis();
  auto result = sigv4::VerifyWithSignatureCheck(
      got,
      [&](std::string_view, std::string_view sts, std::string_view sig) {
        return crypto::RsaPssVerify(keys.public_key, sts, sig)
                   ? sigv4::SignatureCheckResult::kMatch
                   : sigv4::SignatureCheckResult::kMismatch;
      },
      options);
  ASSERT_TRUE(std::holds_alternative<sigv4::Identity>(result))
      << std::get<sigv4::Error>(result).message;
}

TEST(AwsJsonClientTest, TransportFailures) {
  SystemClock clock;
  int port = 0;
  {
    TinyServer gone;  // take a free port, then close it
    port = std::stoi(gone.url().substr(17));
  }
  auto ep = ParseEndpoint("http://127.0.0.1:" + std::to_string(port) + "/");
  AwsJsonClient refused(*ep, "us-east-1", HttpOptions{}, clock);
  auto r = refused.Call("AmazonSSM.X", json::object(), "ssm", AnonymousSigner(), 2000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().http_status, 0);
  EXPECT_EQ(r.error().code, kNetworkError);
  EXPECT_TRUE(IsRetryable(r.error()));

  TinyServer silent;
  silent.Answer(0, "");
  AwsJsonClient slow = Client(silent, clock);
  const auto start = std::chrono::steady_clock::now();
  r = slow.Call("AmazonSSM.X", json::object(), "ssm", AnonymousSigner(), 500);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kRequestTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));

  silent.Answer(0, "");
  std::atomic<bool> abort{false};
  slow.set_abort_flag(&abort);
  std::thread raiser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    abort = true;
  });
  const auto start2 = std::chrono::steady_clock::now();
  r = slow.Call("AmazonSSM.X", json::object(), "ssm", AnonymousSigner(), 20000);
  raiser.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kAborted);
  EXPECT_LT(std::chrono::steady_clock::now() - start2, std::chrono::seconds(3));
}

TEST(RegistrationTest, RetriesServerErrorsThenStoresTheIdentity) {
  TinyServer server;
  server.Answer(500, R"({"__type":"InternalServerError","message":"busy"})");
  server.Answer(200, R"({"InstanceId":"mi-0123456789abcdef0"})");
  char tmpl[] = "/tmp/gc_agent_reg_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  RegisterOptions opt;
  opt.endpoint = server.url();
  opt.activation_code = "code-of-twenty-chars!";
  opt.activation_id = "5ee2a5c6-1f2b-4a77-9d0e-4b1f3c2d1e0f";
  opt.region = "us-east-1";
  opt.state_dir = std::string(tmpl) + "/state";
  SystemClock clock;
  auto id = Register(opt, clock);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(id->instance_id, "mi-0123456789abcdef0");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  json body = json::parse(reqs[1].body);
  EXPECT_EQ(body["ActivationCode"], opt.activation_code);
  EXPECT_EQ(body["ActivationId"], opt.activation_id);
  EXPECT_EQ(body["PublicKeyType"], "Rsa");
  EXPECT_EQ(body["PublicKey"].get<std::string>().size(), 392u);
  EXPECT_EQ(body["Fingerprint"].get<std::string>().size(), 36u);
  auto stored = LoadIdentity(opt.state_dir);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->public_key, body["PublicKey"]);
  EXPECT_EQ(stored->fingerprint, body["Fingerprint"]);

  // A refusal is final: no retry.
  server.Answer(400, R"({"__type":"InvalidActivation","message":"expired or used up"})");
  auto refused = Register(opt, clock);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "InvalidActivation");
  EXPECT_EQ(server.requests().size(), 3u);
  RemoveTree(tmpl);
}

}  // namespace
}  // namespace gc::agent
