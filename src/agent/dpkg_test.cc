// The dpkg status database: stanzas with multi-line fields, epochs, states (what dpkg-query -W
// lists: all but purged, not-installed packages), the updates journal, and the
// AWS:Application entries made from it (architecture names, PackageId, Summary, order,
// InstalledTime from the file lists).
#include "agent/dpkg.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "agent/files.h"
#include "agent/inventory_gatherers.h"

namespace gc::agent {
namespace {

using json = nlohmann::json;

const char* kStatus = R"(Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 164
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Provides: libz1
Depends: libc6 (>= 2.14)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.  This package includes the shared library.
Homepage: http://zlib.net/

Package: bash
Essential: yes
Status: hold ok installed
Priority: required
Section: shells
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Version: 5.2.15-2+b2
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d
 /etc/skel/.bashrc 0b5fb17bcb4cd2c1a3a3ac6d5b5ef7fe
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter that executes
 commands read from the standard input or from a file.
 .
 The Programmable Completion Code, by Ian Macdonald, is now found in
 the bash-completion package.
Homepage: http://tiswww.case.edu/php/chet/bash/bashtop.html

Package: broken
Status: install reinstreq half-installed
Maintainer: Nobody <nobody@example.com>
Architecture: all
Version: 0.1
Description: left half-installed

Package: removed
Status: deinstall ok config-files
Maintainer: Nobody <nobody@example.com>
Architecture: i386
Version: 2.0
Description: removed but not purged

Package: forgotten
Status: purge ok not-installed
Architecture: amd64

Package: Aardvark
Status: install ok triggers-pending
Maintainer: Zoo <zoo@example.com>
Architecture: arm64
Version: 3.0
Description: sorted without case
)";

TEST(DpkgStatusTest, ParsesStanzasAndKeepsFirstLines) {
  auto records = ParseDpkgStatus(kStatus);
  ASSERT_EQ(records.size(), 6u);
  const DpkgRecord& z = records[0];
  EXPECT_EQ(z.package, "zlib1g");
  EXPECT_EQ(z.status, "install ok installed");
  EXPECT_EQ(z.version, "1:1.2.13.dfsg-1");  // the epoch stays, as dpkg-query shows it
  EXPECT_EQ(z.architecture, "amd64");
  EXPECT_EQ(z.multi_arch, "same");
  EXPECT_EQ(z.maintainer, "Mark Brown <broonie@debian.org>");
  EXPECT_EQ(z.section, "libs");
  EXPECT_EQ(z.homepage, "http://zlib.net/");
  EXPECT_EQ(z.synopsis, "compression library - runtime");
  // Fields after a multi-line field (Conffiles, Description) are still read.
  EXPECT_EQ(records[1].homepage, "http://tiswww.case.edu/php/chet/bash/bashtop.html");
  EXPECT_EQ(records[1].synopsis, "GNU Bourne Again SHell");
  EXPECT_EQ(records[1].version, "5.2.15-2+b2");
}

TEST(DpkgStatusTest, InstalledStates) {
  auto records = ParseDpkgStatus(kStatus);
  std::vector<std::string> installed;
  for (const auto& r : records) {
    if (DpkgListed(r)) installed.push_back(r.package);
  }
  // As dpkg-query -W: everything but purged (not-installed) packages.
  EXPECT_EQ(installed,
            (std::vector<std::string>{"zlib1g", "bash", "broken", "removed", "Aardvark"}));
  EXPECT_EQ(DpkgState(records[2]), "half-installed");
  EXPECT_EQ(DpkgState(records[3]), "config-files");
}

TEST(DpkgStatusTest, ToleratesOddInput) {
  EXPECT_TRUE(ParseDpkgStatus("").empty());
  EXPECT_TRUE(ParseDpkgStatus("\n\n\n").empty());
  // CRLF, a comment, a line without colon, field names in another case, no final newline.
  auto r = ParseDpkgStatus(
      "# comment\r\npackage: a\r\nSTATUS: install ok installed\r\n"
      "junk line\r\nversion:   1.0  \r\n\r\nPackage: b\nVersion: 2");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].package, "a");
  EXPECT_EQ(r[0].version, "1.0");
  EXPECT_TRUE(DpkgListed(r[0]));
  EXPECT_EQ(r[1].version, "2");
  EXPECT_FALSE(DpkgListed(r[1]));  // no Status
  // A stanza without Package is dropped.
  EXPECT_TRUE(ParseDpkgStatus("Version: 1\nStatus: install ok installed\n").empty());
}

