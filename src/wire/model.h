// gc::model: botocore service models (metadata, operations, shapes, errors) parsed into C++.
// Thread-safety: a ServiceModel is immutable after Parse() and safe to share between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace gc::model {

// JSON documents that handlers see and return (the same for every protocol):
//  - keyed by the model's member names (never locationName: that is only for the query wire);
//  - timestamps are numbers of epoch seconds (the query decoder converts ISO-8601 to them);
//  - blobs are base64 strings, as on the JSON wire;
//  - integers/longs are JSON integers, booleans JSON booleans.

enum class ShapeType : uint8_t {
  kStructure,
  kList,
  kMap,
  kString,
  kInteger,
  kLong,
  kFloat,
  kDouble,
  kBoolean,
  kTimestamp,
  kBlob,
};
std::string_view ShapeTypeName(ShapeType type);

// A botocore "pattern" trait (a Java regex) prepared for matching UTF-8 values with Java's
// full-match semantics. Java-isms that ECMAScript lacks are translated where the meaning is
// clear: a leading (?i), \p{L}/\p{N}/\p{Z} and \uXXXX in character classes (non-ASCII code
// points are accepted by any class that names a non-ASCII range or a Unicode property). A pattern
// that still does not compile is kept unchecked: Matches() then always returns true.
class Pattern {
 public:
  explicit Pattern(std::string source);
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;

  const std::string& source() const { return source_; }
  bool checked() const { return kind_ != Kind::kUnchecked; }
  // The ECMAScript text actually compiled (after translation); empty when not a regex.
  const std::string& compiled_source() const { return compiled_; }
  // True when `value` matches the whole pattern (or the pattern is unchecked). Values longer than
  // kMaxRegexInput bytes are not run through std::regex (its matcher recurses once per character)
  // and count as matching.
  bool Matches(std::string_view value) const;

  static constexpr size_t kMaxRegexInput = 2048;

 private:
  enum class Kind : uint8_t { kUnchecked, kRegex, kCharRun, kNotBlank, kNonBlankLine };
  std::string source_;
  std::string compiled_;
  Kind kind_ = Kind::kUnchecked;
  std::regex re_;
  // kCharRun: every byte in `run_set_` and the length within [run_min_, run_max_].
  uint64_t run_set_[4] = {0, 0, 0, 0};
  size_t run_min_ = 0;
  size_t run_max_ = SIZE_MAX;
};

struct Shape;

// A reference to a shape from a list member, map key or map value, with the serialization
// traits of the reference merged over the target's (as botocore's ShapeResolver does).
struct ShapeRef {
  const Shape* shape = nullptr;
  std::string location_name;  // empty if none
  bool flattened = false;
};

struct Member {
  std::string name;           // key in JSON documents
  std::string path_name;      // name with the first letter lower-cased (ValidationException paths)
  std::string location_name;  // member's or target shape's locationName; empty if none
  std::string query_name;     // queryName (ec2 protocol); empty if none
  std::string location;       // "header", "uri", "querystring", ... ; empty for the body
  std::string xml_namespace;  // empty if none
  const Shape* shape = nullptr;
  bool required = false;
  bool flattened = false;  // member's flattened trait, else the target shape's
  bool idempotency_token = false;
  bool jsonvalue = false;

  // The name on the query/XML wire: locationName, else the member name.
  std::string_view wire_name() const { return location_name.empty() ? name : location_name; }
};

struct ErrorInfo {
  std::string code;       // error.code, else the shape name
  int http_status = 400;  // error.httpStatusCode, else 500 for "fault" shapes, else 400
  bool sender_fault = true;
};

struct Shape {
  std::string name;
  ShapeType type = ShapeType::kString;
  std::vector<Member> members;  // structures, in model order
  std::optional<double> min;    // length (string/blob/list/map) or value (numbers)
  std::optional<double> max;
  std::unique_ptr<Pattern> pattern;      // null if none
  std::vector<std::string> enum_values;  // in model order
  std::string enum_text;                 // "[A, B, C]", precomputed for messages
  bool flattened = false;
  bool exception = false;
  bool fault = false;
  bool is_union = false;
  bool document = false;
  std::string location_name;
  std::string xml_namespace;
  std::string timestamp_format;
  ShapeRef member;                 // lists
  ShapeRef key;                    // maps
  ShapeRef value;                  // maps
  std::optional<ErrorInfo> error;  // set for exception shapes

  const Member* FindMember(std::string_view member_name) const;
};

