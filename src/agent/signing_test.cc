// RSA-signed requests (AGENT_PROTOCOL §1.3) checked three ways: the canonical request spelled out
// by hand, the signature verified with the public key, and the server's own verifier.
#include "agent/signing.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "agent/timefmt.h"
#include "common/crypto.h"
#include "common/rsa_pss.h"
#include "wire/sigv4.h"

namespace gc::agent {
namespace {

constexpr int64_t kNow = 1729072801000;  // 2024-10-16T10:00:01Z

sigv4::Request TokenRequest() {
  sigv4::Request req;
  req.method = "POST";
  req.target = "/";
  req.body = R"({"Fingerprint":"0d3c7f3e-8a8b-4d7e-9b47-1c2f5d6a7e8f"})";
  req.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                 {"Host", "127.0.0.1:4566"},
                 {"X-Amz-Target", "AmazonSSM.RequestManagedInstanceRoleToken"},
                 {"Content-Length", std::to_string(req.body.size())},
                 {"User-Agent", "groundcrew-agent/test"}};
  return req;
}

std::string Header(const sigv4::Request& req, std::string_view name) {
  for (const auto& [k, v] : req.headers) {
    if (k == name) return v;
  }
  return "";
}

const crypto::RsaKeyPair& Keys() {
  static const crypto::RsaKeyPair keys = crypto::GenerateRsaKeyPair(2048);
  return keys;
}

TEST(KeysTest, EncodingsParseBackWithOpenSsl) {
  const auto& keys = Keys();
  EXPECT_EQ(keys.public_key.size(), 392u);  // §1.2: the SDK requires >= 392 characters
  auto spki = crypto::Base64Decode(keys.public_key);
  ASSERT_TRUE(spki);
  const auto* p = reinterpret_cast<const unsigned char*>(spki->data());
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki->size()));
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(pub), 2048);

  // PKCS#1 RSAPrivateKey, not PKCS#8: the type-specific decoder takes it.
  auto pkcs1 = crypto::Base64Decode(keys.private_key);
  ASSERT_TRUE(pkcs1);
  p = reinterpret_cast<const unsigned char*>(pkcs1->data());
  EVP_PKEY* priv = d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(pkcs1->size()));
  ASSERT_NE(priv, nullptr);
  EXPECT_EQ(EVP_PKEY_eq(pub, priv), 1);
  // A PKCS#1 structure starts with SEQUENCE { INTEGER 0 (version), INTEGER n, ... }, while
  // PKCS#8 nests an AlgorithmIdentifier after the version.
  ASSERT_GT(pkcs1->size(), 8u);
  EXPECT_EQ(static_cast<unsigned char>((*pkcs1)[0]), 0x30);
  EXPECT_EQ(static_cast<unsigned char>((*pkcs1)[4]), 0x02);  // version INTEGER
  EXPECT_EQ(static_cast<unsigned char>((*pkcs1)[7]), 0x02);  // modulus INTEGER, not a SEQUENCE
  EVP_PKEY_free(pub);
  EVP_PKEY_free(priv);
}

