#include "services/sns/filter_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gc::sns {
namespace {

using Scope = FilterPolicy::Scope;
using Json = nlohmann::json;

// ---- Validation: errors recorded against real AWS --------------------------------------------

struct RecordedError {
  const char* name;    // snapshot test / key in shared/reference/aws-recorded/sns
  const char* policy;  // the policy text, as quoted in AWS's message
  const char* message;
};

// Recorded through Subscribe's Attributes ("Attributes Reason: FilterPolicy: ...") unless the
// message says "Invalid parameter: FilterPolicy:" (SetSubscriptionAttributes). The
// MessageAttributes scope is the default for all of them.
const RecordedError kRecordedErrors[] = {
    {"test_validate_policy/error-condition-list", R"({"key":[["value"]]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Match value must be String, number, "
     "true, false, or null\n at [Source: (String)\"{\"key\":[[\"value\"]]}\"; line: 1, column: "
     "10]"},
    {"test_validate_policy/error-condition-operator", R"({"key":[{"wrong-operator":true}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Unrecognized match type wrong-operator\n "
     "at [Source: (String)\"{\"key\":[{\"wrong-operator\":true}]}\"; line: 1, column: 31]"},
    {"test_validate_policy/error-condition-two-operators",
     R"({"key":[{"suffix":"value","prefix":"value2"}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Only one key allowed in match "
     "expression\n at [Source: "
     "(String)\"{\"key\":[{\"suffix\":\"value\",\"prefix\":\"value2\"}]}\"; line: 1, column: 37]"},
    {"test_validate_policy_string_operators/error-condition-empty-array", R"({"key":[]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Empty arrays are not allowed\n at "
     "[Source: (String)\"{\"key\":[]}\"; line: 1, column: 10]"},
    {"test_validate_policy_string_operators/error-condition-is-numeric",
     R"({"key":[{"suffix":100}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: suffix match pattern must be a string\n "
     "at [Source: (String)\"{\"key\":[{\"suffix\":100}]}\"; line: 1, column: 22]"},
    {"test_validate_policy_string_operators/error-condition-is-none",
     R"({"key":[{"suffix":null}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: suffix match pattern must be a string\n "
     "at [Source: (String)\"{\"key\":[{\"suffix\":null}]}\"; line: 1, column: 23]"},
    {"test_validate_policy_string_operators/error-condition-is-not-list-and-operator",
     R"({"key":{"suffix":"value"}})",
     "Invalid parameter: Attributes Reason: FilterPolicy: \"suffix\" must be an object or an "
     "array\n at [Source: (String)\"{\"key\":{\"suffix\":\"value\"}}\"; line: 1, column: 19]"},
    {"test_validate_policy_string_operators/error-condition-empty-list",
     R"({"key":[{"suffix":[]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: suffix match pattern must be a string\n "
     "at [Source: (String)\"{\"key\":[{\"suffix\":[]}]}\"; line: 1, column: 20]"},
    {"test_validate_policy_string_operators/error-condition-list-wrong-type",
     R"({"key":[{"suffix":["test","test2"]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: suffix match pattern must be a string\n "
     "at [Source: (String)\"{\"key\":[{\"suffix\":[\"test\",\"test2\"]}]}\"; line: 1, column: 20]"},
    {"test_validate_policy_string_operators/error-condition-is-not-list-two-ops",
     R"({"key":{"suffix":"value","prefix":"value"}})",
     "Invalid parameter: Attributes Reason: FilterPolicy: \"suffix\" must be an object or an "
     "array\n at [Source: (String)\"{\"key\":{\"suffix\":\"value\",\"prefix\":\"value\"}}\"; line: "
     "1, column: 19]"},
    {"test_validate_policy_string_operators/error-condition-is-not-list-and-no-operator",
     R"({"key":{"not-an-operator":"value"}})",
     "Invalid parameter: Attributes Reason: FilterPolicy: \"not-an-operator\" must be an object or "
     "an array\n at [Source: (String)\"{\"key\":{\"not-an-operator\":\"value\"}}\"; line: 1, "
     "column: 28]"},
    {"test_validate_policy_string_operators/error-condition-bad-type",
     R"({"key":[{"cidr":["bad-filter"]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: prefix match pattern must be a string\n "
     "at [Source: (String)\"{\"key\":[{\"cidr\":[\"bad-filter\"]}]}\"; line: 1, column: 18]"},
    {"test_validate_policy_numeric_operator/error-numeric-empty", R"({"key":[{"numeric":[]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Invalid member in numeric match: ]\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[]}]}\"; line: 1, column: 22]"},
    {"test_validate_policy_numeric_operator/error-numeric-wrong-operator",
     R"({"key":[{"numeric":["operator"]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Unrecognized numeric range operator: "
     "operator\n at [Source: (String)\"{\"key\":[{\"numeric\":[\"operator\"]}]}\"; line: 1, "
     "column: 32]"},
    {"test_validate_policy_numeric_operator/error-numeric-operator-order",
     R"({"key":[{"numeric":[1,"<="]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Invalid member in numeric match: 1\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[1,\"<=\"]}]}\"; line: 1, column: 22]"},
    {"test_validate_policy_numeric_operator/error-numeric-type",
     R"({"key":[{"numeric":["=","000"]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Value of equals must be numeric\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[\"=\",\"000\"]}]}\"; line: 1, column: 26]"},
    {"test_validate_policy_numeric_operator/error-numeric-missing-value",
     R"({"key":[{"numeric":[">="]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Value of >= must be numeric\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[\">=\"]}]}\"; line: 1, column: 26]"},
    {"test_validate_policy_numeric_operator/error-numeric-wrong-range-order",
     R"({"key":[{"numeric":["<",100,">",10]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Too many elements in numeric "
     "expression\n at [Source: (String)\"{\"key\":[{\"numeric\":[\"<\",100,\">\",10]}]}\"; line: "
     "1, column: 30]"},
    {"test_validate_policy_numeric_operator/error-numeric-wrong-range-operators",
     R"({"key":[{"numeric":[">=",1,">",2]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Bad numeric range operator: >\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[\">=\",1,\">\",2]}]}\"; line: 1, column: 31]"},
    {"test_validate_policy_numeric_operator/error-numeric-wrong-value-order",
     R"({"key":[{"numeric":[">",3,"<",1]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Bottom must be less than top\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[\">\",3,\"<\",1]}]}\"; line: 1, column: 33]"},
    {"test_validate_policy_numeric_operator/error-numeric-missing-range-value",
     R"({"key":[{"numeric":[">",20,"<="]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Value of <= must be numeric\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[\">\",20,\"<=\"]}]}\"; line: 1, column: 33]"},
    {"test_validate_policy_numeric_operator/error-numeric-missing-range-operator",
     R"({"key":[{"numeric":[">",20,30]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Bad value in numeric range: 30\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[\">\",20,30]}]}\"; line: 1, column: 30]"},
    {"test_validate_policy_numeric_operator/error-numeric-wrong-second-range-operator",
     R"({"key":[{"numeric":[">",20,"test"]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Bad numeric range operator: test\n at "
     "[Source: (String)\"{\"key\":[{\"numeric\":[\">\",20,\"test\"]}]}\"; line: 1, column: 34]"},
    {"test_validate_policy_numeric_operator/error-numeric-wrong-range-value-1-type",
     R"({"key":[{"numeric":[">","20","<","30"]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Value of > must be numeric\n at [Source: "
     "(String)\"{\"key\":[{\"numeric\":[\">\",\"20\",\"<\",\"30\"]}]}\"; line: 1, column: 26]"},
    {"test_validate_policy_numeric_operator/error-numeric-wrong-range-value-2-type",
     R"({"key":[{"numeric":[">",20,"<","30"]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Value of < must be numeric\n at [Source: "
     "(String)\"{\"key\":[{\"numeric\":[\">\",20,\"<\",\"30\"]}]}\"; line: 1, column: 33]"},
    {"test_validate_policy_numeric_operator/error-numeric-too-many-range",
     R"({"key":[{"numeric":[">",20,"<",30,"<",50]}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Too many terms in numeric range "
     "expression\n at [Source: (String)\"{\"key\":[{\"numeric\":[\">\",20,\"<\",30,\"<\",50]}]}\"; "
     "line: 1, column: 36]"},
    {"test_validate_policy_exists_operator/error-condition-none", R"({"key":[{"exists":null}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: exists match pattern must be either true "
     "or false.\n at [Source: (String)\"{\"key\":[{\"exists\":null}]}\"; line: 1, column: 23]"},
    {"test_validate_policy_exists_operator/error-condition-string", R"({"key":[{"exists":"no"}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: exists match pattern must be either true "
     "or false.\n at [Source: (String)\"{\"key\":[{\"exists\":\"no\"}]}\"; line: 1, column: 20]"},
    {"test_sub_filter_policy_nested_property_constraints/sub-filter-policy-rule-no-list",
     R"({"key_a":"value_one"})",
     "Invalid parameter: FilterPolicy: \"key_a\" must be an object or an array\n at [Source: "
     "(String)\"{\"key_a\":\"value_one\"}\"; line: 1, column: 11]"},
    {"test_validate_policy_nested_anything_but_operator/error-condition-wrong-operator",
     R"({"key":[{"anything-but":{"wrong-operator":null}}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Unsupported anything-but pattern: "
     "wrong-operator\n at [Source: "
     "(String)\"{\"key\":[{\"anything-but\":{\"wrong-operator\":null}}]}\"; line: 1, column: 47]"},
    {"test_validate_policy_nested_anything_but_operator/error-condition-anything-but-suffix",
     R"({"key":[{"anything-but":{"suffix":"test"}}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Unsupported anything-but pattern: "
     "suffix\n at [Source: (String)\"{\"key\":[{\"anything-but\":{\"suffix\":\"test\"}}]}\"; line: "
     "1, column: 36]"},
    {"test_validate_policy_nested_anything_but_operator/error-condition-anything-but-exists",
     R"({"key":[{"anything-but":{"exists":false}}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Unsupported anything-but pattern: "
     "exists\n at [Source: (String)\"{\"key\":[{\"anything-but\":{\"exists\":false}}]}\"; line: 1, "
     "column: 40]"},
    {"test_validate_policy_nested_anything_but_operator/"
     "error-condition-anything-but-prefix-wrong-type",
     R"({"key":[{"anything-but":{"prefix":false}}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: prefix match pattern must be a string\n "
     "at [Source: (String)\"{\"key\":[{\"anything-but\":{\"prefix\":false}}]}\"; line: 1, column: "
     "40]"},
    // SetSubscriptionAttributes with JSON that does not parse (test_sns.snapshot.json).
    {"test_validate_set_sub_attributes/invalid-json-filter-policy", "{invalid json}",
     "Invalid parameter: FilterPolicy: failed to parse JSON. Unexpected character ('i' (code "
     "105)): was expecting double-quote to start field name\n at [Source: REDACTED "
     "(`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 2]"},
    {"test_subscribe_invalid_filter_policy/subscribe-invalid-filter-policy", "invalid",
     "Invalid parameter: Attributes Reason: FilterPolicy: failed to parse JSON. Unrecognized "
     "token 'invalid': was expecting (JSON String, Number, Array, Object or token 'null', 'true' "
     "or 'false')\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` "
     "disabled); line: 1, column: 8]"},
    // Recorded without the policy in the message; inputs as the recording's test wrote them.
    {"test_sub_filter_policy_nested_property/sub-filter-policy-nested-error",
     R"({"object": {"key": [{"prefix": "auto-"}]}})",
     "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter "
     "policy"},
    {"test_sub_filter_policy_nested_property_constraints/sub-filter-policy-max-attr-keys",
     R"({"key_a": ["a"], "key_b": ["b"], "key_c": ["c"], "key_d": ["d"], "key_e": ["e"],
         "key_f": ["f"]})",
     "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"},
    {"test_policy_complexity/error-complexity-too-many-fields",
     R"({"a": [1], "b": [2], "c": [3], "d": [4], "e": [5], "f": [6]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Filter policy can not have more than 5 "
     "keys"},
    // CIDR errors carry no location; the inputs are inferred from the messages.
    {"test_validate_policy_string_operators/error-condition-bad-cidr-str",
     R"({"key": [{"cidr": "bad-filter"}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Malformed CIDR, one '/' required"},
    {"test_validate_policy_string_operators/error-condition-bad-cidr-str-slash",
     R"({"key": [{"cidr": "bad-filter/64"}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Nonstandard IP address: bad-filter"},
    {"test_validate_policy_string_operators/error-condition-bad-cidr-str-slash-2",
     R"({"key": [{"cidr": "bad-filter/xx"}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Malformed CIDR, mask bits must be an "
     "integer"},
    {"test_validate_policy_string_operators/error-condition-bad-cidr-v4",
     R"({"key": [{"cidr": "xx.11.xx/8"}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Nonstandard IP address: xx.11.xx"},
    {"test_validate_policy_string_operators/error-condition-bad-cidr-v6",
     R"({"key": [{"cidr": "xxxx:db8:1234:1a00::/64"}]})",
     "Invalid parameter: Attributes Reason: FilterPolicy: Nonstandard IP address: "
     "xxxx:db8:1234:1a00::"},
};

