// SigV4: AWS Signature Version 4 signing and verification (header and presigned query forms).
// Stateless free functions plus a small thread-safe cache of derived signing keys.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace gc::sigv4 {

// The parts of an HTTP request that SigV4 covers. `target` is the raw request-target
// (path plus optional "?query", percent-encoded as sent). Header names are in any case.
struct Request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Who signed: filled on successful verification.
struct Identity {
  std::string access_key_id;
  std::string date;     // yyyymmdd from the credential scope
  std::string region;   // from the credential scope
  std::string service;  // from the credential scope
};

enum class Failure {
  kMissingAuthentication,  // no Authorization header and no X-Amz-Algorithm query parameter
  kIncompleteSignature,    // malformed Authorization / missing parts / bad scope / missing x-amz-date
  kUnknownAccessKey,       // access key id not known
  kSignatureMismatch,      // computed signature differs
  kExpired,                // outside the 5-minute skew window or past X-Amz-Expires
};

struct Error {
  Failure failure;
  std::string message;  // as AWS words it, e.g. "Signature expired: 20150830T123600Z is now earlier than ..."
};

// Returns the secret for an access key id, or nullopt if unknown.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key_id)>;

struct VerifyOptions {
  int64_t now_millis = 0;
  int64_t max_skew_seconds = 300;
  // When true (S3 only in AWS) path segments are not normalised; for every other service false.
  bool disable_path_normalization = false;
  // When true, a presigned URL whose X-Amz-Security-Token was appended after signing (as
  // aws-c-auth's omit_session_token does for IoT) is also accepted: the token is then left out
  // of the canonical query string. Header-form requests need no option (unsigned headers are
  // ignored anyway).
  bool accept_unsigned_query_session_token = false;
};

// Verifies the request. On success returns the Identity; otherwise the Error.
// The payload hash is X-Amz-Content-Sha256 when present, else SHA-256 of `body`.
std::variant<Identity, Error> Verify(const Request& req, const SecretLookup& lookup,
                                     const VerifyOptions& options);

// SigV4 with a signature other than HMAC: SSM's RSA-signed agent calls (amazon-ssm-agent's
// agent/ssm/rsaauth) canonicalise exactly as SigV4 but put a base64 RSASSA-PSS signature of the
// string to sign in `Signature=`, with the managed node id as the access key id.
enum class SignatureCheckResult { kMatch, kMismatch, kUnknownKey };
using SignatureCheck = std::function<SignatureCheckResult(
    std::string_view access_key_id, std::string_view string_to_sign, std::string_view signature)>;

// Verifies the header form like Verify — parsing, scope, signed Host, skew, payload hash and the
// canonical request rebuilt from SignedHeaders — then lets `check` judge the signature. Presigned
// URLs are refused (kIncompleteSignature); kUnknownKey gives kUnknownAccessKey.
std::variant<Identity, Error> VerifyWithSignatureCheck(const Request& req,
                                                       const SignatureCheck& check,
                                                       const VerifyOptions& options);

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional
};

// Signs `req` in place with the Authorization header (adds X-Amz-Date, and
// X-Amz-Security-Token when a session token is set). `amz_date` is yyyymmddThhmmssZ.
void SignHeaders(Request& req, const Credentials& creds, std::string_view region,
                 std::string_view service, std::string_view amz_date);

// Canonical request and string to sign (exposed for the corpus tests).
std::string CanonicalRequest(const Request& req, const std::vector<std::string>& signed_headers,
                             std::string_view payload_hash, bool normalize_path);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

// SigV4 step 3 (uncached): kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
// service), "aws4_request"); raw 32 bytes. Verify and SignHeaders use a cached copy.
std::string DeriveSigningKey(std::string_view secret, std::string_view date,
                             std::string_view region, std::string_view service);

}  // namespace gc::sigv4
