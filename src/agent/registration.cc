#include "agent/registration.h"

#include <cctype>
#include <chrono>
#include <thread>

#include "agent/aws_client.h"
#include "agent/backoff.h"
#include "agent/files.h"
#include "agent/log.h"
#include "common/crypto.h"
#include "common/rsa_pss.h"

#ifndef GC_AGENT_VERSION
#define GC_AGENT_VERSION "0.0.0"
#endif

namespace gc::agent {

Result<Identity> Register(const RegisterOptions& options, const Clock& clock) {
  auto endpoint = ParseEndpoint(options.endpoint);
  if (!endpoint.ok()) return endpoint.take_error();
  if (options.region.empty()) return LocalError("--region must not be empty");
  for (char c : options.region) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
      return LocalError("--region must match [A-Za-z0-9-]+");
    }
  }
  const std::string ca_file = AbsolutePath(options.ca_file);
  if (!ca_file.empty() && !ReadFile(ca_file)) {
    return LocalError("cannot read the CA file " + ca_file);
  }
  if (Status s = MakePrivateDir(options.state_dir); !s.ok()) return s.take_error();

  // §1.1: a 2048-bit RSA key; the fingerprint is a random UUID.
  const crypto::RsaKeyPair keys = crypto::GenerateRsaKeyPair(2048);
  if (keys.public_key.empty() || keys.private_key.empty()) {
    return LocalError("RSA key generation failed");
  }
  Identity id;
  id.region = options.region;
  id.endpoint = endpoint->url;
  id.public_key = keys.public_key;
  id.private_key = keys.private_key;
  id.fingerprint = crypto::Uuid4();
  id.ca_file = ca_file;

  HttpOptions http;
  http.ca_file = ca_file;
  http.user_agent = std::string("groundcrew-agent/") + GC_AGENT_VERSION;
  AwsJsonClient client(*endpoint, options.region, http, clock);
  nlohmann::json body = {{"ActivationCode", options.activation_code},
                         {"ActivationId", options.activation_id},
                         {"PublicKey", id.public_key},
                         {"PublicKeyType", "Rsa"},
                         {"Fingerprint", id.fingerprint}};
  Backoff backoff(1000, 8000);
  for (int attempt = 1;; ++attempt) {
    auto r =
        client.Call("AmazonSSM.RegisterManagedInstance", body, "ssm", AnonymousSigner(), 30000);
    if (r.ok()) {
      if (auto it = r->find("InstanceId"); it != r->end() && it->is_string()) {
        id.instance_id = *it;
      }
      if (id.instance_id.empty()) {
        return LocalError("RegisterManagedInstance answered without an InstanceId");
      }
      break;
    }
    const AwsError& e = r.error();
    const bool retry = e.http_status == 0 || e.http_status >= 500 || e.code == "TooManyUpdates";
    if (!retry || attempt >= options.max_attempts) return r.take_error();
    const int64_t delay = backoff.Next();
    LogWarn("RegisterManagedInstance failed ({}: {}); retrying in {} ms", e.code, e.message, delay);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  }
  id.registered_millis = clock.NowMillis();

  // A different identity's leftovers must not be sent with the new one's credentials.
  if (auto old = LoadIdentity(options.state_dir); !old.ok() || old->instance_id != id.instance_id) {
    RemoveTree(options.state_dir + "/replies");
    RemoveTree(options.state_dir + "/messages");
    RemoveTree(options.state_dir + "/jobs");
  }
  if (Status s = SaveIdentity(options.state_dir, id); !s.ok()) return s.take_error();
  return id;
}

}  // namespace gc::agent
