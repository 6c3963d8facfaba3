// The AWS `query` protocol (SQS, SNS, STS): form-encoded parameters in, XML out, driven by the
// botocore model. Thread-safety: stateless functions; safe to call concurrently.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "wire/model.h"

namespace gc::wire {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Splits an application/x-www-form-urlencoded body (or a URL query string, without the '?')
// into decoded (name, value) pairs in order: '+' is a space, %XX a byte, "a" alone is ("a", "").
// Fails with AwsError{"MalformedQueryString", ..., 400} on a bad % escape.
Result<QueryParams> ParseFormUrlEncoded(std::string_view body);

// Builds the JSON document of `op`'s input shape from flat query parameters, following
// botocore's QuerySerializer: "Tags.member.1.Key", "Attributes.entry.1.key", flattened lists
// and maps ("AttributeName.1", "MessageAttribute.1.Name"), locationName on members, list members
// and map keys/values. The member name is accepted as well where a locationName renames it.
// Values get their JSON types: integers/longs, doubles, booleans ("true"/"false"), timestamps
// as epoch seconds (from ISO-8601 or epoch numbers), blobs kept as base64 strings. Parameters
// that match no member (Action, Version, X-Amz-*, ...) are ignored.
// Fails with AwsError{"ValidationError", ..., 400} when a value does not convert.
Result<nlohmann::json> DecodeQueryInput(const model::ServiceModel& model,
                                        const model::Operation& op, const QueryParams& params);

// <OpResponse xmlns="NS"><Wrapper>...output...</Wrapper><ResponseMetadata><RequestId>..
// </RequestId></ResponseMetadata></OpResponse>, mirroring botocore's QueryParser: lists as
// <member> (or the list member's locationName) unless flattened, maps as <entry><key/><value/>
// </entry> unless flattened, timestamps (epoch seconds) as ISO-8601 with milliseconds,
// booleans true/false. Members absent from `output` (or null) are left out.
std::string EncodeQueryResponse(const model::ServiceModel& model, const model::Operation& op,
                                const nlohmann::json& output, std::string_view request_id);

// <ErrorResponse xmlns="NS"><Error><Type>Sender|Receiver</Type><Code>..</Code><Message>..
// </Message></Error><RequestId>..</RequestId></ErrorResponse>; no xmlns when `xml_namespace` is
// empty (pass the model's xml_namespace()).
std::string EncodeQueryError(const AwsError& error, std::string_view request_id,
                             std::string_view xml_namespace = {});

// JSON-protocol error codes to their query-protocol names: ValidationException->ValidationError,
// SerializationException->MalformedQueryString, UnknownOperationException->InvalidAction,
// InvalidSignatureException->SignatureDoesNotMatch, MissingAuthenticationTokenException->
// MissingAuthenticationToken, UnrecognizedClientException->InvalidClientTokenId,
// IncompleteSignatureException->IncompleteSignature, AccessDeniedException->AccessDenied,
// ThrottlingException->Throttling. Others are returned unchanged.
AwsError ToQueryError(AwsError error);

// Appends `text` escaped for XML character data: & < > " ' as entities, CR as &#xD;, other
// control characters (not representable in XML 1.0) and invalid UTF-8 as U+FFFD.
void AppendXmlEscaped(std::string& out, std::string_view text);

}  // namespace gc::wire
