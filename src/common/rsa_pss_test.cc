#include "common/rsa_pss.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

#include "common/crypto.h"

namespace gc::crypto {
namespace {

// A key made and used through OpenSSL directly, so that the code under test is checked against an
// independent signer rather than against itself.
struct OpenSslKey {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  ~OpenSslKey() { EVP_PKEY_free(key); }

  std::string PublicKeyB64() const {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key, &der);
    std::string out = Base64Encode(std::string_view(reinterpret_cast<char*>(der), len));
    OPENSSL_free(der);
    return out;
  }

  // RSASSA-PSS (or PKCS#1 v1.5 when `pss` is false) over SHA-256, base64.
  std::string Sign(std::string_view message, bool pss = true, int salt = 32) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), nullptr, key);
    if (pss) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256());
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt);
    }
    size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(message.data());
    EVP_DigestSign(ctx, nullptr, &len, data, message.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data, message.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return Base64Encode(sig);
  }
};

constexpr std::string_view kStringToSign =
    "AWS4-HMAC-SHA256\n20241016T100000Z\n20241016/us-east-1/ssm/aws4_request\n"
    "0d3c7f3e8a8b4d7e9b471c2f5d6a7e8f0d3c7f3e8a8b4d7e9b471c2f5d6a7e8f";

TEST(RsaPss, VerifiesAnOpenSslPssSignature) {
  OpenSslKey k;
  EXPECT_TRUE(RsaPssVerify(k.PublicKeyB64(), kStringToSign, k.Sign(kStringToSign)));
}

TEST(RsaPss, AcceptsOtherSaltLengthsAsGoVerifyPssAuto) {
  OpenSslKey k;
  EXPECT_TRUE(RsaPssVerify(k.PublicKeyB64(), kStringToSign, k.Sign(kStringToSign, true, 20)));
}

TEST(RsaPss, RefusesTamperedMessageWrongKeyAndPkcs1v15) {
  OpenSslKey k;
  OpenSslKey other;
  std::string sig = k.Sign(kStringToSign);
  std::string tampered(kStringToSign);
  tampered.back() = tampered.back() == 'f' ? 'e' : 'f';
  EXPECT_FALSE(RsaPssVerify(k.PublicKeyB64(), tampered, sig));
  EXPECT_FALSE(RsaPssVerify(other.PublicKeyB64(), kStringToSign, sig));
  EXPECT_FALSE(RsaPssVerify(k.PublicKeyB64(), kStringToSign, k.Sign(kStringToSign, false)));
}

TEST(RsaPss, RefusesMalformedInputWithoutCrashing) {
  OpenSslKey k;
  std::string sig = k.Sign(kStringToSign);
  EXPECT_FALSE(RsaPssVerify("", kStringToSign, sig));
  EXPECT_FALSE(RsaPssVerify("not base64!", kStringToSign, sig));
  EXPECT_FALSE(RsaPssVerify(Base64Encode("garbage der"), kStringToSign, sig));
  EXPECT_FALSE(RsaPssVerify(k.PublicKeyB64(), kStringToSign, ""));
  EXPECT_FALSE(RsaPssVerify(k.PublicKeyB64(), kStringToSign, "@@@@"));
  EXPECT_FALSE(RsaPssVerify(k.PublicKeyB64(), kStringToSign, sig.substr(4)));
}

TEST(RsaPss, GeneratedKeysUseTheAgentsEncodings) {
  RsaKeyPair pair = GenerateRsaKeyPair();
  // The agent's SDK requires PublicKey >= 392 characters: base64 of a 2048-bit SPKI is exactly 392.
  EXPECT_EQ(pair.public_key.size(), 392u);
  EXPECT_TRUE(IsUsableRsaPublicKey(pair.public_key));
  // PKCS#1 RSAPrivateKey DER: SEQUENCE (30 82 len len), INTEGER 0 (02 01 00), then the modulus
  // INTEGER (02); PKCS#8 would have the AlgorithmIdentifier SEQUENCE (30) there.
  auto der = Base64Decode(pair.private_key);
  ASSERT_TRUE(der.has_value());
  ASSERT_GT(der->size(), 8u);
  EXPECT_EQ(der->substr(0, 2), std::string("\x30\x82", 2));
  EXPECT_EQ(der->substr(4, 4), std::string("\x02\x01\x00\x02", 4));

  auto sig = RsaPssSign(pair.private_key, kStringToSign);
  ASSERT_TRUE(sig.has_value());
  EXPECT_TRUE(RsaPssVerify(pair.public_key, kStringToSign, *sig));
  EXPECT_FALSE(RsaPssSign("bad key", kStringToSign).has_value());
}

TEST(RsaPss, SmallKeysAreNotUsable) {
  RsaKeyPair pair = GenerateRsaKeyPair(1024);
  EXPECT_FALSE(IsUsableRsaPublicKey(pair.public_key));
  EXPECT_FALSE(IsUsableRsaPublicKey("AAAA"));
}

}  // namespace
}  // namespace gc::crypto
