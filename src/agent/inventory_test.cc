// aws:softwareInventory: inputs, the gatherers under a root (files parameter, custom inventory
// files, systemd unit files, /proc/cpuinfo text), content hashes and the unchanged (hash-only)
// upload with its full resend on ItemContentMismatchException, and the plugin's output, against
// a fake PutInventory.
#include "agent/inventory.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>

#include "agent/files.h"
#include "agent/inventory_gatherers.h"

namespace gc::agent {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_agent_inventory_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    inventory_dir_ = dir_ + "/state/inventory";
    ASSERT_TRUE(MakePrivateDir(root_).ok());
  }
  void TearDown() override { RemoveTree(dir_); }

  void Write(const std::string& path, const std::string& text) {
    const size_t slash = path.rfind('/');
    ASSERT_TRUE(MakePrivateDir(path.substr(0, slash), 0755).ok());
    ASSERT_TRUE(WriteFileAtomic(path, text, 0644).ok());
  }
  void Link(const std::string& target, const std::string& path) {
    const size_t slash = path.rfind('/');
    ASSERT_TRUE(MakePrivateDir(path.substr(0, slash), 0755).ok());
    ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  }

  // A fake PutInventory: records the bodies; answers `fail_with` once when it is set, and
  // ItemContentMismatchException for a hash-only item whose hash is not what it "stored".
  InventoryPutter Putter() {
    return [this](const json& body) -> Result<json> {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(body);
      if (!fail_with_.empty()) {
        std::string code = fail_with_;
        fail_with_.clear();
        return AwsError{code, "refused", 400};
      }
      for (const json& item : body["Items"]) {
        const std::string type = item["TypeName"];
        if (!item.contains("Content")) {
          if (stored_[type] != item["ContentHash"]) {
            return AwsError{"ItemContentMismatchException", "hash differs", 400};
          }
        }
      }
      for (const json& item : body["Items"]) stored_[item["TypeName"]] = item["ContentHash"];
      return json::object();
    };
  }

  static InventoryItem Item(const std::string& type, json content) {
    InventoryItem i;
    i.type_name = type;
    i.schema_version = "1.0";
    i.capture_time = "2024-10-16T10:00:00Z";
    i.content = std::move(content);
    i.content_hash = InventoryContentHash(i.content);
    return i;
  }

  std::string dir_;
  std::string root_;
  std::string inventory_dir_;
  std::mutex mu_;
  std::vector<json> calls_;             // GUARDED_BY(mu_)
  std::map<std::string, json> stored_;  // GUARDED_BY(mu_)
  std::string fail_with_;               // GUARDED_BY(mu_)
};

// ---- inputs -------------------------------------------------------------------------------------

