// Message bodies and attributes: AWS's MD5 digests (MD5OfMessageBody, MD5OfMessageAttributes,
// MD5OfMessageSystemAttributes — the SDKs recompute and compare them), the validation rules for
// bodies, message attributes and system attributes, size accounting, and ReceiveMessage's
// MessageAttributeNames filter. Pure functions; thread-safe.
//
// Attribute maps are in the JSON shape handlers see: {"name": {"DataType": "String",
// "StringValue": "..."}} with BinaryValue / BinaryListValues as base64 strings.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gc::sqs {

// Lower-case hex MD5 of the UTF-8 body.
std::string BodyMd5(std::string_view body);

// AWS's attribute digest: for each attribute in UTF-16 order of its name: length-prefixed name,
// length-prefixed DataType, then a transport byte (1 string, 2 binary, 3 string list, 4 binary
// list) and the length-prefixed value(s); lengths are 4-byte big-endian. Returns lower-case hex.
// `attrs` must have passed ValidateMessageAttributes / ValidateSystemAttributes (blobs decode).
std::string AttributesMd5(const nlohmann::json& attrs);

// True when `body` is valid UTF-8 of the characters SQS accepts: #x9 | #xA | #xD | #x20 to
// #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
bool IsValidMessageText(std::string_view body);

// Checks MessageAttributes (names, data types, values, at most 10) and returns their size as
// SQS counts it against MaximumMessageSize (names + data types + values, in bytes).
// Errors: InvalidParameterValue with AWS's wording.
Result<int64_t> ValidateMessageAttributes(const nlohmann::json& attrs);

// Checks MessageSystemAttributes (only AWSTraceHeader, a String). Errors: InvalidParameterValue.
Status ValidateSystemAttributes(const nlohmann::json& attrs);

// The subset of `attrs` that ReceiveMessage returns for MessageAttributeNames `names`: "All",
// ".*" and "*" select everything, "prefix.*" a prefix, anything else an exact name.
nlohmann::json FilterMessageAttributes(const nlohmann::json& attrs,
                                       const std::vector<std::string>& names);

// MessageGroupId / MessageDeduplicationId: 1 to 128 alphanumeric and punctuation characters.
bool IsValidFifoId(std::string_view id);

// SendMessageBatch / DeleteMessageBatch / ChangeMessageVisibilityBatch entry ids: 1 to 80 of
// [A-Za-z0-9_-].
bool IsValidBatchEntryId(std::string_view id);

}  // namespace gc::sqs
