// FilterPolicy: an SNS subscription filter policy, validated as AWS does (same checks and wording)
// and compiled once into rules that Matches() evaluates per message. Immutable; thread-safe.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

namespace gc::sns {

class PreparedMessage;

// Semantics (AWS's, as recorded against real SNS where recordings exist):
// - Keys are ANDed; the values in a key's array are ORed; "$or": [{...}, {...}] ORs whole
//   sub-policies at any level. Policies are compiled to OR-of-AND rules once, in Parse().
// - Values: strings, numbers (compared numerically, 6 decimals), true/false, null, and
//   {"prefix"}, {"suffix"}, {"equals-ignore-case"}, {"anything-but": v | [v...] | {"prefix": p}},
//   {"numeric": [op, n (, "<"|"<=", n)]}, {"exists": bool}, {"cidr": "10.0.0.0/24"}.
// - Types matter: "5" matches the string 5, 5 matches the number 5 (a Number attribute).
// - kMessageAttributes: flat keys; a String.Array attribute matches when one element matches;
//   Binary attributes have no values; null matches a missing attribute (recorded AWS behaviour).
// - kMessageBody: nested keys; {"a": {"b": ..}}, {"a.b": ..} and the body's {"a.b": ..} are the
//   same path; arrays match when an element matches, and fields matched inside an array of
//   objects must come from the same element. exists works on leaves only. A body that is not a
//   JSON object never matches.
// - anything-but needs the key present; it matches every value not excluded, whatever its type.
class FilterPolicy {
 public:
  enum class Scope { kMessageAttributes, kMessageBody };

  // Validates and compiles `json_text` (the FilterPolicy attribute). On failure returns
  // InvalidParameter with AWS's message as SetSubscriptionAttributes words it:
  // "Invalid parameter: FilterPolicy: <reason>[\n at [Source: ...; line: L, column: C]]" (the
  // location as AWS's JSON parser reports it), or, for a nested policy in the attributes scope,
  // "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter
  // policy". Subscribe words the same errors "Invalid parameter: Attributes Reason: ...": see
  // AsSubscribeAttributesError(). The empty string is an error here ("Filter policy can not be
  // empty"); SNS treats FilterPolicy="" as "remove the policy" before calling Parse.
  static Result<FilterPolicy> Parse(std::string_view json_text, Scope scope);

  FilterPolicy(FilterPolicy&&) noexcept;
  FilterPolicy& operator=(FilterPolicy&&) noexcept;
  ~FilterPolicy();

  Scope scope() const;

  // For kMessageAttributes: the Publish MessageAttributes map,
  //   {"name": {"DataType": "String"|"String.Array"|"Number"|"Binary", "StringValue": "..."}}
  //   ({"Type", "Value"} as in notifications is accepted too; null or {} = no attributes).
  // For kMessageBody: the parsed message body (pass a discarded value for a non-JSON body).
  // Flattens the input on every call: when one message is matched against many policies,
  // prepare it once with PreparedMessage and call the overload below.
  bool Matches(const nlohmann::json& message_attributes_or_body) const;
  // False when `message` was prepared for the other scope.
  bool Matches(const PreparedMessage& message) const;

  struct Impl;

 private:
  explicit FilterPolicy(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// Rewrites a Parse() error into the wording of Subscribe's Attributes parameter:
// "Invalid parameter: X" -> "Invalid parameter: Attributes Reason: X".
AwsError AsSubscribeAttributesError(AwsError error);

// A message flattened once into the values filter policies look at. Immutable; thread-safe.
class PreparedMessage {
 public:
  static PreparedMessage FromAttributes(const nlohmann::json& message_attributes);
  // `body` parsed from the message; anything but a JSON object never matches.
  static PreparedMessage FromBody(const nlohmann::json& body);
  // Parses `body_text`; a non-JSON body never matches.
  static PreparedMessage FromBodyText(std::string_view body_text);

  PreparedMessage(PreparedMessage&&) noexcept;
  PreparedMessage& operator=(PreparedMessage&&) noexcept;
  ~PreparedMessage();

  struct Data;

 private:
  friend class FilterPolicy;
  explicit PreparedMessage(std::unique_ptr<const Data> data);
  std::unique_ptr<const Data> data_;
};

}  // namespace gc::sns
