// Self-signed TLS for --tls-self-signed: a private CA and a server certificate for localhost,
// 127.0.0.1 and ::1, made once in a directory and reused. Not thread-safe; call at start-up.
#pragma once

#include <string>

#include "common/status.h"

namespace gc::server {

struct TlsPaths {
  std::string ca_file;    // PEM CA certificate: give it to clients (AWS_CA_BUNDLE)
  std::string cert_file;  // PEM server certificate chain
  std::string key_file;   // PEM server private key (mode 0600)
};

// Creates <dir>/ca.pem, <dir>/server.pem and <dir>/server.key unless they exist.
Result<TlsPaths> EnsureSelfSignedCertificate(const std::string& dir);

}  // namespace gc::server
