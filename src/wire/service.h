// Service: what a service module gives the dispatcher — its botocore model and one handler per
// operation. Handlers receive validated input as JSON (member names as in the model; timestamps as
// epoch seconds; blobs as base64) and return the output document or an AwsError. Handlers must be
// thread-safe: the dispatcher calls them from several threads at once.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace gc::model {
class ServiceModel;
}

namespace gc::wire {

// Who is calling and where: filled by the dispatcher from the verified SigV4 identity.
struct CallContext {
  std::string account_id;
  std::string region;
  std::string access_key_id;
  std::string caller_arn;      // arn:aws:iam::123456789012:root, or the node's ARN
  std::string caller_user_id;  // the account id for root, the node id for a node
  bool is_node = false;        // a managed node's own credentials, not the operator's
  std::string request_id;
  std::string endpoint;  // "http://127.0.0.1:4566" as the client addressed us
  int64_t now_millis = 0;
  // What the operation's input decoder (ServiceDef::input_decoders) made of the request body, or
  // null when it has none or it declined; only that operation's handler reads it.
  std::shared_ptr<const void> decoded;
};

using OperationHandler =
    std::function<Result<nlohmann::json>(const CallContext&, const nlohmann::json& input)>;

// An operation that may answer later (long polls): it calls `done` exactly once, from any thread.
// The context and input it is given stay valid until then.
using Done = std::function<void(Result<nlohmann::json>)>;
using AsyncOperationHandler =
    std::function<void(const CallContext&, const nlohmann::json& input, Done done)>;

// An operation that encodes its own JSON-protocol response body (an answer of megabytes, written
// as text rather than built as a document): the text is sent as is.
using EncodedOperationHandler =
    std::function<Result<std::string>(const CallContext&, const nlohmann::json& input)>;
// Decodes a JSON-protocol request body faster than the generic path (a PutInventory of 150 KB):
// fills `input` with the document the model check sees — members the decoder checked itself may
// be left out — and returns what the handler gets as CallContext::decoded. Returns null to
// decline (the body is then decoded and checked the generic way, which also words the errors).
using InputDecoder =
    std::function<std::shared_ptr<const void>(std::string_view body, nlohmann::json& input)>;

struct ServiceDef {
  std::string name;  // the SigV4 signing name: "ssm", "sts", ...
  const model::ServiceModel* model = nullptr;
  std::unordered_map<std::string, OperationHandler> operations;
  std::unordered_map<std::string, AsyncOperationHandler> async_operations;
  std::unordered_map<std::string, EncodedOperationHandler> encoded_operations;  // JSON protocol
  std::unordered_map<std::string, InputDecoder> input_decoders;                 // JSON protocol
  // Operations a node's credentials may call (the agent-facing ones); all others need the operator.
  std::unordered_map<std::string, bool> node_operations;
  // Operations authenticated by a managed node's registration key instead of an access key: SigV4
  // canonicalisation with an RSA signature (SSM's RequestManagedInstanceRoleToken and
  // UpdateManagedInstancePublicKey; see sigv4::VerifyWithSignatureCheck and NodeAuthority).
  // Operations the model marks "authtype":"none" (RegisterManagedInstance) need no signature.
  std::unordered_map<std::string, bool> node_key_operations;
  // Reads (Get/List/Describe…) that may take long enough (a fleet-wide query) to hold an event
  // loop: they run on the blocking pool like writes.
  std::unordered_map<std::string, bool> slow_reads;

  // Optional hooks, used by SQS (a JSON service that keeps its query-protocol behaviour):

  // Checks run on the decoded input before model validation; an error returned is the response.
  // (SQS answers InvalidAttributeName / MissingParameter where the model check would answer
  // ValidationException.)
  std::function<Status(const std::string& operation, const nlohmann::json& input)> pre_validate;
  // Top-level input members the model check skips, by operation (pre_validate checks them).
  // SQS: ReceiveMessage.AttributeNames, whose model enum lacks the names clients send there.
  std::unordered_map<std::string, std::vector<std::string>> unvalidated_members;
  // A request to a path other than "/" names a resource by URL (SQS: POST /<account>/<queue>):
  // when the operation has this input member and the request lacks it, it is set to the
  // endpoint + path.
  std::string path_url_member;
  // awsQueryCompatible services report errors by their query-protocol code. On the JSON protocol
  // the dispatcher sends the JSON type — the model's exception shape for that code, else this
  // map's entry, else the code — with `x-amzn-query-error: <code>;Sender|Receiver`, from which
  // botocore restores the query code.
  std::unordered_map<std::string, std::string> json_error_types;
  // Rewrites an error for the query protocol (SQS words a few messages differently there).
  std::function<void(AwsError&)> query_error;
};

}  // namespace gc::wire