TEST(FilterPolicyTest, RecordedAwsErrors) {
  for (const RecordedError& c : kRecordedErrors) {
    SCOPED_TRACE(c.name);
    auto p = FilterPolicy::Parse(c.policy, Scope::kMessageAttributes);
    ASSERT_FALSE(p.ok());
    AwsError e = p.take_error();
    EXPECT_EQ(e.code, "InvalidParameter");
    EXPECT_EQ(e.http_status, 400);
    EXPECT_TRUE(e.sender_fault);
    const bool subscribe = std::string(c.message).find("Attributes Reason: ") != std::string::npos;
    EXPECT_EQ(subscribe ? AsSubscribeAttributesError(e).message : e.message, c.message);
  }
}

// ---- Validation: the rest of AWS's rules -------------------------------------------------------

std::string Values(int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += (i ? "," : "") + std::to_string(i);
  return out + "]";
}

struct OtherError {
  std::string policy;
  Scope scope;
  std::string reason;  // after "Invalid parameter: FilterPolicy: "
  int column;          // > 0: the message ends with AWS's location of the error, line 1
};

TEST(FilterPolicyTest, OtherErrors) {
  const Scope kAttr = Scope::kMessageAttributes;
  const Scope kBody = Scope::kMessageBody;
  const std::string kJsonValues =
      "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')";
  const std::string kRedacted =
      "\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); ";
  const std::vector<OtherError> cases = {
      {"", kAttr, "Filter policy can not be empty", 0},
      {"  \n ", kAttr, "Filter policy can not be empty", 0},
      {"{}", kBody, "Filter policy can not be empty", 0},
      {"[1]", kAttr, "Filter is not an object", 2},
      {R"({"a": {}})", kBody, "Empty objects are not allowed", 9},
      {R"({"a": [{}]})", kAttr, "Match expression name not found", 10},
      {R"({"a": ["x", {"exists": true, "prefix": "y"}]})", kAttr,
       "Only one key allowed in match expression", 41},
      {R"({"a": [{"equals-ignore-case": 5}]})", kAttr,
       "equals-ignore-case match pattern must be a string", 32},
      {R"({"a": [{"prefix": {"equals-ignore-case": "x"}}]})", kAttr,
       "prefix match pattern must be a string", 20},
      {R"({"a": [{"numeric": ">"}]})", kAttr, "Value of numeric must be an array.", 21},
      {R"({"a": [{"numeric": [">", 1]}, {"numeric": ["<", 5, "<", 3]}]})", kAttr,
       "Too many elements in numeric expression", 53},
      {R"({"a": [{"numeric": [">", 5, "<=", 5]}]})", kAttr, "Bottom must be less than top", 37},
      {R"({"a": [{"anything-but": ["x", 1]}]})", kAttr,
       "Inside anything but list, either all values are number or string, mixed type is not "
       "supported",
       33},
      {R"({"a": [{"anything-but": []}]})", kAttr,
       "Inside anything but list, either all values are number or string, mixed type is not "
       "supported",
       27},
      {R"({"a": [{"anything-but": [null]}]})", kAttr,
       "Inside anything but list, start|null|boolean is not supported.", 30},
      {R"({"a": [{"anything-but": true}]})", kAttr,
       "Inside anything but list, start|null|boolean is not supported.", 29},
      {R"({"a": [{"anything-but": {"prefix": ""}}]})", kAttr, "Null prefix not allowed", 38},
      {R"({"a": [{"anything-but": "x", "prefix": "y"}]})", kAttr,
       "Only one key allowed in match expression", 41},
      {R"({"$or": [{"a": ["x"]}]})", kAttr,
       "There must have at least 2 Objects in $or relationship.", 23},
      {R"({"$or": {"a": ["x"]}})", kAttr, "It must be an Array followed with $or.", 10},
      {R"({"$or": [{"a": ["x"]}, ["b"]]})", kAttr,
       "Only JSON object is allowed in array of $or relationship.", 25},
      {R"({"a": [{"cidr": "10.0.0.0/33"}]})", kAttr, "IPv4 mask bits must be <= 32", 0},
      {R"({"a": [{"cidr": "10.0.0.0/-1"}]})", kAttr,
       "Malformed CIDR, mask bits must not be negative", 0},
      {R"({"a": [{"cidr": "10.0.0.0/8/8"}]})", kAttr, "Malformed CIDR, one '/' required", 0},
      // Limits: 5 keys (parent keys of nested policies), 150 combinations (the product of the
      // value counts times the nesting depth of each key, summed over $or branches).
      {R"({"a": [1], "b": [1], "c": [1], "d": [1], "$or": [{"e": [1], "f": [1]}, {"g": [1]}]})",
       kAttr, "Filter policy can not have more than 5 keys", 0},
      {R"({"a": )" + Values(151) + "}", kAttr, "Filter policy is too complex", 0},
      {R"({"a": )" + Values(13) + R"(, "b": )" + Values(12) + "}", kAttr,
       "Filter policy is too complex", 0},
      {R"({"$or": [{"a": )" + Values(100) + R"(}, {"b": )" + Values(51) + "}]}", kAttr,
       "Filter policy is too complex", 0},
      {R"({"k": {"$or": [{"a": )" + Values(50) + R"(}, {"b": )" + Values(26) + "}]}}", kBody,
       "Filter policy is too complex", 0},
      {R"({"key_a": {"key_b": {"key_c": )" + Values(9) + R"(}}, "key_d": {"key_e": [1, 2, 3]}})",
       kBody, "Filter policy is too complex", 0},
      // JSON syntax, as AWS's parser words it.
      {R"({"a": [1,]})", kAttr,
       "failed to parse JSON. Unexpected character (']' (code 93)): expected a valid value " +
           kJsonValues + kRedacted + "line: 1, column: 10]",
       0},
      {R"({"a": ["x"])", kAttr,
       "failed to parse JSON. Unexpected end-of-input: expected close marker for Object (start "
       "marker at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "
       "line: 1, column: 1])" +
           kRedacted + "line: 1, column: 12]",
       0},
      {R"({"a" ["x"]})", kAttr,
       "failed to parse JSON. Unexpected character ('[' (code 91)): was expecting a colon to "
       "separate field name and value" +
           kRedacted + "line: 1, column: 6]",
       0},
      {R"({"a": ["x"] "b": [1]})", kAttr,
       "failed to parse JSON. Unexpected character ('\"' (code 34)): was expecting comma to "
       "separate Object entries" +
           kRedacted + "line: 1, column: 13]",
       0},
      {R"({"a": ["x"}})", kAttr,
       "failed to parse JSON. Unexpected close marker '}': expected ']' (for Array starting at "
       "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, "
       "column: 7])" +
           kRedacted + "line: 1, column: 11]",
       0},
      {R"({"a": [tru]})", kAttr,
       "failed to parse JSON. Unrecognized token 'tru': was expecting " + kJsonValues + kRedacted +
           "line: 1, column: 11]",
       0},
      {R"({"a": [01]})", kAttr,
       "failed to parse JSON. Invalid numeric value: Leading zeroes not allowed" + kRedacted +
           "line: 1, column: 9]",
       0},
      {"{\"a\": [\"x\ny\"]}", kAttr,
       "failed to parse JSON. Illegal unquoted character ((CTRL-CHAR, code 10)): has to be "
       "escaped using backslash to be included in string value" +
           kRedacted + "line: 1, column: 10]",
       0},
  };
  for (const OtherError& c : cases) {
    SCOPED_TRACE(c.policy);
    auto p = FilterPolicy::Parse(c.policy, c.scope);
    ASSERT_FALSE(p.ok());
    std::string expected = "Invalid parameter: FilterPolicy: " + c.reason;
    if (c.column > 0) {
      expected += "\n at [Source: (String)\"" + c.policy +
                  "\"; line: 1, column: " + std::to_string(c.column) + "]";
    }
    EXPECT_EQ(p.error().message, expected);
    EXPECT_EQ(p.error().code, "InvalidParameter");
  }
}

