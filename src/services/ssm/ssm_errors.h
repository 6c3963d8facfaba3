// Named constructors for the SSM errors, with AWS's codes and wording, so nobody spells an error
// code by hand. Pure functions; thread-safe.
#pragma once

#include <fmt/format.h>

#include <string>

#include "common/status.h"

namespace gc::ssm::errors {

inline AwsError Validation(std::string message) { return AwsError::Validation(std::move(message)); }

inline AwsError ParameterNotFound(const std::string& name) {
  return {"ParameterNotFound", fmt::format("Parameter {} not found.", name), 400};
}
inline AwsError ParameterVersionNotFound(const std::string& name, const std::string& version) {
  return {"ParameterVersionNotFound",
          fmt::format("Systems Manager could not find version {} of {}. Verify the version and "
                      "try again.",
                      version, name),
          400};
}
inline AwsError ParameterAlreadyExists() {
  return {"ParameterAlreadyExists",
          "The parameter already exists. To overwrite this value, set the overwrite option in "
          "the request to true.",
          400};
}
inline AwsError ParameterMaxVersionLimitExceeded(const std::string& name, int64_t oldest) {
  return {"ParameterMaxVersionLimitExceeded",
          fmt::format("You attempted to create a new version of {} by calling the PutParameter "
                      "API with the overwrite flag. Version {}, the oldest version, can't be "
                      "deleted because it has a label associated with it. Move the label to "
                      "another version of the parameter, and try again.",
                      name, oldest),
          400};
}
inline AwsError ParameterVersionLabelLimitExceeded() {
  return {"ParameterVersionLabelLimitExceeded",
          "A parameter version can have maximum 10 labels.Move one or more labels to another "
          "version and try again.",
          400};
}
inline AwsError HierarchyLevelLimitExceeded() {
  return {"HierarchyLevelLimitExceededException",
          "A hierarchy can have a maximum of 15 levels. For more information, see Requirements "
          "and constraints for parameter names in the AWS Systems Manager User Guide.",
          400};
}
inline AwsError HierarchyTypeMismatch() {
  return {"HierarchyTypeMismatchException",
          "The parameter type can't be changed for a parameter in a hierarchy. Parameter Store "
          "does not support changing a parameter type in a hierarchy. For example, you can't "
          "change a parameter from a String type to a SecureString type. You must create a new, "
          "unique parameter.",
          400};
}
inline AwsError InvalidAllowedPattern() {
  return {"InvalidAllowedPatternException",
          "The request does not meet the regular expression requirement.", 400};
}
inline AwsError ParameterPatternMismatch(const std::string& pattern) {
  return {"ParameterPatternMismatchException",
          fmt::format("Parameter value, cannot be validated against allowedPattern: {}", pattern),
          400};
}
inline AwsError InvalidPolicyType(const std::string& type) {
  return {"InvalidPolicyTypeException",
          fmt::format("The policy type is not supported: {}. Parameter Store supports the "
                      "following policy types: Expiration, ExpirationNotification, "
                      "NoChangeNotification.",
                      type),
          400};
}
inline AwsError ReservedParameterName(const std::string& name) {
  return {"AccessDeniedException", fmt::format("No access to reserved parameter name: {}.", name),
          400};
}
inline AwsError InvalidFilterKey(std::string message) {
  return {"InvalidFilterKey", std::move(message), 400};
}
inline AwsError InvalidFilterOption(std::string message) {
  return {"InvalidFilterOption", std::move(message), 400};
}
inline AwsError InvalidFilterValue(std::string message) {
  return {"InvalidFilterValue", std::move(message), 400};
}
inline AwsError InvalidNextToken() {
  return {"InvalidNextToken", "The specified token isn't valid.", 400};
}
inline AwsError InvalidResourceId() { return {"InvalidResourceId", "Invalid Resource Id", 400}; }
inline AwsError InvalidResourceType() {
  return {"InvalidResourceType", "Invalid Resource Type", 400};
}
inline AwsError TooManyTags() {
  return {"TooManyTagsError",
          "The Targets parameter includes too many tags. Remove one or more tags and try the "
          "request again.",
          400};
}

}  // namespace gc::ssm::errors
