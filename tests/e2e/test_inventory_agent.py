"""aws:softwareInventory end to end: a real groundcrewd and real groundcrew-agent processes, three
with a --root of their own holding a real dpkg database (tiny packages built with dpkg-deb and
installed with dpkg, different per node, one shared package in three versions, one removed but
not purged) and one with --root / (a read-only scan of this machine). SendCommand runs a Command
copy of AWS-GatherSoftwareInventory (SendCommand refuses the Policy document itself, as AWS
does); then the server's AWS:Application entries equal dpkg-query's installed packages of each
tree, GetInventory filters and aggregators count the right nodes, the other types arrive, a
package added to one tree appears at the next run, an unchanged run sends content hashes only
(CaptureTime still advances), and a custom type the server lost is resent in full after its
ItemContentMismatchException. RpmInventoryTest: a real rpm database (rpmbuild, `rpm -i --justdb`)
read by `groundcrew-agent inventory --root`, alone and beside a dpkg database."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import harness
from test_run_command import Agent  # a real groundcrew-agent with its own --root

ROLE = "service-role/AmazonEC2RunCommandRoleForManagedInstances"
DOC = "GC-GatherSoftwareInventory"
DPKG_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FILES = json.dumps([{"Path": "/etc/gc-app", "Pattern": ["*.conf"], "Recursive": False}])

# name, version, architecture; every tree gets its own set (gc-tool in three versions).
TREES = [
    [("gc-tool", "1.0-1", "all"), ("gc-alpha", "0.1-1", "amd64"), ("gc-beta", "3.2.1-2", "all")],
    [("gc-tool", "2.0-1", "all"), ("gc-gamma", "1.0", "all")],
    [("gc-tool", "1:1.5-1", "all"), ("gc-delta", "4.0-1~bpo12+1", "amd64"),
     ("amazon-ssm-agent", "3.3.1142.0-1", "amd64")],
]


def run(*args, **kw):
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PATH=DPKG_PATH), **kw)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {out.stderr}")
    return out.stdout


def build_deb(workdir, name, version, arch, conffile=False):
    """A tiny package made with dpkg-deb: a doc file, a multi-line description, a homepage."""
    src = os.path.join(workdir, f"src-{name}-{version.replace(':', '_')}")
    os.makedirs(os.path.join(src, "DEBIAN"))
    os.makedirs(os.path.join(src, "usr", "share", "doc", name))
    with open(os.path.join(src, "usr", "share", "doc", name, "README"), "w") as f:
        f.write(f"{name} {version}\n")
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
               f"Maintainer: Groundcrew Tests <tests@example.com>\nSection: utils\n"
               f"Homepage: https://example.com/{name}\n"
               f"Description: {name} for the inventory test\n"
               f" A longer description of {name}\n over two lines.\n")
    if conffile:
        os.makedirs(os.path.join(src, "etc"))
        with open(os.path.join(src, "etc", f"{name}.conf"), "w") as f:
            f.write("setting=1\n")
        with open(os.path.join(src, "DEBIAN", "conffiles"), "w") as f:
            f.write(f"/etc/{name}.conf\n")
    with open(os.path.join(src, "DEBIAN", "control"), "w") as f:
        f.write(control)
    deb = src + ".deb"
    run("dpkg-deb", "-Znone", "--root-owner-group", "--build", src, deb)
    return deb


def dpkg(root, *args):
    run("dpkg", f"--root={root}", "--force-not-root", "--force-script-chrootless",
        "--log=/dev/null", *args)


def installed(admindir=None):
    """{(name, version)} of what `dpkg-query -W` lists (what the agent reports, as
    amazon-ssm-agent does): every package but purged ones."""
    args = ["dpkg-query", "-W", "-f=${Package} ${Version}\n"]
    if admindir:
        args.insert(1, f"--admindir={admindir}")
    return {tuple(line.split(" ", 1)) for line in run(*args).splitlines()}


class InventoryAgentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("dpkg", "dpkg-deb", "dpkg-query"):
            if shutil.which(tool, path=DPKG_PATH) is None:
                raise unittest.SkipTest(f"{tool} is not installed")
        cls.work = tempfile.mkdtemp(prefix="gc-inv-debs-")
        cls.server = harness.Server(store=harness.store_url()).start()
        cls.ssm = cls.server.client("ssm")
        act = cls.ssm.create_activation(IamRole=ROLE, RegistrationLimit=10)
        code, aid = act["ActivationCode"], act["ActivationId"]
        cls.agents = [Agent(cls.server.endpoint, code, aid) for _ in TREES]
        cls.host = Agent(cls.server.endpoint, code, aid, root="/")
        # Real dpkg databases, one per tree; tree 1 also has a package removed but not purged
        # (dpkg-query -W still lists it, in state config-files).
        for agent, packages in zip(cls.agents, TREES):
            admin = os.path.join(agent.root, "var", "lib", "dpkg")
            for sub in ("updates", "info"):
                os.makedirs(os.path.join(admin, sub))
            open(os.path.join(admin, "status"), "w").close()
            dpkg(agent.root, "-i", *[build_deb(cls.work, *p) for p in packages])
        dpkg(cls.agents[1].root, "-i", build_deb(cls.work, "gc-removed", "9.9", "all", True))
        dpkg(cls.agents[1].root, "-r", "gc-removed")
        os.makedirs(os.path.join(cls.agents[0].root, "etc", "gc-app"))
        for name in ("one.conf", "two.conf", "skip.txt"):
            with open(os.path.join(cls.agents[0].root, "etc", "gc-app", name), "w") as f:
                f.write(name)
        # Custom inventory on node 1, where the agent reads it (<state dir>/inventory/custom).
        custom = os.path.join(cls.agents[1].state, "inventory", "custom")
        os.makedirs(custom)
        with open(os.path.join(custom, "rack.json"), "w") as f:
            json.dump({"SchemaVersion": "1.0", "TypeName": "Custom:Rack",
                       "Content": {"Rack": "R12", "Row": "4"}}, f)
        for a in cls.agents + [cls.host]:
            a.start()
        cls.ids = [a.instance_id for a in cls.agents]
        deadline = time.time() + 30
        while time.time() < deadline:
            info = cls.ssm.describe_instance_information()["InstanceInformationList"]
            if sum(1 for i in info if i.get("PingStatus") == "Online") == len(TREES) + 1:
                break
            time.sleep(0.3)
        # A Command copy of the AWS document: same parameters, same aws:softwareInventory step.
        policy = json.loads(cls.ssm.get_document(Name="AWS-GatherSoftwareInventory",
                                                 DocumentFormat="JSON")["Content"])
        policy["schemaVersion"] = "2.2"
        cls.ssm.create_document(Name=DOC, DocumentType="Command", DocumentFormat="JSON",
                                Content=json.dumps(policy))
        cls.first = cls.gather(cls.ids + [cls.host.instance_id])

    @classmethod
    def tearDownClass(cls):
        for a in getattr(cls, "agents", []) + ([cls.host] if hasattr(cls, "host") else []):
            a.stop()
        if hasattr(cls, "server"):
            cls.server.stop()
        for a in getattr(cls, "agents", []) + ([cls.host] if hasattr(cls, "host") else []):
            shutil.rmtree(a.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def gather(cls, ids, timeout=40):
        """Runs the inventory document on `ids`; returns {id: GetCommandInvocation}."""
        cid = cls.ssm.send_command(DocumentName=DOC, InstanceIds=ids,
                                   Parameters={"files": [FILES]})["Command"]["CommandId"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            c = cls.ssm.list_commands(CommandId=cid)["Commands"][0]
            if c["Status"] not in ("Pending", "InProgress"):
                break
            time.sleep(0.3)
        out = {i: cls.ssm.get_command_invocation(CommandId=cid, InstanceId=i) for i in ids}
        for i, inv in out.items():
            if inv["Status"] != "Success":
                raise AssertionError(f"inventory on {i}: {inv['Status']}: "
                                     f"{inv['StandardErrorContent']}")
        return out

    def entries(self, node, type_name="AWS:Application"):
        """(all entries, CaptureTime) of ListInventoryEntries, every page."""
        out, token, capture = [], None, None
        while True:
            kw = {"NextToken": token} if token else {}
            page = self.ssm.list_inventory_entries(InstanceId=node, TypeName=type_name, **kw)
            out += page["Entries"]
            capture = page.get("CaptureTime")
            token = page.get("NextToken")
            if not token:
                return out, capture

    def apps(self, node):
        return {(e["Name"], e["Version"]) for e in self.entries(node)[0]}

    def nodes_with(self, *filters):
        f = [{"Key": k, "Values": v, "Type": t} for k, v, t in filters]
        return sorted(e["Id"] for e in self.ssm.get_inventory(Filters=f)["Entities"])

    def test_applications_equal_dpkg_query(self):
        for agent in self.agents:
            admin = os.path.join(agent.root, "var", "lib", "dpkg")
            self.assertEqual(self.apps(agent.instance_id), installed(admin))
        # dpkg-query -W lists the removed-but-not-purged package (config-files): so do we.
        self.assertIn(("gc-removed", "9.9"), self.apps(self.ids[1]))
        # The fields, as amazon-ssm-agent's dpkg gatherer makes them.
        entries = {e["Name"]: e for e in self.entries(self.ids[2])[0]}
        tool = entries["gc-tool"]
        self.assertEqual(tool["Version"], "1:1.5-1")  # the epoch, as dpkg shows it
        self.assertEqual(tool["PackageId"], "gc-tool_1:1.5-1_all.deb")
        self.assertEqual(tool["Architecture"], "all")
        self.assertEqual(tool["Summary"], "gc-tool for the inventory test")
        self.assertEqual(tool["Publisher"], "Groundcrew Tests <tests@example.com>")
        self.assertEqual(tool["URL"], "https://example.com/gc-tool")
        self.assertEqual(tool["ApplicationType"], "utils")
        self.assertRegex(tool["InstalledTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(entries["gc-delta"]["Architecture"], "x86_64")
        self.assertEqual(entries["gc-delta"]["PackageId"], "gc-delta_4.0-1~bpo12+1_amd64.deb")

    def test_host_root_equals_dpkg_query(self):
        self.assertEqual(self.apps(self.host.instance_id), installed())

    def test_filters_and_aggregators(self):
        name, version = "AWS:Application.Name", "AWS:Application.Version"
        self.assertEqual(self.nodes_with((name, ["gc-tool"], "Equal")), sorted(self.ids))
        self.assertEqual(self.nodes_with((name, ["gc-tool"], "Equal"),
                                         (version, ["2.0-1"], "Equal")), [self.ids[1]])
        self.assertEqual(self.nodes_with((name, ["gc-delta", "gc-gamma"], "Equal")),
                         sorted(self.ids[1:]))
        self.assertEqual(self.nodes_with((name, ["gc-"], "BeginWith")), sorted(self.ids))
        out = self.ssm.get_inventory(Aggregators=[{
            "Expression": name, "Aggregators": [{"Expression": version}]}])
        content = out["Entities"][0]["Data"]["AWS:Application"]["Content"]
        pairs = {(c["Name"], c["Version"]): int(c["Count"]) for c in content}
        self.assertEqual({k: v for k, v in pairs.items() if k[0] == "gc-tool"},
                         {("gc-tool", "1.0-1"): 1, ("gc-tool", "2.0-1"): 1,
                          ("gc-tool", "1:1.5-1"): 1})
        out = self.ssm.get_inventory(Aggregators=[{"Groups": [
            {"Name": "HasGcTool", "Filters": [{"Key": name, "Values": ["gc-tool"],
                                               "Type": "Equal"}]}]}])
        self.assertEqual(out["Entities"][0]["Data"]["HasGcTool"]["Content"],
                         [{"matchingCount": "3"}, {"notMatchingCount": "1"}])

    def test_other_types(self):
        aws, _ = self.entries(self.ids[2], "AWS:AWSComponent")
        self.assertEqual([(e["Name"], e["Version"]) for e in aws],
                         [("amazon-ssm-agent", "3.3.1142.0-1")])
        self.assertEqual(self.entries(self.ids[0], "AWS:AWSComponent")[0], [])
        network, _ = self.entries(self.ids[0], "AWS:Network")
        self.assertNotIn("lo", [e["Name"] for e in network])
        details, _ = self.entries(self.ids[0], "AWS:InstanceDetailedInformation")
        self.assertEqual(len(details), 1)
        with open("/proc/cpuinfo") as f:
            cpus = sum(1 for line in f if line.startswith("processor"))
        self.assertEqual(details[0]["CPUs"], str(cpus))
        self.assertEqual(details[0]["KernelVersion"], os.uname().release)
        files, _ = self.entries(self.ids[0], "AWS:File")
        self.assertEqual(sorted((f["Name"], f["Size"], f["InstalledDir"]) for f in files),
                         [("one.conf", "8", "/etc/gc-app"), ("two.conf", "8", "/etc/gc-app")])
        self.assertEqual(self.entries(self.ids[1], "AWS:File")[0], [])
        self.assertEqual(self.entries(self.ids[0], "AWS:Service")[0], [])  # no units in the tree
        rack, _ = self.entries(self.ids[1], "Custom:Rack")
        self.assertEqual(rack, [{"Rack": "R12", "Row": "4"}])
        out = self.first[self.ids[1]]["StandardOutputContent"]
        self.assertIn("collected inventory data has been uploaded to SSM", out)
        self.assertIn("AWS:Application: 3 entries, uploaded", out)  # one removed, not purged
        self.assertIn("Custom:Rack: 1 entry, uploaded", out)

    def test_rerun_added_unchanged_and_lost(self):
        first_capture = self.entries(self.ids[1])[1]
        # A package more on node 0; nothing changes on node 1.
        dpkg(self.agents[0].root, "-i", build_deb(self.work, "gc-epsilon", "1.0-1", "all"))
        # CaptureTime has one-second resolution: make sure the next run's is later.
        time.sleep(1.1)
        runs = self.gather(self.ids[:2])
        self.assertIn(("gc-epsilon", "1.0-1"), self.apps(self.ids[0]))
        self.assertEqual(self.apps(self.ids[0]),
                         installed(os.path.join(self.agents[0].root, "var", "lib", "dpkg")))
        self.assertIn("AWS:Application: 4 entries, uploaded",
                      runs[self.ids[0]]["StandardOutputContent"])
        # Node 1: its packages went as their hash only; the server keeps the data and takes the
        # new CaptureTime.
        out = runs[self.ids[1]]["StandardOutputContent"]
        self.assertIn("AWS:Application: 3 entries, unchanged (content hash only)", out)
        self.assertIn("Custom:Rack: 1 entry, unchanged (content hash only)", out)
        entries, capture = self.entries(self.ids[1])
        self.assertEqual({(e["Name"], e["Version"]) for e in entries},
                         {("gc-tool", "2.0-1"), ("gc-gamma", "1.0"), ("gc-removed", "9.9")})
        self.assertGreater(capture, first_capture)
        # The server loses Custom:Rack; the agent's hash-only item is refused with
        # ItemContentMismatchException and the agent sends everything again with content.
        self.ssm.delete_inventory(TypeName="Custom:Rack", SchemaDeleteOption="DeleteSchema")
        self.assertEqual(self.entries(self.ids[1], "Custom:Rack")[0], [])
        out = self.gather([self.ids[1]])[self.ids[1]]["StandardOutputContent"]
        self.assertIn("every type was sent again with its content", out)
        self.assertIn("Custom:Rack: 1 entry, uploaded", out)
        self.assertEqual(self.entries(self.ids[1], "Custom:Rack")[0], [{"Rack": "R12", "Row": "4"}])


    def test_zz_association_on_schedule(self):
        """The lab's way: a State Manager association runs the AWS-owned AWS-GatherSoftwareInventory
        (a Policy document) on a schedule; a package added to a tree appears after the next
        scheduled run, which the --dev schedule clock brings forward instead of a 30-minute wait."""
        node, agent = self.ids[2], self.agents[2]
        self.ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=node,
                                      Tags=[{"Key": "Inventory", "Value": "lab"}])
        aid = self.ssm.create_association(
            Name="AWS-GatherSoftwareInventory", AssociationName="lab-inventory",
            Targets=[{"Key": "tag:Inventory", "Values": ["lab"]}],
            ScheduleExpression="rate(30 minutes)")["AssociationDescription"]["AssociationId"]

        def executions_done(n):
            deadline = time.time() + 40
            while time.time() < deadline:
                ex = self.ssm.describe_association_executions(
                    AssociationId=aid)["AssociationExecutions"]
                if len(ex) >= n and all(e["Status"] != "Pending" for e in ex):
                    return ex
                time.sleep(0.3)
            self.fail(f"association {aid}: {n} finished executions expected")

        ex = executions_done(1)
        self.assertEqual(ex[0]["Status"], "Success")
        dpkg(agent.root, "-i", build_deb(self.work, "gc-zeta", "3.1-4", "all"))
        self.assertNotIn(("gc-zeta", "3.1-4"), self.apps(node))
        req = urllib.request.Request(self.server.endpoint + "/_groundcrew/clock", method="POST",
                                     data=json.dumps({"advance_seconds": 30 * 60 + 1}).encode())
        urllib.request.urlopen(req, timeout=10).read()
        ex = executions_done(2)
        self.assertEqual([e["Status"] for e in ex], ["Success", "Success"])
        self.assertIn(("gc-zeta", "3.1-4"), self.apps(node))
        self.assertEqual(self.apps(node),
                         installed(os.path.join(agent.root, "var", "lib", "dpkg")))
        status = self.ssm.describe_instance_associations_status(
            InstanceId=node)["InstanceAssociationStatusInfos"]
        self.assertEqual([(s["AssociationId"], s["Status"]) for s in status], [(aid, "Success")])
        items = self.ssm.list_compliance_items(
            ResourceIds=[node], Filters=[{"Key": "ComplianceType", "Values": ["Association"],
                                          "Type": "EQUAL"}])["ComplianceItems"]
        self.assertEqual([(i["Id"], i["Status"]) for i in items], [(aid, "COMPLIANT")])


RPM_SPEC = """Name: {name}
Version: {version}
Release: {release}
{extra}Summary: {summary}
License: MIT
BuildArch: noarch

