// aws:softwareInventory (amazon-ssm-agent's agent/plugins/inventory/): gathers the inventory
// types its inputs enable (AWS-GatherSoftwareInventory's parameters) and uploads them with ssm
// PutInventory signed with the node's credentials, sending only the content hash of a type whose
// content has not changed since the last successful upload (the hashes are kept in
// <state dir>/inventory/contentHash) and everything again when the server answers
// ItemContentMismatchException or InvalidItemContentException (datauploader/).
// Thread-safe: uploads (and the hash file) are serialised by a process-wide mutex.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/plugins.h"
#include "common/status.h"

namespace gc::agent {

// Which types one run gathers. A switch is on when its input is exactly "Enabled" (as the real
// agent's model.Enabled); windowsUpdates, windowsRoles, windowsRegistry and billingInfo are
// accepted and ignored on Linux.
struct InventoryPolicy {
  bool applications = false;      // AWS:Application
  bool aws_components = false;    // AWS:AWSComponent
  bool network = false;           // AWS:Network
  bool services = false;          // AWS:Service (systemd units)
  bool instance_details = false;  // AWS:InstanceDetailedInformation
  bool custom = false;            // Custom:* from the custom inventory folder
  std::string files;              // AWS:File: the `files` parameter's JSON ("" = not gathered)
};

// The step's inputs (an object, or a 1.x list holding one). Values may also be one-string lists
// (as association parameters are). AgentError when the inputs are not an object.
Result<InventoryPolicy> ParseInventoryPolicy(const nlohmann::ordered_json& inputs);

// One inventory item as PutInventory takes it.
struct InventoryItem {
  std::string type_name;
  std::string schema_version;
  std::string capture_time;  // yyyy-mm-ddThh:mm:ssZ
  nlohmann::json content;    // array of objects of strings
  std::string content_hash;  // base64 MD5 of the content's JSON text
  size_t content_bytes = 0;  // length of that text
};

// datauploader.calculateCheckSum over our own JSON of the content (opaque to the server).
std::string InventoryContentHash(const nlohmann::json& content);

struct GatherOptions {
  std::string root = "/";  // --root: package databases, unit files and AWS:File paths
  std::string custom_dir;  // the custom inventory folder ("" = none)
  int64_t now_millis = 0;  // CaptureTime
};

struct GatherReport {
  std::vector<InventoryItem> items;
  std::vector<std::string> notes;     // types skipped and why (stdout)
  std::vector<std::string> warnings;  // custom files skipped (stderr)
};

// Runs the enabled gatherers (inventory_gatherers.h). AWS:Application and AWS:AWSComponent
// come from the dpkg database (ROOT/var/lib/dpkg/status) and the rpm database (rpm.h: ROOT/
// var/lib/rpm or ROOT/usr/lib/sysimage/rpm, through the rpm program), both when both exist; they
// are left out, with a note, when there is neither, or only an rpm database that cannot be read
// (no rpm program, rpm failing or timing out). An rpm database that cannot be read beside a dpkg
// one only adds a note. AgentError, failing the whole run as amazon-ssm-agent does, when a
// gatherer fails (an unreadable dpkg database, a bad files parameter or its limits, more than 20
// custom files) or a type's content is larger than 3 MB, or all of them larger than 10 MB.
Result<GatherReport> GatherInventory(const InventoryPolicy& policy, const GatherOptions& options);

using InventoryPutter = SsmPutInventory;  // plugins.h

struct UploadReport {
  std::map<std::string, bool> hash_only;  // type → sent without Content (unchanged)
  bool resent = false;  // the hash-only call was refused; everything went again with content
};

// Uploads `items` for `instance_id`: types whose hash equals the one in `inventory_dir`/
// contentHash go without Content; on ItemContentMismatchException or InvalidItemContentException
// every item goes again with Content. After a successful call the hashes sent are saved (the
// directory is created 0700, the file written 0600). Returns the server's error otherwise (the
// saved hashes are then unchanged).
Result<UploadReport> UploadInventory(const std::vector<InventoryItem>& items,
                                     const std::string& instance_id,
                                     const std::string& inventory_dir, const InventoryPutter& put);

// The content hashes saved in `inventory_dir`/contentHash (empty when missing or damaged).
std::map<std::string, std::string> LoadContentHashes(const std::string& inventory_dir);

// The plugin: parse, gather, upload, and say what was done (a line per type with its entry count
// and whether it went in full or as its hash). Failed (exit code 1) with the reason on stderr
// when anything fails; Success when nothing is enabled ("no inventory data to upload").
PluginResult RunSoftwareInventory(const Step& step, const PluginContext& ctx, CancelToken& cancel);

}  // namespace gc::agent
