// Plain HTTP request/response values passed between the server and the dispatcher, so that no
// service or dispatcher header needs Beast. Value types; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gc::wire {

struct HttpRequest {
  std::string method;
  std::string target;  // raw request-target: path plus optional "?query"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // peer address "ip:port"
  bool tls = false;

  // Case-insensitive header lookup; empty if absent.
  std::string_view Header(std::string_view name) const;
  std::string_view Path() const;   // target before '?'
  std::string_view Query() const;  // target after '?', or empty
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // For the access log: the operation served ("ssm.PutParameter") and the AWS error code, if any.
  std::string log_operation;
  std::string log_error;
  std::string request_id;
};

}  // namespace gc::wire
