// How the agent authenticates a request: not at all (RegisterManagedInstance, §1.2), with the
// node's RSA key (RequestManagedInstanceRoleToken, §1.3), or with SigV4 and the temporary
// credentials (every other call). The canonicalisation is wire/sigv4's, shared with the server.
// Signers are immutable after construction and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "wire/sigv4.h"

namespace gc::agent {

class RequestSigner {
 public:
  virtual ~RequestSigner() = default;
  // Adds X-Amz-Date and Authorization (and X-Amz-Security-Token when there is a session token)
  // to `req`, which already carries Host, Content-Type, X-Amz-Target and its body.
  virtual Status Sign(sigv4::Request& req, std::string_view region, std::string_view service,
                      int64_t now_millis) const = 0;
};

// No Authorization and no X-Amz-Date: the anonymous RegisterManagedInstance call.
class AnonymousSigner final : public RequestSigner {
 public:
  Status Sign(sigv4::Request&, std::string_view, std::string_view, int64_t) const override {
    return Ok{};
  }
};

// §1.3: SigV4 canonical request over every header except Authorization and User-Agent, string
// to sign as SigV4, signature = base64 RSASSA-PSS(SHA-256, MGF1-SHA-256, salt 32) with the
// node's key (common/rsa_pss.h); Credential=<instance id>/<date>/<region>/<service>/aws4_request.
class RsaSigner final : public RequestSigner {
 public:
  // `private_key`: base64 DER PKCS#1, as registration stored it.
  RsaSigner(std::string private_key, std::string instance_id)
      : private_key_(std::move(private_key)), instance_id_(std::move(instance_id)) {}
  Status Sign(sigv4::Request& req, std::string_view region, std::string_view service,
              int64_t now_millis) const override;

 private:
  std::string private_key_;
  std::string instance_id_;
};

// Standard SigV4 (HMAC) with the node's temporary credentials.
class CredentialsSigner final : public RequestSigner {
 public:
  explicit CredentialsSigner(sigv4::Credentials creds) : creds_(std::move(creds)) {}
  Status Sign(sigv4::Request& req, std::string_view region, std::string_view service,
              int64_t now_millis) const override;

 private:
  sigv4::Credentials creds_;
};

// The §1.3 string to sign of an RSA-signed request whose headers (with X-Amz-Date) are final:
// exposed so tests can verify a signature independently.
std::string RsaStringToSign(const sigv4::Request& req, std::string_view signed_headers,
                            std::string_view credential_scope);

}  // namespace gc::agent