TEST_F(InventoryTest, PolicyFromInputs) {
  auto p = ParseInventoryPolicy(ojson::parse(R"({"applications":"Enabled","awsComponents":
      "Disabled","networkConfig":["Enabled"],"services":"enabled","files":"",
      "instanceDetailedInformation":"Enabled","customInventory":"Enabled",
      "windowsUpdates":"Enabled","billingInfo":"Enabled","windowsRegistry":"{{ windowsRegistry}}"})"));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->applications);
  EXPECT_FALSE(p->aws_components);
  EXPECT_TRUE(p->network);    // a one-string list, as association parameters come
  EXPECT_FALSE(p->services);  // exactly "Enabled", as the real agent compares
  EXPECT_TRUE(p->instance_details);
  EXPECT_TRUE(p->custom);
  EXPECT_EQ(p->files, "");
  // 1.x: a list of one properties object; an unsubstituted files placeholder means none.
  auto q =
      ParseInventoryPolicy(ojson::parse(R"([{"files":"{{ files }}","applications":"Enabled"}])"));
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->applications);
  EXPECT_EQ(q->files, "");
  // The files list itself rather than its JSON text.
  auto r = ParseInventoryPolicy(ojson::parse(R"({"files":[{"Path":"/etc","Pattern":["*"]}]})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->files), json::parse(R"([{"Path":"/etc","Pattern":["*"]}])"));
  EXPECT_FALSE(ParseInventoryPolicy(ojson("x")).ok());
}

// ---- hashes and the unchanged upload ----------------------------------------------------------

TEST_F(InventoryTest, ContentHashIsBase64Md5OfTheContent) {
  // md5("[]") = d751713988987e9331980363e24189ce
  EXPECT_EQ(InventoryContentHash(json::array()), "11FxOYiYfpMxmANj4kGJzg==");
  EXPECT_NE(InventoryContentHash(json::array({{{"Name", "a"}}})),
            InventoryContentHash(json::array({{{"Name", "b"}}})));
}

TEST_F(InventoryTest, UnchangedTypesGoAsTheirHash) {
  std::vector<InventoryItem> items = {Item("AWS:Application", json::array({{{"Name", "bash"}}})),
                                      Item("AWS:Network", json::array())};
  auto first = UploadInventory(items, "mi-1", inventory_dir_, Putter());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->hash_only["AWS:Application"]);
  EXPECT_FALSE(first->resent);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0]["InstanceId"], "mi-1");
  EXPECT_TRUE(calls_[0]["Items"][0].contains("Content"));
  EXPECT_EQ(calls_[0]["Items"][0]["ContentHash"], items[0].content_hash);
  EXPECT_EQ(calls_[0]["Items"][0]["CaptureTime"], "2024-10-16T10:00:00Z");
  // The hashes are kept 0600 in the inventory folder (0700).
  struct stat st {};
  ASSERT_EQ(::stat((inventory_dir_ + "/contentHash").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(inventory_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(LoadContentHashes(inventory_dir_)["AWS:Application"], items[0].content_hash);

  // Same content again: both go without Content.
  auto second = UploadInventory(items, "mi-1", inventory_dir_, Putter());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->hash_only["AWS:Application"]);
  EXPECT_TRUE(second->hash_only["AWS:Network"]);
  ASSERT_EQ(calls_.size(), 2u);
  for (const json& i : calls_[1]["Items"]) {
    EXPECT_FALSE(i.contains("Content"));
    EXPECT_TRUE(i.contains("ContentHash"));
  }

  // One type changed: only it carries Content.
  items[0] = Item("AWS:Application", json::array({{{"Name", "bash"}}, {{"Name", "zsh"}}}));
  auto third = UploadInventory(items, "mi-1", inventory_dir_, Putter());
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->hash_only["AWS:Application"]);
  EXPECT_TRUE(third->hash_only["AWS:Network"]);
  EXPECT_TRUE(calls_[2]["Items"][0].contains("Content"));
  EXPECT_FALSE(calls_[2]["Items"][1].contains("Content"));
}

TEST_F(InventoryTest, MismatchSendsEverythingAgain) {
  std::vector<InventoryItem> items = {Item("AWS:Application", json::array({{{"Name", "bash"}}}))};
  ASSERT_TRUE(UploadInventory(items, "mi-1", inventory_dir_, Putter()).ok());
  stored_.clear();  // the server lost the data (reset, DeleteInventory, another server)
  auto r = UploadInventory(items, "mi-1", inventory_dir_, Putter());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->resent);
  EXPECT_FALSE(r->hash_only["AWS:Application"]);
  ASSERT_EQ(calls_.size(), 3u);
  EXPECT_FALSE(calls_[1]["Items"][0].contains("Content"));
  EXPECT_TRUE(calls_[2]["Items"][0].contains("Content"));
  // InvalidItemContentException is treated the same way.
  fail_with_ = "InvalidItemContentException";
  ASSERT_TRUE(UploadInventory(items, "mi-1", inventory_dir_, Putter()).ok());
  EXPECT_TRUE(calls_.back()["Items"][0].contains("Content"));
}

TEST_F(InventoryTest, OtherErrorsFailAndKeepTheOldHashes) {
  std::vector<InventoryItem> items = {Item("AWS:Application", json::array({{{"Name", "bash"}}}))};
  ASSERT_TRUE(UploadInventory(items, "mi-1", inventory_dir_, Putter()).ok());
  const std::string before = LoadContentHashes(inventory_dir_)["AWS:Application"];
  items[0] = Item("AWS:Application", json::array({{{"Name", "zsh"}}}));
  fail_with_ = "ThrottlingException";
  auto r = UploadInventory(items, "mi-1", inventory_dir_, Putter());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "ThrottlingException");
  EXPECT_EQ(calls_.size(), 2u);  // no resend
  EXPECT_EQ(LoadContentHashes(inventory_dir_)["AWS:Application"], before);
}

