#include "services/ssm/documents.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include "common/crypto.h"
#include "services/ssm/aws_documents.h"
#include "services/ssm/document_errors.h"
#include "services/ssm/paging.h"
#include "services/ssm/resource_tags.h"
#include "services/ssm/ssm_errors.h"

namespace gc::ssm {

using Json = nlohmann::json;
using store::Row;
using store::Tx;

// One version of a document, as stored in ssm_document_version (or built for an AWS-owned one).
struct Documents::Version {
  std::string owner;  // account id, or "Amazon"
  std::string name;
  int64_t version = 0;
  std::string version_name;
  std::string display_name;
  std::string content;       // as given, in `format`
  std::string content_json;  // the same as JSON ("" for TEXT)
  std::string format;        // JSON, YAML, TEXT
  std::string hash;          // sha256 hex of `content`
  std::string document_type;
  std::string schema_version;
  std::string target_type;
  std::string description;
  std::string parameters;      // DocumentParameterList, JSON text
  std::string platform_types;  // JSON array text
  std::string requires_list;   // DocumentRequiresList, JSON text, or ""
  double created = 0;
};

namespace {

using Version = Documents::Version;

constexpr size_t kMaxContentBytes = 64 * 1024;
constexpr int64_t kMaxAccountsPerCall = 20;
constexpr int64_t kMaxPrivateShares = 1000;
constexpr int64_t kMaxPublicDocuments = 5;
constexpr const char* kAmazon = "Amazon";
constexpr const char* kTagType = "Document";

// The head of a document: which version is default and latest, and the next number to give.
struct Head {
  int64_t default_version = 1;
  int64_t latest_version = 1;
  int64_t next_version = 2;
};

constexpr const char* kVersionColumns =
    "account, name, version, version_name, display_name, content, content_json, format, hash, "
    "document_type, schema_version, target_type, description, parameters, platform_types, "
    "requires_list, created";

Version FromRow(const Row& r) {
  Version v;
  v.owner = r.Str(0);
  v.name = r.Str(1);
  v.version = r.Int(2);
  v.version_name = r.Str(3);
  v.display_name = r.Str(4);
  v.content = r.Str(5);
  v.content_json = r.Str(6);
  v.format = r.Str(7);
  v.hash = r.Str(8);
  v.document_type = r.Str(9);
  v.schema_version = r.Str(10);
  v.target_type = r.Str(11);
  v.description = r.Str(12);
  v.parameters = r.Str(13);
  v.platform_types = r.Str(14);
  v.requires_list = r.Str(15);
  v.created = r.Real(16);
  return v;
}

std::string GetString(const Json& in, const char* key) {
  auto it = in.find(key);
  return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsNumber(std::string_view s) {
  return !s.empty() && s.size() < 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Arn(const std::string& region, const std::string& owner, const std::string& name) {
  return fmt::format("arn:aws:ssm:{}:{}:document/{}", region, owner, name);
}

// Names AWS reserves for its own documents (case-insensitive): "aws-", "amazon", "amzn".
Status CheckName(const std::string& name) {
  std::string lower = Lower(name);
  if (StartsWith(lower, "aws-") || StartsWith(lower, "amazon") || StartsWith(lower, "amzn")) {
    return errors::Validation(fmt::format(
        "Invalid document name {}. Document names can't start with the reserved prefixes "
        "AWS-, Amazon or Amzn (case-insensitive).",
        name));
  }
  return Ok{};
}

// What a request's content makes of a document version: everything but identity and dates.
Result<Version> AnalyzeRequest(const std::string& content, const std::string& format_name,
                               const std::string& document_type) {
  if (content.size() > kMaxContentBytes) return errors::MaxDocumentSizeExceeded();
  auto format = ParseDocumentFormat(format_name);
  if (!format) return errors::Validation("Invalid document format " + format_name);
  Version v;
  v.content = content;
  v.format = format_name;
  v.hash = crypto::Hex(crypto::Sha256(content));
  v.document_type = document_type;
  if (*format == DocumentFormat::kText) {
    // Free text (a change calendar's iCalendar): nothing to parse or run.
    if (document_type != "ChangeCalendar") {
      return errors::InvalidDocumentContent(
          "TEXT format is supported only for ChangeCalendar documents.");
    }
    v.schema_version = "2.0";
    v.parameters = "[]";
    v.platform_types = "[]";
    return v;
  }
  auto parsed = ParseContent(content, *format);
  if (!parsed.ok()) return parsed.take_error();
  auto info = AnalyzeContent(*parsed, document_type);
  if (!info.ok()) return info.take_error();
  v.content_json = RenderContent(info->content, DocumentFormat::kJson);
  v.schema_version = info->schema_version;
  v.description = info->description;
  v.parameters = ParameterListJson(info->parameters).dump();
  v.platform_types = Json(info->platform_types).dump();
  return v;
}

// --- Store access ----------------------------------------------------------------------------

Result<std::optional<Head>> LoadHead(Tx& tx, const std::string& account, const std::string& region,
                                     const std::string& name) {
  auto rows = tx.Query(
      "SELECT default_version, latest_version, next_version FROM ssm_document WHERE account = ? "
      "AND region = ? AND name = ?",
      {account, region, name});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<Head>();
  const Row& r = rows->front();
  return std::optional<Head>(Head{r.Int(0), r.Int(1), r.Int(2)});
}

Result<std::optional<Version>> LoadVersion(Tx& tx, const std::string& account,
                                           const std::string& region, const std::string& name,
                                           int64_t version) {
  auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_document_version WHERE account = ? AND "
                                   "region = ? AND name = ? AND version = ?",
                                   kVersionColumns),
                       {account, region, name, version});
  if (!rows.ok()) return rows.take_error();
  if (rows->empty()) return std::optional<Version>();
  return std::optional<Version>(FromRow(rows->front()));
}

// Versions after `after`, in order; at most `limit` (0: all).
Result<std::vector<Version>> LoadVersions(Tx& tx, const std::string& account,
                                          const std::string& region, const std::string& name,
                                          int64_t after, int64_t limit) {
  auto rows = tx.Query(
      fmt::format("SELECT {} FROM ssm_document_version WHERE account = ? AND region = ? AND "
                  "name = ? AND version > ? ORDER BY version LIMIT ?",
                  kVersionColumns),
      {account, region, name, after, limit > 0 ? limit : int64_t{1} << 40});
  if (!rows.ok()) return rows.take_error();
  std::vector<Version> out;
  for (const auto& r : *rows) out.push_back(FromRow(r));
  return out;
}

Status InsertVersion(Tx& tx, const std::string& region, const Version& v) {
  auto r = tx.Exec(
      fmt::format("INSERT INTO ssm_document_version (region, {}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                  "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  kVersionColumns),
      {region, v.owner, v.name, v.version, v.version_name, v.display_name, v.content,
       v.content_json, v.format, v.hash, v.document_type, v.schema_version, v.target_type,
       v.description, v.parameters, v.platform_types, v.requires_list, v.created});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Status SaveHead(Tx& tx, const std::string& account, const std::string& region,
                const std::string& name, const Head& h) {
  auto r = tx.Exec(
      "INSERT INTO ssm_document (account, region, name, default_version, latest_version, "
      "next_version) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, name) DO UPDATE SET "
      "default_version = excluded.default_version, latest_version = excluded.latest_version, "
      "next_version = excluded.next_version",
      {account, region, name, h.default_version, h.latest_version, h.next_version});
  if (!r.ok()) return r.take_error();
  return Ok{};
}

Result<int64_t> CountShares(Tx& tx, const std::string& sql, const std::vector<store::Value>& args) {
  auto rows = tx.Query(sql, args);
  if (!rows.ok()) return rows.take_error();
  return rows->front().Int(0);
}

// --- Response shapes -------------------------------------------------------------------------

Json ParsedOr(const std::string& text, Json fallback) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// DocumentDescription (CreateDocument, UpdateDocument, DescribeDocument).
Json DescriptionJson(const Version& v, const Head& h, Json tags, const std::string& status) {
  Json d = {{"Hash", v.hash},
            {"HashType", "Sha256"},
            {"Name", v.name},
            {"Owner", v.owner},
            {"CreatedDate", v.created},
            {"Status", status},
            {"DocumentVersion", std::to_string(v.version)},
            {"PlatformTypes", ParsedOr(v.platform_types, Json::array())},
            {"DocumentType", v.document_type},
            {"SchemaVersion", v.schema_version},
            {"LatestVersion", std::to_string(h.latest_version)},
            {"DefaultVersion", std::to_string(h.default_version)},
            {"DocumentFormat", v.format},
            {"Tags", std::move(tags)}};
  Json params = ParsedOr(v.parameters, Json::array());
  if (!params.empty()) d["Parameters"] = std::move(params);
  if (!v.description.empty()) d["Description"] = v.description;
  if (!v.display_name.empty()) d["DisplayName"] = v.display_name;
  if (!v.version_name.empty()) d["VersionName"] = v.version_name;
  if (!v.target_type.empty()) d["TargetType"] = v.target_type;
  if (!v.requires_list.empty()) d["Requires"] = ParsedOr(v.requires_list, Json::array());
  return d;
}

// DocumentIdentifier (ListDocuments); `shown_name` is the ARN for a document shared with us.
Json IdentifierJson(const Version& v, const std::string& shown_name, Json tags) {
  Json d = {{"Name", shown_name},
            {"CreatedDate", v.created},
            {"Owner", v.owner},
            {"PlatformTypes", ParsedOr(v.platform_types, Json::array())},
            {"DocumentVersion", std::to_string(v.version)},
            {"DocumentType", v.document_type},
            {"SchemaVersion", v.schema_version},
            {"DocumentFormat", v.format},
            {"Tags", std::move(tags)}};
  if (!v.display_name.empty()) d["DisplayName"] = v.display_name;
  if (!v.version_name.empty()) d["VersionName"] = v.version_name;
  if (!v.target_type.empty()) d["TargetType"] = v.target_type;
  if (!v.requires_list.empty()) d["Requires"] = ParsedOr(v.requires_list, Json::array());
  return d;
}

// The content of `v` in `format`: as written when the formats agree, else converted.
Result<std::string> ContentIn(const Version& v, const std::string& format) {
  if (format == v.format) return v.content;
  if (v.format == "TEXT" || format == "TEXT") {
    return errors::Validation("Invalid document format " + format);
  }
  if (format == "JSON") return v.content_json;
  auto parsed = ParseContent(v.content_json, DocumentFormat::kJson);
  if (!parsed.ok()) return parsed.take_error();
  return RenderContent(*parsed, DocumentFormat::kYaml);
}

// --- Locating documents ----------------------------------------------------------------------

// Where a name or ARN leads: an AWS-owned document, or a stored one (the caller's own or one
// shared with the caller).
struct Located {
  const Version* aws = nullptr;
  std::string account;  // owner of a stored document
  std::string name;
  Head head;
};

}  // namespace

Documents::Documents(store::Store& store) : store_(store) {
  for (const auto& src : AwsDocumentSources()) {
    auto v = AnalyzeRequest(std::string(src.content), "JSON", std::string(src.document_type));
    if (!v.ok()) {
      // Our own data: aws_documents.cc must hold valid documents (documents_test checks).
      std::fprintf(stderr, "AWS-owned document %s is invalid: %s\n", std::string(src.name).c_str(),
                   v.error().message.c_str());
      std::abort();
    }
    v->owner = kAmazon;
    v->name = std::string(src.name);
    v->version = 1;
    v->created = src.created;
    aws_.push_back(std::move(*v));
  }
}

Documents::~Documents() = default;

std::vector<store::Migration> Documents::Migrations() {
  return {{"ssm.documents", 1,
           "CREATE TABLE ssm_document ("
           " account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,"
           " default_version BIGINT NOT NULL, latest_version BIGINT NOT NULL,"
           " next_version BIGINT NOT NULL, PRIMARY KEY (account, region, name));"
           "CREATE TABLE ssm_document_version ("
           " account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,"
           " version BIGINT NOT NULL, version_name TEXT NOT NULL, display_name TEXT NOT NULL,"
           " content TEXT NOT NULL, content_json TEXT NOT NULL, format TEXT NOT NULL,"
           " hash TEXT NOT NULL, document_type TEXT NOT NULL, schema_version TEXT NOT NULL,"
           " target_type TEXT NOT NULL, description TEXT NOT NULL, parameters TEXT NOT NULL,"
           " platform_types TEXT NOT NULL, requires_list TEXT NOT NULL,"
           " created DOUBLE PRECISION NOT NULL, PRIMARY KEY (account, region, name, version));"
           "CREATE TABLE ssm_document_share ("
           " account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,"
           " shared_with TEXT NOT NULL, shared_version TEXT NOT NULL,"
           " created DOUBLE PRECISION NOT NULL, PRIMARY KEY (account, region, name, shared_with));"
           "CREATE INDEX ssm_document_share_with ON ssm_document_share (shared_with, region)"}};
}

namespace {

const Version* FindAws(const std::vector<Version>& aws, const std::string& name) {
  for (const auto& v : aws) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

// A name or "arn:aws:ssm:<region>:<account>:document/<name>". Documents of other accounts are
// found only when shared with the caller (or with all).
Result<Located> Locate(Tx& tx, const wire::CallContext& ctx, const std::vector<Version>& aws,
                       const std::string& name_or_arn) {
  Located loc;
  loc.account = ctx.account_id;
  loc.name = name_or_arn;
  if (StartsWith(name_or_arn, "arn:")) {
    // arn:aws:ssm:region:account:document/name
    std::vector<std::string> parts;
    size_t start = 0;
    for (int i = 0; i < 5; ++i) {
      size_t colon = name_or_arn.find(':', start);
      if (colon == std::string::npos) return errors::InvalidDocument(name_or_arn);
      parts.push_back(name_or_arn.substr(start, colon - start));
      start = colon + 1;
    }
    std::string resource = name_or_arn.substr(start);
    if (!StartsWith(resource, "document/") || parts[2] != "ssm" ||
        (!parts[3].empty() && parts[3] != ctx.region)) {
      return errors::InvalidDocument(name_or_arn);
    }
    loc.name = resource.substr(9);
    loc.account = parts[4].empty() ? ctx.account_id : parts[4];
  }
  if (const Version* v = FindAws(aws, loc.name); v && loc.account == ctx.account_id) {
    loc.aws = v;
    return loc;
  }
  if (loc.account != ctx.account_id) {
    auto shared = CountShares(
        tx,
        "SELECT COUNT(*) FROM ssm_document_share WHERE account = ? AND region = ? AND name = ? "
        "AND shared_with IN (?, 'all')",
        {loc.account, ctx.region, loc.name, ctx.account_id});
    if (!shared.ok()) return shared.take_error();
    if (*shared == 0) return errors::InvalidDocument(name_or_arn);
  }
  auto head = LoadHead(tx, loc.account, ctx.region, loc.name);
  if (!head.ok()) return head.take_error();
  if (!head->has_value()) return errors::InvalidDocument(name_or_arn);
  loc.head = **head;
  return loc;
}

// The version a request names: DocumentVersion ("", $DEFAULT, $LATEST, a number) and/or
// VersionName. A missing number → InvalidDocumentVersion; a missing name → InvalidDocument.
Result<Version> SelectVersion(Tx& tx, const wire::CallContext& ctx, const Located& loc,
                              const std::string& doc_version, const std::string& version_name) {
  if (loc.aws) {
    bool ok = (doc_version.empty() || doc_version == "$DEFAULT" || doc_version == "$LATEST" ||
               doc_version == "1") &&
              (version_name.empty() || version_name == loc.aws->version_name);
    if (!ok && !version_name.empty()) {
      return errors::InvalidDocumentVersionName(loc.name, version_name);
    }
    if (!ok) return errors::InvalidDocumentVersion();
    return *loc.aws;
  }
  std::optional<int64_t> number;
  if (doc_version.empty() || doc_version == "$DEFAULT") {
    if (version_name.empty()) number = loc.head.default_version;
  } else if (doc_version == "$LATEST") {
    number = loc.head.latest_version;
  } else if (IsNumber(doc_version)) {
    number = std::stoll(doc_version);
  } else {
    return errors::InvalidDocumentVersion();
  }
  if (!number) {  // by VersionName alone
    auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_document_version WHERE account = ? AND "
                                     "region = ? AND name = ? AND version_name = ?",
                                     kVersionColumns),
                         {loc.account, ctx.region, loc.name, version_name});
    if (!rows.ok()) return rows.take_error();
    if (rows->empty()) return errors::InvalidDocumentVersionName(loc.name, version_name);
    return FromRow(rows->front());
  }
  auto v = LoadVersion(tx, loc.account, ctx.region, loc.name, *number);
  if (!v.ok()) return v.take_error();
  if (!v->has_value()) return errors::InvalidDocumentVersion();
  if (!version_name.empty() && (*v)->version_name != version_name) {
    return errors::InvalidDocumentVersionName(loc.name, version_name);
  }
  return std::move(**v);
}

// Tags shown with a document: the caller's own documents only.
Result<Json> TagsOf(Tx& tx, const wire::CallContext& ctx, const Version& v) {
  if (v.owner != ctx.account_id) return Json::array();
  return ResourceTags::LoadTags(tx, ctx, kTagType, v.name);
}

}  // namespace

Result<Json> Documents::CreateDocument(const Ctx& ctx, const Json& in) {
  const std::string name = GetString(in, "Name");
  if (Status st = CheckName(name); !st.ok()) return st.take_error();
  std::string type = GetString(in, "DocumentType");
  std::string format = GetString(in, "DocumentFormat");
  auto analyzed = AnalyzeRequest(GetString(in, "Content"), format.empty() ? "JSON" : format,
                                 type.empty() ? "Command" : type);
  if (!analyzed.ok()) return analyzed.take_error();
  Version v = std::move(*analyzed);
  v.owner = ctx.account_id;
  v.name = name;
  v.version = 1;
  v.version_name = GetString(in, "VersionName");
  v.display_name = GetString(in, "DisplayName");
  v.target_type = GetString(in, "TargetType");
  if (in.contains("Requires") && in["Requires"].is_array()) v.requires_list = in["Requires"].dump();
  v.created = static_cast<double>(ctx.now_millis) / 1000.0;

  Json out;
  Status st = store_.Write([&](Tx& tx) -> Status {
    // One query for both checks: the name is free, and the account is under its quota.
    auto count = tx.Query(
        "SELECT COUNT(*), SUM(CASE WHEN name = ? THEN 1 ELSE 0 END) FROM ssm_document WHERE "
        "account = ? AND region = ?",
        {name, ctx.account_id, ctx.region});
    if (!count.ok()) return count.take_error();
    if (count->front().Int(1) > 0) return errors::DocumentAlreadyExists(name);
    if (count->front().Int(0) >= kMaxDocuments) return errors::DocumentLimitExceeded(kMaxDocuments);
    Head head;
    if (Status s = SaveHead(tx, ctx.account_id, ctx.region, name, head); !s.ok()) return s;
    if (Status s = InsertVersion(tx, ctx.region, v); !s.ok()) return s;
    Json tags = Json::array();
    if (in.contains("Tags") && !in["Tags"].empty()) {
      if (Status s = ResourceTags::PutTags(tx, ctx, kTagType, name, in["Tags"]); !s.ok()) return s;
      auto loaded = ResourceTags::LoadTags(tx, ctx, kTagType, name);
      if (!loaded.ok()) return loaded.take_error();
      tags = std::move(*loaded);
    }
    // AWS answers while the document is still being created.
    out = {{"DocumentDescription", DescriptionJson(v, head, std::move(tags), "Creating")}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> Documents::UpdateDocument(const Ctx& ctx, const Json& in) {
  const std::string name = GetString(in, "Name");
  if (FindAws(aws_, name)) return errors::AmazonOwnedDocument(name);
  const std::string requested = GetString(in, "DocumentVersion");
  const std::string version_name = GetString(in, "VersionName");
  std::string format = GetString(in, "DocumentFormat");
  if (format.empty()) format = "JSON";
  const std::string content = GetString(in, "Content");
  if (content.size() > kMaxContentBytes) return errors::MaxDocumentSizeExceeded();

  Json out;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto head_r = LoadHead(tx, ctx.account_id, ctx.region, name);
    if (!head_r.ok()) return head_r.take_error();
    if (!head_r->has_value()) return errors::InvalidDocument(name);
    Head head = **head_r;
    // Only the latest version can be updated.
    if (!requested.empty() && requested != "$LATEST" &&
        requested != std::to_string(head.latest_version)) {
      return errors::InvalidDocumentVersion();
    }
    auto latest_r = LoadVersion(tx, ctx.account_id, ctx.region, name, head.latest_version);
    if (!latest_r.ok()) return latest_r.take_error();
    if (!latest_r->has_value()) return errors::InvalidDocument(name);
    const Version& latest = **latest_r;

    auto analyzed = AnalyzeRequest(content, format, latest.document_type);
    if (!analyzed.ok()) return analyzed.take_error();
    Version v = std::move(*analyzed);
    // Schema 1.x documents can't be updated, nor can a document be updated to schema 1.x.
    if (StartsWith(latest.schema_version, "1.") || StartsWith(v.schema_version, "1.")) {
      return errors::InvalidDocumentSchemaVersion(fmt::format(
          "Document with schema version {} can't be updated. Only documents with schema version "
          "2.0 or later can be updated.",
          StartsWith(latest.schema_version, "1.") ? latest.schema_version : v.schema_version));
    }
    auto versions = LoadVersions(tx, ctx.account_id, ctx.region, name, 0, 0);
    if (!versions.ok()) return versions.take_error();
    for (const auto& old : *versions) {
      if (old.hash == v.hash) return errors::DuplicateDocumentContent();
      if (!version_name.empty() && old.version_name == version_name) {
        return errors::DuplicateDocumentVersionName(version_name);
      }
    }
    if (static_cast<int64_t>(versions->size()) >= kMaxVersions) {
      return errors::DocumentVersionLimitExceeded();
    }
    v.owner = ctx.account_id;
    v.name = name;
    v.version = head.next_version;
    v.version_name = version_name;
    v.display_name =
        in.contains("DisplayName") ? GetString(in, "DisplayName") : latest.display_name;
    v.target_type = in.contains("TargetType") ? GetString(in, "TargetType") : latest.target_type;
    v.requires_list = latest.requires_list;
    v.created = static_cast<double>(ctx.now_millis) / 1000.0;
    head.latest_version = v.version;
    head.next_version = v.version + 1;
    if (Status s = InsertVersion(tx, ctx.region, v); !s.ok()) return s;
    if (Status s = SaveHead(tx, ctx.account_id, ctx.region, name, head); !s.ok()) return s;
    auto tags = ResourceTags::LoadTags(tx, ctx, kTagType, name);
    if (!tags.ok()) return tags.take_error();
    out = {{"DocumentDescription", DescriptionJson(v, head, std::move(*tags), "Updating")}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> Documents::GetDocument(const Ctx& ctx, const Json& in) {
  Json out;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto loc = Locate(tx, ctx, aws_, GetString(in, "Name"));
    if (!loc.ok()) return loc.take_error();
    auto v = SelectVersion(tx, ctx, *loc, GetString(in, "DocumentVersion"),
                           GetString(in, "VersionName"));
    if (!v.ok()) return v.take_error();
    // JSON unless asked otherwise (the API's default; the agent parses what it gets as JSON).
    std::string format = GetString(in, "DocumentFormat");
    if (format.empty()) format = v->format == "TEXT" ? "TEXT" : "JSON";
    auto content = ContentIn(*v, format);
    if (!content.ok()) return content.take_error();
    out = {{"Name", v->name},
           {"CreatedDate", v->created},
           {"DocumentVersion", std::to_string(v->version)},
           {"Status", "Active"},
           {"Content", std::move(*content)},
           {"DocumentType", v->document_type},
           {"DocumentFormat", format}};
    if (!v->display_name.empty()) out["DisplayName"] = v->display_name;
    if (!v->version_name.empty()) out["VersionName"] = v->version_name;
    if (!v->requires_list.empty()) out["Requires"] = ParsedOr(v->requires_list, Json::array());
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> Documents::DescribeDocument(const Ctx& ctx, const Json& in) {
  Json out;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto loc = Locate(tx, ctx, aws_, GetString(in, "Name"));
    if (!loc.ok()) return loc.take_error();
    auto v = SelectVersion(tx, ctx, *loc, GetString(in, "DocumentVersion"),
                           GetString(in, "VersionName"));
    if (!v.ok()) return v.take_error();
    auto tags = TagsOf(tx, ctx, *v);
    if (!tags.ok()) return tags.take_error();
    out = {{"Document", DescriptionJson(*v, loc->head, std::move(*tags), "Active")}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

namespace {

// One ListDocuments filter, from either DocumentFilterList or Filters.
struct ListFilter {
  std::string key;
  std::vector<std::string> values;
};

// Which owners a listing covers (Owner filter: Self, Amazon, Private, Public, All, an account).
struct OwnerScope {
  bool self = true, amazon = true, shared_private = true, shared_public = true;
  std::string account;  // a specific owner account, when given
};

Result<std::vector<ListFilter>> ParseListFilters(const Json& in) {
  std::vector<ListFilter> out;
  for (const auto& f : in.value("DocumentFilterList", Json::array())) {
    out.push_back({GetString(f, "key"), {GetString(f, "value")}});
  }
  for (const auto& f : in.value("Filters", Json::array())) {
    ListFilter filter{GetString(f, "Key"), {}};
    for (const auto& v : f.value("Values", Json::array())) {
      if (v.is_string()) filter.values.push_back(v.get<std::string>());
    }
    out.push_back(std::move(filter));
  }
  static const std::set<std::string> kKeys = {"Name",         "Owner",      "PlatformTypes",
                                              "DocumentType", "TargetType", "SearchKeyword"};
  int owners = 0;
  for (const auto& f : out) {
    if (!kKeys.count(f.key) && !(StartsWith(f.key, "tag:") && f.key.size() > 4)) {
      return errors::InvalidFilterKey(fmt::format(
          "The following filter key is not valid: {}. Valid filter keys include: [Name, Owner, "
          "PlatformTypes, DocumentType, TargetType, SearchKeyword, tag:<key>].",
          f.key));
    }
    if (f.key == "Owner" && (++owners > 1 || f.values.size() != 1)) {
      return errors::Validation("Only one Owner value can be specified in a request.");
    }
  }
  return out;
}

OwnerScope ScopeOf(const std::vector<ListFilter>& filters) {
  OwnerScope scope;
  for (const auto& f : filters) {
    if (f.key != "Owner") continue;
    const std::string& o = f.values.front();
    if (o == "All") continue;
    scope = OwnerScope{false, false, false, false, ""};
    if (o == "Self") scope.self = true;
    if (o == "Amazon") scope.amazon = true;
    if (o == "Private") scope.shared_private = true;
    if (o == "Public") scope.shared_public = true;
    if (IsNumber(o)) scope.account = o;  // ThirdParty and other values: nothing
  }
  return scope;
}

// A listing candidate: a document's default version and how it is shown.
struct Candidate {
  std::string shown_name;
  Version v;
};

using TagMap = std::map<std::string, ResourceTags::TagMap>;  // name → key → value

bool MatchesFilters(const Candidate& c, const std::vector<ListFilter>& filters,
                    const TagMap& tags) {
  auto any = [](const std::vector<std::string>& values, auto pred) {
    return std::any_of(values.begin(), values.end(), pred);
  };
  for (const auto& f : filters) {
    const Version& v = c.v;
    if (f.key == "Name") {
      if (!any(f.values, [&](const std::string& p) { return StartsWith(v.name, p); })) {
        return false;
      }
    } else if (f.key == "DocumentType") {
      if (!any(f.values, [&](const std::string& t) { return v.document_type == t; })) return false;
    } else if (f.key == "TargetType") {
      if (!any(f.values, [&](const std::string& t) { return v.target_type == t; })) return false;
    } else if (f.key == "PlatformTypes") {
      Json platforms = ParsedOr(v.platform_types, Json::array());
      if (!any(f.values, [&](const std::string& p) {
            return std::find(platforms.begin(), platforms.end(), Json(p)) != platforms.end();
          })) {
        return false;
      }
    } else if (f.key == "SearchKeyword") {
      std::string lower = Lower(v.name);
      if (!any(f.values,
               [&](const std::string& k) { return lower.find(Lower(k)) != std::string::npos; })) {
        return false;
      }
    } else if (StartsWith(f.key, "tag:")) {
      auto doc = c.shown_name == v.name ? tags.find(v.name) : tags.end();
      if (doc == tags.end()) return false;
      auto tag = doc->second.find(f.key.substr(4));
      if (tag == doc->second.end()) return false;
      if (!f.values.empty() &&
          std::find(f.values.begin(), f.values.end(), tag->second) == f.values.end()) {
        return false;
      }
    }
  }
  return true;
}

// The default versions of stored documents: the caller's own, or those shared with it.
Result<std::vector<Candidate>> LoadListed(Tx& tx, const wire::CallContext& ctx,
                                          const OwnerScope& scope) {
  std::vector<Candidate> out;
  const std::string join =
      "JOIN ssm_document_version v ON v.account = d.account AND v.region = d.region AND "
      "v.name = d.name AND v.version = d.default_version ";
  std::string columns;
  for (std::string_view c :
       {"account", "name", "version", "version_name", "display_name", "content", "content_json",
        "format", "hash", "document_type", "schema_version", "target_type", "description",
        "parameters", "platform_types", "requires_list", "created"}) {
    columns += (columns.empty() ? "v." : ", v.") + std::string(c);
  }
  if (scope.self || scope.account == ctx.account_id) {
    auto rows = tx.Query(fmt::format("SELECT {} FROM ssm_document d {} WHERE d.account = ? AND "
                                     "d.region = ?",
                                     columns, join),
                         {ctx.account_id, ctx.region});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      Version v = FromRow(r);
      std::string shown = v.name;
      out.push_back({std::move(shown), std::move(v)});
    }
  }
  if (scope.shared_private || scope.shared_public ||
      (!scope.account.empty() && scope.account != ctx.account_id)) {
    auto rows = tx.Query(
        fmt::format("SELECT {}, s.shared_with FROM ssm_document_share s JOIN ssm_document d ON "
                    "d.account = s.account AND d.region = s.region AND d.name = s.name {} WHERE "
                    "s.shared_with IN (?, 'all') AND s.region = ? AND s.account <> ? ORDER BY "
                    "s.account, s.name, s.shared_with",
                    columns, join),
        {ctx.account_id, ctx.region, ctx.account_id});
    if (!rows.ok()) return rows.take_error();
    std::set<std::string> seen;
    for (const auto& r : *rows) {
      Version v = FromRow(r);
      bool is_public = r.Str(17) == "all";
      bool wanted =
          (is_public ? scope.shared_public : scope.shared_private) || scope.account == v.owner;
      std::string arn = Arn(ctx.region, v.owner, v.name);
      if (!wanted || !seen.insert(arn).second) continue;
      out.push_back({std::move(arn), std::move(v)});
    }
  }
  return out;
}

}  // namespace

Result<Json> Documents::ListDocuments(const Ctx& ctx, const Json& in) {
  auto filters = ParseListFilters(in);
  if (!filters.ok()) return filters.take_error();
  auto after = DecodeNextToken(in, "d");
  if (!after.ok()) return after.take_error();
  const int64_t max_results = in.value("MaxResults", int64_t{50});
  const OwnerScope scope = ScopeOf(*filters);

  Json list = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    list = Json::array();
    auto stored = LoadListed(tx, ctx, scope);
    if (!stored.ok()) return stored.take_error();
    std::vector<Candidate> candidates = std::move(*stored);
    if (scope.amazon) {
      for (const auto& v : aws_) candidates.push_back({v.name, v});
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.shown_name < b.shown_name; });
    // The caller's document tags, for tag filters and the Tags of each identifier.
    auto loaded = ResourceTags::LoadTagsOfType(tx, ctx, kTagType);
    if (!loaded.ok()) return loaded.take_error();
    TagMap tags = std::move(*loaded);

    for (const auto& c : candidates) {
      if (!after->empty() && c.shown_name <= *after) continue;
      if (!MatchesFilters(c, *filters, tags)) continue;
      if (static_cast<int64_t>(list.size()) == max_results) {
        next = EncodeNextToken("d", list.back()["Name"].get<std::string>());
        break;
      }
      Json tag_list = Json::array();
      if (c.shown_name == c.v.name && c.v.owner == ctx.account_id) {
        for (const auto& [k, val] : tags[c.v.name])
          tag_list.push_back({{"Key", k}, {"Value", val}});
      }
      list.push_back(IdentifierJson(c.v, c.shown_name, std::move(tag_list)));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"DocumentIdentifiers", std::move(list)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

Result<Json> Documents::DeleteDocument(const Ctx& ctx, const Json& in) {
  const std::string name = GetString(in, "Name");
  if (FindAws(aws_, name)) return errors::AmazonOwnedDocument(name);
  const std::string doc_version = GetString(in, "DocumentVersion");
  const std::string version_name = GetString(in, "VersionName");
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto head_r = LoadHead(tx, ctx.account_id, ctx.region, name);
    if (!head_r.ok()) return head_r.take_error();
    if (!head_r->has_value()) return errors::InvalidDocument(name);
    Head head = **head_r;
    const std::vector<store::Value> key = {ctx.account_id, ctx.region, name};

    if (!doc_version.empty() || !version_name.empty()) {
      // One version: never the default one.
      Located loc{nullptr, ctx.account_id, name, head};
      auto v = SelectVersion(tx, ctx, loc, doc_version, version_name);
      if (!v.ok()) {
        return errors::InvalidDocumentVersionName(
            name, version_name.empty() ? doc_version : version_name);
      }
      if (v->version == head.default_version) {
        return errors::InvalidDocumentOperation(
            "Default version of the document can't be deleted.");
      }
      auto del = tx.Exec(
          "DELETE FROM ssm_document_version WHERE account = ? AND region = ? AND name = ? AND "
          "version = ?",
          {ctx.account_id, ctx.region, name, v->version});
      if (!del.ok()) return del.take_error();
      auto max = tx.Query(
          "SELECT MAX(version) FROM ssm_document_version WHERE account = ? AND region = ? AND "
          "name = ?",
          key);
      if (!max.ok()) return max.take_error();
      head.latest_version = max->front().Int(0);
      return SaveHead(tx, ctx.account_id, ctx.region, name, head);
    }

    auto shares = CountShares(
        tx, "SELECT COUNT(*) FROM ssm_document_share WHERE account = ? AND region = ? AND name = ?",
        key);
    if (!shares.ok()) return shares.take_error();
    if (*shares > 0) return errors::DocumentStillShared();
    for (const char* sql :
         {"DELETE FROM ssm_document_version WHERE account = ? AND region = ? AND name = ?",
          "DELETE FROM ssm_document WHERE account = ? AND region = ? AND name = ?"}) {
      auto r = tx.Exec(sql, key);
      if (!r.ok()) return r.take_error();
    }
    return ResourceTags::DeleteAllTags(tx, ctx, kTagType, name);
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<Json> Documents::ListDocumentVersions(const Ctx& ctx, const Json& in) {
  auto after_r = DecodeNextToken(in, "dv");
  if (!after_r.ok()) return after_r.take_error();
  if (!after_r->empty() && !IsNumber(*after_r)) return errors::InvalidNextToken();
  const int64_t after = after_r->empty() ? 0 : std::stoll(*after_r);
  const int64_t max_results = in.value("MaxResults", int64_t{50});
  Json list = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    list = Json::array();
    auto loc = Locate(tx, ctx, aws_, GetString(in, "Name"));
    if (!loc.ok()) return loc.take_error();
    std::vector<Version> versions;
    if (loc->aws) {
      if (after == 0) versions.push_back(*loc->aws);
    } else {
      auto v = LoadVersions(tx, loc->account, ctx.region, loc->name, after, max_results + 1);
      if (!v.ok()) return v.take_error();
      versions = std::move(*v);
    }
    for (const auto& v : versions) {
      if (static_cast<int64_t>(list.size()) == max_results) {
        next = EncodeNextToken("dv", list.back()["DocumentVersion"].get<std::string>());
        break;
      }
      Json j = {{"Name", v.name},
                {"DocumentVersion", std::to_string(v.version)},
                {"CreatedDate", v.created},
                {"IsDefaultVersion", v.version == loc->head.default_version},
                {"DocumentFormat", v.format},
                {"Status", "Active"}};
      if (!v.display_name.empty()) j["DisplayName"] = v.display_name;
      if (!v.version_name.empty()) j["VersionName"] = v.version_name;
      list.push_back(std::move(j));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"DocumentVersions", std::move(list)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

Result<Json> Documents::UpdateDocumentDefaultVersion(const Ctx& ctx, const Json& in) {
  const std::string name = GetString(in, "Name");
  if (FindAws(aws_, name)) return errors::AmazonOwnedDocument(name);
  const std::string version = GetString(in, "DocumentVersion");
  Json out;
  Status st = store_.Write([&](Tx& tx) -> Status {
    auto head = LoadHead(tx, ctx.account_id, ctx.region, name);
    if (!head.ok()) return head.take_error();
    if (!head->has_value()) return errors::InvalidDocument(name);
    if (!IsNumber(version)) return errors::InvalidDocumentVersion();
    auto v = LoadVersion(tx, ctx.account_id, ctx.region, name, std::stoll(version));
    if (!v.ok()) return v.take_error();
    if (!v->has_value()) return errors::InvalidDocumentVersion();
    Head h = **head;
    h.default_version = (*v)->version;
    if (Status s = SaveHead(tx, ctx.account_id, ctx.region, name, h); !s.ok()) return s;
    Json d = {{"Name", name}, {"DefaultVersion", std::to_string(h.default_version)}};
    if (!(*v)->version_name.empty()) d["DefaultVersionName"] = (*v)->version_name;
    out = {{"Description", std::move(d)}};
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return out;
}

Result<Json> Documents::DescribeDocumentPermission(const Ctx& ctx, const Json& in) {
  const std::string name = GetString(in, "Name");
  if (FindAws(aws_, name)) return errors::AmazonOwnedDocument(name);
  auto after = DecodeNextToken(in, "dp");
  if (!after.ok()) return after.take_error();
  const int64_t max_results = in.value("MaxResults", int64_t{200});
  Json ids = Json::array(), infos = Json::array();
  std::string next;
  Status st = store_.Read([&](Tx& tx) -> Status {
    ids = Json::array();
    infos = Json::array();
    auto head = LoadHead(tx, ctx.account_id, ctx.region, name);
    if (!head.ok()) return head.take_error();
    if (!head->has_value()) return errors::InvalidDocument(name);
    auto rows = tx.Query(
        "SELECT shared_with, shared_version FROM ssm_document_share WHERE account = ? AND "
        "region = ? AND name = ? AND shared_with > ? ORDER BY shared_with LIMIT ?",
        {ctx.account_id, ctx.region, name, *after, max_results + 1});
    if (!rows.ok()) return rows.take_error();
    for (const auto& r : *rows) {
      if (static_cast<int64_t>(ids.size()) == max_results) {
        next = EncodeNextToken("dp", ids.back().get<std::string>());
        break;
      }
      ids.push_back(r.Str(0));
      infos.push_back({{"AccountId", r.Str(0)}, {"SharedDocumentVersion", r.Str(1)}});
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  Json out = {{"AccountIds", std::move(ids)}, {"AccountSharingInfoList", std::move(infos)}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

Result<Json> Documents::ModifyDocumentPermission(const Ctx& ctx, const Json& in) {
  const std::string name = GetString(in, "Name");
  if (FindAws(aws_, name)) return errors::AmazonOwnedDocument(name);
  auto accounts = [&](const char* key) {
    std::set<std::string> out;
    for (const auto& a : in.value(key, Json::array())) {
      if (a.is_string())
        out.insert(Lower(a.get<std::string>()) == "all" ? "all" : a.get<std::string>());
    }
    return out;
  };
  std::set<std::string> add = accounts("AccountIdsToAdd");
  const std::set<std::string> remove = accounts("AccountIdsToRemove");
  if (in.value("AccountIdsToAdd", Json::array()).size() > kMaxAccountsPerCall ||
      in.value("AccountIdsToRemove", Json::array()).size() > kMaxAccountsPerCall) {
    return errors::DocumentPermissionLimit(fmt::format(
        "You can specify a maximum of {} accounts per API operation to share a private document.",
        kMaxAccountsPerCall));
  }
  for (const auto& a : remove) add.erase(a);  // removal wins
  std::string shared_version = GetString(in, "SharedDocumentVersion");
  if (shared_version.empty()) shared_version = "$DEFAULT";

  Status st = store_.Write([&](Tx& tx) -> Status {
    auto head = LoadHead(tx, ctx.account_id, ctx.region, name);
    if (!head.ok()) return head.take_error();
    if (!head->has_value()) return errors::InvalidDocument(name);
    for (const auto& a : add) {
      auto r = tx.Exec(
          "INSERT INTO ssm_document_share (account, region, name, shared_with, shared_version, "
          "created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, name, shared_with) DO "
          "UPDATE SET shared_version = excluded.shared_version",
          {ctx.account_id, ctx.region, name, a, shared_version,
           static_cast<double>(ctx.now_millis) / 1000.0});
      if (!r.ok()) return r.take_error();
    }
    for (const auto& a : remove) {
      auto r = tx.Exec(
          "DELETE FROM ssm_document_share WHERE account = ? AND region = ? AND name = ? AND "
          "shared_with = ?",
          {ctx.account_id, ctx.region, name, a});
      if (!r.ok()) return r.take_error();
    }
    auto private_count = CountShares(
        tx,
        "SELECT COUNT(*) FROM ssm_document_share WHERE account = ? AND region = ? AND name = ? "
        "AND shared_with <> 'all'",
        {ctx.account_id, ctx.region, name});
    if (!private_count.ok()) return private_count.take_error();
    if (*private_count > kMaxPrivateShares) {
      return errors::DocumentPermissionLimit(fmt::format(
          "A document can be shared privately with at most {} accounts.", kMaxPrivateShares));
    }
    auto public_count =
        CountShares(tx,
                    "SELECT COUNT(*) FROM ssm_document_share WHERE account = ? AND region = ? AND "
                    "shared_with = 'all'",
                    {ctx.account_id, ctx.region});
    if (!public_count.ok()) return public_count.take_error();
    if (*public_count > kMaxPublicDocuments) {
      return errors::DocumentPermissionLimit(
          fmt::format("You can share at most {} documents publicly.", kMaxPublicDocuments));
    }
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return Json::object();
}

Result<std::string> Documents::ResolveExisting(const Ctx& ctx, const std::string& name_or_arn) {
  std::string name;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto loc = Locate(tx, ctx, aws_, name_or_arn);
    if (!loc.ok() || loc->aws || loc->account != ctx.account_id) {
      return errors::InvalidResourceId();
    }
    name = loc->name;
    return Ok{};
  });
  if (!st.ok()) return st.take_error();
  return name;
}

Result<ResolvedDocument> Documents::Resolve(const Ctx& ctx, const std::string& name_or_arn,
                                            const std::string& version) {
  Version v;
  Status st = store_.Read([&](Tx& tx) -> Status {
    auto loc = Locate(tx, ctx, aws_, name_or_arn);
    if (!loc.ok()) return loc.take_error();
    auto selected = SelectVersion(tx, ctx, *loc, version, "");
    if (!selected.ok()) return selected.take_error();
    v = std::move(*selected);
    return Ok{};
  });
  if (!st.ok()) return st.take_error();

  ResolvedDocument out;
  out.name = v.name;
  out.owner = v.owner;
  out.document_type = v.document_type;
  out.schema_version = v.schema_version;
  out.version = v.version;
  out.version_name = v.version_name;
  out.hash = v.hash;
  for (const auto& p : ParsedOr(v.platform_types, Json::array())) {
    out.platform_types.push_back(p.get<std::string>());
  }
  if (v.format == "TEXT") {
    out.content = v.content;
    return out;
  }
  // Stored content was validated when written; it parses and its parameters are well formed.
  auto parsed = ParseContent(v.content_json, DocumentFormat::kJson);
  if (!parsed.ok()) return parsed.take_error();
  auto params = ParseParameterDefs(parsed->value("parameters", OrderedJson()),
                                   v.document_type == "Automation");
  if (!params.ok()) return params.take_error();
  out.parameters = std::move(*params);
  out.content = Json(*parsed);
  return out;
}

}  // namespace gc::ssm
