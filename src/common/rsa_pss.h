// RSASSA-PSS with SHA-256 (MGF1-SHA-256, salt length 32): the signature amazon-ssm-agent puts on
// its RSA-signed calls (RequestManagedInstanceRoleToken, UpdateManagedInstancePublicKey), with keys
// in the agent's encodings. Pure functions over OpenSSL; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gc::crypto {

// An RSA key pair in amazon-ssm-agent's encodings (agent/managedInstances/auth/rsa_key.go).
struct RsaKeyPair {
  std::string public_key;   // base64 (standard, padded) of DER SubjectPublicKeyInfo
  std::string private_key;  // base64 of DER PKCS#1 RSAPrivateKey
};

// A fresh RSA key pair of `bits` bits (the agent uses 2048). Empty strings if OpenSSL fails.
RsaKeyPair GenerateRsaKeyPair(int bits = 2048);

// True when `public_key` (base64 DER SubjectPublicKeyInfo) holds an RSA key of at least 2048 bits.
bool IsUsableRsaPublicKey(std::string_view public_key);

// Base64 RSASSA-PSS-SHA256 signature (salt 32) of `message` with `private_key` (base64 DER
// PKCS#1, or PKCS#8). nullopt when the key does not parse or signing fails.
std::optional<std::string> RsaPssSign(std::string_view private_key, std::string_view message);

// True when `signature_b64` is a valid RSASSA-PSS-SHA256 (salt 32) signature of `message` under
// `public_key` (base64 DER SubjectPublicKeyInfo). False for any malformed input.
bool RsaPssVerify(std::string_view public_key, std::string_view message,
                  std::string_view signature_b64);

}  // namespace gc::crypto
