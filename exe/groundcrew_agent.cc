// groundcrew-agent: the node agent. Thin main(): `register`, `run` and `inventory` flags to the
// agent library.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>

#include "agent/agent.h"
#include "agent/aws_client.h"
#include "agent/files.h"
#include "agent/inventory.h"
#include "agent/log.h"
#include "agent/registration.h"
#include "common/clock.h"

#ifndef GC_AGENT_VERSION
#define GC_AGENT_VERSION "0.0.0"
#endif

namespace {

// Scripts inherit 0, 1 and 2: make sure they are open (a daemon may be started without them).
void EnsureStandardFds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
  }
}

// libcurl's dependencies librtmp and libldap bring in GnuTLS, which initialises itself in a
// library constructor (RNG, priority strings, PKCS#11 module list) although the agent never uses
// it: about 0.8 MB of the idle daemon's 14-15 MB resident set (bench/agent_idle.py).
// GNUTLS_NO_IMPLICIT_INIT=1 skips that, but only if set before the process starts, so `run`
// execs itself once with it; the variable is removed again at once so that scripts (which may
// use GnuTLS) never inherit it. A failed exec just runs on with GnuTLS initialised.
constexpr const char* kGnutlsNoInit = "GNUTLS_NO_IMPLICIT_INIT";
constexpr const char* kReexecMarker = "GC_AGENT_GNUTLS_REEXEC";

void SkipGnutlsInitialisation(char** argv) {
  if (std::getenv(kReexecMarker) != nullptr) {  // the second start: clean up behind us
    ::unsetenv(kReexecMarker);
    ::unsetenv(kGnutlsNoInit);
    return;
  }
  if (std::getenv(kGnutlsNoInit) != nullptr) return;  // set by the user: theirs to keep
  ::setenv(kGnutlsNoInit, "1", 1);
  ::setenv(kReexecMarker, "1", 1);
  ::execv("/proc/self/exe", argv);
  ::unsetenv(kReexecMarker);
  ::unsetenv(kGnutlsNoInit);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "run") == 0) SkipGnutlsInitialisation(argv);
  EnsureStandardFds();
  if (const char* level = std::getenv("GC_AGENT_LOG_LEVEL"); level != nullptr) {
    const std::string l = level;
    if (l == "debug") gc::agent::SetLogLevel(gc::agent::LogLevel::kDebug);
    if (l == "warn") gc::agent::SetLogLevel(gc::agent::LogLevel::kWarn);
    if (l == "error") gc::agent::SetLogLevel(gc::agent::LogLevel::kError);
  }

  CLI::App app{
      "groundcrew-agent: the groundcrew node agent (speaks the AWS Systems Manager agent "
      "protocol)"};
  app.set_version_flag("--version", std::string("groundcrew-agent ") + GC_AGENT_VERSION);
  app.require_subcommand(1);

  gc::agent::RegisterOptions reg;
  CLI::App* register_cmd =
      app.add_subcommand("register", "register this node with a hybrid activation");
  register_cmd->add_option("--endpoint", reg.endpoint, "groundcrewd URL, e.g. https://host:8443")
      ->required();
  register_cmd->add_option("--code", reg.activation_code, "activation code")->required();
  register_cmd->add_option("--id", reg.activation_id, "activation id")->required();
  register_cmd->add_option("--region", reg.region, "region of the activation")->required();
  register_cmd->add_option("--state-dir", reg.state_dir, "state directory (made with mode 0700)")
      ->required();
  register_cmd->add_option("--ca-file", reg.ca_file,
                           "PEM CA certificates to verify the server with, instead of the "
                           "system trust store");

  gc::agent::RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "run the agent daemon");
  run_cmd->add_option("--state-dir", run.state_dir, "state directory")->capture_default_str();
  run_cmd
      ->add_option("--root", run.root,
                   "root directory of the system that inventory and patching plugins read")
      ->capture_default_str();
  // Hidden, for tests: a shorter heartbeat period (also GC_AGENT_HEARTBEAT_SECONDS).
  run_cmd->add_option("--heartbeat-seconds", run.heartbeat_seconds)
      ->envname("GC_AGENT_HEARTBEAT_SECONDS")
      ->check(CLI::Range(1, 86400))
      ->group("");

  // `inventory`: what aws:softwareInventory would upload, printed instead (nothing is sent).
  std::string inv_root = "/";
  std::string inv_state_dir = "/var/lib/groundcrew-agent";
  std::string inv_files;
  CLI::App* inventory_cmd = app.add_subcommand(
      "inventory",
      "print the inventory items aws:softwareInventory would upload (every type enabled; "
      "nothing is sent)");
  inventory_cmd->add_option("--root", inv_root, "root directory to read")->capture_default_str();
  inventory_cmd
      ->add_option("--state-dir", inv_state_dir,
                   "state directory (its inventory/custom folder holds custom inventory)")
      ->capture_default_str();
  inventory_cmd->add_option("--files", inv_files,
                            "the files parameter: a JSON list of {Path, Pattern, Recursive}");

  CLI11_PARSE(app, argc, argv);

  if (inventory_cmd->parsed()) {
    gc::SystemClock clock;
    gc::agent::InventoryPolicy policy;
    policy.applications = policy.aws_components = policy.network = policy.services =
        policy.instance_details = policy.custom = true;
    policy.files = inv_files;
    gc::agent::GatherOptions options;
    options.root = gc::agent::AbsolutePath(inv_root);
    options.custom_dir = gc::agent::AbsolutePath(inv_state_dir) + "/inventory/custom";
    options.now_millis = clock.NowMillis();
    const int64_t start = clock.NowMillis();
    auto report = gc::agent::GatherInventory(policy, options);
    if (!report.ok()) {
      fmt::print(stderr, "groundcrew-agent: {}\n", report.error().message);
      return 1;
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& item : report->items) {
      items.push_back({{"TypeName", item.type_name},
                       {"SchemaVersion", item.schema_version},
                       {"CaptureTime", item.capture_time},
                       {"ContentHash", item.content_hash},
                       {"Content", item.content}});
    }
    for (const auto& n : report->notes) fmt::print(stderr, "{}\n", n);
    for (const auto& w : report->warnings) fmt::print(stderr, "{}\n", w);
    fmt::print(stderr, "gathered {} types in {} ms\n", report->items.size(),
               clock.NowMillis() - start);
    fmt::print("{}\n", gc::agent::DumpJson(nlohmann::json{{"Items", std::move(items)}}));
    return 0;
  }

  if (register_cmd->parsed()) {
    gc::SystemClock clock;
    auto id = gc::agent::Register(reg, clock);
    if (!id.ok()) {
      const auto& e = id.error();
      if (e.code == "AgentError") {
        fmt::print(stderr, "groundcrew-agent: registration failed: {}\n", e.message);
      } else {
        fmt::print(stderr, "groundcrew-agent: registration failed: {}: {}\n", e.code, e.message);
      }
      return 1;
    }
    fmt::print("{}\n", id->instance_id);
    return 0;
  }
  run.root = gc::agent::AbsolutePath(run.root);
  run.state_dir = gc::agent::AbsolutePath(run.state_dir);
  return gc::agent::RunAgentUntilSignalled(run);
}