TEST(FilterPolicyTest, ErrorLocationsFollowLinesAndTruncateLongPolicies) {
  const std::string multi_line = "{\n  \"key\": [[\"v\"]]\n}";
  auto p = FilterPolicy::Parse(multi_line, Scope::kMessageAttributes);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message,
            "Invalid parameter: FilterPolicy: Match value must be String, number, true, false, or "
            "null\n at [Source: (String)\"" +
                multi_line + "\"; line: 2, column: 12]");

  const std::string long_value(600, 'a');
  const std::string policy = R"({"key": [")" + long_value + R"(", []]})";
  p = FilterPolicy::Parse(policy, Scope::kMessageAttributes);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message,
            "Invalid parameter: FilterPolicy: Match value must be String, number, true, false, or "
            "null\n at [Source: (String)\"" +
                policy.substr(0, 500) + "\"[truncated " + std::to_string(policy.size() - 500) +
                " chars]; line: 1, column: 615]");
}

TEST(FilterPolicyTest, SubscribeWording) {
  AwsError e{"InvalidParameter", "Invalid parameter: FilterPolicy: Filter policy is too complex",
             400};
  EXPECT_EQ(AsSubscribeAttributesError(e).message,
            "Invalid parameter: Attributes Reason: FilterPolicy: Filter policy is too complex");
}

