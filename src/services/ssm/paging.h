// NextToken for SSM list operations: opaque base64 of "<kind>:<last key returned>". The kind
// ties a token to the listing that made it, so a token from elsewhere, or a forged one, gives
// InvalidNextToken. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "common/crypto.h"
#include "common/status.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm {

inline std::string EncodeNextToken(std::string_view kind, std::string_view last_key) {
  return crypto::Base64Encode(std::string(kind) + ":" + std::string(last_key));
}

// The last key of the previous page; "" when the request has no NextToken.
inline Result<std::string> DecodeNextToken(const nlohmann::json& in, std::string_view kind) {
  auto it = in.find("NextToken");
  if (it == in.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return std::string();
  }
  auto raw = crypto::Base64Decode(it->get_ref<const std::string&>());
  const std::string prefix = std::string(kind) + ":";
  if (!raw || raw->compare(0, prefix.size(), prefix) != 0) return errors::InvalidNextToken();
  return raw->substr(prefix.size());
}

}  // namespace gc::ssm
