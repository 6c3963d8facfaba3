#include "common/rsa_pss.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

#include "common/crypto.h"

namespace gc::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// The agent signs with a 32-byte salt (rsa_key.go saltSize); verification accepts any salt length,
// as Go's VerifyPSS with PSSSaltLengthAuto does on the agent's side.
constexpr int kSignSaltLength = 32;

PkeyPtr DecodePublicKey(std::string_view public_key) {
  auto der = Base64Decode(public_key);
  if (!der || der->empty()) return nullptr;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size())));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return nullptr;
  return key;
}

PkeyPtr DecodePrivateKey(std::string_view private_key) {
  auto der = Base64Decode(private_key);
  if (!der || der->empty()) return nullptr;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  // d2i_AutoPrivateKey accepts PKCS#1 (what the agent stores) and PKCS#8.
  PkeyPtr key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der->size())));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return nullptr;
  return key;
}

// Sets PSS padding, SHA-256 MGF1 and the salt length on a digest-sign/verify context.
bool ConfigurePss(EVP_PKEY_CTX* pctx, int salt_length) {
  return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt_length) == 1;
}

template <class EncodeFn>
std::string EncodeDer(EncodeFn encode) {
  int len = encode(nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (encode(&p) != len) return {};
  return Base64Encode(der);
}

}  // namespace

RsaKeyPair GenerateRsaKeyPair(int bits) {
  PkeyPtr key(EVP_RSA_gen(static_cast<unsigned int>(bits)));
  if (!key) return {};
  RsaKeyPair pair;
  pair.public_key = EncodeDer([&](unsigned char** p) { return i2d_PUBKEY(key.get(), p); });
  // i2d_PrivateKey writes an RSA key in its type-specific (PKCS#1) form, as Go's
  // x509.MarshalPKCS1PrivateKey does.
  pair.private_key = EncodeDer([&](unsigned char** p) { return i2d_PrivateKey(key.get(), p); });
  return pair;
}

bool IsUsableRsaPublicKey(std::string_view public_key) {
  PkeyPtr key = DecodePublicKey(public_key);
  return key && EVP_PKEY_get_bits(key.get()) >= 2048;
}

std::optional<std::string> RsaPssSign(std::string_view private_key, std::string_view message) {
  PkeyPtr key = DecodePrivateKey(private_key);
  if (!key) return std::nullopt;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.get()) != 1 ||
      !ConfigurePss(pctx, kSignSaltLength)) {
    return std::nullopt;
  }
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, message.size()) != 1) return std::nullopt;
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     message.size()) != 1) {
    return std::nullopt;
  }
  sig.resize(len);
  return Base64Encode(sig);
}

bool RsaPssVerify(std::string_view public_key, std::string_view message,
                  std::string_view signature_b64) {
  PkeyPtr key = DecodePublicKey(public_key);
  auto sig = Base64Decode(signature_b64);
  if (!key || !sig || sig->empty()) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.get()) != 1 ||
      !ConfigurePss(pctx, RSA_PSS_SALTLEN_AUTO)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                          sig->size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace gc::crypto
