#include "agent/inventory.h"

#include <sys/stat.h>

#include <chrono>
#include <mutex>
#include <optional>

#include "agent/aws_client.h"
#include "agent/dpkg.h"
#include "agent/files.h"
#include "agent/inventory_gatherers.h"
#include "agent/log.h"
#include "agent/rpm.h"
#include "common/crypto.h"

namespace gc::agent {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr const char* kApplication = "AWS:Application";
constexpr const char* kAwsComponent = "AWS:AWSComponent";
constexpr const char* kNetwork = "AWS:Network";
constexpr const char* kService = "AWS:Service";
constexpr const char* kFile = "AWS:File";
constexpr const char* kInstanceDetailed = "AWS:InstanceDetailedInformation";
constexpr const char* kHashFile = "contentHash";  // appconfig.InventoryContentHashFileName
// `rpm -qa` of a few thousand packages takes a second or two; a hung one must not hold the job.
constexpr int64_t kRpmQueryTimeoutMillis = 60000;

// model.SizeLimitKBPerInventoryType and model.TotalSizeLimitKB.
constexpr size_t kMaxTypeBytes = 3072 * 1024;
constexpr size_t kMaxTotalBytes = 10240 * 1024;

// inventory.go's messages.
constexpr const char* kNothingToUpload =
    "Inventory policy has been successfully applied but there is no inventory data to upload to "
    "SSM";
constexpr const char* kUploaded =
    "Inventory policy has been successfully applied and collected inventory data has been "
    "uploaded to SSM";
constexpr const char* kCannotUpload =
    "inventory data could not be uploaded to Systems Manager. Additional troubleshooting "
    "information - ";

// Serialises uploads: two inventory runs at once would race on the hash file.
std::mutex& UploadMutex() {
  static std::mutex mu;
  return mu;
}

std::string InputText(const ojson& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) return (*it)[0].get<std::string>();
  return "";
}

bool Enabled(const ojson& in, const char* key) { return InputText(in, key) == "Enabled"; }

InventoryItem MakeItem(std::string type, std::string version, json content,
                       const std::string& capture_time) {
  InventoryItem item;
  item.type_name = std::move(type);
  item.schema_version = std::move(version);
  item.capture_time = capture_time;
  item.content = std::move(content);
  const std::string text = DumpJson(item.content);
  item.content_hash = crypto::Base64Encode(crypto::Md5(text));
  item.content_bytes = text.size();
  return item;
}

// Times one gatherer for the log.
class Timer {
 public:
  Timer() : start_(std::chrono::steady_clock::now()) {}
  int64_t Millis() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

json ItemJson(const InventoryItem& item, bool with_content) {
  json j = {{"TypeName", item.type_name},
            {"SchemaVersion", item.schema_version},
            {"CaptureTime", item.capture_time},
            {"ContentHash", item.content_hash}};
  if (with_content) j["Content"] = item.content;
  return j;
}

void SaveContentHashes(const std::string& inventory_dir,
                       const std::map<std::string, std::string>& hashes) {
  if (Status s = MakePrivateDir(inventory_dir); !s.ok()) {
    LogWarn("inventory content hashes not saved: {}", s.error().message);
    return;
  }
  if (Status s = WriteFileAtomic(inventory_dir + "/" + kHashFile, json(hashes).dump()); !s.ok()) {
    LogWarn("inventory content hashes not saved: {}", s.error().message);
  }
}

// "AWS:Application" or "AWS:Application and AWS:AWSComponent", for notes.
std::string ApplicationTypes(bool aws_components) {
  return std::string(kApplication) + (aws_components ? std::string(" and ") + kAwsComponent : "");
}

// The AWS:Application entries of every package database under `root`: dpkg's (read directly)
// and rpm's (through the rpm program), merged when there are both. nullopt, with a note, when
// there is neither or the only one is an rpm database that cannot be read; an rpm database
// that cannot be read beside a dpkg one is left out with a note (amazon-ssm-agent, which reads
// one package manager, also never fails the run over rpm). AgentError when the dpkg database
// is unreadable, which fails the run as amazon-ssm-agent's failing dpkg-query does.
Result<std::optional<json>> GatherApplications(const std::string& root, bool aws_components,
                                               std::vector<std::string>* notes) {
  const std::string admindir = UnderRoot(root, "/var/lib/dpkg");
  const std::string rpm_dbpath = RpmDatabasePath(root);
  struct stat st {};
  const bool dpkg = ::stat((admindir + "/status").c_str(), &st) == 0;
  if (!dpkg && rpm_dbpath.empty()) {
    notes->push_back(ApplicationTypes(aws_components) +
                     ": not gathered, there is no dpkg database at " + admindir +
                     " and no rpm database at " + UnderRoot(root, "/var/lib/rpm"));
    return std::optional<json>();
  }
  std::optional<json> apps;
  if (dpkg) {
    auto records = ReadDpkgDatabase(admindir);
    if (!records.ok()) {
      return LocalError("Encountered error while executing " + std::string(kApplication) +
                        ". Error - " + records.error().message);
    }
    apps = ApplicationEntries(*records, admindir);
  }
  if (!rpm_dbpath.empty()) {
    auto records = QueryRpmDatabase(root, rpm_dbpath, kRpmQueryTimeoutMillis);
    if (!records.ok()) {
      const std::string db = UnderRoot(root, rpm_dbpath);
      const std::string& why = records.error().message;
      notes->push_back(
          ApplicationTypes(aws_components) +
          (dpkg ? ": without the packages of the rpm database at " + db + ", " + why
                : ": not gathered, the rpm database at " + db + " was not read, " + why));
      LogWarn("inventory: rpm database at {} not read: {}", db, why);
    } else {
      json rpm_apps = RpmApplicationEntries(*records);
      apps =
          apps ? MergeApplicationLists(std::move(*apps), std::move(rpm_apps)) : std::move(rpm_apps);
    }
  }
  return apps;
}

}  // namespace