TEST_F(InventoryTest, DamagedHashFileMeansNoHashes) {
  ASSERT_TRUE(MakePrivateDir(inventory_dir_).ok());
  ASSERT_TRUE(WriteFileAtomic(inventory_dir_ + "/contentHash", "{not json").ok());
  EXPECT_TRUE(LoadContentHashes(inventory_dir_).empty());
  std::vector<InventoryItem> items = {Item("AWS:Network", json::array())};
  auto r = UploadInventory(items, "mi-1", inventory_dir_, Putter());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->hash_only["AWS:Network"]);
}

// ---- AWS:File ---------------------------------------------------------------------------------

TEST_F(InventoryTest, FilesUnderTheRoot) {
  Write(root_ + "/opt/app/bin/aws-tool", "12345");
  Write(root_ + "/opt/app/bin/other", "x");
  Write(root_ + "/opt/app/lib/deep/aws-lib.so", "abc");
  Write(root_ + "/opt/app/aws-top", "");
  const struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ + "/opt/app/bin/aws-tool").c_str(), times, 0), 0);

  // Not recursive: the directory's own files only.
  auto flat =
      FileEntries(root_, R"([{"Path":"/opt/app/bin","Pattern":["aws*"],"Recursive":false}])");
  ASSERT_TRUE(flat.ok()) << flat.error().message;
  ASSERT_EQ(flat->size(), 1u);
  const json& f = (*flat)[0];
  EXPECT_EQ(f["Name"], "aws-tool");
  EXPECT_EQ(f["Size"], "5");
  EXPECT_EQ(f["ModificationTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(f["InstalledDir"], "/opt/app/bin");  // as the node sees it, without the root
  for (const char* k : {"Description", "FileVersion", "InstalledDate", "LastAccessTime",
                        "ProductName", "CompanyName", "ProductVersion", "ProductLanguage"}) {
    EXPECT_EQ(f[k], "") << k;
  }

  // Recursive, several patterns, two filters naming the same file once, a missing path skipped.
  auto deep = FileEntries(root_, R"([{"Path":"/opt/app","Pattern":["aws*","*.so"],"Recursive":true},
      {"Path":"/opt/app/bin","Pattern":["aws-tool"]},{"Path":"/missing","Pattern":["*"]}])");
  ASSERT_TRUE(deep.ok()) << deep.error().message;
  std::vector<std::string> names;
  for (const json& e : *deep)
    names.push_back(e["InstalledDir"].get<std::string>() + "/" + e["Name"].get<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{"/opt/app/aws-top", "/opt/app/bin/aws-tool",
                                             "/opt/app/lib/deep/aws-lib.so"}));

  // $VAR expansion from the agent's environment.
  ::setenv("GC_TEST_APP_DIR", "/opt/app", 1);
  auto env = FileEntries(root_, R"([{"Path":"${GC_TEST_APP_DIR}/bin","Pattern":["other"]}])");
  ASSERT_TRUE(env.ok());
  ASSERT_EQ(env->size(), 1u);
  EXPECT_EQ((*env)[0]["Name"], "other");
}

TEST_F(InventoryTest, FilesLimitsAndBadParameters) {
  for (int i = 0; i < 3; ++i) Write(root_ + "/d/sub" + std::to_string(i) + "/f", "");
  // 4 directories (d and three below) with a limit of 2.
  auto dirs =
      FileEntries(root_, R"([{"Path":"/d","Pattern":["*"],"Recursive":true,"DirScanLimit":2}])");
  ASSERT_FALSE(dirs.ok());
  EXPECT_EQ(dirs.error().message, "Directory Scan Limit Exceeded");
  EXPECT_TRUE(
      FileEntries(root_, R"([{"Path":"/d","Pattern":["*"],"Recursive":true,"DirScanLimit":4}])")
          .ok());

  ASSERT_TRUE(MakePrivateDir(root_ + "/many", 0755).ok());
  for (int i = 0; i < kFileCountLimit + 1; ++i) {
    std::ofstream(root_ + "/many/f" + std::to_string(i)) << "";
  }
  auto many = FileEntries(root_, R"([{"Path":"/many","Pattern":["*"]}])");
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.error().message, "File Count Limit Exceeded");

  EXPECT_FALSE(FileEntries(root_, "not json").ok());
  EXPECT_FALSE(FileEntries(root_, R"({"Path":"/d"})").ok());
  EXPECT_FALSE(FileEntries(root_, R"([{"Pattern":["*"]}])").ok());
  EXPECT_FALSE(FileEntries(root_, R"([{"Path":"/d","Pattern":"*"}])").ok());
  auto up = FileEntries(root_, R"([{"Path":"/d/../../etc","Pattern":["*"]}])");
  ASSERT_FALSE(up.ok());
  EXPECT_NE(up.error().message.find(".."), std::string::npos);
}

