// libFuzzer target: the query-protocol form/query-string parser and the model-driven decoder that
// turns the flat parameters into an input document (SNS Subscribe, SQS SendMessageBatch shapes).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wire/model.h"
#include "wire/query_codec.h"
#include "wire/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto params = gc::wire::ParseFormUrlEncoded(text);
  if (!params.ok()) return 0;
  static const gc::model::ServiceModel& sns = gc::model::Models::Get("sns");
  static const gc::model::ServiceModel& sts = gc::model::Models::Get("sts");
  for (const auto* model : {&sns, &sts}) {
    for (const char* name : {"Subscribe", "Publish", "SetTopicAttributes", "GetCallerIdentity"}) {
      const gc::model::Operation* op = model->FindOperation(name);
      if (op == nullptr) continue;
      auto doc = gc::wire::DecodeQueryInput(*model, *op, *params);
      if (doc.ok()) (void)gc::wire::ValidateInput(*model, *op, *doc);
    }
  }
  return 0;
}