TEST(DpkgStatusTest, ArchitectureNames) {
  EXPECT_EQ(FormatArchitecture("amd64"), "x86_64");
  EXPECT_EQ(FormatArchitecture(" AMD64 "), "x86_64");
  EXPECT_EQ(FormatArchitecture("386"), "i386");
  EXPECT_EQ(FormatArchitecture("i386"), "i386");
  EXPECT_EQ(FormatArchitecture("arm64"), "arm64");
  EXPECT_EQ(FormatArchitecture("all"), "all");
}

TEST(DpkgStatusTest, CleanFieldKeepsOneLineOfAtMost100Bytes) {
  EXPECT_EQ(CleanField("first\nsecond"), "first");
  EXPECT_EQ(CleanField("tab\tand\rcontrol\x01"), "tab\tandcontrol");
  EXPECT_EQ(CleanField(std::string(150, 'x')).size(), 100u);
  // 99 ASCII bytes then a 2-byte character: cut before it, not through it.
  std::string s = std::string(99, 'a') + "\xc3\xa9" + "tail";
  EXPECT_EQ(CleanField(s), std::string(99, 'a'));
}

TEST(DpkgStatusTest, ApplicationEntries) {
  auto records = ParseDpkgStatus(kStatus);
  json apps = ApplicationEntries(records, "");
  ASSERT_EQ(apps.size(), 5u);  // all but the purged one, as dpkg-query -W
  // Sorted by name without case.
  EXPECT_EQ(apps[0]["Name"], "Aardvark");
  EXPECT_EQ(apps[1]["Name"], "bash");
  EXPECT_EQ(apps[2]["Name"], "broken");
  EXPECT_EQ(apps[3]["Name"], "removed");
  EXPECT_EQ(apps[4]["Name"], "zlib1g");
  const json& z = apps[4];
  EXPECT_EQ(z["Version"], "1:1.2.13.dfsg-1");
  EXPECT_EQ(z["Architecture"], "x86_64");
  EXPECT_EQ(z["Publisher"], "Mark Brown <broonie@debian.org>");
  EXPECT_EQ(z["ApplicationType"], "libs");
  EXPECT_EQ(z["URL"], "http://zlib.net/");
  EXPECT_EQ(z["Summary"], "compression library - runtime");
  // dpkg-query's ${Package}_${Version}_${Architecture}.deb: dpkg's architecture name.
  EXPECT_EQ(z["PackageId"], "zlib1g_1:1.2.13.dfsg-1_amd64.deb");
  EXPECT_FALSE(z.contains("Release"));  // rpm only
  EXPECT_FALSE(z.contains("Epoch"));
  EXPECT_FALSE(z.contains("InstalledTime"));  // no admindir given
  // Empty optional keys are left out; the required ones stay.
  EXPECT_FALSE(apps[0].contains("URL"));
  EXPECT_FALSE(apps[0].contains("ApplicationType"));
  EXPECT_EQ(apps[0]["Architecture"], "arm64");
  for (const json& e : apps) {
    for (const auto& [k, v] : e.items()) EXPECT_TRUE(v.is_string()) << k;
  }
}

TEST(DpkgStatusTest, AwsComponents) {
  EXPECT_TRUE(IsAwsComponent("amazon-ssm-agent"));
  EXPECT_TRUE(IsAwsComponent(" Amazon-SSM-Agent "));
  EXPECT_TRUE(IsAwsComponent("aws-cfn-bootstrap"));
  EXPECT_TRUE(IsAwsComponent("aws-apitools-ec2"));
  EXPECT_TRUE(IsAwsComponent("python-aws-amitools-x"));
  EXPECT_FALSE(IsAwsComponent("awscli"));
  EXPECT_FALSE(IsAwsComponent("amazon-ecr-credential-helper"));
  json apps = json::array({{{"Name", "bash"}}, {{"Name", "amazon-ssm-agent"}}});
  json aws = AwsComponentEntries(apps);
  ASSERT_EQ(aws.size(), 1u);
  EXPECT_EQ(aws[0]["Name"], "amazon-ssm-agent");
}

class DpkgDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gc_agent_dpkg_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(MakePrivateDir(dir_ + "/updates").ok());
    ASSERT_TRUE(MakePrivateDir(dir_ + "/info").ok());
  }
  void TearDown() override { RemoveTree(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/" + rel, text, 0644).ok());
  }
  std::string dir_;
};

TEST_F(DpkgDatabaseTest, MissingStatusIsAnError) {
  auto r = ReadDpkgDatabase(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(dir_ + "/status"), std::string::npos);
}

TEST_F(DpkgDatabaseTest, JournalEntriesReplaceAndAdd) {
  Write("status",
        "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
        "Package: b\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
        "Package: lib\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n"
        "Multi-Arch: same\n");
  // dpkg's journal: a upgraded, b removed, lib:i386 added beside lib:amd64, c new; applied in
  // numeric order (0010 after 0002).
  Write("updates/0002",
        "Package: a\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n");
  Write("updates/0010",
        "Package: a\nStatus: install ok installed\nVersion: 3\nArchitecture: all\n");
  Write("updates/0003", "Package: b\nStatus: purge ok not-installed\nArchitecture: all\n");
  Write("updates/0004",
        "Package: lib\nStatus: install ok installed\nVersion: 1\nArchitecture: i386\n"
        "Multi-Arch: same\n");
  Write("updates/0005",
        "Package: c\nStatus: install ok installed\nVersion: 9\nArchitecture: all\n");
  Write("updates/tmp.i", "Package: junk\nStatus: install ok installed\nVersion: 0\n");
  auto r = ReadDpkgDatabase(dir_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::vector<std::string> got;
  for (const auto& rec : *r) {
    if (DpkgListed(rec)) got.push_back(rec.package + ":" + rec.architecture + "=" + rec.version);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a:all=3", "lib:amd64=1", "lib:i386=1", "c:all=9"}));
}

TEST_F(DpkgDatabaseTest, InstalledTimeFromTheFileList) {
  Write("status",
        "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
        "Package: m\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n"
        "Multi-Arch: same\n\n"
        "Package: n\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n");
  Write("info/a.list", "/.\n");
  Write("info/m:amd64.list", "/.\n");
  const struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ + "/info/a.list").c_str(), times, 0), 0);
  auto r = ReadDpkgDatabase(dir_);
  ASSERT_TRUE(r.ok());
  json apps = ApplicationEntries(*r, dir_);
  ASSERT_EQ(apps.size(), 3u);
  EXPECT_EQ(apps[0]["InstalledTime"], "2023-11-14T22:13:20Z");
  EXPECT_TRUE(apps[1].contains("InstalledTime"));   // m:amd64.list
  EXPECT_FALSE(apps[2].contains("InstalledTime"));  // no list
}

// A big database parses quickly (the e2e and bench numbers are in src/agent/README.md).
TEST_F(DpkgDatabaseTest, TwoThousandPackages) {
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += "Package: pkg" + std::to_string(i) +
            "\nStatus: install ok installed\nPriority: optional\nSection: utils\n"
            "Maintainer: M <m@example.com>\nArchitecture: amd64\nVersion: 1:" +
            std::to_string(i) +
            ".0-1\nDepends: libc6 (>= 2.34), zlib1g (>= 1:1.2.0)\n"
            "Description: package number " +
            std::to_string(i) +
            "\n a longer description\n over several lines\n .\n and a paragraph.\n"
            "Homepage: https://example.com/\n\n";
  }
  Write("status", text);
  const auto start = std::chrono::steady_clock::now();
  auto r = ReadDpkgDatabase(dir_);
  ASSERT_TRUE(r.ok());
  json apps = ApplicationEntries(*r, dir_);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  EXPECT_EQ(apps.size(), 2000u);
  EXPECT_LT(ms, 5000);  // generous: sanitizer builds run this too
}

}  // namespace
}  // namespace gc::agent
