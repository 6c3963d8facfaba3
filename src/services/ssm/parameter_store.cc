#include "services/ssm/parameter_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>

#include "common/crypto.h"
#include "services/ssm/paging.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;
using store::Row;
using store::Tx;
using store::Value;

constexpr int kMaxVersions = 100;
constexpr int kMaxLabelsPerVersion = 10;
constexpr int kMaxHierarchyLevels = 15;
constexpr size_t kStandardValueLimit = 4096;
constexpr size_t kAdvancedValueLimit = 8192;
constexpr const char* kDefaultKeyId = "alias/aws/ssm";

// One stored version of a parameter, as read from ssm_parameter.
struct Param {
  std::string name;
  int64_t version = 0;
  std::string type;
  std::string value;  // SecureString: base64 of the AES-GCM sealed value
  std::string key_id;
  std::string description;
  std::string allowed_pattern;
  std::string tier;
  std::string data_type;
  std::string policies;  // the JSON text given in PutParameter, or ""
  double modified = 0;
  std::string modified_user;
};

constexpr const char* kParamColumns =
    "p.name, p.version, p.type, p.value, p.key_id, p.description, p.allowed_pattern, p.tier, "
    "p.data_type, p.policies, p.modified, p.modified_user";

Param FromRow(const Row& r) {
  Param p;
  p.name = r.Str(0);
  p.version = r.Int(1);
  p.type = r.Str(2);
  p.value = r.Str(3);
  p.key_id = r.Str(4);
  p.description = r.Str(5);
  p.allowed_pattern = r.Str(6);
  p.tier = r.Str(7);
  p.data_type = r.Str(8);
  p.policies = r.Str(9);
  p.modified = r.Real(10);
  p.modified_user = r.Str(11);
  return p;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string Arn(const wire::CallContext& ctx, const std::string& name) {
  return fmt::format("arn:aws:ssm:{}:{}:parameter{}{}", ctx.region, ctx.account_id,
                     StartsWith(name, "/") ? "" : "/", name);
}

std::string GetString(const Json& in, const char* key) {
  auto it = in.find(key);
  return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<int64_t> GetInt(const Json& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end() || !it->is_number()) return std::nullopt;
  return it->get<int64_t>();
}

bool GetBool(const Json& in, const char* key) {
  auto it = in.find(key);
  return it != in.end() && it->is_boolean() && it->get<bool>();
}

// Parameter name rules (AWS "Requirements and constraints for parameter names").
Status ValidateName(const std::string& name) {
  std::string lower = Lower(name);
  std::string_view stripped = lower;
  while (!stripped.empty() && stripped.front() == '/') stripped.remove_prefix(1);
  bool is_path = std::count(name.begin(), name.end(), '/') > 1;
  if (StartsWith(stripped, "aws") || StartsWith(stripped, "ssm")) {
    if (StartsWith(lower, "/aws") && is_path) return errors::ReservedParameterName(name);
    return errors::Validation(
        is_path ? "Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed "
                  "as a path, it can consist of sub-paths divided by slash symbol; each sub-path "
                  "can be formed as a mix of letters, numbers and the following 3 symbols .-_"
                : "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).");
  }
  bool chars_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
           c == '/';
  });
  if (!chars_ok || name.find("//") != std::string::npos ||
      (name.size() > 1 && name.back() == '/')) {
    return errors::Validation(
        "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed "
        "as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be "
        "formed as a mix of letters, numbers and the following 3 symbols .-_");
  }
  if (name.find('/') != std::string::npos && name.front() != '/') {
    return errors::Validation("Parameter name must be a fully qualified name.");
  }
  if (std::count(name.begin(), name.end(), '/') > kMaxHierarchyLevels) {
    return errors::HierarchyLevelLimitExceeded();
  }
  return Ok{};
}

// A name, an ARN, and an optional ":version" or ":label" selector.
struct Selector {
  std::string name;
  std::string selector;  // "" or the text after ':'
  // From an ARN ("...:parameter/x"), the name may be "/x" or "x": both are tried, "/x" first.
  std::string alt_name;
};

Result<Selector> ParseSelector(const wire::CallContext& ctx, std::string text) {
  Selector s;
  if (StartsWith(text, "arn:")) {
    // arn:aws:ssm:region:account:parameter/name[:selector]
    size_t pos = text.find(":parameter/");
    if (pos == std::string::npos) return errors::Validation("Invalid parameter ARN: " + text);
    text = text.substr(pos + 10);  // keeps the leading '/'
    s.alt_name = text.substr(1, text.find(':') == std::string::npos ? std::string::npos
                                                                     : text.find(':') - 1);
  }
  size_t colon = text.find(':');
  if (colon != std::string::npos) {
    s.selector = text.substr(colon + 1);
    text = text.substr(0, colon);
    if (s.selector.empty() || s.selector.find(':') != std::string::npos) {
      return errors::Validation("Invalid parameter name or selector: " + text);
    }
  }
  s.name = std::move(text);
  return s;
}

bool IsAllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