TEST(FilterPolicyTest, AcceptsPoliciesWithinLimits) {
  const std::vector<std::pair<std::string, Scope>> ok = {
      // AWS's examples: 3 x 4 x 2 x 3 = 72 combinations; (3 x 2) + (3 x 1 x 2) + (3 x 1 x 3) = 21.
      {R"({"key_a": {"key_b": {"key_c": ["v1", "v2", "v3", "v4"]}},
           "key_d": {"key_e": ["v1", "v2", "v3"]}})",
       Scope::kMessageBody},
      {R"({"source": ["aws.cloudwatch", "aws.events", "aws.ec2"],
           "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
                   {"metricType": ["MetricType"],
                    "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]})",
       Scope::kMessageAttributes},
      {R"({"a": )" + Values(150) + "}", Scope::kMessageAttributes},
      {R"({"$or": [{"a": )" + Values(100) + R"(}, {"b": )" + Values(50) + "}]}",
       Scope::kMessageAttributes},
      {R"({"a": [1], "b": [1], "c": [1], "d": [1], "e": [1], "$or": [{"e": [2]}, {"a": [3]}]})",
       Scope::kMessageAttributes},
      {R"({"a": ["x"]} trailing text is ignored, as AWS's parser does)", Scope::kMessageAttributes},
      {R"({"a": [{"numeric": [">=", -1e3, "<", 1.5E2]}, {"numeric": ["=", 0]}, null, true]})",
       Scope::kMessageAttributes},
      {R"({"a": [{"anything-but": ["x", "y"]}, {"anything-but": 5}, {"anything-but": [1, 2]}]})",
       Scope::kMessageAttributes},
      {R"({"a": [{"cidr": "10.0.0.0/32"}, {"cidr": "::/0"}]})", Scope::kMessageAttributes},
  };
  for (const auto& [policy, scope] : ok) {
    SCOPED_TRACE(policy);
    auto p = FilterPolicy::Parse(policy, scope);
    EXPECT_TRUE(p.ok()) << p.error().message;
    if (p.ok()) {
      EXPECT_EQ(p->scope(), scope);
    }
  }
}

