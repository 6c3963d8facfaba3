// libFuzzer target: the JSON request decoder — parse the body, then validate it against the
// botocore input shapes of several SSM operations, as the dispatcher does for every request.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "wire/model.h"
#include "wire/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return 0;
  static const gc::model::ServiceModel& ssm = gc::model::Models::Get("ssm");
  for (const char* name : {"PutParameter", "GetParametersByPath", "DescribeParameters",
                           "SendCommand", "CreateAssociation", "GetInventory"}) {
    const gc::model::Operation* op = ssm.FindOperation(name);
    if (op != nullptr) (void)gc::wire::ValidateInput(ssm, *op, doc);
  }
  return 0;
}
