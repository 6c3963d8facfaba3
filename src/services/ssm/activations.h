// Activations: hybrid activations — CreateActivation, DescribeActivations, DeleteActivation — and
// Redeem, with which RegisterManagedInstance spends one registration. Table ssm_activation.
// An activation code is shown once (as AWS does) and stored only as its SHA-256: 20 random
// characters carry ~119 bits, so a fast hash is enough. Thread-safe: all state is in the store.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

class Activations {
 public:
  explicit Activations(store::Store& store) : store_(store) {}

  static std::vector<store::Migration> Migrations();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> CreateActivation(const Ctx& ctx, const Json& in);
  Result<Json> DescribeActivations(const Ctx& ctx, const Json& in);
  Result<Json> DeleteActivation(const Ctx& ctx, const Json& in);

  // What a registration inherits from its activation.
  struct Grant {
    std::string activation_id;
    std::string account;
    std::string region;
    std::string iam_role;
    std::string default_instance_name;
    Json tags = Json::array();  // [{"Key","Value"}]
  };
  // Checks `id` and `code` and the activation's expiry and limit at `now_millis`, then counts one
  // registration, inside the caller's transaction so that the count commits with the node.
  // Activations are found by id in any account and region: the caller is not signed.
  // Errors: InvalidActivationId (malformed id), InvalidActivation (unknown or deleted, wrong code,
  // or registration limit reached), ActivationExpired.
  static Result<Grant> Redeem(store::Tx& tx, const std::string& id, const std::string& code,
                              int64_t now_millis);

 private:
  store::Store& store_;
};

}  // namespace gc::ssm