TEST(RsaSignerTest, CanonicalRequestAndSignatureFollowSection13) {
  sigv4::Request req = TokenRequest();
  RsaSigner signer(Keys().private_key, "mi-0a1b2c3d4e5f67890");
  ASSERT_TRUE(signer.Sign(req, "us-east-1", "ssm", kNow).ok());

  EXPECT_EQ(Header(req, "X-Amz-Date"), "20241016T100001Z");
  const std::string auth = Header(req, "Authorization");
  const std::string prefix =
      "AWS4-HMAC-SHA256 Credential=mi-0a1b2c3d4e5f67890/20241016/us-east-1/ssm/aws4_request, "
      "SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, Signature=";
  ASSERT_EQ(auth.substr(0, prefix.size()), prefix);
  const std::string signature = auth.substr(prefix.size());

  // The canonical request by hand (every header but Authorization and User-Agent).
  const std::string canonical =
      "POST\n/\n\n"
      "content-length:" +
      std::to_string(req.body.size()) +
      "\n"
      "content-type:application/x-amz-json-1.1\n"
      "host:127.0.0.1:4566\n"
      "x-amz-date:20241016T100001Z\n"
      "x-amz-target:AmazonSSM.RequestManagedInstanceRoleToken\n\n"
      "content-length;content-type;host;x-amz-date;x-amz-target\n" +
      crypto::Hex(crypto::Sha256(req.body));
  const std::string string_to_sign =
      "AWS4-HMAC-SHA256\n20241016T100001Z\n"
      "20241016/us-east-1/ssm/aws4_request\n" +
      crypto::Hex(crypto::Sha256(canonical));
  EXPECT_EQ(RsaStringToSign(req, "content-length;content-type;host;x-amz-date;x-amz-target",
                            "20241016/us-east-1/ssm/aws4_request"),
            string_to_sign);

  // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt exactly 32: verified with OpenSSL directly.
  auto sig = crypto::Base64Decode(signature);
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->size(), 256u);
  auto spki = crypto::Base64Decode(Keys().public_key);
  const auto* p = reinterpret_cast<const unsigned char*>(spki->data());
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki->size()));
  ASSERT_NE(pub, nullptr);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  ASSERT_EQ(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), nullptr, pub), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
  EXPECT_EQ(EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                             reinterpret_cast<const unsigned char*>(string_to_sign.data()),
                             string_to_sign.size()),
            1);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pub);

  // A changed body no longer matches.
  EXPECT_FALSE(crypto::RsaPssVerify(Keys().public_key, string_to_sign + "x", signature));
}

TEST(RsaSignerTest, TheServersVerifierAcceptsIt) {
  sigv4::Request req = TokenRequest();
  RsaSigner signer(Keys().private_key, "mi-0a1b2c3d4e5f67890");
  ASSERT_TRUE(signer.Sign(req, "us-east-1", "ssm", kNow).ok());
  sigv4::VerifyOptions options;
  options.now_millis = kNow + 1000;
  auto check = [&](std::string_view key_id, std::string_view sts, std::string_view sig) {
    if (key_id != "mi-0a1b2c3d4e5f67890") return sigv4::SignatureCheckResult::kUnknownKey;
    return crypto::RsaPssVerify(Keys().public_key, sts, sig)
               ? sigv4::SignatureCheckResult::kMatch
               : sigv4::SignatureCheckResult::kMismatch;
  };
  auto result = sigv4::VerifyWithSignatureCheck(req, check, options);
  ASSERT_TRUE(std::holds_alternative<sigv4::Identity>(result))
      << std::get<sigv4::Error>(result).message;
  EXPECT_EQ(std::get<sigv4::Identity>(result).access_key_id, "mi-0a1b2c3d4e5f67890");
  EXPECT_EQ(std::get<sigv4::Identity>(result).service, "ssm");

  req.body += " ";  // tampering is caught
  EXPECT_FALSE(std::holds_alternative<sigv4::Identity>(
      sigv4::VerifyWithSignatureCheck(req, check, options)));
}

TEST(CredentialsSignerTest, StandardSigV4WithSessionToken) {
  sigv4::Request req = TokenRequest();
  sigv4::Credentials creds{"ASIAEXAMPLE", "secret", "token123"};
  CredentialsSigner signer(creds);
  ASSERT_TRUE(signer.Sign(req, "us-east-1", "ec2messages", kNow).ok());
  EXPECT_EQ(Header(req, "X-Amz-Security-Token"), "token123");
  sigv4::VerifyOptions options;
  options.now_millis = kNow;
  auto result = sigv4::Verify(
      req,
      [](std::string_view id) -> std::optional<std::string> {
        if (id == "ASIAEXAMPLE") return std::string("secret");
        return std::nullopt;
      },
      options);
  ASSERT_TRUE(std::holds_alternative<sigv4::Identity>(result));
  EXPECT_EQ(std::get<sigv4::Identity>(result).service, "ec2messages");
}

TEST(TimeFormatTest, Formats) {
  EXPECT_EQ(FormatIsoMillis(1729072801532), "2024-10-16T10:00:01.532Z");
  EXPECT_EQ(FormatIsoMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatAmzDate(1729072801532), "20241016T100001Z");
}

}  // namespace
}  // namespace gc::agent
