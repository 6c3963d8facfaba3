// SsmService: the Systems Manager service module — its state (parameters, tags) and its operation
// table for the dispatcher. Thread-safe once constructed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "services/ssm/parameter_store.h"
#include "services/ssm/resource_tags.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

class SsmService {
 public:
  // `encryption_key`: 32 bytes, the at-rest key for SecureString values.
  SsmService(store::Store& store, std::string encryption_key);

  static std::vector<store::Migration> Migrations();
  // The operation table; `this` must outlive it.
  wire::ServiceDef Definition();

  ParameterStore& parameters() { return parameters_; }

 private:
  ParameterStore parameters_;
  ResourceTags tags_;
};

}  // namespace gc::ssm
