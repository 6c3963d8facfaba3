#include "services/sqs/message_attributes.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "common/crypto.h"
#include "services/sqs/sqs_errors.h"

namespace gc::sqs {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxMessageAttributes = 10;
constexpr size_t kMaxAttributeNameBytes = 256;
constexpr size_t kMaxDataTypeBytes = 256;

// Decodes one UTF-8 code point at `i`; returns -1 on malformed input (overlong forms, surrogates
// and values above U+10FFFF included).
int32_t DecodeUtf8(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  int len = 0;
  int32_t cp = 0;
  int32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + len > s.size()) return -1;
  for (int k = 1; k < len; ++k) {
    unsigned char cc = byte(i + k);
    if ((cc & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += len;
  return cp;
}

std::u16string ToUtf16(std::string_view s) {
  std::u16string out;
  size_t i = 0;
  while (i < s.size()) {
    int32_t cp = DecodeUtf8(s, i);
    if (cp < 0) {  // not reachable for validated names; keep the byte order stable anyway
      out.push_back(static_cast<char16_t>(static_cast<unsigned char>(s[i++])));
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_md5(), nullptr);
  }
  void Update(std::string_view data) { EVP_DigestUpdate(ctx_.get(), data.data(), data.size()); }
  void Byte(uint8_t b) { EVP_DigestUpdate(ctx_.get(), &b, 1); }
  // 4-byte big-endian length, then the bytes.
  void LengthPrefixed(std::string_view data) {
    uint32_t n = static_cast<uint32_t>(data.size());
    const uint8_t len[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                            static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    EVP_DigestUpdate(ctx_.get(), len, 4);
    Update(data);
  }
  std::string HexDigest() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &n);
    return crypto::Hex(std::string_view(reinterpret_cast<const char*>(out), n));
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

std::string Str(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool Has(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

std::string Blob(const Json& v) {
  if (!v.is_string()) return std::string();
  return crypto::Base64Decode(v.get<std::string>()).value_or(std::string());
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// Attribute names: A-Z a-z 0-9 _ - . and the Latin-1/Latin Extended-A letters AWS accepts.
bool ValidNameChars(std::string_view name) {
  size_t i = 0;
  while (i < name.size()) {
    int32_t cp = DecodeUtf8(name, i);
    bool ok = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
              cp == '_' || cp == '-' || cp == '.' || (cp >= 0xC0 && cp <= 0x17F);
    if (!ok) return false;
  }
  return true;
}

// Number attributes: a decimal number (sign, digits, fraction, exponent).
bool IsNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

}  // namespace

std::string BodyMd5(std::string_view body) { return crypto::Hex(crypto::Md5(body)); }

std::string AttributesMd5(const Json& attrs) {
  std::vector<std::pair<std::u16string, const std::string*>> names;
  names.reserve(attrs.size());
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    names.emplace_back(ToUtf16(it.key()), &it.key());
  }
  std::sort(names.begin(), names.end());
  Md5 md5;
  for (const auto& [utf16, name] : names) {
    const Json& a = attrs.at(*name);
    md5.LengthPrefixed(*name);
    md5.LengthPrefixed(Str(a, "DataType"));
    if (Has(a, "StringValue")) {
      md5.Byte(1);
      md5.LengthPrefixed(Str(a, "StringValue"));
    } else if (Has(a, "BinaryValue")) {
      md5.Byte(2);
      md5.LengthPrefixed(Blob(a["BinaryValue"]));
    } else if (Has(a, "StringListValues")) {
      md5.Byte(3);
      for (const auto& v : a["StringListValues"]) {
        md5.LengthPrefixed(v.is_string() ? v.get<std::string>() : std::string());
      }
    } else if (Has(a, "BinaryListValues")) {
      md5.Byte(4);
      for (const auto& v : a["BinaryListValues"]) md5.LengthPrefixed(Blob(v));
    }
  }
  return md5.HexDigest();
}

bool IsValidMessageText(std::string_view body) {
  size_t i = 0;
  while (i < body.size()) {
    unsigned char c = static_cast<unsigned char>(body[i]);
    if (c >= 0x20 && c < 0x80) {  // fast path: printable ASCII
      ++i;
      continue;
    }
    int32_t cp = DecodeUtf8(body, i);
    bool ok = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
              (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
    if (!ok) return false;
  }
  return true;
}

Result<int64_t> ValidateMessageAttributes(const Json& attrs) {
  if (attrs.is_null() || attrs.empty()) return int64_t{0};
  if (attrs.size() > kMaxMessageAttributes) {
    return errors::InvalidParameterValue(
        fmt::format("Number of message attributes [{}] exceeds the allowed maximum [{}].",
                    attrs.size(), kMaxMessageAttributes));
  }
  int64_t size = 0;
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    const std::string& name = it.key();
    const Json& a = it.value();
    if (name.empty()) {
      return errors::InvalidParameterValue("Message (user) attribute name must not be empty.");
    }
    if (name.size() >= kMaxAttributeNameBytes) {
      return errors::InvalidParameterValue(
          "Message (user) attribute names must be shorter than 256 Bytes");
    }
    if (!ValidNameChars(name)) {
      return errors::InvalidParameterValue(
          "Message (user) attributes name can only contain upper and lower score characters, "
          "digits, periods, hyphens and underscores. ");
    }
    if (StartsWithIgnoreCase(name, "aws.") || StartsWithIgnoreCase(name, "amazon.") ||
        name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos) {
      return errors::InvalidParameterValue(
          "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. These "
          "strings are reserved for internal use. Additionally, they cannot start or end with "
          "'.'.");
    }
    std::string type = Str(a, "DataType");
    if (type.empty()) {
      return errors::InvalidParameterValue(fmt::format(
          "The message attribute '{}' must contain non-empty message attribute type.", name));
    }
    std::string base = type.substr(0, type.find('.'));
    if (base != "String" && base != "Number" && base != "Binary") {
      return errors::InvalidParameterValue(fmt::format(
          "The type of message (user) attribute '{}' is invalid. You must use only the following "
          "supported type prefixes: Binary, Number, String.",
          name));
    }
    if (type.size() >= kMaxDataTypeBytes) {
      return errors::InvalidParameterValue(
          "Message (user) attribute types must be shorter than 256 Bytes");
    }
    size += static_cast<int64_t>(name.size() + type.size());
    if (base == "Binary") {
      std::string value = Has(a, "BinaryValue") ? Blob(a["BinaryValue"]) : std::string();
      if (value.empty()) {
        return errors::InvalidParameterValue(fmt::format(
            "Message (user) attribute '{}' must contain a non-empty value of type 'Binary'.",
            name));
      }
      size += static_cast<int64_t>(value.size());
      continue;
    }
    std::string value = Str(a, "StringValue");
    if (value.empty()) {
      return errors::InvalidParameterValue(
          fmt::format("Message (user) attribute '{}' must contain a non-empty value of type '{}'.",
                      name, base));
    }
    if (!IsValidMessageText(value))
      return errors::InvalidParameterValue(errors::InvalidMessageContents().message);
    if (base == "Number" && !IsNumber(value)) {
      return errors::InvalidParameterValue(
          fmt::format("Can't cast the value of message (user) attribute '{}' to a number.", name));
    }
    size += static_cast<int64_t>(value.size());
  }
  return size;
}

Status ValidateSystemAttributes(const Json& attrs) {
  if (attrs.is_null() || attrs.empty()) return Ok{};
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    if (it.key() != "AWSTraceHeader") {
      return errors::InvalidParameterValue(
          fmt::format("Message system attribute name '{}' is invalid.", it.key()));
    }
    if (Str(it.value(), "DataType") != "String") {
      return errors::InvalidParameterValue(
          "Message (system) attribute 'AWSTraceHeader' must be of type 'String'.");
    }
    std::string value = Str(it.value(), "StringValue");
    if (value.empty()) {
      return errors::InvalidParameterValue(
          "Message (system) attribute 'AWSTraceHeader' must contain a non-empty value of type "
          "'String'.");
    }
    if (!IsValidMessageText(value)) {
      return errors::InvalidParameterValue(errors::InvalidMessageContents().message);
    }
  }
  return Ok{};
}

Json FilterMessageAttributes(const Json& attrs, const std::vector<std::string>& names) {
  Json out = Json::object();
  if (!attrs.is_object() || names.empty()) return out;
  std::vector<std::string_view> prefixes;
  for (const std::string& n : names) {
    if (n == "All" || n == ".*" || n == "*") return attrs;
    if (n.size() >= 2 && n.compare(n.size() - 2, 2, ".*") == 0) {
      prefixes.push_back(std::string_view(n).substr(0, n.size() - 2));
    }
  }
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    const std::string& key = it.key();
    bool take = std::find(names.begin(), names.end(), key) != names.end();
    for (std::string_view p : prefixes) take = take || key.rfind(p, 0) == 0;
    if (take) out[key] = it.value();
  }
  return out;
}

bool IsValidFifoId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::ispunct(static_cast<unsigned char>(c));
  });
}

bool IsValidBatchEntryId(std::string_view id) {
  if (id.empty() || id.size() > 80) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

}  // namespace gc::sqs
