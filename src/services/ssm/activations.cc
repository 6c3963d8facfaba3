#include "services/ssm/activations.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/crypto.h"
#include "services/ssm/node_errors.h"
#include "services/ssm/node_rules.h"
#include "services/ssm/paging.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm {
namespace {

using Json = nlohmann::json;
using store::Row;
using store::Tx;

constexpr int64_t kHourMillis = 3600 * 1000;
constexpr int64_t kDefaultLifetimeMillis = 24 * kHourMillis;   // AWS: 24 hours
constexpr int64_t kMaxLifetimeMillis = 30 * 24 * kHourMillis;  // AWS: 30 days
constexpr int64_t kDefaultMaxResults = 50;
constexpr const char* kTokenKind = "act";

constexpr const char* kColumns =
    "activation_id, account, region, code_sha256, description, default_instance_name, iam_role, "
    "registration_limit, registrations_count, expiration_ms, created_ms, tags";

struct Activation {
  std::string id;
  std::string account;
  std::string region;
  std::string code_sha256;  // hex
  std::string description;
  std::string default_instance_name;
  std::string iam_role;
  int64_t limit = 1;
  int64_t count = 0;
  int64_t expiration_ms = 0;
  int64_t created_ms = 0;
  Json tags = Json::array();
};

Activation FromRow(const Row& r) {
  Activation a;
  a.id = r.Str(0);
  a.account = r.Str(1);
  a.region = r.Str(2);
  a.code_sha256 = r.Str(3);
  a.description = r.Str(4);
  a.default_instance_name = r.Str(5);
  a.iam_role = r.Str(6);
  a.limit = r.Int(7);
  a.count = r.Int(8);
  a.expiration_ms = r.Int(9);
  a.created_ms = r.Int(10);
  a.tags = Json::parse(r.Str(11), nullptr, false);
  if (!a.tags.is_array()) a.tags = Json::array();
  return a;
}

std::string CodeHash(const std::string& code) { return crypto::Hex(crypto::Sha256(code)); }

// Model timestamps arrive as epoch seconds (wire/model.h).
int64_t Millis(double seconds) { return static_cast<int64_t>(seconds * 1000.0); }
double Seconds(int64_t millis) { return static_cast<double>(millis) / 1000.0; }

Json ActivationJson(const Activation& a, int64_t now_ms) {
  Json j = {{"ActivationId", a.id},
            {"IamRole", a.iam_role},
            {"RegistrationLimit", a.limit},
            {"RegistrationsCount", a.count},
            {"ExpirationDate", Seconds(a.expiration_ms)},
            {"Expired", now_ms >= a.expiration_ms},
            {"CreatedDate", Seconds(a.created_ms)},
            {"Tags", a.tags}};
  if (!a.description.empty()) j["Description"] = a.description;
  if (!a.default_instance_name.empty()) j["DefaultInstanceName"] = a.default_instance_name;
  return j;
}

// DescribeActivations filters: FilterKey (enum checked by the model) and FilterValues, ORed
// within a filter and ANDed across filters.
bool Matches(const Activation& a, const Json& filters) {
  for (const auto& f : filters) {
    const std::string key = f.value("FilterKey", "");
    const std::string& field = key == "ActivationIds"         ? a.id
                               : key == "DefaultInstanceName" ? a.default_instance_name
                                                              : a.iam_role;
    const Json values = f.value("FilterValues", Json::array());
    if (values.empty()) continue;
    if (std::none_of(values.begin(), values.end(), [&](const Json& v) {
          return v.is_string() && v.get<std::string>() == field;
        })) {
      return false;
    }
  }
  return true;
}

Result<Activation> LoadForRegistration(Tx& tx, const std::string& id) {
  auto rows = tx.Query(
      fmt::format("SELECT {} FROM ssm_activation WHERE activation_id = ?", kColumns), {id});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return errors::InvalidActivation();
  return FromRow(rows->front());
}

}  // namespace

std::vector<store::Migration> Activations::Migrations() {
  return {{"ssm.activations", 1,
           "CREATE TABLE ssm_activation ("
           " activation_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
           " code_sha256 TEXT NOT NULL, description TEXT NOT NULL,"
           " default_instance_name TEXT NOT NULL, iam_role TEXT NOT NULL,"
           " registration_limit BIGINT NOT NULL, registrations_count BIGINT NOT NULL,"
           " expiration_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL, tags TEXT NOT NULL,"
           " registration_metadata TEXT NOT NULL);"
           "CREATE INDEX ssm_activation_listing ON ssm_activation"
           " (account, region, created_ms, activation_id)"}};
}

