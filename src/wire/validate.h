// Input validation against a botocore model, with the errors AWS (Coral) services return.
// Thread-safety: stateless; safe to call concurrently on a shared ServiceModel.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "wire/model.h"

namespace gc::wire {

// Checks `input` (the JSON document of `op`'s input shape, keyed by member name) against the
// model. Unknown members are ignored; JSON null counts as absent.
//
// Fails with:
//  - AwsError{"SerializationException", <short description>, 400} at the first value of the
//    wrong JSON type (a string where a structure is expected, 1.5 for an integer, a blob that is
//    not base64, a timestamp that is neither epoch seconds nor ISO-8601, nesting deeper than
//    kMaxDepth). Nothing else is checked then.
//  - AwsError{"ValidationException", msg, 400} with every constraint failure (required, length,
//    value range, pattern, enum), worded as AWS does:
//      "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member
//       must not be null; Value 'x' at 'type' failed to satisfy constraint: Member must satisfy
//       enum value set: [String, StringList, SecureString]"
//    Paths use lower-camel member names, "list.N.member" for list items, "map.KEY.member" for
//    structure map values. Constraints on scalar list items and map keys/values are reported once
//    per list/map: "Value '[a, b]' at 'names' failed to satisfy constraint: Member must satisfy
//    constraint: [Member must have length less than or equal to 10, ...]" (the element's full
//    constraint set, as Coral does; "Map keys must satisfy constraint" / "Map value must satisfy
//    constraint" for maps).
// Query-protocol callers map the codes with ToQueryError() (query_codec.h).
Status ValidateInput(const model::ServiceModel& model, const model::Operation& op,
                     const nlohmann::json& input);

// Deepest nesting of input values accepted (recursive shapes such as SSM InventoryAggregator).
inline constexpr int kMaxDepth = 64;

}  // namespace gc::wire
