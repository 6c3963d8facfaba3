// AwsError and Result<T>: expected failures as values. An AwsError carries the AWS error code,
// message and HTTP status; only the protocol codecs in wire/ turn it into bytes. Thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace gc {

struct AwsError {
  std::string code;     // e.g. "ParameterNotFound"
  std::string message;  // human text, as AWS words it
  int http_status = 400;
  bool sender_fault = true;  // query protocol <Type>Sender</Type> vs Receiver

  static AwsError Validation(std::string message) {
    return {"ValidationException", std::move(message), 400, true};
  }
  static AwsError Internal(std::string message) {
    return {"InternalFailure", std::move(message), 500, false};
  }
};

// Either a value or an AwsError. Small clone of absl::StatusOr with AWS error data.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(AwsError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const AwsError& error() const { return std::get<1>(v_); }
  AwsError&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, AwsError> v_;
};

// Result<void> equivalent.
struct Ok {};
using Status = Result<Ok>;

}  // namespace gc
