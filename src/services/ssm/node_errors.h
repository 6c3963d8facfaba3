// Named constructors for the errors of hybrid activations and managed nodes, with AWS's codes
// (botocore's SSM model and amazon-ssm-agent's errors.go). Messages AWS does not document are
// ours (src/services/ssm/README.md). Pure; thread-safe.
#pragma once

#include <fmt/format.h>

#include <string>

#include "common/status.h"

namespace gc::ssm::errors {

inline AwsError InvalidActivationId(const std::string& id) {
  return {"InvalidActivationId",
          fmt::format("The activation ID {} isn't valid. Verify that you entered the correct "
                      "ActivationId or ActivationCode and try again.",
                      id),
          400};
}
// Unknown, deleted, or the code does not match: AWS does not say which (errors.go).
inline AwsError InvalidActivation() {
  return {"InvalidActivation",
          "The activation isn't valid. The activation might have been deleted, or the "
          "ActivationId and the ActivationCode don't match.",
          400};
}
inline AwsError ActivationLimitReached(const std::string& id, int64_t limit) {
  return {"InvalidActivation",
          fmt::format("Activation {} has reached its registration limit of {}.", id, limit), 400};
}
inline AwsError ActivationExpired(const std::string& id) {
  return {"ActivationExpired", fmt::format("Activation {} has expired.", id), 400};
}
inline AwsError InvalidInstanceId(const std::string& id) {
  return {"InvalidInstanceId", fmt::format("Instance {} is not a registered managed node.", id),
          400};
}
inline AwsError InvalidInstanceInformationFilterValue(std::string message) {
  return {"InvalidInstanceInformationFilterValue", std::move(message), 400};
}
inline AwsError MachineFingerprintDoesNotMatch(const std::string& node_id) {
  return {"MachineFingerprintDoesNotMatch",
          fmt::format("The machine fingerprint does not match the one registered for {}.", node_id),
          400};
}
// A node acting on another node (its credentials are bound to its own id), worded as IAM does.
inline AwsError NodeNotAuthorized(const std::string& caller_arn, const std::string& action,
                                  const std::string& resource_arn) {
  return {"AccessDeniedException",
          fmt::format("User: {} is not authorized to perform: ssm:{} on resource: {}", caller_arn,
                      action, resource_arn),
          400};
}

}  // namespace gc::ssm::errors
