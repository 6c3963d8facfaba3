#include "agent/signing.h"

#include <algorithm>
#include <vector>

#include "agent/files.h"
#include "agent/timefmt.h"
#include "common/crypto.h"
#include "common/rsa_pss.h"

namespace gc::agent {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string> SplitSemicolons(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(';', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string FindHeader(const sigv4::Request& req, std::string_view lower_name) {
  for (const auto& [k, v] : req.headers) {
    if (Lower(k) == lower_name) return v;
  }
  return "";
}

}  // namespace

std::string RsaStringToSign(const sigv4::Request& req, std::string_view signed_headers,
                            std::string_view credential_scope) {
  const std::string canonical = sigv4::CanonicalRequest(req, SplitSemicolons(signed_headers),
                                                        crypto::Hex(crypto::Sha256(req.body)),
                                                        /*normalize_path=*/true);
  return sigv4::StringToSign(FindHeader(req, "x-amz-date"), credential_scope, canonical);
}

Status RsaSigner::Sign(sigv4::Request& req, std::string_view region, std::string_view service,
                       int64_t now_millis) const {
  const std::string amz_date = FormatAmzDate(now_millis);
  std::erase_if(req.headers, [](const auto& h) {
    const std::string n = Lower(h.first);
    return n == "authorization" || n == "x-amz-date";
  });
  req.headers.emplace_back("X-Amz-Date", amz_date);

  // §1.3 step 2: every header except Authorization and User-Agent, sorted, each once.
  std::vector<std::string> names;
  for (const auto& h : req.headers) {
    std::string n = Lower(h.first);
    if (n == "authorization" || n == "user-agent") continue;
    names.push_back(std::move(n));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string signed_headers;
  for (const auto& n : names) {
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += n;
  }

  const std::string scope = amz_date.substr(0, 8) + "/" + std::string(region) + "/" +
                            std::string(service) + "/aws4_request";
  // §1.3 steps 3-4: SigV4 string to sign, RSA-PSS signature, base64.
  auto sig = crypto::RsaPssSign(private_key_, RsaStringToSign(req, signed_headers, scope));
  if (!sig)
    return LocalError("cannot sign with the node's private key (is identity.json damaged?)");
  req.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + instance_id_ + "/" +
                                                scope + ", SignedHeaders=" + signed_headers +
                                                ", Signature=" + *sig);
  return Ok{};
}

Status CredentialsSigner::Sign(sigv4::Request& req, std::string_view region,
                               std::string_view service, int64_t now_millis) const {
  sigv4::SignHeaders(req, creds_, region, service, FormatAmzDate(now_millis));
  return Ok{};
}

}  // namespace gc::agent
