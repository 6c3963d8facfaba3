// Small helpers for reading validated request documents (member names as keys; absent and null
// members read as empty). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gc::sqs::util {

using Json = nlohmann::json;

inline std::string Str(const Json& in, const char* key) {
  auto it = in.find(key);
  return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
}

inline bool Has(const Json& in, const char* key) {
  auto it = in.find(key);
  return it != in.end() && !it->is_null();
}

inline std::optional<int64_t> OptInt(const Json& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

inline std::vector<std::string> StrList(const Json& in, const char* key) {
  std::vector<std::string> out;
  auto it = in.find(key);
  if (it == in.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

inline std::map<std::string, std::string> StrMap(const Json& in, const char* key) {
  std::map<std::string, std::string> out;
  auto it = in.find(key);
  if (it == in.end() || !it->is_object()) return out;
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    out[kv.key()] = kv->is_string() ? kv->get<std::string>() : std::string();
  }
  return out;
}

}  // namespace gc::sqs::util
