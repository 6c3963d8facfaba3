// `groundcrew-agent register`: makes the node's RSA key and fingerprint, calls the unsigned
// RegisterManagedInstance (AGENT_PROTOCOL §1.2) and keeps the identity in the state directory.
// Thread-compatible (runs once, on the main thread).
#pragma once

#include <string>

#include "agent/state.h"
#include "common/clock.h"
#include "common/status.h"

namespace gc::agent {

struct RegisterOptions {
  std::string endpoint;  // https://host:port (or http:// on loopback)
  std::string activation_code;
  std::string activation_id;
  std::string region;
  std::string state_dir;
  std::string ca_file;   // "" = the system trust store
  int max_attempts = 5;  // retries only on network errors, 5xx and TooManyUpdates (§1.2)
};

// Registers and saves the identity. A new registration in a state directory that held another
// identity also drops that identity's pending replies, message record and job directories.
// Errors: the server's (InvalidActivation, ActivationExpired, …) or an AgentError.
Result<Identity> Register(const RegisterOptions& options, const Clock& clock);

}  // namespace gc::agent