%description
{name} for the inventory test,
over two lines.

%install
mkdir -p %{{buildroot}}/usr/share/doc/{name}
echo "{name} {version}" > %{{buildroot}}/usr/share/doc/{name}/README

%files
/usr/share/doc/{name}/README
"""


def build_rpm(workdir, name, version, release, summary, extra=""):
    """A tiny noarch package made with rpmbuild, with one small file."""
    top = os.path.join(workdir, "rpmbuild")
    os.makedirs(os.path.join(top, "SPECS"), exist_ok=True)
    spec = os.path.join(top, "SPECS", f"{name}.spec")
    with open(spec, "w") as f:
        f.write(RPM_SPEC.format(name=name, version=version, release=release, summary=summary,
                                extra=extra))
    run("rpmbuild", "--quiet", "--define", f"_topdir {top}", "-bb", spec)
    return os.path.join(top, "RPMS", "noarch", f"{name}-{version}-{release}.noarch.rpm")


def rpm(root, *args):
    """rpm on the database in ROOT/var/lib/rpm (Debian's rpm would use ~/.rpmdb otherwise)."""
    return run("rpm", "--root", root, "--dbpath", "/var/lib/rpm", *args)


def agent_inventory(root):
    """(items by type name, stderr) of `groundcrew-agent inventory --root ROOT`."""
    out = subprocess.run([os.path.join(harness.BIN, "groundcrew-agent"), "inventory", "--root",
                          root, "--state-dir", os.path.join(root, "no-state")],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"groundcrew-agent inventory failed: {out.stderr}")
    return {i["TypeName"]: i for i in json.loads(out.stdout)["Items"]}, out.stderr


class RpmInventoryTest(unittest.TestCase):
    """AWS:Application from a real rpm database: packages built with rpmbuild and recorded with
    `rpm -i --justdb` in a temporary root, read by `groundcrew-agent inventory --root` (which runs
    the rpm program, as amazon-ssm-agent does) and compared with `rpm -qa`; then the same root
    with a dpkg database too, where both are reported."""

    @classmethod
    def setUpClass(cls):
        for tool in ("rpm", "rpmbuild"):
            if shutil.which(tool, path=DPKG_PATH) is None:
                raise unittest.SkipTest(f"RPM INVENTORY TEST SKIPPED: {tool} is not installed "
                                        "(scripts/deps.sh --test installs Debian's rpm package)")
        cls.work = tempfile.mkdtemp(prefix="gc-inv-rpms-")
        cls.root = os.path.join(cls.work, "root")
        os.makedirs(cls.root)
        rpm(cls.root, "--initdb")
        packages = [
            build_rpm(cls.work, "gc-rpmtool", "1.2.3", "4.el9",
                      'A "quoted" & <special> \\ summary, with commas',
                      "Epoch: 2\nVendor: Groundcrew Tests\nURL: https://example.com/gc-rpmtool\n"
                      "Group: Applications/System\n"),
            build_rpm(cls.work, "gc-rpmbare", "0.1", "1", "bare package"),
            build_rpm(cls.work, "amazon-ssm-agent", "3.3.1142.0", "1", "SSM agent",
                      "Vendor: Amazon.com\n"),
        ]
        # --justdb: only the database is written; --nodeps: the tree has no rpm-provided bits.
        rpm(cls.root, "-i", "--nodeps", "--justdb", *packages)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def rpm_qa(self, root):
        """{(name, version, release)} that `rpm -qa` lists."""
        out = rpm(root, "-qa", "--queryformat", "%{NAME} %{VERSION} %{RELEASE}\\n")
        return {tuple(line.split(" ")) for line in out.splitlines()}

    def test_applications_equal_rpm_qa(self):
        items, stderr = agent_inventory(self.root)
        apps = items["AWS:Application"]["Content"]
        self.assertEqual({(e["Name"], e["Version"], e["Release"]) for e in apps},
                         self.rpm_qa(self.root))
        self.assertEqual(len(apps), 3)
        self.assertNotIn("rpm database", stderr)  # no note: the database was read
        entries = {e["Name"]: e for e in apps}
        tool = entries["gc-rpmtool"]
        installed_at = rpm(self.root, "-q", "--queryformat", "%{INSTALLTIME}", "gc-rpmtool")
        self.assertEqual(tool, {
            "Name": "gc-rpmtool", "Publisher": "Groundcrew Tests", "Version": "1.2.3",
            "Release": "4.el9", "Epoch": "2",
            "InstalledTime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                           time.gmtime(int(installed_at))),
            "ApplicationType": "Applications/System", "Architecture": "noarch",
            "URL": "https://example.com/gc-rpmtool",
            "Summary": 'A "quoted" & <special> \\ summary, with commas',
            "PackageId": "gc-rpmtool-1.2.3-4.el9.src.rpm"})
        bare = entries["gc-rpmbare"]
        self.assertEqual(bare["Publisher"], "")  # no Vendor
        self.assertNotIn("Epoch", bare)
        self.assertNotIn("URL", bare)
        self.assertEqual(bare["PackageId"], "gc-rpmbare-0.1-1.src.rpm")
        # AWS:AWSComponent: the same selection by name as for dpkg.
        self.assertEqual([(e["Name"], e["Version"], e["Publisher"])
                          for e in items["AWS:AWSComponent"]["Content"]],
                         [("amazon-ssm-agent", "3.3.1142.0", "Amazon.com")])

    def test_dpkg_and_rpm_databases_both_read(self):
        root = os.path.join(self.work, "both")
        shutil.copytree(self.root, root, symlinks=True)
        admin = os.path.join(root, "var", "lib", "dpkg")
        for sub in ("updates", "info"):
            os.makedirs(os.path.join(admin, sub))
        open(os.path.join(admin, "status"), "w").close()
        dpkg(root, "-i", build_deb(self.work, "gc-debtool", "1.0-1", "all"))
        items, stderr = agent_inventory(root)
        apps = items["AWS:Application"]["Content"]
        self.assertEqual({e["Name"] for e in apps},
                         {"gc-debtool"} | {n for n, _, _ in self.rpm_qa(root)})
        self.assertEqual([e["Name"] for e in apps], sorted(e["Name"].lower() for e in apps))
        self.assertEqual({e["Name"]: e["PackageId"] for e in apps}["gc-debtool"],
                         "gc-debtool_1.0-1_all.deb")
        self.assertNotIn("rpm database", stderr)


if __name__ == "__main__":
    harness.main()