Result<InventoryPolicy> ParseInventoryPolicy(const ojson& inputs) {
  const ojson& in = inputs.is_array() && inputs.size() == 1 ? inputs[0] : inputs;
  if (!in.is_object()) {
    return LocalError(
        "invalid or unrecognized input was received for aws:softwareInventory "
        "plugin");
  }
  InventoryPolicy p;
  p.applications = Enabled(in, "applications");
  p.aws_components = Enabled(in, "awsComponents");
  p.network = Enabled(in, "networkConfig");
  p.services = Enabled(in, "services");
  p.instance_details = Enabled(in, "instanceDetailedInformation");
  p.custom = Enabled(in, "customInventory");
  p.files = InputText(in, "files");
  if (auto it = in.find("files");
      it != in.end() && p.files.empty() &&
      (it->is_object() || (it->is_array() && !it->empty() && (*it)[0].is_object()))) {
    p.files = DumpJson(*it);  // the list itself rather than its JSON text
  }
  // An unset optional parameter reaches us as "" or, if a document left it unsubstituted, as
  // its placeholder.
  if (p.files.find_first_not_of(" \t\r\n") == std::string::npos || p.files.starts_with("{{")) {
    p.files.clear();
  }
  return p;
}

std::string InventoryContentHash(const json& content) {
  return crypto::Base64Encode(crypto::Md5(DumpJson(content)));
}

Result<GatherReport> GatherInventory(const InventoryPolicy& policy, const GatherOptions& options) {
  GatherReport report;
  const std::string capture_time = FormatRfc3339(options.now_millis / 1000);
  auto add = [&](std::string type, std::string version, json content, const Timer& t) {
    LogInfo("inventory: {} gathered, {} entries, in {} ms", type, content.size(), t.Millis());
    report.items.push_back(
        MakeItem(std::move(type), std::move(version), std::move(content), capture_time));
  };

  if (policy.applications || policy.aws_components) {
    Timer t;
    auto apps = GatherApplications(options.root, policy.aws_components, &report.notes);
    if (!apps.ok()) return apps.take_error();
    if (apps->has_value()) {
      if (policy.aws_components) add(kAwsComponent, "1.0", AwsComponentEntries(**apps), t);
      if (policy.applications) add(kApplication, "1.1", std::move(**apps), t);
    }
  }
  if (policy.network) {
    Timer t;
    add(kNetwork, "1.0", NetworkEntries(), t);
  }
  if (policy.services) {
    Timer t;
    add(kService, "1.0", HostServiceEntries(options.root), t);
  }
  if (!policy.files.empty()) {
    Timer t;
    auto files = FileEntries(options.root, policy.files);
    if (!files.ok()) {
      return LocalError("Encountered error while executing " + std::string(kFile) + ". Error - " +
                        files.error().message);
    }
    add(kFile, "1.0", std::move(*files), t);
  }
  if (policy.instance_details) {
    Timer t;
    add(kInstanceDetailed, "1.0", HostInstanceDetailedEntries(), t);
  }
  if (policy.custom) {
    Timer t;
    if (options.custom_dir.empty()) {
      report.notes.push_back(
          "Custom inventory: not gathered, the agent has no custom inventory "
          "folder");
    } else {
      auto custom = CustomEntries(options.custom_dir, &report.warnings);
      if (!custom.ok()) {
        return LocalError("Encountered error while executing CustomInventory. Error - " +
                          custom.error().message);
      }
      for (CustomItem& c : *custom) {
        add(c.type_name, c.schema_version, std::move(c.content), t);
      }
    }
  }

  // inventory.VerifyInventoryDataSize (the item's other fields are a few dozen bytes).
  size_t total = 0;
  for (const InventoryItem& item : report.items) {
    const size_t bytes = item.content_bytes + 128;
    total += bytes;
    if (bytes > kMaxTypeBytes || total > kMaxTotalBytes) {
      return LocalError("the size of the collected data exceeded the maximum allowable size (" +
                        item.type_name + " is " + std::to_string(bytes / 1024) + " KB; at most " +
                        std::to_string(kMaxTypeBytes / 1024) + " KB per type and " +
                        std::to_string(kMaxTotalBytes / 1024) + " KB in all)");
    }
  }
  return report;
}

