// Dispatcher: turns one HTTP request into one service call — routing (X-Amz-Target or Action),
// SigV4 verification, protocol decoding, model validation, the handler, and the protocol's
// response or error shape. Thread-safe after all services are added.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/worker_pool.h"
#include "server/credentials.h"
#include "wire/http_server.h"
#include "wire/http_types.h"
#include "wire/node_authority.h"
#include "wire/service.h"
#include "wire/sigv4.h"

namespace gc::model {
struct Operation;
}

namespace gc::server {

struct DispatcherOptions {
  bool dev = false;                // enables POST /_groundcrew/reset and /moto-api/reset
  std::function<Status()> reset;  // empties all state (dev only)
  // Unauthenticated paths under /_groundcrew/ owned by services (SNS's message links): the
  // response, or nullopt if the path is not theirs.
  std::function<std::optional<wire::HttpResponse>(const wire::HttpRequest&)> links;
  // Managed nodes' credentials and registration keys (SSM); null: only the root credentials.
  const wire::NodeAuthority* nodes = nullptr;
};

// The AWS error for a SigV4 failure (JSON protocol codes; the query codec renames them).
AwsError SigV4Error(const sigv4::Error& e);

class Dispatcher {
 public:
  Dispatcher(const Credentials& credentials, const Clock& clock, DispatcherOptions options);
  ~Dispatcher();  // waits for the blocking pool's calls

  // Adds a service before serving. The ServiceDef's model must outlive the dispatcher.
  void AddService(wire::ServiceDef def);

  // Answers through `respond`, at once or (async operations) later.
  void Handle(wire::HttpRequest& req, const wire::Responder& respond);

 private:
  struct Call;
  // Steps 1-5 (route, authenticate, decode, validate): the call to make, or the error response.
  std::variant<Call, wire::HttpResponse> Prepare(wire::HttpRequest& req);
  wire::HttpResponse HandleAdmin(const wire::HttpRequest& req);
  // Step 2 (authenticate.cc): who signed `req` for `op` of `svc` — the root credentials, a node's
  // temporary credentials, a node's registration key (svc.node_key_operations) or nobody (an
  // operation without authentication). Sets `principal`; the error is the response to send.
  std::variant<sigv4::Identity, AwsError> Authenticate(const sigv4::Request& req,
                                                       const wire::ServiceDef& svc,
                                                       const model::Operation* op,
                                                       bool json_protocol,
                                                       std::optional<Principal>& principal) const;
  std::variant<sigv4::Identity, AwsError> AuthenticateAccessKey(
      const sigv4::Request& req, bool json_protocol, std::optional<Principal>& principal) const;
  std::variant<sigv4::Identity, AwsError> AuthenticateNodeKey(
      const sigv4::Request& req, std::optional<Principal>& principal) const;

  const Credentials& credentials_;
  const Clock& clock_;
  DispatcherOptions options_;
  std::vector<std::unique_ptr<wire::ServiceDef>> services_;
  std::unordered_map<std::string, const wire::ServiceDef*> by_target_prefix_;  // JSON protocols
  std::unordered_map<std::string, const wire::ServiceDef*> by_signing_name_;
  // Runs synchronous operations that may write: many wait for group commits at once.
  static constexpr int kBlockingThreads = 32;
  std::unique_ptr<WorkerPool> blocking_;
};

}  // namespace gc::server