// ---- Matching ----------------------------------------------------------------------------------

Json Str(const std::string& v) { return {{"DataType", "String"}, {"StringValue", v}}; }
Json Num(const std::string& v) { return {{"DataType", "Number"}, {"StringValue", v}}; }
Json Arr(const std::string& v) { return {{"DataType", "String.Array"}, {"StringValue", v}}; }
Json Bin(const std::string& v) { return {{"DataType", "Binary"}, {"BinaryValue", v}}; }

struct AttributeCase {
  const char* policy;
  Json attributes;
  bool matches;
};

TEST(FilterPolicyTest, MatchesMessageAttributes) {
  const Json none = Json::object();
  const std::vector<AttributeCase> cases = {
      // Exact values; types matter.
      {R"({"store": ["example_corp"]})", {{"store", Str("example_corp")}}, true},
      {R"({"store": ["example_corp"]})", {{"store", Str("other")}}, false},
      {R"({"store": ["example_corp"]})", none, false},
      {R"({"store": ["a", "example_corp"]})", {{"store", Str("example_corp")}}, true},
      {R"({"price": [100]})", {{"price", Num("100")}}, true},
      {R"({"price": [100]})", {{"price", Num("100.0")}}, true},
      {R"({"price": [100]})", {{"price", Num("1e2")}}, true},
      {R"({"price": [100]})", {{"price", Num("100.5")}}, false},
      {R"({"price": [100]})", {{"price", Str("100")}}, false},
      {R"({"price": ["100"]})", {{"price", Num("100")}}, false},
      {R"({"flag": [true]})", {{"flag", Str("true")}}, false},
      // String.Array: one element is enough; elements keep their JSON types.
      {R"({"sports": ["rugby"]})", {{"sports", Arr(R"(["soccer", "rugby"])")}}, true},
      {R"({"sports": ["rugby"]})", {{"sports", Arr(R"(["soccer"])")}}, false},
      {R"({"n": [5]})", {{"n", Arr("[1, 5]")}}, true},
      {R"({"n": ["5"]})", {{"n", Arr("[1, 5]")}}, false},
      {R"({"n": [{"numeric": [">", 4]}]})", {{"n", Arr("[1, 5]")}}, true},
      {R"({"n": [{"numeric": [">", 4]}]})", {{"n", Arr("[1, 2]")}}, false},
      {R"({"flag": [true]})", {{"flag", Arr("[false, true]")}}, true},
      {R"({"v": [null]})", {{"v", Arr("[null]")}}, true},
      {R"({"sports": [{"prefix": "rug"}]})", {{"sports", Arr(R"(["soccer", "rugby"])")}}, true},
      // null matches a missing attribute (recorded: test_filter_policy, messages-4).
      {R"({"attr1": [null, {"anything-but": "whatever"}]})", none, true},
      {R"({"attr1": [null, {"anything-but": "whatever"}]})", {{"attr1", Str("whatever")}}, false},
      {R"({"attr1": [null, {"anything-but": "whatever"}]})", {{"attr1", Str("other")}}, true},
      // prefix / suffix / equals-ignore-case: strings only.
      {R"({"i": [{"prefix": "bas"}]})", {{"i", Str("baseball")}}, true},
      {R"({"i": [{"prefix": "bas"}]})", {{"i", Str("rugby")}}, false},
      {R"({"i": [{"prefix": "1"}]})", {{"i", Num("10")}}, false},
      {R"({"i": [{"prefix": ""}]})", {{"i", Str("x")}}, true},
      {R"({"f": [{"suffix": ".png"}]})", {{"f", Str("img.png")}}, true},
      {R"({"f": [{"suffix": ".png"}]})", {{"f", Str("img.jpg")}}, false},
      {R"({"c": [{"equals-ignore-case": "ReD"}]})", {{"c", Str("red")}}, true},
      {R"({"c": [{"equals-ignore-case": "ReD"}]})", {{"c", Str("RED")}}, true},
      {R"({"c": [{"equals-ignore-case": "ReD"}]})", {{"c", Str("reds")}}, false},
      // anything-but: the key must be there; any value not excluded matches.
      {R"({"s": [{"anything-but": "rugby"}]})", {{"s", Str("tennis")}}, true},
      {R"({"s": [{"anything-but": "rugby"}]})", {{"s", Str("rugby")}}, false},
      {R"({"s": [{"anything-but": "rugby"}]})", none, false},
      {R"({"s": [{"anything-but": "rugby"}]})", {{"s", Num("5")}}, true},
      {R"({"s": [{"anything-but": ["a", "b"]}]})", {{"s", Str("c")}}, true},
      {R"({"s": [{"anything-but": ["a", "b"]}]})", {{"s", Str("b")}}, false},
      {R"({"s": [{"anything-but": ["a", "b"]}]})", {{"s", Arr(R"(["a", "c"])")}}, true},
      {R"({"s": [{"anything-but": ["a", "b"]}]})", {{"s", Arr(R"(["a", "b"])")}}, false},
      {R"({"p": [{"anything-but": [100, 200]}]})", {{"p", Num("100")}}, false},
      {R"({"p": [{"anything-but": [100, 200]}]})", {{"p", Num("150")}}, true},
      {R"({"o": [{"anything-but": {"prefix": "order-"}}]})", {{"o", Str("order-1")}}, false},
      {R"({"o": [{"anything-but": {"prefix": "order-"}}]})", {{"o", Str("invoice-1")}}, true},
      // numeric (recorded: test_filter_policy, 99 in (0, 100]).
      {R"({"attr1": [{"numeric": [">", 0, "<=", 100]}]})", {{"attr1", Num("99")}}, true},
      {R"({"attr1": [{"numeric": [">", 0, "<=", 100]}]})", {{"attr1", Num("100")}}, true},
      {R"({"attr1": [{"numeric": [">", 0, "<=", 100]}]})", {{"attr1", Num("0")}}, false},
      {R"({"attr1": [{"numeric": [">", 0, "<=", 100]}]})", {{"attr1", Num("100.01")}}, false},
      {R"({"attr1": [{"numeric": [">", 0, "<=", 100]}]})", {{"attr1", Str("99")}}, false},
      {R"({"attr1": [{"numeric": [">", 0, "<=", 100]}]})", {{"attr1", Num("abc")}}, false},
      {R"({"p": [{"numeric": ["=", 301.5]}]})", {{"p", Num("301.50")}}, true},
      {R"({"p": [{"numeric": ["=", 301.5]}]})", {{"p", Num("301.6")}}, false},
      {R"({"p": [{"numeric": ["<", 0]}]})", {{"p", Num("-0.5")}}, true},
      {R"({"p": [{"numeric": ["<", 0]}]})", {{"p", Num("0")}}, false},
      {R"({"p": [{"numeric": ["<=", 0]}]})", {{"p", Num("0")}}, true},
      {R"({"p": [{"numeric": [">=", 10]}]})", {{"p", Num("10")}}, true},
      {R"({"p": [{"numeric": [">=", 10, "<", 20]}]})", {{"p", Num("20")}}, false},
      // exists (recorded: test_exists_filter_policy).
      {R"({"store": [{"exists": true}]})", {{"store", Num("99")}, {"def", Num("99")}}, true},
      {R"({"store": [{"exists": true}]})", {{"def", Num("99")}}, false},
      {R"({"store": [{"exists": true}]})", {{"store", Bin("AAE=")}}, true},
      {R"({"store": [{"exists": false}]})", {{"def", Num("99")}}, true},
      {R"({"store": [{"exists": false}]})", {{"store", Str("x")}}, false},
      {R"({"store": [{"exists": false}, "x"]})", {{"store", Str("x")}}, true},
      // Binary attributes have no values.
      {R"({"b": ["AAE="]})", {{"b", Bin("AAE=")}}, false},
      // AND between keys, $or between sub-policies.
      {R"({"a": ["1"], "b": ["2"]})", {{"a", Str("1")}, {"b", Str("2")}}, true},
      {R"({"a": ["1"], "b": ["2"]})", {{"a", Str("1")}}, false},
      {R"({"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                                 {"namespace": [{"prefix": "AWS/"}]}]})",
       {{"source", Str("aws.cloudwatch")}, {"metricName", Str("CPUUtilization")}},
       true},
      {R"({"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                                 {"namespace": [{"prefix": "AWS/"}]}]})",
       {{"source", Str("aws.cloudwatch")}, {"namespace", Str("AWS/EC2")}},
       true},
      {R"({"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                                 {"namespace": [{"prefix": "AWS/"}]}]})",
       {{"source", Str("aws.cloudwatch")}},
       false},
      {R"({"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                                 {"namespace": [{"prefix": "AWS/"}]}]})",
       {{"metricName", Str("CPUUtilization")}},
       false},
      // cidr.
      {R"({"ip": [{"cidr": "10.0.0.0/24"}]})", {{"ip", Str("10.0.0.255")}}, true},
      {R"({"ip": [{"cidr": "10.0.0.0/24"}]})", {{"ip", Str("10.0.1.1")}}, false},
      {R"({"ip": [{"cidr": "10.0.0.0/24"}]})", {{"ip", Str("not-an-ip")}}, false},
      {R"({"ip": [{"cidr": "10.1.2.3/32"}]})", {{"ip", Str("10.1.2.3")}}, true},
      {R"({"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]})",
       {{"ip", Str("2001:0db8:1234:1a00:0000:0000:0000:0001")}},
       true},
      {R"({"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]})",
       {{"ip", Str("2001:db8:1234:1b00::1")}},
       false},
      {R"({"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]})", {{"ip", Str("10.0.0.1")}}, false},
      // Keys are flat: a dot is part of the name.
      {R"({"a.b": ["x"]})", {{"a.b", Str("x")}}, true},
      // The notification form {"Type", "Value"} is accepted too.
      {R"({"k": ["v"]})", {{"k", {{"Type", "String"}, {"Value", "v"}}}}, true},
      {R"({"k": ["v"]})", Json(), false},
  };
  for (const AttributeCase& c : cases) {
    SCOPED_TRACE(std::string(c.policy) + " on " + c.attributes.dump());
    auto p = FilterPolicy::Parse(c.policy, Scope::kMessageAttributes);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->Matches(c.attributes), c.matches);
    EXPECT_EQ(p->Matches(PreparedMessage::FromAttributes(c.attributes)), c.matches);
  }
}

