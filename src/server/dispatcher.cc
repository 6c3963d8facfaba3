#include "server/dispatcher.h"

#include <fmt/format.h>
#include <strings.h>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "wire/model.h"
#include "wire/query_codec.h"
#include "wire/sigv4.h"
#include "wire/validate.h"

namespace gc::server {
namespace {

using Json = nlohmann::json;
using wire::HttpRequest;
using wire::HttpResponse;

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The service named in a SigV4 credential scope (".../date/region/SERVICE/aws4_request"), from the
// Authorization header or the presigned X-Amz-Credential parameter.
std::string ScopeService(const HttpRequest& req,
                         const std::vector<std::pair<std::string, std::string>>& params) {
  std::string credential;
  std::string_view auth = req.Header("Authorization");
  if (size_t pos = auth.find("Credential="); pos != std::string_view::npos) {
    std::string_view rest = auth.substr(pos + 11);
    credential = std::string(rest.substr(0, rest.find_first_of(", ")));
  } else {
    for (const auto& [k, v] : params) {
      if (k == "X-Amz-Credential") credential = v;
    }
  }
  // AK/date/region/service/aws4_request
  std::vector<std::string_view> parts;
  std::string_view c = credential;
  while (true) {
    size_t slash = c.find('/');
    parts.push_back(c.substr(0, slash));
    if (slash == std::string_view::npos) break;
    c.remove_prefix(slash + 1);
  }
  return parts.size() == 5 ? std::string(parts[3]) : std::string();
}

struct Protocol {
  bool json = true;
  std::string json_version = "1.1";
  const model::ServiceModel* model = nullptr;
  const wire::ServiceDef* svc = nullptr;  // null until the service is known
};

HttpResponse ErrorResponse(const Protocol& proto, AwsError err, const std::string& request_id,
                           const std::string& op) {
  HttpResponse resp;
  resp.request_id = request_id;
  resp.log_operation = op;
  resp.headers.emplace_back("x-amzn-RequestId", request_id);
  if (proto.json) {
    std::string type = err.code;
    if (proto.svc != nullptr && proto.model != nullptr && proto.model->aws_query_compatible()) {
      // The JSON type for the query code, and the query code for botocore to restore.
      AwsError query = wire::ToQueryError(err);
      resp.headers.emplace_back("x-amzn-query-error",
                                query.code + (query.sender_fault ? ";Sender" : ";Receiver"));
      if (const model::Shape* shape = proto.model->FindError(err.code)) {
        type = shape->name;
      } else if (auto it = proto.svc->json_error_types.find(err.code);
                 it != proto.svc->json_error_types.end()) {
        type = it->second;
      }
    }
    resp.status = err.http_status;
    resp.content_type = "application/x-amz-json-" + proto.json_version;
    resp.log_error = err.code;
    resp.body = Json{{"__type", type}, {"message", err.message}}.dump();
  } else {
    err = wire::ToQueryError(std::move(err));
    if (proto.svc != nullptr && proto.svc->query_error) proto.svc->query_error(err);
    resp.status = err.http_status;
    resp.content_type = "text/xml";
    resp.log_error = err.code;
    resp.body = wire::EncodeQueryError(err, request_id,
                                       proto.model ? proto.model->xml_namespace() : "");
  }
  return resp;
}

}  // namespace

struct Dispatcher::Call {
  Protocol proto;
  const wire::ServiceDef* svc = nullptr;
  const model::Operation* op = nullptr;
  std::string log_op;
  wire::CallContext ctx;
  Json input;
};

namespace {

// Operations that only read by their AWS name (Get*, List*, Describe*): they never wait for the
// disk.
bool IsReadOnly(std::string_view op) {
  return StartsWith(op, "Get") || StartsWith(op, "List") || StartsWith(op, "Describe");
}

}  // namespace

Dispatcher::Dispatcher(const Credentials& credentials, const Clock& clock,
                       DispatcherOptions options)
    : credentials_(credentials),
      clock_(clock),
      options_(std::move(options)),
      blocking_(std::make_unique<WorkerPool>(kBlockingThreads, "gc-blocking")) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::AddService(wire::ServiceDef def) {
  auto owned = std::make_unique<wire::ServiceDef>(std::move(def));
  const wire::ServiceDef* svc = owned.get();
  if (!svc->model->target_prefix().empty()) by_target_prefix_[svc->model->target_prefix()] = svc;
  by_signing_name_[svc->name] = svc;
  services_.push_back(std::move(owned));
}

HttpResponse Dispatcher::HandleAdmin(const HttpRequest& req) {
  HttpResponse resp;
  std::string_view path = req.Path();
  resp.log_operation = std::string(path);
  if (path == "/_groundcrew/health") {
    resp.body = R"({"status":"ok"})";
    return resp;
  }
  if (options_.links) {
    if (auto resp = options_.links(req)) return std::move(*resp);
  }
  if ((path == "/_groundcrew/reset" || path == "/moto-api/reset") && options_.dev &&
      req.method == "POST") {
    Status st = options_.reset ? options_.reset() : Status(Ok{});
    if (!st.ok()) {
      resp.status = 500;
      resp.body = Json{{"message", st.error().message}}.dump();
      return resp;
    }
    resp.body = R"({"status":"ok"})";
    return resp;
  }
  resp.status = 404;
  resp.body = R"({"message":"Not Found"})";
  return resp;
}

namespace {

// Step 6: the protocol's success response.
HttpResponse Encode(const Protocol& proto, const model::Operation& op, const Json& out,
                    const std::string& request_id, const std::string& log_op) {
  HttpResponse resp;
  resp.request_id = request_id;
  resp.log_operation = log_op;
  resp.headers.emplace_back("x-amzn-RequestId", request_id);
  if (proto.json) {
    resp.content_type = "application/x-amz-json-" + proto.json_version;
    resp.body = out.dump(-1, ' ', false, Json::error_handler_t::replace);
  } else {
    resp.content_type = "text/xml";
    resp.body = wire::EncodeQueryResponse(*proto.model, op, out, request_id);
  }
  return resp;
}

}  // namespace

void Dispatcher::Handle(HttpRequest& req, const wire::Responder& respond) {
  std::string_view path = req.Path();
  if (StartsWith(path, "/_groundcrew/") || StartsWith(path, "/moto-api/")) {
    return respond(HandleAdmin(req));
  }
  auto prepared = Prepare(req);
  if (auto* resp = std::get_if<HttpResponse>(&prepared)) return respond(std::move(*resp));
  auto call = std::make_shared<Call>(std::move(std::get<Call>(prepared)));
  const std::string& op_name = call->op->name;
  auto finish = [call, respond](Result<Json> out) {
    if (!out.ok()) {
      return respond(ErrorResponse(call->proto, out.take_error(), call->ctx.request_id,
                                   call->log_op));
    }
    respond(Encode(call->proto, *call->op, *out, call->ctx.request_id, call->log_op));
  };
  if (auto async = call->svc->async_operations.find(op_name);
      async != call->svc->async_operations.end()) {
    try {
      return async->second(call->ctx, call->input, finish);
    } catch (const std::exception& e) {
      fmt::print(stderr, "internal error in {}: {}\n", call->log_op, e.what());
      return finish(AwsError::Internal("An internal error occurred."));
    }
  }
  auto run = [call, finish = std::move(finish), respond] {
    try {
      auto encoded = call->svc->encoded_operations.find(call->op->name);
      if (encoded == call->svc->encoded_operations.end()) {
        return finish(call->svc->operations.at(call->op->name)(call->ctx, call->input));
      }
      Result<std::string> body = encoded->second(call->ctx, call->input);
      if (!body.ok()) return finish(body.take_error());
      if (!call->proto.json) return finish(Json::parse(*body));  // the query protocol wants XML
      HttpResponse resp = Encode(call->proto, *call->op, Json(), call->ctx.request_id,
                                 call->log_op);
      resp.body = std::move(*body);
      respond(std::move(resp));
    } catch (const std::exception& e) {
      fmt::print(stderr, "internal error in {}: {}\n", call->log_op, e.what());
      finish(AwsError::Internal("An internal error occurred."));
    }
  };
  // Reads answer on the event loop; anything else may wait for a durable write, which must not
  // hold the loop (and every connection on it), so it runs on the blocking pool.
  if (IsReadOnly(op_name) && call->svc->slow_reads.count(op_name) == 0) return run();
  blocking_->Post(std::move(run));
}

std::variant<Dispatcher::Call, HttpResponse> Dispatcher::Prepare(HttpRequest& req) {
  const std::string request_id = crypto::FastUuid4();

  // 1. Protocol, service and operation: X-Amz-Target for JSON protocols, Action for query.
  Protocol proto;
  const wire::ServiceDef* svc = nullptr;
  std::string op_name;
  std::vector<std::pair<std::string, std::string>> params;
  std::string_view target = req.Header("X-Amz-Target");
  if (!target.empty()) {
    size_t dot = target.rfind('.');
    std::string prefix(target.substr(0, dot == std::string_view::npos ? 0 : dot));
    op_name = dot == std::string_view::npos ? std::string() : std::string(target.substr(dot + 1));
    auto it = by_target_prefix_.find(prefix);
    if (it == by_target_prefix_.end()) {
      return ErrorResponse(proto, {"UnknownOperationException", "", 400}, request_id,
                           std::string(target));
    }
    svc = it->second;
    proto.json_version = svc->model->json_version();
  } else {
    proto.json = false;
    auto q = wire::ParseFormUrlEncoded(req.Query());
    if (!q.ok()) return ErrorResponse(proto, q.take_error(), request_id, "");
    params = std::move(*q);
    if (req.method == "POST" &&
        StartsWith(req.Header("Content-Type"), "application/x-www-form-urlencoded")) {
      auto b = wire::ParseFormUrlEncoded(req.body);
      if (!b.ok()) return ErrorResponse(proto, b.take_error(), request_id, "");
      for (auto& kv : *b) params.push_back(std::move(kv));
    }
    for (const auto& [k, v] : params) {
      if (k == "Action") op_name = v;
    }
    std::string scope_service = ScopeService(req, params);
    auto it = by_signing_name_.find(scope_service);
    if (it != by_signing_name_.end()) svc = it->second;
    if (svc == nullptr) {
      // No usable credential scope: the signature check below reports what is missing.
      sigv4::Request probe{req.method, req.target, req.headers, {}};
      auto v = sigv4::Verify(
          probe, [](std::string_view) { return std::optional<std::string>(); },
          {clock_.NowMillis(), 300, false});
      if (auto* e = std::get_if<sigv4::Error>(&v)) {
        return ErrorResponse(proto, SigV4Error(*e), request_id, op_name);
      }
      return ErrorResponse(proto, {"InvalidAction", "Unknown service: " + scope_service, 400},
                           request_id, op_name);
    }
    if (op_name.empty()) {
      return ErrorResponse(proto, {"MissingAction", "Missing Action", 400}, request_id, "");
    }
  }
  proto.model = svc->model;
  proto.svc = svc;
  const std::string path(req.Path());
  const std::string log_op = svc->name + "." + op_name;

  // 2. SigV4 on every request (authenticate.cc).
  std::optional<Principal> principal;
  sigv4::Request sreq{std::move(req.method), std::move(req.target), std::move(req.headers),
                      std::move(req.body)};
  const model::Operation* op = svc->model->FindOperation(op_name);
  auto verified = Authenticate(sreq, *svc, op, proto.json, principal);
  if (auto* e = std::get_if<AwsError>(&verified)) {
    return ErrorResponse(proto, std::move(*e), request_id, log_op);
  }
  const auto& identity = std::get<sigv4::Identity>(verified);
  if (identity.service != svc->name) {
    return ErrorResponse(proto,
                         {"InvalidSignatureException",
                          fmt::format("Credential should be scoped to correct service: '{}'. ",
                                      svc->name),
                          400},
                         request_id, log_op);
  }

  // 3. The operation.
  bool implemented = svc->operations.count(op_name) > 0 ||
                     svc->async_operations.count(op_name) > 0 ||
                     svc->encoded_operations.count(op_name) > 0;
  if (op == nullptr || !implemented) {
    AwsError err = proto.json ? AwsError{"UnknownOperationException", "", 400}
                              : AwsError{"InvalidAction",
                                         fmt::format("The action {} is not valid for this web "
                                                     "service.",
                                                     op_name),
                                         400};
    return ErrorResponse(proto, std::move(err), request_id, log_op);
  }
  if (principal->is_node && svc->node_operations.count(op_name) == 0) {
    return ErrorResponse(proto,
                         {"AccessDeniedException",
                          fmt::format("User: {} is not authorized to perform: {}:{}",
                                      principal->arn, svc->name, op_name),
                          400},
                         request_id, log_op);
  }

  std::string host;
  for (const auto& [k, v] : sreq.headers) {
    if (k.size() == 4 && strncasecmp(k.c_str(), "host", 4) == 0) host = v;
  }
  const std::string endpoint = fmt::format("{}://{}", req.tls ? "https" : "http", host);

  // 4. Decode and validate the input against the model.
  Json input;
  std::shared_ptr<const void> decoded;
  if (auto decoder = svc->input_decoders.find(op_name);
      proto.json && !sreq.body.empty() && decoder != svc->input_decoders.end()) {
    decoded = decoder->second(sreq.body, input);
    if (!decoded) input = Json();
  }
  if (decoded) {
    // The decoder made the input document; the model check below still applies to it.
  } else if (proto.json) {
    if (sreq.body.empty()) {
      input = Json::object();
    } else {
      input = Json::parse(sreq.body, nullptr, false);
      if (input.is_discarded() || !input.is_object()) {
        return ErrorResponse(proto, {"SerializationException", "", 400}, request_id, log_op);
      }
    }
  } else {
    auto decoded = wire::DecodeQueryInput(*svc->model, *op, params);
    if (!decoded.ok()) return ErrorResponse(proto, decoded.take_error(), request_id, log_op);
    input = std::move(*decoded);
  }
  const std::string& url_member = svc->path_url_member;
  if (!url_member.empty() && path.size() > 1 && op->input != nullptr &&
      op->input->FindMember(url_member) != nullptr &&
      (!input.contains(url_member) || input[url_member].is_null())) {
    input[url_member] = endpoint + path;
  }
  if (svc->pre_validate) {
    if (Status st = svc->pre_validate(op_name, input); !st.ok()) {
      return ErrorResponse(proto, st.take_error(), request_id, log_op);
    }
  }
  // Members the service validates itself sit out the model check.
  std::vector<std::pair<std::string, Json>> unvalidated;
  if (auto it = svc->unvalidated_members.find(op_name); it != svc->unvalidated_members.end()) {
    for (const std::string& member : it->second) {
      if (!input.contains(member)) continue;
      unvalidated.emplace_back(member, std::move(input[member]));
      input.erase(member);
    }
  }
  Status valid = wire::ValidateInput(*svc->model, *op, input);
  for (auto& [member, value] : unvalidated) input[member] = std::move(value);
  if (!valid.ok()) return ErrorResponse(proto, valid.take_error(), request_id, log_op);

  // 5. The call to make.
  Call call;
  call.proto = proto;
  call.svc = svc;
  call.op = op;
  call.log_op = log_op;
  call.input = std::move(input);
  wire::CallContext& ctx = call.ctx;
  ctx.account_id = principal->account_id;
  ctx.region = principal->region.empty() ? identity.region : principal->region;
  ctx.access_key_id = identity.access_key_id;
  ctx.caller_arn = principal->arn;
  ctx.caller_user_id = principal->user_id;
  ctx.is_node = principal->is_node;
  ctx.request_id = request_id;
  ctx.now_millis = clock_.NowMillis();
  ctx.endpoint = endpoint;
  ctx.decoded = std::move(decoded);
  return call;
}

}  // namespace gc::server