Result<Json> Activations::CreateActivation(const Ctx& ctx, const Json& in) {
  const int64_t now = ctx.now_millis;
  int64_t expiration = now + kDefaultLifetimeMillis;
  if (auto it = in.find("ExpirationDate"); it != in.end() && it->is_number()) {
    expiration = Millis(it->get<double>());
    if (expiration <= now || expiration > now + kMaxLifetimeMillis) {
      return AwsError{"InvalidParameters",
                      "ExpirationDate must be in the future and at most 30 days from now.", 400};
    }
  }
  Activation a;
  a.id = crypto::Uuid4();
  a.account = ctx.account_id;
  a.region = ctx.region;
  const std::string code = nodes::NewActivationCode();
  a.code_sha256 = CodeHash(code);
  a.description = in.value("Description", "");
  a.default_instance_name = in.value("DefaultInstanceName", "");
  a.iam_role = in.value("IamRole", "");
  a.limit = in.value("RegistrationLimit", int64_t{1});
  a.expiration_ms = expiration;
  a.created_ms = now;
  a.tags = in.value("Tags", Json::array());
  const std::string metadata = in.value("RegistrationMetadata", Json::array()).dump();
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto r = tx.Exec(
        "INSERT INTO ssm_activation (activation_id, account, region, code_sha256, description, "
        "default_instance_name, iam_role, registration_limit, registrations_count, expiration_ms, "
        "created_ms, tags, registration_metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
        {a.id, a.account, a.region, a.code_sha256, a.description, a.default_instance_name,
         a.iam_role, a.limit, a.expiration_ms, a.created_ms, a.tags.dump(), metadata});
    if (!r.ok()) return r.take_error();
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json{{"ActivationId", a.id}, {"ActivationCode", code}};
}

Result<Json> Activations::DescribeActivations(const Ctx& ctx, const Json& in) {
  auto after = DecodeNextToken(in, kTokenKind);
  if (!after.ok()) return after.take_error();
  // The token is "<created_ms>/<activation id>" of the last activation returned.
  int64_t after_ms = -1;
  std::string after_id;
  if (!after->empty()) {
    size_t slash = after->find('/');
    if (slash == std::string::npos) return errors::InvalidNextToken();
    try {
      after_ms = std::stoll(after->substr(0, slash));
    } catch (const std::exception&) {
      return errors::InvalidNextToken();
    }
    after_id = after->substr(slash + 1);
  }
  const int64_t max_results = in.value("MaxResults", kDefaultMaxResults);
  const Json filters = in.value("Filters", Json::array());
  Json list = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto rows =
        tx.Query(fmt::format("SELECT {} FROM ssm_activation WHERE account = ? AND region = ? AND "
                             "(created_ms > ? OR (created_ms = ? AND activation_id > ?)) "
                             "ORDER BY created_ms, activation_id",
                             kColumns),
                 {ctx.account_id, ctx.region, after_ms, after_ms, after_id});
    if (!rows.ok()) return rows.take_error();
    const Activation* last = nullptr;
    std::vector<Activation> page;
    for (const auto& r : *rows) {
      Activation a = FromRow(r);
      if (!Matches(a, filters)) continue;
      if (static_cast<int64_t>(page.size()) == max_results) {
        last = &page.back();
        break;
      }
      page.push_back(std::move(a));
    }
    if (last != nullptr)
      next = EncodeNextToken(kTokenKind, fmt::format("{}/{}", last->created_ms, last->id));
    for (const Activation& a : page) list.push_back(ActivationJson(a, ctx.now_millis));
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"ActivationList", std::move(list)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

Result<Json> Activations::DeleteActivation(const Ctx& ctx, const Json& in) {
  const std::string id = in.value("ActivationId", "");
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto n =
        tx.Exec("DELETE FROM ssm_activation WHERE activation_id = ? AND account = ? AND region = ?",
                {id, ctx.account_id, ctx.region});
    if (!n.ok()) return n.take_error();
    if (*n == 0) return errors::InvalidActivationId(id);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Activations::Grant> Activations::Redeem(Tx& tx, const std::string& id,
                                               const std::string& code, int64_t now_millis) {
  if (!nodes::IsActivationId(id)) return errors::InvalidActivationId(id);
  auto loaded = LoadForRegistration(tx, id);
  if (!loaded.ok()) return loaded.take_error();
  const Activation& a = *loaded;
  if (!crypto::ConstantTimeEquals(CodeHash(code), a.code_sha256))
    return errors::InvalidActivation();
  if (now_millis >= a.expiration_ms) return errors::ActivationExpired(id);
  if (a.count >= a.limit) return errors::ActivationLimitReached(id, a.limit);
  // The count guard makes two racing registrations for the last slot both see the limit.
  auto n = tx.Exec(
      "UPDATE ssm_activation SET registrations_count = registrations_count + 1 "
      "WHERE activation_id = ? AND registrations_count < registration_limit",
      {id});
  if (!n.ok()) return n.take_error();
  if (*n == 0) return errors::ActivationLimitReached(id, a.limit);
  return Grant{a.id, a.account, a.region, a.iam_role, a.default_instance_name, a.tags};
}

}  // namespace gc::ssm