// ---- Custom:* ---------------------------------------------------------------------------------

TEST_F(InventoryTest, CustomInventoryFiles) {
  const std::string custom = dir_ + "/custom";
  Write(
      custom + "/a.json",
      R"({"SchemaVersion":"1.0","TypeName":"Custom:RackInfo","Content":{"Rack":"R12","Row":"4"}})");
  Write(custom + "/b.json", R"({"SchemaVersion":"2.1","TypeName":"Custom:Apps",
      "Content":[{"Name":"x","Version":"1"},{"Name":"y","Version":"2"}]})");
  Write(custom + "/c.json", R"({"SchemaVersion":"1.0","TypeName":"Custom:RackInfo","Content":{}})");
  Write(custom + "/d.json", R"({"SchemaVersion":"1.0","TypeName":"Custom:Num","Content":{"n":1}})");
  Write(custom + "/e.json", R"({"SchemaVersion":"1","TypeName":"Custom:V","Content":{}})");
  Write(custom + "/f.json", R"({"SchemaVersion":"1.0","TypeName":"AWS:Mine","Content":{}})");
  Write(custom + "/g.json", "not json");
  Write(custom + "/notes.txt", "ignored");
  std::vector<std::string> warnings;
  auto items = CustomEntries(custom, &warnings);
  ASSERT_TRUE(items.ok()) << items.error().message;
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].type_name, "Custom:RackInfo");
  EXPECT_EQ((*items)[0].schema_version, "1.0");
  EXPECT_EQ((*items)[0].content, json::parse(R"([{"Rack":"R12","Row":"4"}])"));
  EXPECT_EQ((*items)[1].type_name, "Custom:Apps");
  EXPECT_EQ((*items)[1].content.size(), 2u);
  ASSERT_EQ(warnings.size(), 5u);  // c (repeated type), d, e, f, g
  EXPECT_NE(warnings[0].find("c.json"), std::string::npos);
  EXPECT_NE(warnings[0].find("Custom:RackInfo"), std::string::npos);
  EXPECT_NE(warnings[1].find("not a string"), std::string::npos);

  // A missing folder is no custom inventory; more than 20 files fail the gatherer.
  EXPECT_TRUE(CustomEntries(dir_ + "/none", &warnings)->empty());
  for (int i = 0; i < 21; ++i) {
    Write(dir_ + "/many/" + std::to_string(i) + ".json",
          R"({"SchemaVersion":"1.0","TypeName":"Custom:T)" + std::to_string(i) +
              R"(","Content":{}})");
  }
  EXPECT_FALSE(CustomEntries(dir_ + "/many", &warnings).ok());
}

TEST_F(InventoryTest, CustomInventoryLimits) {
  EXPECT_TRUE(
      ParseCustomInventory(R"({"SchemaVersion":"1.0","TypeName":"Custom:A","Content":[]})").ok());
  EXPECT_FALSE(ParseCustomInventory(R"({"SchemaVersion":"1.0","TypeName":"Custom:A"})").ok());
  EXPECT_FALSE(ParseCustomInventory(R"({"SchemaVersion":"1.0","TypeName":"","Content":{}})").ok());
  EXPECT_FALSE(
      ParseCustomInventory(R"({"SchemaVersion":"1.0","TypeName":"Custom:A","Content":"x"})").ok());
  EXPECT_FALSE(
      ParseCustomInventory(R"({"SchemaVersion":"1.0","TypeName":"Custom:A","Content":[1]})").ok());
  json big = json::object();
  for (int i = 0; i < 51; ++i) big["k" + std::to_string(i)] = "v";
  json doc = {{"SchemaVersion", "1.0"}, {"TypeName", "Custom:A"}, {"Content", big}};
  EXPECT_FALSE(ParseCustomInventory(doc.dump()).ok());
  doc["Content"] = {{std::string(65, 'k'), "v"}};
  EXPECT_FALSE(ParseCustomInventory(doc.dump()).ok());
  doc["Content"] = {{"k", std::string(4097, 'v')}};
  EXPECT_FALSE(ParseCustomInventory(doc.dump()).ok());
  doc["TypeName"] = "Custom:" + std::string(94, 'x');
  doc["Content"] = json::object();
  EXPECT_FALSE(ParseCustomInventory(doc.dump()).ok());
}