Result<std::optional<Param>> LoadLatest(Tx& tx, const wire::CallContext& ctx,
                                        const std::string& name) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_parameter_head h JOIN ssm_parameter p "
                                   "ON p.account = h.account AND p.region = h.region AND "
                                   "p.name = h.name AND p.version = h.version "
                                   "WHERE h.account = ? AND h.region = ? AND h.name = ?",
                                   kParamColumns),
                       {ctx.account_id, ctx.region, name});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<Param>();
  return std::optional<Param>(FromRow(rows->front()));
}

Result<std::optional<Param>> LoadVersion(Tx& tx, const wire::CallContext& ctx,
                                         const std::string& name, int64_t version) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_parameter p WHERE p.account = ? AND "
                                   "p.region = ? AND p.name = ? AND p.version = ?",
                                   kParamColumns),
                       {ctx.account_id, ctx.region, name, version});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<Param>();
  return std::optional<Param>(FromRow(rows->front()));
}

Result<std::vector<std::string>> LoadLabels(Tx& tx, const wire::CallContext& ctx,
                                            const std::string& name, int64_t version) {
  auto rows = tx.Query(
      "SELECT label FROM ssm_parameter_label WHERE account = ? AND region = ? AND name = ? AND "
      "version = ? ORDER BY label",
      {ctx.account_id, ctx.region, name, version});
  if (!rows.ok()) return rows.take_error();
  std::vector<std::string> out;
  for (auto& r : *rows) out.push_back(r.Str(0));
  return out;
}

// Resolves "name", "name:3" or "name:label" to one stored version. Not found → ParameterNotFound;
// a missing numbered version → ParameterVersionNotFound.
Result<Param> ResolveName(Tx& tx, const wire::CallContext& ctx, const Selector& sel,
                          const std::string& original) {
  if (sel.selector.empty()) {
    auto p = LoadLatest(tx, ctx, sel.name);
    if (!p.ok()) return p.take_error();
    if (!p->has_value()) return errors::ParameterNotFound(original);
    return std::move(**p);
  }
  if (IsAllDigits(sel.selector)) {
    int64_t version = std::stoll(sel.selector.substr(0, 18));
    auto p = LoadVersion(tx, ctx, sel.name, version);
    if (!p.ok()) return p.take_error();
    if (!p->has_value()) {
      auto latest = LoadLatest(tx, ctx, sel.name);
      if (!latest.ok()) return latest.take_error();
      if (!latest->has_value()) return errors::ParameterNotFound(original);
      return errors::ParameterVersionNotFound(sel.name, sel.selector);
    }
    return std::move(**p);
  }
  auto rows = tx.Query(
      "SELECT version FROM ssm_parameter_label WHERE account = ? AND region = ? AND name = ? "
      "AND label = ?",
      {ctx.account_id, ctx.region, sel.name, sel.selector});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return errors::ParameterNotFound(original);
  auto p = LoadVersion(tx, ctx, sel.name, rows->front().Int(0));
  if (!p.ok()) return p.take_error();
  if (!p->has_value()) return errors::ParameterNotFound(original);
  return std::move(**p);
}

// ResolveName, then the ARN's alternative spelling of the name.
Result<Param> Resolve(Tx& tx, const wire::CallContext& ctx, const Selector& sel,
                      const std::string& original) {
  auto p = ResolveName(tx, ctx, sel, original);
  if (!p.ok() && p.error().code == "ParameterNotFound" && !sel.alt_name.empty()) {
    return ResolveName(tx, ctx, Selector{sel.alt_name, sel.selector, ""}, original);
  }
  return p;
}

Json PoliciesJson(const std::string& policies) {
  Json out = Json::array();
  if (policies.empty()) return out;
  Json parsed = Json::parse(policies, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& p : parsed) {
    out.push_back({{"PolicyText", p.dump()},
                   {"PolicyType", p.value("Type", "")},
                   {"PolicyStatus", "Pending"}});
  }
  return out;
}

}  // namespace

ParameterStore::ParameterStore(store::Store& store, std::string encryption_key)
    : store_(store), key_(std::move(encryption_key)) {}

std::vector<store::Migration> ParameterStore::Migrations() {
  return {{"ssm.parameters", 1,
           "CREATE TABLE ssm_parameter ("
           " account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,"
           " version BIGINT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL,"
           " key_id TEXT NOT NULL, description TEXT NOT NULL, allowed_pattern TEXT NOT NULL,"
           " tier TEXT NOT NULL, data_type TEXT NOT NULL, policies TEXT NOT NULL,"
           " modified DOUBLE PRECISION NOT NULL, modified_user TEXT NOT NULL,"
           " PRIMARY KEY (account, region, name, version));"
           "CREATE TABLE ssm_parameter_head ("
           " account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,"
           " version BIGINT NOT NULL, PRIMARY KEY (account, region, name));"
           "CREATE TABLE ssm_parameter_label ("
           " account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,"
           " label TEXT NOT NULL, version BIGINT NOT NULL,"
           " PRIMARY KEY (account, region, name, label))"}};
}

Result<std::string> ParameterStore::ResolveExisting(const Ctx& ctx, const std::string& id) {
  std::string name;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto sel = ParseSelector(ctx, id);
    if (!sel.ok() || !sel->selector.empty()) return errors::InvalidResourceId();
    for (const std::string& candidate : {sel->name, sel->alt_name}) {
      if (candidate.empty()) continue;
      auto p = LoadLatest(tx, ctx, candidate);
      if (!p.ok()) return p.take_error();
      if (p->has_value()) {
        name = candidate;
        return Ok{};
      }
    }
    return errors::InvalidResourceId();
  });
  if (!st.ok()) return st.take_error();
  return name;
}