std::map<std::string, std::string> LoadContentHashes(const std::string& inventory_dir) {
  std::map<std::string, std::string> out;
  auto text = ReadFile(inventory_dir + "/" + kHashFile);
  if (!text) return out;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

Result<UploadReport> UploadInventory(const std::vector<InventoryItem>& items,
                                     const std::string& instance_id,
                                     const std::string& inventory_dir, const InventoryPutter& put) {
  std::lock_guard<std::mutex> lock(UploadMutex());
  std::map<std::string, std::string> hashes = LoadContentHashes(inventory_dir);
  UploadReport report;
  // ConvertToSsmInventoryItems: the optimized call first, the full one if the server refuses it.
  json optimized = json::array();
  for (const InventoryItem& item : items) {
    auto it = hashes.find(item.type_name);
    const bool unchanged = it != hashes.end() && it->second == item.content_hash;
    report.hash_only[item.type_name] = unchanged;
    optimized.push_back(ItemJson(item, !unchanged));
  }
  auto r = put(json{{"InstanceId", instance_id}, {"Items", std::move(optimized)}});
  if (!r.ok()) {
    const std::string& code = r.error().code;
    if (code != "ItemContentMismatchException" && code != "InvalidItemContentException") {
      return r.take_error();
    }
    LogInfo("inventory: PutInventory answered {}; sending every type with its content", code);
    report.resent = true;
    json full = json::array();
    for (const InventoryItem& item : items) {
      report.hash_only[item.type_name] = false;
      full.push_back(ItemJson(item, true));
    }
    r = put(json{{"InstanceId", instance_id}, {"Items", std::move(full)}});
    if (!r.ok()) return r.take_error();
  }
  for (const InventoryItem& item : items) hashes[item.type_name] = item.content_hash;
  SaveContentHashes(inventory_dir, hashes);
  return report;
}

PluginResult RunSoftwareInventory(const Step& step, const PluginContext& ctx, CancelToken& cancel) {
  PluginResult r;
  r.id = step.id;
  r.name = step.action;
  r.start_millis = ctx.clock->NowMillis();
  auto fail = [&](const std::string& message) {
    r.status = std::string(status::kFailed);
    r.code = 1;
    if (!r.stderr_text.empty()) r.stderr_text.push_back('\n');
    r.stderr_text += message;
    r.end_millis = ctx.clock->NowMillis();
    LogWarn("inventory: {}", message);
    return r;
  };

  auto policy = ParseInventoryPolicy(step.inputs);
  if (!policy.ok()) return fail(policy.error().message);
  if (!ctx.put_inventory || ctx.instance_id.empty() || ctx.inventory_dir.empty()) {
    return fail("aws:softwareInventory cannot upload: the agent gave it no PutInventory client");
  }
  GatherOptions options;
  options.root = ctx.root;
  options.custom_dir = ctx.inventory_dir + "/custom";
  options.now_millis = ctx.clock->NowMillis();
  auto gathered = GatherInventory(*policy, options);
  if (!gathered.ok()) return fail(gathered.error().message);
  for (const std::string& w : gathered->warnings) {
    if (!r.stderr_text.empty()) r.stderr_text.push_back('\n');
    r.stderr_text += w;
  }
  std::string out;
  for (const std::string& n : gathered->notes) out += n + "\n";

  if (gathered->items.empty()) {
    r.stdout_text = std::string(kNothingToUpload) + "\n" + out;
    r.status = std::string(status::kSuccess);
    r.end_millis = ctx.clock->NowMillis();
    return r;
  }
  if (cancel.cancelled()) {
    r.status = std::string(cancel.reason() == CancelToken::Reason::kShutdown ? status::kFailed
                                                                             : status::kCancelled);
    r.code = 1;
    r.end_millis = ctx.clock->NowMillis();
    return r;
  }
  auto uploaded =
      UploadInventory(gathered->items, ctx.instance_id, ctx.inventory_dir, ctx.put_inventory);
  if (!uploaded.ok()) {
    const AwsError& e = uploaded.error();
    return fail(std::string(kCannotUpload) +
                (e.code == "AgentError" ? e.message : e.code + ": " + e.message));
  }
  out = std::string(kUploaded) + "\n" + out;
  if (uploaded->resent) {
    out +=
        "The server did not hold the content of an unchanged type; every type was sent again "
        "with its content.\n";
  }
  for (const InventoryItem& item : gathered->items) {
    const bool only = uploaded->hash_only[item.type_name];
    out += item.type_name + ": " + std::to_string(item.content.size()) +
           (item.content.size() == 1 ? " entry, " : " entries, ") +
           (only ? "unchanged (content hash only)" : "uploaded") + "\n";
  }
  LogInfo("inventory: uploaded {} types for {}", gathered->items.size(), ctx.instance_id);
  r.stdout_text = std::move(out);
  r.status = std::string(status::kSuccess);
  r.end_millis = ctx.clock->NowMillis();
  return r;
}

}  // namespace gc::agent
