// The rpm database through `rpm -qa --queryformat`: output captured from Debian 12's rpm 4.18
// parsed into records (rpm's "(none)", special characters, cut-short output), the AWS:Application
// entries made from them (Epoch, Release, PackageId, InstalledTime, order), the merge with dpkg's
// entries, where the database is looked for, and the inventory without an rpm program.
#include "agent/rpm.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/dpkg.h"
#include "agent/files.h"
#include "agent/inventory.h"
#include "agent/inventory_gatherers.h"

namespace gc::agent {
namespace {

using json = nlohmann::json;

// `rpm --root T --dbpath /var/lib/rpm -qa --queryformat kRpmQueryFormat` over three packages
// built with rpmbuild (a full one with an epoch and a summary full of JSON's special characters,
// a bare one with no Vendor, URL or Epoch) and the gpg-pubkey pseudo-package RHEL images hold
// (no architecture, no source RPM).
const std::string kCaptured = std::string(
    "gc-rpmtool\x1fGroundcrew Tests\x1f"
    "1.2.3\x1f"
    "4\x1f"
    "2\x1f"
    "1729072801\x1f"
    "Applications/System\x1fnoarch\x1fhttps://example.com/gc-rpmtool\x1f"
    "A \"quoted\" & <special> \\ summary, with commas {\"x\":1}\x1f"
    "gc-rpmtool-1.2.3-4.src.rpm\x1f\x1e"
    "gc-bare\x1f(none)\x1f"
    "0.1\x1f"
    "1\x1f(none)\x1f"
    "1729072802\x1fUnspecified\x1fx86_64\x1f"
    "(none)\x1f"
    "bare\x1fgc-bare-0.1-1.src.rpm\x1f\x1e"
    "gpg-pubkey\x1f(none)\x1f"
    "fd431d51\x1f"
    "4ae0493b\x1f(none)\x1f"
    "1729072800\x1fPublic Keys\x1f"
    "(none)\x1f(none)\x1fgpg(Red Hat, Inc. (release key 2) <security@redhat.com>)\x1f(none)\x1f"
    "\x1e");

TEST(RpmQueryTest, ParsesCapturedOutput) {
  auto records = ParseRpmQuery(kCaptured);
  ASSERT_EQ(records.size(), 3u);
  const RpmRecord& tool = records[0];
  EXPECT_EQ(tool.name, "gc-rpmtool");
  EXPECT_EQ(tool.vendor, "Groundcrew Tests");
  EXPECT_EQ(tool.version, "1.2.3");
  EXPECT_EQ(tool.release, "4");
  EXPECT_EQ(tool.epoch, "2");
  EXPECT_EQ(tool.install_time, "1729072801");
  EXPECT_EQ(tool.group, "Applications/System");
  EXPECT_EQ(tool.arch, "noarch");
  EXPECT_EQ(tool.url, "https://example.com/gc-rpmtool");
  EXPECT_EQ(tool.summary, "A \"quoted\" & <special> \\ summary, with commas {\"x\":1}");
  EXPECT_EQ(tool.source_rpm, "gc-rpmtool-1.2.3-4.src.rpm");
  // rpm's "(none)" is no value.
  const RpmRecord& bare = records[1];
  EXPECT_EQ(bare.vendor, "");
  EXPECT_EQ(bare.epoch, "");
  EXPECT_EQ(bare.url, "");
  EXPECT_EQ(records[2].arch, "");
  EXPECT_EQ(records[2].source_rpm, "");
}

TEST(RpmQueryTest, ToleratesOddOutput) {
  EXPECT_TRUE(ParseRpmQuery("").empty());
  // A record cut short (rpm killed) and one with a value too many are skipped; a newline
  // between records does not shift the name.
  const std::string two = kCaptured.substr(0, kCaptured.find('\x1e') + 1);
  EXPECT_EQ(ParseRpmQuery(two + "\ngc-half\x1f"
                                "1.0\x1f")
                .size(),
            1u);
  EXPECT_EQ(ParseRpmQuery(two + "\n" + two).size(), 2u);
  const std::string twelve = "a\x1f" + std::string(11, '\x1f') + "\x1e";
  EXPECT_TRUE(ParseRpmQuery(twelve).empty());
  const std::string nameless = std::string(11, '\x1f') + "\x1e";
  EXPECT_TRUE(ParseRpmQuery(nameless).empty());
}

TEST(RpmQueryTest, ApplicationEntries) {
  json apps = RpmApplicationEntries(ParseRpmQuery(kCaptured));
  ASSERT_EQ(apps.size(), 3u);
  EXPECT_EQ(apps[0]["Name"], "gc-bare");  // sorted by name
  EXPECT_EQ(apps[1]["Name"], "gc-rpmtool");
  EXPECT_EQ(apps[2]["Name"], "gpg-pubkey");
  const json& tool = apps[1];
  EXPECT_EQ(tool, json({{"Name", "gc-rpmtool"},
                        {"Publisher", "Groundcrew Tests"},
                        {"Version", "1.2.3"},
                        {"Release", "4"},
                        {"Epoch", "2"},
                        {"InstalledTime", "2024-10-16T10:00:01Z"},
                        {"ApplicationType", "Applications/System"},
                        {"Architecture", "noarch"},
                        {"URL", "https://example.com/gc-rpmtool"},
                        {"Summary", "A \"quoted\" & <special> \\ summary, with commas {\"x\":1}"},
                        {"PackageId", "gc-rpmtool-1.2.3-4.src.rpm"}}));
  // No vendor: Publisher stays (empty), as dpkg's required keys; no epoch or URL: left out.
  const json& bare = apps[0];
  EXPECT_EQ(bare["Publisher"], "");
  EXPECT_FALSE(bare.contains("Epoch"));
  EXPECT_FALSE(bare.contains("URL"));
  EXPECT_EQ(bare["Release"], "1");
  EXPECT_EQ(bare["Architecture"], "x86_64");
  // No source RPM: the package's own file name; no architecture: none in it either.
  EXPECT_EQ(apps[2]["PackageId"], "gpg-pubkey-fd431d51-4ae0493b.rpm");
  EXPECT_EQ(apps[2]["Architecture"], "");
  // Parentheses inside a value are not rpm's "(none)".
  EXPECT_EQ(apps[2]["Summary"], "gpg(Red Hat, Inc. (release key 2) <security@redhat.com>)");
  for (const json& e : apps) {
    for (const auto& [k, v] : e.items()) EXPECT_TRUE(v.is_string()) << k;
  }
}

TEST(RpmQueryTest, OrderDoesNotDependOnTheDatabase) {
  auto records = ParseRpmQuery(kCaptured);
  std::vector<RpmRecord> reversed(records.rbegin(), records.rend());
  // Two architectures of one version: the architecture settles them.
  RpmRecord i686 = records[0];
  i686.arch = "i686";
  records.push_back(i686);
  reversed.insert(reversed.begin(), i686);
  EXPECT_EQ(RpmApplicationEntries(records), RpmApplicationEntries(reversed));
}

TEST(RpmQueryTest, MergedWithDpkgEntries) {
  json dpkg = ApplicationEntries(ParseDpkgStatus("Package: bash\nStatus: install ok installed\n"
                                                 "Version: 5.2-1\nArchitecture: amd64\n\n"
                                                 "Package: zsh\nStatus: install ok installed\n"
                                                 "Version: 5.9-4\nArchitecture: amd64\n"),
                                 "");
  json rpm = RpmApplicationEntries(ParseRpmQuery(kCaptured));
  json all = MergeApplicationLists(dpkg, rpm);
  std::vector<std::string> names;
  for (const json& e : all) names.push_back(e["Name"]);
  EXPECT_EQ(names,
            (std::vector<std::string>{"bash", "gc-bare", "gc-rpmtool", "gpg-pubkey", "zsh"}));
  EXPECT_EQ(all[0]["PackageId"], "bash_5.2-1_amd64.deb");
  EXPECT_EQ(all[1]["PackageId"], "gc-bare-0.1-1.src.rpm");
  EXPECT_EQ(MergeApplicationLists(json::array(), rpm), rpm);
}

class RpmRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_agent_rpm_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { RemoveTree(root_); }
  void Write(const std::string& rel, const std::string& text) {
    const std::string path = root_ + rel;
    ASSERT_TRUE(MakePrivateDir(path.substr(0, path.rfind('/')), 0755).ok());
    ASSERT_TRUE(WriteFileAtomic(path, text, 0644).ok());
  }
  std::string root_;
};

TEST_F(RpmRootTest, DatabaseIsADirectoryWithADatabaseFile) {
  EXPECT_EQ(RpmDatabasePath(root_), "");
  // Debian's rpm package leaves an empty /var/lib/rpm: no database.
  ASSERT_TRUE(MakePrivateDir(root_ + "/var/lib/rpm", 0755).ok());
  EXPECT_EQ(RpmDatabasePath(root_), "");
  Write("/usr/lib/sysimage/rpm/rpmdb.sqlite", "");
  EXPECT_EQ(RpmDatabasePath(root_), "/usr/lib/sysimage/rpm");
  Write("/var/lib/rpm/Packages", "");  // Berkeley DB (RHEL 7, 8)
  EXPECT_EQ(RpmDatabasePath(root_), "/var/lib/rpm");
}

// A dpkg database beside an rpm database that cannot be read (no rpm program on PATH): the dpkg
// packages are sent and the output says what was left out; an rpm database alone: not sent.
TEST_F(RpmRootTest, WithoutTheRpmProgram) {
  const char* old = std::getenv("PATH");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("PATH", (root_ + "/no-such-dir").c_str(), 1);
  EXPECT_EQ(FindRpmProgram(), "");
  Write("/var/lib/rpm/rpmdb.sqlite", "");
  InventoryPolicy policy;
  policy.applications = policy.aws_components = true;
  GatherOptions options;
  options.root = root_;
  auto alone = GatherInventory(policy, options);
  ASSERT_TRUE(alone.ok()) << alone.error().message;
  EXPECT_TRUE(alone->items.empty());
  ASSERT_EQ(alone->notes.size(), 1u);
  EXPECT_NE(alone->notes[0].find("AWS:Application and AWS:AWSComponent: not gathered, the rpm "
                                 "database at " +
                                 root_ +
                                 "/var/lib/rpm was not read, the rpm "
                                 "program is not installed"),
            std::string::npos)
      << alone->notes[0];

  Write("/var/lib/dpkg/status",
        "Package: bash\nStatus: install ok installed\nVersion: 5.2-1\n"
        "Architecture: amd64\n");
  auto both = GatherInventory(policy, options);
  ::setenv("PATH", saved.c_str(), 1);
  ASSERT_TRUE(both.ok()) << both.error().message;
  ASSERT_EQ(both->items.size(), 2u);
  EXPECT_EQ(both->items[1].type_name, "AWS:Application");
  EXPECT_EQ(both->items[1].content.size(), 1u);
  ASSERT_EQ(both->notes.size(), 1u);
  EXPECT_NE(both->notes[0].find("without the packages of the rpm database"), std::string::npos)
      << both->notes[0];
}

}  // namespace
}  // namespace gc::agent