struct BodyCase {
  const char* policy;
  const char* body;
  bool matches;
};

TEST(FilterPolicyTest, MatchesMessageBody) {
  const char* kS3 =
      R"({"Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}},
                      "eventName": [{"prefix": "ObjectCreated:"}]}})";
  const char* kOr =
      R"({"detail": {"scope": ["Service"],
                     "$or": [{"source": ["aws.cloudwatch"]},
                             {"type": ["CloudWatch Alarm State Change"]}]},
          "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
                  {"namespace": ["AWS/EC2", "AWS/ES"]}]})";
  const char* kIp =
      R"({"detail": {"$or": [{"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]},
                             {"sourceIPAddressV6": [{"cidr": "2001:db8:1234:1a00::/64"}]}]}})";
  const std::vector<BodyCase> cases = {
      // Nested keys (recorded: test_filter_policy_on_message_body).
      {R"({"object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"]}})",
       R"({"object": {"key": "auto-test"}})", true},
      {R"({"object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"]}})",
       R"({"object": {"key": "hardcodedvalue"}})", true},
      {R"({"object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"]}})",
       R"({"object": {"key": "manual-test"}})", false},
      {R"({"object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"]}})", R"({"object": "x"})",
       false},
      // Dotted keys are paths, in the policy and in the body (recorded: ..._dot_attribute).
      {R"({"object.nested": ["string.value"]})", R"({"object": {"nested": "string.value"}})", true},
      {R"({"object.nested": ["string.value"]})", R"({"object.nested": "string.value"})", true},
      {R"({"object": {"nested": ["string.value"]}})", R"({"object.nested": "string.value"})", true},
      {R"({"object": {"nested": {"test": ["string.value"]}}})",
       R"({"object.nested.test": "string.value"})", true},
      {R"({"object": {"nested": {"test": ["string.value"]}}})",
       R"({"object": {"nested": {"test": "string.value"}}})", true},
      {R"({"object": {"nested": {"test": ["string.value"]}}})",
       R"({"object": {"nested": "string.value"}})", false},
      // Arrays of values (recorded: ..._array_attributes).
      {R"({"headers": {"route-to": ["queue1"]}})",
       R"({"headers": {"route-to": ["queue1", "queue2"]}})", true},
      {R"({"headers": {"route-to": ["queue1"]}})", R"({"headers": {"route-to": ["queue2"]}})",
       false},
      {R"({"n": [3]})", R"({"n": [[1, 2], [3]]})", true},
      // Arrays of objects: fields must match within one element (recorded: ..._of_object_...).
      {kS3,
       R"({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                        "s3": {"object": [[{"key": "auto-insurance-2314.xml", "size": 17}]]}},
                       {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
                        "s3": {"object": {"key": "home-insurance-2314.xml", "size": 17}}}]})",
       true},
      {kS3,
       R"({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "auto-x"}}}]})",
       true},
      {kS3,
       R"({"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "auto-x"}}},
                       {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "home-x"}}}]})",
       false},
      // $or at two levels (recorded: ..._or_attribute).
      {kOr,
       R"({"metricName": "CPUUtilization",
           "detail": {"scope": "Service", "source": "aws.cloudwatch"}})",
       true},
      {kOr,
       R"({"metricName": "CPUUtilization",
           "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}})",
       true},
      {kOr,
       R"({"metricName": "ReadLatency",
           "detail": {"scope": "Service", "source": "aws.cloudwatch"}})",
       true},
      {kOr,
       R"({"namespace": "AWS/EC2", "detail": {"scope": "Service", "source": "aws.cloudwatch"}})",
       true},
      {kOr,
       R"({"namespace": "AWS/RDS", "detail": {"scope": "Service", "source": "aws.cloudwatch"}})",
       false},
      {kOr,
       R"({"metricName": "CPUUtilization",
           "detail": {"scope": "Region", "source": "aws.cloudwatch"}})",
       false},
      {kOr,
       R"({"metricName": "CPUUtilization", "detail": {"scope": "Service", "source": "aws.ec2"}})",
       false},
      // cidr (recorded: ..._ip_address_condition).
      {kIp, R"({"id": "1", "detail": {"sourceIPAddress": "10.0.0.255"}})", true},
      {kIp, R"({"id": "2", "detail": {"sourceIPAddress": "10.0.1.1"}})", false},
      {kIp,
       R"({"id": "3", "detail": {"sourceIPAddressV6": "2001:0db8:1234:1a00:0000:0000:0000:0000"}})",
       true},
      // exists looks at leaves; [] and {} have none (recorded: ..._empty_array_payload).
      {R"({"resources": [{"exists": false}], "detail": {"responseElements": [null]}})",
       R"({"source": "aws.autoscaling", "resources": [],
           "detail": {"eventVersion": "", "responseElements": null}})",
       true},
      {R"({"resources": [{"exists": true}]})", R"({"resources": []})", false},
      {R"({"a": [{"exists": true}]})", R"({"a": {"b": 1}})", false},
      {R"({"a": [{"exists": false}]})", R"({"a": {"b": 1}})", true},
      {R"({"a": {"b": [{"exists": true}]}})", R"({"a": {"b": 1}})", true},
      {R"({"a": [{"exists": true}]})", R"({"a": null})", true},
      // Types.
      {R"({"price": [{"numeric": [">", 10]}]})", R"({"price": 11})", true},
      {R"({"price": [{"numeric": [">", 10]}]})", R"({"price": "11"})", false},
      {R"({"price": [{"numeric": [">", 10]}]})", R"({"price": [5, 20]})", true},
      {R"({"price": [10]})", R"({"price": 10.0})", true},
      {R"({"flag": [true]})", R"({"flag": true})", true},
      {R"({"flag": [true]})", R"({"flag": "true"})", false},
      {R"({"v": [null]})", R"({"v": null})", true},
      {R"({"v": [null]})", R"({})", false},
      {R"({"state": [{"anything-but": "stopped"}]})", R"({"state": "running"})", true},
      {R"({"state": [{"anything-but": "stopped"}]})", R"({"state": "stopped"})", false},
      {R"({"state": [{"anything-but": "stopped"}]})", R"({"other": 1})", false},
      {R"({"state": [{"anything-but": "stopped"}]})", R"({"state": 5})", true},
      {R"({"c": [{"equals-ignore-case": "ok"}]})", R"({"c": "OK"})", true},
      {R"({"f": [{"suffix": ".jpg"}]})", R"({"f": ["a.png", "b.jpg"]})", true},
      // Bodies that are not JSON objects never match.
      {R"({"a": [{"exists": false}]})", "not json", false},
      {R"({"a": [{"exists": false}]})", "[1, 2]", false},
      {R"({"a": [{"exists": false}]})", "\"text\"", false},
      {R"({"a": [{"exists": false}]})", "{}", true},
  };
  for (const BodyCase& c : cases) {
    SCOPED_TRACE(std::string(c.policy) + " on " + c.body);
    auto p = FilterPolicy::Parse(c.policy, Scope::kMessageBody);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->Matches(PreparedMessage::FromBodyText(c.body)), c.matches);
    EXPECT_EQ(p->Matches(Json::parse(c.body, nullptr, false)), c.matches);
  }
}