struct Operation {
  std::string name;
  std::string http_method;        // "POST" unless the model says otherwise
  std::string request_uri;        // "/" unless the model says otherwise
  const Shape* input = nullptr;   // null: the operation takes no input
  const Shape* output = nullptr;  // null: the operation returns no output
  std::string result_wrapper;     // query protocol: element wrapping the output; may be empty
  bool no_auth = false;  // authtype "none" / smithy.api#noAuth (e.g. STS AssumeRoleWithSAML)
  std::vector<const Shape*> errors;
};

class ServiceModel {
 public:
  // Parses a botocore service-2.json (full or trimmed by tools/trim_model.py). Fails with
  // AwsError{"InternalFailure"} on malformed JSON, unknown shape types or dangling shape names.
  static Result<std::unique_ptr<ServiceModel>> Parse(std::string_view json);

  ServiceModel(const ServiceModel&) = delete;
  ServiceModel& operator=(const ServiceModel&) = delete;
  ~ServiceModel();

  const std::string& protocol() const { return protocol_; }  // "json", "query", "ec2", ...
  const std::string& json_version() const { return json_version_; }
  const std::string& target_prefix() const { return target_prefix_; }
  const std::string& xml_namespace() const { return xml_namespace_; }
  const std::string& signing_name() const { return signing_name_; }  // signingName/endpointPrefix
  const std::string& endpoint_prefix() const { return endpoint_prefix_; }
  const std::string& api_version() const { return api_version_; }
  const std::string& service_id() const { return service_id_; }
  // True for JSON services that still accept query clients (SQS): see tools/trim_model.py.
  bool aws_query_compatible() const { return aws_query_compatible_; }

  // Null when unknown. Names are case-sensitive, as on the wire.
  const Operation* FindOperation(std::string_view name) const;
  const Shape* FindShape(std::string_view name) const;
  // Exception shape by its wire code (ErrorInfo::code) or shape name; null when unknown.
  const Shape* FindError(std::string_view code_or_name) const;

  const std::vector<const Operation*>& operations() const { return operation_list_; }
  const std::vector<const Shape*>& error_shapes() const { return error_list_; }
  // Patterns that could not be compiled and are therefore not checked (one per shape).
  const std::vector<const Shape*>& unchecked_pattern_shapes() const { return unchecked_; }

 private:
  ServiceModel() = default;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class T>
  using Index = std::unordered_map<std::string_view, T, Hash, std::equal_to<>>;

  std::string protocol_, json_version_, target_prefix_, xml_namespace_, signing_name_,
      endpoint_prefix_, api_version_, service_id_;
  bool aws_query_compatible_ = false;
  std::vector<std::unique_ptr<Shape>> shapes_;
  std::vector<std::unique_ptr<Operation>> operations_;
  Index<const Shape*> shape_index_;
  Index<const Operation*> operation_index_;
  Index<const Shape*> error_index_;
  std::vector<const Operation*> operation_list_;
  std::vector<const Shape*> error_list_;
  std::vector<const Shape*> unchecked_;
};

// The checked-in models/<service>.json compiled into the binary; empty if there is none.
std::string_view EmbeddedModelJson(std::string_view service);
// Names of the embedded models ("sns", "sqs", "ssm", "sts"), sorted; supplements are left out.
std::vector<std::string_view> EmbeddedModelNames();

// Hand-written supplements: models/<service>-<part>.json (e.g. ssm-agent.json, the agent-only SSM
// operations botocore lacks) hold "operations" and "shapes" that Models::Get merges into
// <service>'s model. They are not in EmbeddedModelNames(). Names of `service`'s supplements,
// sorted.
std::vector<std::string_view> EmbeddedSupplementNames(std::string_view service);
// `model_json` with the supplement's operations and shapes added; InternalFailure on malformed
// JSON or when the supplement redefines a name the model already has.
Result<std::string> MergeSupplement(std::string_view model_json, std::string_view supplement_json);

// The embedded models, each parsed once on first use (with their supplements). Thread-safe.
class Models {
 public:
  // Aborts if `service` is not embedded or its model does not parse: both are build errors,
  // never a result of request data.
  static const ServiceModel& Get(std::string_view service);
  // Null if `service` is not embedded.
  static const ServiceModel* Find(std::string_view service);
};

// Timestamps. ISO-8601 / RFC 3339 ("2024-05-01T12:00:00Z", fractions, offsets, a bare date) to
// epoch seconds; nullopt when malformed.
std::optional<double> ParseIso8601(std::string_view text);
// Epoch seconds to "2024-05-01T12:00:00.000Z" (milliseconds, UTC), as AWS's XML responses use.
std::string FormatIso8601(double epoch_seconds);

}  // namespace gc::model
