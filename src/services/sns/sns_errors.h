// Named constructors for SNS's errors, with AWS's codes, statuses and wording. Thread-safe.
#pragma once

#include <fmt/format.h>

#include <string>

#include "common/status.h"

namespace gc::sns::errors {

inline AwsError InvalidParameter(const std::string& what) {
  return {"InvalidParameter", "Invalid parameter: " + what, 400};
}
inline AwsError InvalidParameterRaw(std::string message) {
  return {"InvalidParameter", std::move(message), 400};
}
inline AwsError TopicNotFound() { return {"NotFound", "Topic does not exist", 404}; }
inline AwsError SubscriptionNotFound() {
  return {"NotFound", "Subscription does not exist", 404};
}
inline AwsError ResourceNotFound() {
  return {"ResourceNotFound", "Resource does not exist", 404};
}
inline AwsError InvalidArn(const std::string& member, size_t elements) {
  return InvalidParameter(fmt::format("{} Reason: An ARN must have at least 6 elements, not {}",
                                      member, elements));
}
inline AwsError ParameterValueInvalid(std::string message) {
  return {"ParameterValueInvalid", std::move(message), 400};
}
inline AwsError TagPolicy(std::string message) { return {"TagPolicy", std::move(message), 400}; }
inline AwsError TooManyEntriesInBatchRequest() {
  return {"TooManyEntriesInBatchRequest",
          "The batch request contains more entries than permissible.", 400};
}
inline AwsError EmptyBatchRequest() {
  return {"EmptyBatchRequest", "The batch request doesn't contain any entries.", 400};
}
inline AwsError BatchEntryIdsNotDistinct() {
  return {"BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.",
          400};
}
inline AwsError InvalidBatchEntryId(const std::string& detail) {
  return {"InvalidBatchEntryId", detail, 400};
}
inline AwsError BatchRequestTooLong() {
  return {"BatchRequestTooLong",
          "The length of all the messages put together is more than the limit.", 400};
}

}  // namespace gc::sns::errors