Result<Json> ParameterStore::PutParameter(const Ctx& ctx, const Json& in) {
  const std::string name = GetString(in, "Name");
  const bool overwrite = GetBool(in, "Overwrite");
  if (Status st = ValidateName(name); !st.ok()) return st.take_error();
  if (overwrite && in.contains("Tags") && !in["Tags"].empty()) {
    return errors::Validation(
        "Invalid request: tags and overwrite can't be used together. To create a parameter with "
        "tags, please remove overwrite flag. To update tags for an existing parameter, please "
        "use AddTagsToResource or RemoveTagsFromResource.");
  }
  std::string data_type = GetString(in, "DataType");
  if (!data_type.empty() && data_type != "text" && data_type != "aws:ec2:image" &&
      data_type != "aws:ssm:integration") {
    return errors::Validation(fmt::format(
        "The following data type is not supported: {} (Data type names are all lowercase.)",
        data_type));
  }
  std::string allowed_pattern = GetString(in, "AllowedPattern");
  std::optional<std::regex> pattern;
  if (!allowed_pattern.empty()) {
    try {
      pattern.emplace(allowed_pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      return errors::InvalidAllowedPattern();
    }
  }
  std::string policies = GetString(in, "Policies");
  if (!policies.empty()) {
    Json parsed = Json::parse(policies, nullptr, false);
    if (!parsed.is_array()) return errors::InvalidPolicyType("Policies");
    for (const auto& p : parsed) {
      std::string type = p.is_object() ? p.value("Type", "") : "";
      if (type != "Expiration" && type != "ExpirationNotification" &&
          type != "NoChangeNotification") {
        return errors::InvalidPolicyType(type);
      }
    }
  }

  Json out;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto prev_r = LoadLatest(tx, ctx, name);
    if (!prev_r.ok()) return prev_r.take_error();
    const std::optional<Param>& prev = *prev_r;
    if (prev && !overwrite) return errors::ParameterAlreadyExists();

    Param p;
    p.name = name;
    p.version = prev ? prev->version + 1 : 1;
    p.type = GetString(in, "Type");
    if (p.type.empty()) {
      if (!prev) return errors::Validation("A parameter type is required when you create a parameter.");
      p.type = prev->type;
    }
    if (prev && p.type != prev->type && name.find('/') != std::string::npos) {
      return errors::HierarchyTypeMismatch();
    }
    std::string value = GetString(in, "Value");
    p.description = in.contains("Description") ? GetString(in, "Description")
                    : prev                     ? prev->description
                                               : "";
    p.allowed_pattern = in.contains("AllowedPattern") ? allowed_pattern
                        : prev                        ? prev->allowed_pattern
                                                      : "";
    p.data_type = !data_type.empty() ? data_type : prev ? prev->data_type : "text";
    p.policies = in.contains("Policies") ? policies : prev ? prev->policies : "";
    if (p.type == "SecureString") {
      p.key_id = in.contains("KeyId") ? GetString(in, "KeyId")
                 : prev && !prev->key_id.empty() ? prev->key_id
                                                 : kDefaultKeyId;
    } else if (in.contains("KeyId")) {
      return errors::Validation(
          "KeyId is required for SecureString type parameter only.");
    }
    if (!p.allowed_pattern.empty()) {
      // The pattern given in this request was compiled above; an inherited one is compiled here.
      std::optional<std::regex> inherited;
      if (!pattern) {
        try {
          inherited.emplace(p.allowed_pattern, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          return errors::InvalidAllowedPattern();
        }
      }
      if (!std::regex_match(value, pattern ? *pattern : *inherited)) {
        return errors::ParameterPatternMismatch(p.allowed_pattern);
      }
    }
    static const std::regex kAmiId("^ami-[0-9a-f]{8}([0-9a-f]{9})?$");
    if (p.data_type == "aws:ec2:image" && !std::regex_match(value, kAmiId)) {
      return errors::Validation(fmt::format(
          "Parameter value, {}, is not a valid Amazon Machine Image (AMI) ID.", value));
    }

    // Tiers: Intelligent-Tiering picks Standard unless the value or policies need Advanced; an
    // Advanced parameter never goes back to Standard.
    std::string tier = GetString(in, "Tier");
    bool needs_advanced = value.size() > kStandardValueLimit || !p.policies.empty();
    if (tier.empty()) tier = prev ? prev->tier : "Standard";
    if (tier == "Intelligent-Tiering") {
      tier = needs_advanced || (prev && prev->tier == "Advanced") ? "Advanced" : "Standard";
    }
    if (tier == "Standard" && prev && prev->tier == "Advanced") {
      return errors::Validation(
          "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from "
          "the advanced-parameter tier to the standard-parameter tier. If necessary, you can "
          "delete the advanced parameter and recreate it as a standard parameter.");
    }
    if (tier == "Standard" && value.size() > kStandardValueLimit) {
      return errors::Validation(
          "Standard tier parameters support a maximum parameter value of 4096 characters. To "
          "create a larger parameter value, upgrade the parameter to use the advanced-parameter "
          "tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/"
          "userguide/parameter-store-advanced-parameters.html");
    }
    if (tier == "Standard" && !p.policies.empty()) {
      return errors::Validation(
          "Parameter policies are supported only for advanced-parameter tier parameters.");
    }
    if (value.size() > kAdvancedValueLimit) {
      return errors::Validation(fmt::format(
          "1 validation error detected: Value at 'value' failed to satisfy constraint: Member "
          "must have length less than or equal to {}",
          kAdvancedValueLimit));
    }
    p.tier = tier;
    p.value = p.type == "SecureString" ? crypto::Base64Encode(crypto::AesGcmEncrypt(key_, value))
                                       : value;
    p.modified = static_cast<double>(ctx.now_millis) / 1000.0;
    p.modified_user = ctx.caller_arn;

    // At most 100 versions: the oldest goes, unless a label holds it.
    if (prev) {
      auto count = tx.Query(
          "SELECT COUNT(*), MIN(version) FROM ssm_parameter WHERE account = ? AND region = ? AND "
          "name = ?",
          {ctx.account_id, ctx.region, name});
      if (!count.ok()) return count.take_error();
      if (count->front().Int(0) >= kMaxVersions) {
        int64_t oldest = count->front().Int(1);
        auto labels = LoadLabels(tx, ctx, name, oldest);
        if (!labels.ok()) return labels.take_error();
        if (!labels->empty()) return errors::ParameterMaxVersionLimitExceeded(name, oldest);
        auto del = tx.Exec(
            "DELETE FROM ssm_parameter WHERE account = ? AND region = ? AND name = ? AND "
            "version = ?",
            {ctx.account_id, ctx.region, name, oldest});
        if (!del.ok()) return del.take_error();
      }
    }
    auto ins = tx.Exec(
        "INSERT INTO ssm_parameter (account, region, name, version, type, value, key_id, "
        "description, allowed_pattern, tier, data_type, policies, modified, modified_user) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {ctx.account_id, ctx.region, p.name, p.version, p.type, p.value, p.key_id, p.description,
         p.allowed_pattern, p.tier, p.data_type, p.policies, p.modified, p.modified_user});
    if (!ins.ok()) return ins.take_error();
    auto head = tx.Exec(
        "INSERT INTO ssm_parameter_head (account, region, name, version) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (account, region, name) DO UPDATE SET version = excluded.version",
        {ctx.account_id, ctx.region, p.name, p.version});
    if (!head.ok()) return head.take_error();
    if (!prev && in.contains("Tags")) {
      for (const auto& tag : in["Tags"]) {
        auto t = tx.Exec(
            "INSERT INTO ssm_tag (account, region, resource_type, resource_id, tag_key, "
            "tag_value) VALUES (?, ?, 'Parameter', ?, ?, ?) ON CONFLICT (account, region, "
            "resource_type, resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
            {ctx.account_id, ctx.region, p.name, GetString(tag, "Key"), GetString(tag, "Value")});
        if (!t.ok()) return t.take_error();
      }
    }
    out = {{"Version", p.version}, {"Tier", p.tier}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

namespace {

// The Parameter shape of GetParameter(s)/GetParametersByPath.
Json ParameterJson(const wire::CallContext& ctx, const Param& p, bool decrypt,
                   const std::string& key, const std::string& selector) {
  std::string value = p.value;
  if (p.type == "SecureString" && decrypt) {
    auto raw = crypto::Base64Decode(p.value);
    auto plain = raw ? crypto::AesGcmDecrypt(key, *raw) : std::nullopt;
    value = plain ? *plain : std::string();
  }
  Json j = {{"Name", p.name},
            {"Type", p.type},
            {"Value", std::move(value)},
            {"Version", p.version},
            {"LastModifiedDate", p.modified},
            {"ARN", Arn(ctx, p.name)},
            {"DataType", p.data_type}};
  if (!selector.empty()) j["Selector"] = ":" + selector;
  return j;
}

}  // namespace

Result<Json> ParameterStore::GetParameter(const Ctx& ctx, const Json& in) {
  const std::string original = GetString(in, "Name");
  auto sel = ParseSelector(ctx, original);
  if (!sel.ok()) return sel.take_error();
  const bool decrypt = GetBool(in, "WithDecryption");
  Json out;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto p = Resolve(tx, ctx, *sel, original);
    if (!p.ok()) return p.take_error();
    out = {{"Parameter", ParameterJson(ctx, *p, decrypt, key_, sel->selector)}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> ParameterStore::GetParameters(const Ctx& ctx, const Json& in) {
  const bool decrypt = GetBool(in, "WithDecryption");
  Json params = Json::array();
  Json invalid = Json::array();
  Status st = store_.Read([&](Tx& tx) -> Status {
    std::vector<std::string> seen;
    for (const auto& n : in.value("Names", Json::array())) {
      std::string original = n.get<std::string>();
      if (std::find(seen.begin(), seen.end(), original) != seen.end()) continue;
      seen.push_back(original);
      auto sel = ParseSelector(ctx, original);
      if (!sel.ok()) {
        invalid.push_back(original);
        continue;
      }
      auto p = Resolve(tx, ctx, *sel, original);
      if (!p.ok()) {
        if (p.error().code == "ParameterNotFound" || p.error().code == "ParameterVersionNotFound") {
          invalid.push_back(original);
          continue;
        }
        return p.take_error();
      }
      params.push_back(ParameterJson(ctx, *p, decrypt, key_, sel->selector));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"Parameters", std::move(params)}, {"InvalidParameters", std::move(invalid)}};
}

namespace {

// One ParameterStringFilter, checked. Keys and options per the SSM API reference.
struct Filter {
  std::string key;
  std::string option;
  std::vector<std::string> values;
};

// by_path: GetParametersByPath allows Type, KeyId, Label and tag:…; DescribeParameters allows
// Name, Type, KeyId, Path, Tier, DataType and tag:… .
Result<std::vector<Filter>> ParseFilters(const Json& in, bool by_path) {
  std::vector<Filter> out;
  for (const auto& f : in.value("ParameterFilters", Json::array())) {
    Filter filter;
    filter.key = GetString(f, "Key");
    filter.option = GetString(f, "Option");
    for (const auto& v : f.value("Values", Json::array())) filter.values.push_back(v.get<std::string>());
    const std::string& k = filter.key;
    bool is_tag = StartsWith(k, "tag:");
    if (by_path) {
      if (!(k == "Type" || k == "KeyId" || k == "Label" || is_tag)) {
        return errors::InvalidFilterKey(fmt::format(
            "The following filter key is not valid: {}. Valid filter keys include: [Type, KeyId].",
            k));
      }
    } else if (!(k == "Name" || k == "Type" || k == "KeyId" || k == "Path" || k == "Tier" ||
                 k == "DataType" || is_tag)) {
      return errors::InvalidFilterKey(fmt::format(
          "The following filter key is not valid: {}. Valid filter keys include: [Path, Name, "
          "Type, KeyId, Tier].",
          k));
    }
    for (const auto& other : out) {
      if (other.key == k) {
        return errors::InvalidFilterKey(fmt::format(
            "The following filter is duplicated in the request: {}. A request can contain only "
            "one occurrence of a specific filter.",
            k));
      }
    }
    if (filter.values.empty() && !is_tag) {
      return errors::InvalidFilterValue(fmt::format(
          "The following filter values are missing : null for filter key {}.", k));
    }
    if (k == "Path") {
      if (filter.option.empty()) filter.option = "OneLevel";
      if (filter.option != "OneLevel" && filter.option != "Recursive") {
        return errors::InvalidFilterOption(fmt::format(
            "The following filter option is not valid: {}. Valid options include: [Recursive, "
            "OneLevel].",
            filter.option));
      }
      for (const auto& v : filter.values) {
        if (StartsWith(Lower(v), "/aws") || StartsWith(Lower(v), "/ssm")) {
          return errors::Validation(
              "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\" "
              "(case-insensitive). When using global parameters, please specify within a global "
              "namespace.");
        }
        if (v.empty() || v.front() != '/' || v.find("//") != std::string::npos) {
          return errors::Validation(
              "The parameter doesn't meet the parameter name requirements. The parameter name "
              "must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" "
              "(case-insensitive). It must use only letters, numbers, or the following symbols: . "
              "(period), - (hyphen), _ (underscore). Special characters are not allowed. All "
              "sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: "
              "/get/parameters2-/by1./path0_.");
        }
      }
    } else {
      if (filter.option.empty()) filter.option = "Equals";
      bool ok = filter.option == "Equals" || filter.option == "BeginsWith" ||
                (k == "Name" && filter.option == "Contains");
      if (!ok) {
        return errors::InvalidFilterOption(fmt::format(
            "The following filter option is not valid: {}. Valid options include: [{}].",
            filter.option, k == "Name" ? "BeginsWith, Equals, Contains" : "BeginsWith, Equals"));
      }
    }
    if (k == "Type") {
      for (const auto& v : filter.values) {
        if (v != "String" && v != "StringList" && v != "SecureString") {
          return errors::InvalidFilterValue(fmt::format(
              "The following filter value is not valid: {}. Valid values include: [String, "
              "StringList, SecureString].",
              v));
        }
      }
    }
    if (k == "Tier") {
      for (const auto& v : filter.values) {
        if (v != "Standard" && v != "Advanced" && v != "Intelligent-Tiering") {
          return errors::InvalidFilterValue(fmt::format(
              "The following filter value is not valid: {}. Valid values include: [Standard, "
              "Advanced, Intelligent-Tiering].",
              v));
        }
      }
    }
    out.push_back(std::move(filter));
  }
  return out;
}

bool MatchString(const std::string& option, const std::string& what,
                 const std::vector<std::string>& values) {
  for (const auto& v : values) {
    if (option == "Equals" && what == v) return true;
    if (option == "BeginsWith" && StartsWith(what, v)) return true;
    if (option == "Contains" && what.find(v) != std::string::npos) return true;
  }
  return false;
}

std::string WithSlash(const std::string& s) { return StartsWith(s, "/") ? s : "/" + s; }

// True when `name` lies under `path` (one level, or any depth when recursive).
bool UnderPath(const std::string& name, std::string path, bool recursive) {
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string prefix = path == "/" ? "/" : path + "/";
  std::string full = WithSlash(name);
  if (!StartsWith(full, prefix)) return false;
  if (recursive) return true;
  return full.find('/', prefix.size()) == std::string::npos;
}

// Applies filters that need more than the parameter row: labels and tags (looked up on demand).
Result<bool> Matches(Tx& tx, const wire::CallContext& ctx, const Param& p,
                     const std::vector<Filter>& filters) {
  for (const auto& f : filters) {
    const std::string& k = f.key;
    if (k == "Name") {
      std::vector<std::string> values;
      for (const auto& v : f.values) values.push_back(f.option == "Contains" ? v : WithSlash(v));
      if (!MatchString(f.option, f.option == "Contains" ? p.name : WithSlash(p.name), values)) {
        return false;
      }
    } else if (k == "Type") {
      if (!MatchString(f.option, p.type, f.values)) return false;
    } else if (k == "KeyId") {
      if (p.type != "SecureString" || !MatchString(f.option, p.key_id, f.values)) return false;
    } else if (k == "Tier") {
      if (!MatchString(f.option, p.tier, f.values)) return false;
    } else if (k == "DataType") {
      if (!MatchString(f.option, p.data_type, f.values)) return false;
    } else if (k == "Path") {
      bool any = false;
      for (const auto& v : f.values) any = any || UnderPath(p.name, v, f.option == "Recursive");
      if (!any) return false;
    } else if (k == "Label") {
      auto labels = LoadLabels(tx, ctx, p.name, p.version);
      if (!labels.ok()) return labels.take_error();
      bool any = false;
      for (const auto& l : *labels) any = any || MatchString(f.option, l, f.values);
      if (!any) return false;
    } else if (StartsWith(k, "tag:")) {
      auto rows = tx.Query(
          "SELECT tag_value FROM ssm_tag WHERE account = ? AND region = ? AND resource_type = "
          "'Parameter' AND resource_id = ? AND tag_key = ?",
          {ctx.account_id, ctx.region, p.name, k.substr(4)});
      if (!rows.ok()) return rows.take_error();
      if (rows->empty()) return false;
      if (!f.values.empty() && !MatchString(f.option, rows->front().Str(0), f.values)) {
        return false;
      }
    }
  }
  return true;
}

// NextToken (paging.h): the last name returned.
std::string EncodeToken(const std::string& last) { return EncodeNextToken("n", last); }
Result<std::string> DecodeToken(const Json& in) { return DecodeNextToken(in, "n"); }

}  // namespace

Result<Json> ParameterStore::GetParametersByPath(const Ctx& ctx, const Json& in) {
  std::string path = GetString(in, "Path");
  const bool recursive = GetBool(in, "Recursive");
  const bool decrypt = GetBool(in, "WithDecryption");
  const int64_t max_results = GetInt(in, "MaxResults").value_or(10);
  if (path.empty() || path.front() != '/') {
    return errors::Validation(
        "The parameter doesn't meet the parameter name requirements. The parameter name must "
        "begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" "
        "(case-insensitive). It must use only letters, numbers, or the following symbols: . "
        "(period), - (hyphen), _ (underscore). Special characters are not allowed. All "
        "sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: "
        "/get/parameters2-/by1./path0_.");
  }
  if (std::count(path.begin(), path.end(), '/') > kMaxHierarchyLevels) {
    return errors::HierarchyLevelLimitExceeded();
  }
  auto filters = ParseFilters(in, /*by_path=*/true);
  if (!filters.ok()) return filters.take_error();
  auto after = DecodeToken(in);
  if (!after.ok()) return after.take_error();

  std::string prefix = path.back() == '/' ? path : path + "/";
  // Names under the prefix sort between prefix and prefix with '/' bumped to '0'.
  std::string upper = prefix.substr(0, prefix.size() - 1) + "0";
  Json params = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    const std::string from = after->empty() ? prefix : std::max(*after, prefix);
    auto rows = tx.Query(
        fmt::format("SELECT {} FROM ssm_parameter_head h JOIN ssm_parameter p ON p.account = "
                    "h.account AND p.region = h.region AND p.name = h.name AND p.version = "
                    "h.version WHERE h.account = ? AND h.region = ? AND h.name > ? AND h.name < ? "
                    "ORDER BY h.name",
                    kParamColumns),
        {ctx.account_id, ctx.region, from, upper});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      Param p = FromRow(r);
      if (!UnderPath(p.name, path, recursive)) continue;
      auto m = Matches(tx, ctx, p, *filters);
      if (!m.ok()) return m.take_error();
      if (!*m) continue;
      if (static_cast<int64_t>(params.size()) == max_results) {
        next = EncodeToken(params.back()["Name"].get<std::string>());
        break;
      }
      params.push_back(ParameterJson(ctx, p, decrypt, key_, ""));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"Parameters", std::move(params)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

namespace {

Json MetadataJson(const wire::CallContext& ctx, const Param& p) {
  Json j = {{"Name", p.name},
            {"ARN", Arn(ctx, p.name)},
            {"Type", p.type},
            {"LastModifiedDate", p.modified},
            {"LastModifiedUser", p.modified_user},
            {"Version", p.version},
            {"Tier", p.tier},
            {"Policies", PoliciesJson(p.policies)},
            {"DataType", p.data_type}};
  if (!p.key_id.empty()) j["KeyId"] = p.key_id;
  if (!p.description.empty()) j["Description"] = p.description;
  if (!p.allowed_pattern.empty()) j["AllowedPattern"] = p.allowed_pattern;
  return j;
}

}  // namespace

Result<Json> ParameterStore::DescribeParameters(const Ctx& ctx, const Json& in) {
  const int64_t max_results = GetInt(in, "MaxResults").value_or(10);
  if (in.contains("Filters") && in.contains("ParameterFilters")) {
    return errors::Validation("You can use either Filters or ParameterFilters in a single request.");
  }
  auto filters = ParseFilters(in, /*by_path=*/false);
  if (!filters.ok()) return filters.take_error();
  // The older ParametersFilter form (Name, Type, KeyId with Equals semantics; Name as prefix).
  for (const auto& f : in.value("Filters", Json::array())) {
    Filter filter;
    filter.key = GetString(f, "Key");
    filter.option = filter.key == "Name" ? "BeginsWith" : "Equals";
    for (const auto& v : f.value("Values", Json::array())) filter.values.push_back(v.get<std::string>());
    filters->push_back(std::move(filter));
  }
  auto after = DecodeToken(in);
  if (!after.ok()) return after.take_error();
  bool shared = in.value("Shared", false);
  Json params = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    if (shared) return Ok{};  // no parameters are shared with this account
    auto rows = tx.Query(
        fmt::format("SELECT {} FROM ssm_parameter_head h JOIN ssm_parameter p ON p.account = "
                    "h.account AND p.region = h.region AND p.name = h.name AND p.version = "
                    "h.version WHERE h.account = ? AND h.region = ? AND h.name > ? ORDER BY h.name",
                    kParamColumns),
        {ctx.account_id, ctx.region, *after});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      Param p = FromRow(r);
      auto m = Matches(tx, ctx, p, *filters);
      if (!m.ok()) return m.take_error();
      if (!*m) continue;
      if (static_cast<int64_t>(params.size()) == max_results) {
        next = EncodeToken(params.back()["Name"].get<std::string>());
        break;
      }
      params.push_back(MetadataJson(ctx, p));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"Parameters", std::move(params)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

Result<Json> ParameterStore::GetParameterHistory(const Ctx& ctx, const Json& in) {
  const std::string original = GetString(in, "Name");
  auto sel = ParseSelector(ctx, original);
  if (!sel.ok()) return sel.take_error();
  const bool decrypt = GetBool(in, "WithDecryption");
  const int64_t max_results = GetInt(in, "MaxResults").value_or(50);
  int64_t after = 0;
  if (std::string token = GetString(in, "NextToken"); !token.empty()) {
    auto raw = crypto::Base64Decode(token);
    if (!raw || !StartsWith(*raw, "v:") || !IsAllDigits(raw->substr(2))) {
      return errors::InvalidNextToken();
    }
    after = std::stoll(raw->substr(2, 18));
  }
  Json history = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows = tx.Query(
        fmt::format("SELECT {} FROM ssm_parameter p WHERE p.account = ? AND p.region = ? AND "
                    "p.name = ? AND p.version > ? ORDER BY p.version LIMIT ?",
                    kParamColumns),
        {ctx.account_id, ctx.region, sel->name, after, max_results + 1});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty() && after == 0) return errors::ParameterNotFound(original);
    for (const auto& r : *rows) {
      Param p = FromRow(r);
      if (static_cast<int64_t>(history.size()) == max_results) {
        next = crypto::Base64Encode(fmt::format("v:{}", history.back()["Version"].get<int64_t>()));
        break;
      }
      Json j = MetadataJson(ctx, p);
      j.erase("ARN");
      j["Value"] = ParameterJson(ctx, p, decrypt, key_, "")["Value"];
      auto labels = LoadLabels(tx, ctx, p.name, p.version);
      if (!labels.ok()) return labels.take_error();
      j["Labels"] = *labels;
      history.push_back(std::move(j));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"Parameters", std::move(history)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

namespace {

// Removes a parameter with all its versions, labels and tags. Returns false if it did not exist.
Result<bool> DeleteOne(Tx& tx, const wire::CallContext& ctx, const std::string& name) {
  auto n = tx.Exec("DELETE FROM ssm_parameter_head WHERE account = ? AND region = ? AND name = ?",
                   {ctx.account_id, ctx.region, name});
  if (!n.ok()) return n.take_error();
  if (*n == 0) return false;
  for (const char* sql :
       {"DELETE FROM ssm_parameter WHERE account = ? AND region = ? AND name = ?",
        "DELETE FROM ssm_parameter_label WHERE account = ? AND region = ? AND name = ?",
        "DELETE FROM ssm_tag WHERE account = ? AND region = ? AND resource_type = 'Parameter' "
        "AND resource_id = ?"}) {
    auto r = tx.Exec(sql, {ctx.account_id, ctx.region, name});
    if (!r.ok()) return r.take_error();
  }
  return true;
}

}  // namespace

Result<Json> ParameterStore::DeleteParameter(const Ctx& ctx, const Json& in) {
  const std::string original = GetString(in, "Name");
  auto sel = ParseSelector(ctx, original);
  if (!sel.ok()) return sel.take_error();
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto deleted = DeleteOne(tx, ctx, sel->name);
    if (!deleted.ok()) return deleted.take_error();
    if (!*deleted) return errors::ParameterNotFound(original);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> ParameterStore::DeleteParameters(const Ctx& ctx, const Json& in) {
  Json deleted = Json::array();
  Json invalid = Json::array();
  Status st = store_.Write([&](Tx& tx) -> Status {
    deleted = Json::array();
    invalid = Json::array();
    for (const auto& n : in.value("Names", Json::array())) {
      std::string original = n.get<std::string>();
      auto sel = ParseSelector(ctx, original);
      if (!sel.ok() || !sel->selector.empty()) {
        invalid.push_back(original);
        continue;
      }
      auto d = DeleteOne(tx, ctx, sel->name);
      if (!d.ok()) return d.take_error();
      (*d ? deleted : invalid).push_back(original);
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"DeletedParameters", std::move(deleted)},
              {"InvalidParameters", std::move(invalid)}};
}

namespace {

// Label rules: up to 100 characters of letters, digits, '.', '-', '_'; not starting with a digit
// or with "aws"/"ssm" (case-insensitive).
bool ValidLabel(const std::string& label) {
  if (label.empty() || label.size() > 100) return false;
  if (std::isdigit(static_cast<unsigned char>(label.front()))) return false;
  std::string lower = Lower(label);
  if (StartsWith(lower, "aws") || StartsWith(lower, "ssm")) return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

}  // namespace

Result<Json> ParameterStore::LabelParameterVersion(const Ctx& ctx, const Json& in) {
  const std::string original = GetString(in, "Name");
  auto sel = ParseSelector(ctx, original);
  if (!sel.ok()) return sel.take_error();
  Json out;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto latest = LoadLatest(tx, ctx, sel->name);
    if (!latest.ok()) return latest.take_error();
    if (!latest->has_value()) return errors::ParameterNotFound(original);
    int64_t version = GetInt(in, "ParameterVersion").value_or((*latest)->version);
    auto target = LoadVersion(tx, ctx, sel->name, version);
    if (!target.ok()) return target.take_error();
    if (!target->has_value()) {
      return errors::ParameterVersionNotFound(sel->name, std::to_string(version));
    }
    Json invalid = Json::array();
    std::vector<std::string> add;
    for (const auto& l : in.value("Labels", Json::array())) {
      std::string label = l.get<std::string>();
      if (!ValidLabel(label)) {
        invalid.push_back(label);
      } else if (std::find(add.begin(), add.end(), label) == add.end()) {
        add.push_back(label);
      }
    }
    auto existing = LoadLabels(tx, ctx, sel->name, version);
    if (!existing.ok()) return existing.take_error();
    size_t total = existing->size();
    for (const auto& l : add) {
      if (std::find(existing->begin(), existing->end(), l) == existing->end()) ++total;
    }
    if (total > kMaxLabelsPerVersion) return errors::ParameterVersionLabelLimitExceeded();
    for (const auto& l : add) {
      auto r = tx.Exec(
          "INSERT INTO ssm_parameter_label (account, region, name, label, version) VALUES "
          "(?, ?, ?, ?, ?) ON CONFLICT (account, region, name, label) DO UPDATE SET version = "
          "excluded.version",
          {ctx.account_id, ctx.region, sel->name, l, version});
      if (!r.ok()) return r.take_error();
    }
    out = {{"InvalidLabels", std::move(invalid)}, {"ParameterVersion", version}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> ParameterStore::UnlabelParameterVersion(const Ctx& ctx, const Json& in) {
  const std::string original = GetString(in, "Name");
  auto sel = ParseSelector(ctx, original);
  if (!sel.ok()) return sel.take_error();
  const int64_t version = GetInt(in, "ParameterVersion").value_or(0);
  Json out;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto latest = LoadLatest(tx, ctx, sel->name);
    if (!latest.ok()) return latest.take_error();
    if (!latest->has_value()) return errors::ParameterNotFound(original);
    auto target = LoadVersion(tx, ctx, sel->name, version);
    if (!target.ok()) return target.take_error();
    if (!target->has_value()) {
      return errors::ParameterVersionNotFound(sel->name, std::to_string(version));
    }
    Json removed = Json::array();
    Json invalid = Json::array();
    for (const auto& l : in.value("Labels", Json::array())) {
      std::string label = l.get<std::string>();
      auto n = tx.Exec(
          "DELETE FROM ssm_parameter_label WHERE account = ? AND region = ? AND name = ? AND "
          "label = ? AND version = ?",
          {ctx.account_id, ctx.region, sel->name, label, version});
      if (!n.ok()) return n.take_error();
      (*n > 0 ? removed : invalid).push_back(label);
    }
    out = {{"RemovedLabels", std::move(removed)}, {"InvalidLabels", std::move(invalid)}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

}  // namespace gc::ssm