// ---- AWS:Service ------------------------------------------------------------------------------

TEST_F(InventoryTest, SystemdUnitsUnderTheRoot) {
  const std::string lib = root_ + "/lib/systemd/system";
  const std::string etc = root_ + "/etc/systemd/system";
  Write(
      lib + "/ssh.service",
      "[Unit]\nDescription=OpenBSD Secure Shell server\n\n[Service]\nType=notify\n"
      "ExecStart=/usr/sbin/sshd -D\n\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n");
  Write(lib + "/cron.service",
        "[Unit]\nDescription=Regular background program processing\n"
        "[Service]\nExecStart=/usr/sbin/cron -f\n");
  Write(lib + "/getty@.service", "[Unit]\nDescription=Getty on %I\n");
  Write(lib + "/masked.service", "[Unit]\nDescription=masked\n");
  Write(lib + "/systemd-journald.service", "[Unit]\nDescription=Journal Service\n");
  Link("/lib/systemd/system/ssh.service", etc + "/multi-user.target.wants/ssh.service");
  Link("/lib/systemd/system/ssh.service", etc + "/sshd.service");  // an alias
  Link("/dev/null", etc + "/masked.service");
  Link("../systemd-journald.service", lib + "/sysinit.target.wants/systemd-journald.service");
  Write(etc + "/cron.service",  // a local override wins over the vendor's file
        "[Unit]\nDescription=cron, locally\n[Service]\nType=forking\n");

  json units = ServiceEntries(root_, nullptr);
  std::map<std::string, json> by_name;
  for (const json& u : units) by_name[u["Name"]] = u;
  ASSERT_EQ(by_name.size(), 4u) << units.dump();  // no template, no alias
  EXPECT_EQ(by_name["ssh.service"]["DisplayName"], "OpenBSD Secure Shell server");
  EXPECT_EQ(by_name["ssh.service"]["ServiceType"], "notify");
  EXPECT_EQ(by_name["ssh.service"]["StartType"], "Automatic");
  EXPECT_EQ(by_name["ssh.service"]["Status"], "");  // not the host: unknown
  EXPECT_EQ(by_name["cron.service"]["DisplayName"], "cron, locally");
  EXPECT_EQ(by_name["cron.service"]["ServiceType"], "forking");
  EXPECT_EQ(by_name["cron.service"]["StartType"], "Manual");
  EXPECT_EQ(by_name["masked.service"]["StartType"], "Disabled");
  EXPECT_EQ(by_name["systemd-journald.service"]["StartType"], "Automatic");
  EXPECT_EQ(by_name["systemd-journald.service"]["ServiceType"], "simple");
  EXPECT_EQ(units[0]["Name"], "cron.service");  // sorted
  for (const char* k : {"DependentServices", "ServicesDependedOn"}) EXPECT_EQ(units[0][k], "");

  // With the host's systemctl answer: listed units get their state, the others are Stopped.
  auto active = ParseSystemctlUnits(
      "ssh.service loaded active running OpenBSD Secure Shell server\n"
      "cron.service loaded activating start Regular background program processing\n"
      "\xe2\x97\x8f systemd-journald.service loaded failed failed Journal Service\n"
      "dev-sda.device loaded active plugged disk\n");
  EXPECT_EQ(active.size(), 3u);
  json with = ServiceEntries(root_, &active);
  for (const json& u : with) by_name[u["Name"]] = u;
  EXPECT_EQ(by_name["ssh.service"]["Status"], "Running");
  EXPECT_EQ(by_name["cron.service"]["Status"], "StartPending");
  EXPECT_EQ(by_name["systemd-journald.service"]["Status"], "Stopped");
  EXPECT_EQ(by_name["masked.service"]["Status"], "Stopped");

  // No systemd at all: no units, no failure.
  EXPECT_TRUE(ServiceEntries(dir_ + "/empty", nullptr).empty());
}

// ---- AWS:InstanceDetailedInformation ----------------------------------------------------------

