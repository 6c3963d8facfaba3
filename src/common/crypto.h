// Crypto and encoding helpers over OpenSSL: hashes, HMAC, hex, base64, random bytes, AES-256-GCM.
// All functions are thread-safe and pure except RandomBytes (OpenSSL's RAND, thread-safe).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gc::crypto {

std::string Sha256(std::string_view data);                       // raw 32 bytes
std::string Sha1(std::string_view data);                         // raw 20 bytes
std::string Md5(std::string_view data);                          // raw 16 bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string Hex(std::string_view raw);                           // lowercase hex
std::string Base64Encode(std::string_view raw);
std::optional<std::string> Base64Decode(std::string_view text);
std::string RandomBytes(size_t n);
// Random string over [A-Z0-9] (alphabet = upper) or [a-z0-9], for ids and keys.
std::string RandomAlnum(size_t n, bool upper);
std::string RandomHex(size_t n);  // n hex digits
std::string Uuid4();
// A version-4 UUID from a per-thread generator seeded by RandomBytes: for request and message
// ids, which must be unique, not secret. Much cheaper than Uuid4().
std::string FastUuid4();

// AES-256-GCM with a 32-byte key; output = 12-byte nonce | ciphertext | 16-byte tag.
std::string AesGcmEncrypt(std::string_view key, std::string_view plaintext);
std::optional<std::string> AesGcmDecrypt(std::string_view key, std::string_view sealed);

// Constant-time comparison for secrets and signatures.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gc::crypto
