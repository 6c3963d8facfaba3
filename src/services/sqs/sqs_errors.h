// Named constructors for the SQS errors, with AWS's codes, wording and HTTP status, so nobody
// spells an error code by hand. Pure functions; thread-safe.
//
// Codes are the query-protocol ("legacy") codes, e.g. AWS.SimpleQueueService.NonExistentQueue:
// the query protocol sends them as they are; for the JSON protocol the dispatcher maps them to the
// JSON type (QueueDoesNotExist) and adds `x-amzn-query-error: <code>;Sender` (SqsService sets up
// the mapping in its ServiceDef).
#pragma once

#include <fmt/format.h>

#include <string>

#include "common/status.h"

namespace gc::sqs::errors {

inline AwsError QueueDoesNotExist() {
  return {"AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.", 400};
}
// The query protocol words it differently (see SqsService's query-error hook).
inline constexpr const char* kNonExistentQueueQueryMessage =
    "The specified queue does not exist for this wsdl version.";

inline AwsError QueueAlreadyExists(const std::string& attribute) {
  return {"QueueAlreadyExists",
          fmt::format("A queue already exists with the same name and a different value for "
                      "attribute {}",
                      attribute),
          400};
}
inline AwsError InvalidParameterValue(std::string message) {
  return {"InvalidParameterValue", std::move(message), 400};
}
// "Value <v> for parameter <p> is invalid. Reason: <reason>"
inline AwsError InvalidParameter(const std::string& parameter, const std::string& value,
                                 const std::string& reason) {
  return InvalidParameterValue(
      fmt::format("Value {} for parameter {} is invalid. Reason: {}", value, parameter, reason));
}
inline AwsError MissingParameter(const std::string& parameter) {
  return {"MissingParameter", fmt::format("The request must contain the parameter {}.", parameter),
          400};
}
inline AwsError InvalidAttributeName(std::string message) {
  return {"InvalidAttributeName", std::move(message), 400};
}
inline AwsError UnknownAttribute(const std::string& name) {
  return InvalidAttributeName(fmt::format("Unknown Attribute {}.", name));
}
inline AwsError InvalidAttributeValue(const std::string& name, const std::string& reason = "") {
  return {"InvalidAttributeValue",
          reason.empty()
              ? fmt::format("Invalid value for the parameter {}.", name)
              : fmt::format("Invalid value for the parameter {}. Reason: {}", name, reason),
          400};
}
inline AwsError InvalidMessageContents() {
  return {"InvalidMessageContents",
          "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to "
          "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
          400};
}
inline AwsError MessageTooLong(int64_t max_size) {
  return InvalidParameterValue(fmt::format(
      "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
      max_size));
}
// The same limit inside a batch (a per-entry failure; AWS words it slightly differently).
inline AwsError BatchEntryTooLong(int64_t max_size) {
  return InvalidParameterValue(fmt::format(
      "One or more parameters cannot be validated. Reason: Message must be shorter than {} "
      "bytes.",
      max_size));
}
inline AwsError ReceiptHandleIsInvalid(const std::string& handle) {
  return {"ReceiptHandleIsInvalid",
          fmt::format("The input receipt handle \"{}\" is not a valid receipt handle.", handle),
          400};
}
inline AwsError ReceiptHandleExpired(const std::string& handle) {
  return InvalidParameter("ReceiptHandle", handle, "The receipt handle has expired.");
}
inline AwsError MessageNotAvailableForVisibilityChange(const std::string& handle) {
  return InvalidParameter(
      "ReceiptHandle", handle,
      "Message does not exist or is not available for visibility timeout change.");
}
inline AwsError EmptyBatchRequest(const std::string& entry_shape) {
  return {"AWS.SimpleQueueService.EmptyBatchRequest",
          fmt::format("There should be at least one {} in the request.", entry_shape), 400};
}
inline AwsError TooManyEntriesInBatchRequest(size_t count) {
  return {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
          fmt::format("Maximum number of entries per request are 10. You have sent {}.", count),
          400};
}
inline AwsError InvalidBatchEntryId() {
  return {"AWS.SimpleQueueService.InvalidBatchEntryId",
          "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
          "It can be at most 80 letters long.",
          400};
}
inline AwsError BatchEntryIdsNotDistinct(const std::string& id) {
  return {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", fmt::format("Id {} repeated.", id),
          400};
}
inline AwsError BatchRequestTooLong(int64_t limit, int64_t sent) {
  return {"AWS.SimpleQueueService.BatchRequestTooLong",
          fmt::format("Batch requests cannot be longer than {} bytes. You have sent {} bytes.",
                      limit, sent),
          400};
}
inline AwsError PurgeQueueInProgress(const std::string& queue_name) {
  return {
      "AWS.SimpleQueueService.PurgeQueueInProgress",
      fmt::format("Only one PurgeQueue operation on {} is allowed every 60 seconds.", queue_name),
      403};
}
inline AwsError OverLimit(std::string message) { return {"OverLimit", std::move(message), 403}; }
inline AwsError ResourceNotFound(std::string message) {
  return {"ResourceNotFoundException", std::move(message), 404};
}

}  // namespace gc::sqs::errors