TEST_F(InventoryTest, CpuInfo) {
  std::string cpuinfo;
  // 2 sockets × 2 cores × 2 threads.
  int n = 0;
  for (int socket = 0; socket < 2; ++socket) {
    for (int core = 0; core < 2; ++core) {
      for (int thread = 0; thread < 2; ++thread) {
        cpuinfo += "processor\t: " + std::to_string(n++) +
                   "\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU E5-2676 v3 @ "
                   "2.40GHz\ncpu MHz\t\t: 2400.072\nphysical id\t: " +
                   std::to_string(socket) + "\ncore id\t\t: " + std::to_string(core) +
                   "\ncpu cores\t: 2\n\n";
      }
    }
  }
  json e = InstanceDetailedEntries(cpuinfo, "6.1.0-18-amd64", "")[0];
  EXPECT_EQ(e["CPUModel"], "Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz");
  EXPECT_EQ(e["CPUs"], "8");
  EXPECT_EQ(e["CPUSockets"], "2");
  EXPECT_EQ(e["CPUCores"], "4");
  EXPECT_EQ(e["CPUHyperThreadEnabled"], "true");
  EXPECT_EQ(e["CPUSpeedMHz"], "2400");
  EXPECT_EQ(e["KernelVersion"], "6.1.0-18-amd64");
  EXPECT_EQ(e["OSServicePack"], "");

  // arm64: no model name, ids or MHz; the speed from cpufreq.
  json arm = InstanceDetailedEntries(
      "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n\n"
      "processor\t: 1\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n",
      "6.1.0", "2600000\n")[0];
  EXPECT_EQ(arm["CPUs"], "2");
  EXPECT_EQ(arm["CPUSockets"], "1");
  EXPECT_EQ(arm["CPUCores"], "2");
  EXPECT_EQ(arm["CPUHyperThreadEnabled"], "false");
  EXPECT_EQ(arm["CPUSpeedMHz"], "2600");

  // This host: one entry with a kernel version.
  json host = HostInstanceDetailedEntries();
  ASSERT_EQ(host.size(), 1u);
  EXPECT_FALSE(host[0]["KernelVersion"].get<std::string>().empty());
  EXPECT_NE(host[0]["CPUs"], "");
}

TEST_F(InventoryTest, NetworkSkipsLoopback) {
  for (const json& e : NetworkEntries()) {
    EXPECT_NE(e["Name"], "lo");
    for (const char* k : {"Name", "MacAddress", "IPV4", "IPV6"}) EXPECT_TRUE(e[k].is_string());
  }
}

// ---- the plugin -------------------------------------------------------------------------------

class InventoryPluginTest : public InventoryTest {
 protected:
  void SetUp() override {
    InventoryTest::SetUp();
    ctx_.clock = &clock_;
    ctx_.root = root_;
    ctx_.orchestration_dir = dir_ + "/job";
    ctx_.instance_id = "mi-0123456789abcdef0";
    ctx_.inventory_dir = inventory_dir_;
    ctx_.put_inventory = Putter();
    Write(root_ + "/var/lib/dpkg/status",
          "Package: bash\nStatus: install ok installed\nMaintainer: M <m@e.com>\n"
          "Architecture: amd64\nVersion: 5.2.15-2\nDescription: GNU Bourne Again SHell\n\n"
          "Package: amazon-ssm-agent\nStatus: install ok installed\nMaintainer: Amazon\n"
          "Architecture: amd64\nVersion: 3.3.1142.0-1\nDescription: agent\n\n"
          "Package: gone\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1\n");
    Write(inventory_dir_ + "/custom/rack.json",
          R"({"SchemaVersion":"1.0","TypeName":"Custom:Rack","Content":{"Rack":"R1"}})");
  }

  static Step InventoryStep(ojson inputs) {
    Step s;
    s.id = "collectSoftwareInventoryItems";
    s.action = "aws:softwareInventory";
    s.inputs = std::move(inputs);
    return s;
  }

  PluginResult Run(const ojson& inputs) {
    CancelToken cancel;
    return RunStep(InventoryStep(inputs), ctx_, cancel);
  }

  SystemClock clock_;
  PluginContext ctx_;
};