TEST(FilterPolicyTest, PreparedMessageOfTheOtherScopeNeverMatches) {
  auto attrs = FilterPolicy::Parse(R"({"a": [{"exists": false}]})", Scope::kMessageAttributes);
  auto body = FilterPolicy::Parse(R"({"a": [{"exists": false}]})", Scope::kMessageBody);
  ASSERT_TRUE(attrs.ok() && body.ok());
  EXPECT_TRUE(attrs->Matches(PreparedMessage::FromAttributes(Json::object())));
  EXPECT_FALSE(attrs->Matches(PreparedMessage::FromBody(Json::object())));
  EXPECT_TRUE(body->Matches(PreparedMessage::FromBody(Json::object())));
  EXPECT_FALSE(body->Matches(PreparedMessage::FromAttributes(Json::object())));
}

TEST(FilterPolicyTest, LargeArrayOfObjectsStaysFast) {
  // 2000 records, the matching pair in the last one: the consistency search stays linear-ish.
  Json records = Json::array();
  for (int i = 0; i < 2000; ++i) {
    records.push_back({{"a", i}, {"b", i == 1999 ? "yes" : "no"}, {"c", "x"}});
  }
  Json body = {{"Records", records}};
  auto p = FilterPolicy::Parse(
      R"({"Records": {"a": [{"numeric": [">=", 1999]}], "b": ["yes"], "c": ["x"]}})",
      Scope::kMessageBody);
  ASSERT_TRUE(p.ok());
  PreparedMessage m = PreparedMessage::FromBody(body);
  EXPECT_TRUE(p->Matches(m));
  auto q = FilterPolicy::Parse(
      R"({"Records": {"a": [{"numeric": ["<", 1999]}], "b": ["yes"], "c": ["x"]}})",
      Scope::kMessageBody);
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->Matches(m));
}

}  // namespace
}  // namespace gc::sns