TEST_F(InventoryPluginTest, GathersUploadsAndSaysWhat) {
  const ojson inputs = ojson::parse(R"({"applications":"Enabled","awsComponents":"Enabled",
      "networkConfig":"Disabled","services":"Enabled","instanceDetailedInformation":"Enabled",
      "customInventory":"Enabled","files":"","windowsUpdates":"Enabled","billingInfo":"Enabled"})");
  PluginResult r = Run(inputs);
  EXPECT_EQ(r.status, "Success") << r.stderr_text;
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.name, "aws:softwareInventory");
  EXPECT_NE(r.stdout_text.find("collected inventory data has been uploaded to SSM"),
            std::string::npos);
  EXPECT_NE(r.stdout_text.find("AWS:Application: 3 entries, uploaded"), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("AWS:AWSComponent: 1 entry, uploaded"), std::string::npos);
  EXPECT_NE(r.stdout_text.find("AWS:Service: 0 entries, uploaded"), std::string::npos);
  EXPECT_NE(r.stdout_text.find("Custom:Rack: 1 entry, uploaded"), std::string::npos);
  ASSERT_EQ(calls_.size(), 1u);
  std::set<std::string> types;
  for (const json& i : calls_[0]["Items"]) {
    types.insert(i["TypeName"]);
    EXPECT_TRUE(std::regex_match(i["CaptureTime"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  }
  EXPECT_EQ(types, (std::set<std::string>{"AWS:Application", "AWS:AWSComponent", "AWS:Service",
                                          "AWS:InstanceDetailedInformation", "Custom:Rack"}));
  EXPECT_EQ(calls_[0]["Items"][0]["TypeName"], "AWS:AWSComponent");
  EXPECT_EQ(calls_[0]["Items"][0]["SchemaVersion"], "1.0");
  EXPECT_EQ(calls_[0]["Items"][1]["TypeName"], "AWS:Application");
  EXPECT_EQ(calls_[0]["Items"][1]["SchemaVersion"], "1.1");

  // Again, unchanged: hashes only (the instance details could change between runs on a host
  // whose CPU frequency moves, so look at the packages).
  r = Run(inputs);
  EXPECT_EQ(r.status, "Success") << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("AWS:Application: 3 entries, unchanged (content hash only)"),
            std::string::npos)
      << r.stdout_text;
  EXPECT_FALSE(calls_[1]["Items"][1].contains("Content"));
}

TEST_F(InventoryPluginTest, FailuresAndNothingToDo) {
  PluginResult none = Run(ojson::parse(R"({"applications":"Disabled"})"));
  EXPECT_EQ(none.status, "Success");
  EXPECT_NE(none.stdout_text.find("no inventory data to upload"), std::string::npos);
  EXPECT_TRUE(calls_.empty());

  PluginResult bad_files = Run(ojson::parse(R"({"applications":"Enabled","files":"[{"})"));
  EXPECT_EQ(bad_files.status, "Failed");
  EXPECT_EQ(bad_files.code, 1);
  EXPECT_NE(bad_files.stderr_text.find("AWS:File"), std::string::npos);
  EXPECT_TRUE(calls_.empty());  // nothing partial is sent

  fail_with_ = "InvalidInstanceId";
  PluginResult refused = Run(ojson::parse(R"({"applications":"Enabled"})"));
  EXPECT_EQ(refused.status, "Failed");
  EXPECT_NE(refused.stderr_text.find("could not be uploaded to Systems Manager"),
            std::string::npos);
  EXPECT_NE(refused.stderr_text.find("InvalidInstanceId"), std::string::npos);

  // No dpkg database: said, not failed.
  RemoveTree(root_ + "/var/lib/dpkg");
  PluginResult no_dpkg =
      Run(ojson::parse(R"({"applications":"Enabled","customInventory":"Enabled"})"));
  EXPECT_EQ(no_dpkg.status, "Success") << no_dpkg.stderr_text;
  EXPECT_NE(no_dpkg.stdout_text.find("AWS:Application: not gathered"), std::string::npos);
  EXPECT_EQ(calls_.back()["Items"].size(), 1u);  // Custom:Rack alone

  PluginContext no_client = ctx_;
  no_client.put_inventory = nullptr;
  CancelToken cancel;
  EXPECT_EQ(RunStep(InventoryStep(ojson::parse(R"({"applications":"Enabled"})")), no_client, cancel)
                .status,
            "Failed");
}

}  // namespace
}  // namespace gc::agent
