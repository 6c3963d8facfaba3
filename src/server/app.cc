#include "server/app.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/crypto.h"
#include "server/credentials.h"
#include "server/dispatcher.h"
#include "server/local_agent.h"
#include "server/tls_certs.h"
#include "delivery/outbox.h"
#include "services/sns/message_signing.h"
#include "services/sns/sns_service.h"
#include "services/sqs/sqs_service.h"
#include "services/ssm/associations.h"
#include "services/ssm/run_command.h"
#include "services/ssm/ssm_service.h"
#include "services/sts/sts_service.h"
#include "store/store.h"
#include "wire/http_server.h"

namespace gc::server {
namespace {

// Loads the 32-byte key at `path`, making a random one (mode 0600) on first start.
Result<std::string> LoadOrCreateKey(const std::string& path) {
  if (auto key = ReadFile(path)) {
    if (key->size() != 32) return AwsError::Internal(path + " is not a 32-byte key");
    return *key;
  }
  std::string key = crypto::RandomBytes(32);
  if (Status st = WriteFileAtomic(path, key, 0600); !st.ok()) return st.take_error();
  return key;
}

// Every managed node keeps a long-poll connection open: take the hard limit of file descriptors
// rather than a soft default of 1,024 (systemd's default hard limit is 524,288).
void RaiseFileLimit() {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// A program installed beside groundcrewd (build/bin/, /usr/bin/).
std::string SiblingProgram(const std::string& name) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return name;
  return (self.parent_path() / name).string();
}

}  // namespace

std::string DefaultDataDir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/groundcrew";
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.local/share/groundcrew";
}

int RunServer(AppOptions opt) {
  auto started = std::chrono::steady_clock::now();
  RaiseFileLimit();
  if (opt.data_dir.empty()) opt.data_dir = DefaultDataDir();
  std::error_code ec;
  std::filesystem::create_directories(opt.data_dir + "/keys", ec);
  ::chmod(opt.data_dir.c_str(), 0700);
  ::chmod((opt.data_dir + "/keys").c_str(), 0700);

  auto creds = Credentials::LoadOrCreate(opt.data_dir, opt.account_id);
  if (!creds.ok()) {
    fmt::print(stderr, "groundcrewd: {}\n", creds.error().message);
    return 1;
  }
  auto param_key = LoadOrCreateKey(opt.data_dir + "/keys/parameters.key");
  if (!param_key.ok()) {
    fmt::print(stderr, "groundcrewd: {}\n", param_key.error().message);
    return 1;
  }
  // Managed nodes' temporary secrets are sealed under their own key.
  auto nodes_key = LoadOrCreateKey(opt.data_dir + "/keys/nodes.key");
  if (!nodes_key.ok()) {
    fmt::print(stderr, "groundcrewd: {}\n", nodes_key.error().message);
    return 1;
  }
  std::string url = opt.store_url.empty() ? "sqlite://" + opt.data_dir + "/groundcrew.db"
                                          : opt.store_url;
  auto store = store::Store::Open(url);
  if (!store.ok()) {
    fmt::print(stderr, "groundcrewd: cannot open store {}: {}\n", url, store.error().message);
    return 1;
  }
  SystemClock clock;
  delivery::OutboxOptions oopt;
  oopt.workers = opt.delivery_workers;
  oopt.ca_file = opt.delivery_ca_file;
  if (!opt.smtp_relay.empty()) {
    size_t c = opt.smtp_relay.rfind(':');
    oopt.smtp.host = opt.smtp_relay.substr(0, c);
    oopt.smtp.port = c == std::string::npos ? 25 : std::stoi(opt.smtp_relay.substr(c + 1));
  }
  oopt.smtp.starttls = opt.smtp_starttls;
  oopt.smtp.username = opt.smtp_user;
  oopt.smtp.from = opt.smtp_from;
  if (!opt.smtp_password_file.empty()) {
    auto pw = ReadFile(opt.smtp_password_file);
    if (!pw) {
      fmt::print(stderr, "groundcrewd: cannot read {}\n", opt.smtp_password_file);
      return 1;
    }
    while (!pw->empty() && (pw->back() == '\n' || pw->back() == '\r')) pw->pop_back();
    oopt.smtp.password = *pw;
  }
  delivery::Outbox outbox(**store, clock, oopt);
  auto signer = sns::Signer::OpenForServer(opt.data_dir + "/sns");
  if (!signer.ok()) {
    fmt::print(stderr, "groundcrewd: {}\n", signer.error().message);
    return 1;
  }

  sqs::SqsService sqs(**store, clock);
  ssm::SsmService ssm(**store, *param_key, {*nodes_key, opt.node_ping_timeout_seconds});
  sns::SnsService sns(**store, outbox, **signer, "");
  ssm::RunCommandOptions rc_options;
  // An agent that went silent mid-job is given as long as a node takes to be ConnectionLost.
  rc_options.execution_grace_ms = opt.node_ping_timeout_seconds * 1000;
  rc_options.output_link_key = crypto::HmacSha256(*nodes_key, "ssm command output links");
  ssm::RunCommand run_command(**store, ssm.documents(), ssm.nodes(), clock, rc_options);
  // State Manager's schedules run on a clock `--dev` tests may move forward.
  OffsetClock schedule_clock;
  ssm::Associations associations(**store, ssm.documents(), ssm.nodes(), run_command,
                                 schedule_clock);
  ssm.tags().RegisterType("Association",
                          [&associations](const wire::CallContext& ctx, const std::string& id) {
                            return associations.ResolveExisting(ctx, id);
                          });
  ssm.compliance().set_association_items(
      [&associations](const wire::CallContext& ctx) { return associations.ComplianceItems(ctx); });
  run_command.set_notifier(
      {[&sns](store::Tx& tx, const ssm::commands::Notice& n) {
         return sns.PublishInTransaction(tx, n.account, n.region, n.topic_arn, n.message);
       },
       [&sns] { sns.NotifyOutbox(); }});
  std::vector<store::Migration> migrations = ssm::SsmService::Migrations();
  for (auto& m : ssm::RunCommand::Migrations()) migrations.push_back(std::move(m));
  for (auto& m : ssm::Associations::Migrations()) migrations.push_back(std::move(m));
  for (auto& m : delivery::Outbox::Migrations()) migrations.push_back(std::move(m));
  for (auto& m : sns::SnsService::Migrations()) migrations.push_back(std::move(m));
  for (auto& m : sqs::SqsService::Migrations()) migrations.push_back(std::move(m));
  if (Status st = (*store)->Migrate(migrations); !st.ok()) {
    fmt::print(stderr, "groundcrewd: migration failed: {}\n", st.error().message);
    return 1;
  }
  if (Status st = sqs.Start(); !st.ok()) {
    fmt::print(stderr, "groundcrewd: sqs: {}\n", st.error().message);
    return 1;
  }

  std::string local_ca_file;  // the CA the local agent trusts
  if (opt.tls_self_signed) {
    auto paths = EnsureSelfSignedCertificate(opt.data_dir + "/tls");
    if (!paths.ok()) {
      fmt::print(stderr, "groundcrewd: {}\n", paths.error().message);
      return 1;
    }
    opt.tls_cert = paths->cert_file;
    opt.tls_key = paths->key_file;
    local_ca_file = paths->ca_file;
    fmt::print("groundcrewd: TLS with a self-signed CA; trust it with AWS_CA_BUNDLE={}\n",
               paths->ca_file);
  }

  DispatcherOptions dopt;
  dopt.dev = opt.dev;
  store::Store* store_ptr = store->get();
  dopt.reset = [store_ptr, &ssm, &sns] {
    Status st = store_ptr->Reset();
    ssm.ForgetCachedState();
    sns.ForgetCachedState();
    return st;
  };
  dopt.nodes = &ssm.node_authority();
  // Unauthenticated links in SNS messages (SubscribeURL, UnsubscribeURL, SigningCertURL), and
  // signed links to Run Command's full output (StandardOutputUrl).
  // Under --dev, /_groundcrew/clock moves the schedule clock forward (POST
  // {"advance_seconds": N}) and tells where it is (GET), so schedule tests need not sleep.
  dopt.links = [&sns, &run_command, &clock, &schedule_clock, dev = opt.dev](
                   const wire::HttpRequest& req) -> std::optional<wire::HttpResponse> {
    if (dev && req.Path() == "/_groundcrew/clock") {
      wire::HttpResponse resp;
      resp.content_type = "application/json";
      resp.log_operation = "dev.clock";
      if (req.method == "POST") {
        auto in = nlohmann::json::parse(req.body, nullptr, false);
        if (!in.is_object() || !in.contains("advance_seconds") ||
            !in["advance_seconds"].is_number() || in["advance_seconds"].get<double>() < 0) {
          resp.status = 400;
          resp.body = R"({"message":"expected {\"advance_seconds\": N >= 0}"})";
          return resp;
        }
        schedule_clock.Advance(static_cast<int64_t>(in["advance_seconds"].get<double>() * 1000));
      }
      resp.body = nlohmann::json{{"now_ms", schedule_clock.NowMillis()},
                                 {"offset_ms", schedule_clock.offset_millis()}}
                      .dump();
      return resp;
    }
    if (req.Path().substr(0, 24) == "/_groundcrew/ssm/output/") {
      auto link = run_command.HandleOutputLink(req.Path(), req.Query());
      wire::HttpResponse resp;
      resp.status = link.status;
      resp.content_type = "text/plain; charset=utf-8";
      resp.body = std::move(link.body);
      resp.log_operation = "ssm.output";
      return resp;
    }
    if (req.Path().substr(0, 17) != "/_groundcrew/sns/") return std::nullopt;
    auto link = sns.HandleLink(req.Path(), req.Query(), clock.NowMillis());
    wire::HttpResponse resp;
    resp.status = link.status;
    resp.content_type = link.content_type;
    resp.body = std::move(link.body);
    resp.log_operation = "sns.link";
    return resp;
  };
  Dispatcher dispatcher(**creds, clock, dopt);
  wire::ServiceDef ssm_def = ssm.Definition();
  run_command.AddOperations(ssm_def);
  associations.AddOperations(ssm_def);
  dispatcher.AddService(std::move(ssm_def));
  dispatcher.AddService(run_command.MessageDeliveryDefinition());
  dispatcher.AddService(sts::MakeStsService());
  dispatcher.AddService(sns.Definition());
  dispatcher.AddService(sqs.Definition());

  wire::HttpServerOptions hopt;
  size_t colon = opt.listen.rfind(':');
  if (colon == std::string::npos) {
    fmt::print(stderr, "groundcrewd: --listen wants HOST:PORT, got {}\n", opt.listen);
    return 2;
  }
  hopt.host = opt.listen.substr(0, colon);
  if (hopt.host.size() > 2 && hopt.host.front() == '[') hopt.host = hopt.host.substr(1, hopt.host.size() - 2);
  hopt.port = static_cast<uint16_t>(std::stoi(opt.listen.substr(colon + 1)));
  hopt.threads = opt.threads;
  hopt.tls_cert_file = opt.tls_cert;
  hopt.tls_key_file = opt.tls_key;
  hopt.access_log = opt.access_log;
  hopt.on_shutdown = [&sqs, &run_command] {  // answers parked long polls
    sqs.Shutdown();
    run_command.Shutdown();
  };
  wire::HttpServer server(hopt, [&dispatcher](wire::HttpRequest& req, wire::Responder respond) {
    dispatcher.Handle(req, respond);
  });
  server.HandleSignals();
  auto port = server.Start();
  if (!port.ok()) {
    fmt::print(stderr, "groundcrewd: {}\n", port.error().message);
    return 1;
  }
  std::string scheme = server.tls() ? "https" : "http";
  std::string host = hopt.host.find(':') != std::string::npos ? "[" + hopt.host + "]" : hopt.host;
  std::string endpoint = fmt::format("{}://{}:{}", scheme, host, *port);
  (void)WriteFileAtomic(opt.data_dir + "/endpoint", endpoint + "\n", 0600);
  sns.set_public_endpoint(endpoint);
  // SNS deliveries to SQS subscriptions and dead-letter queues go to the queue in-process.
  outbox.RegisterSink("sqs", [&sqs](const delivery::Delivery& d) -> Status {
    auto sent = sqs.SendToQueueArn(d.endpoint, d.body,
                                   d.extra.value("MessageAttributes", nlohmann::json::object()),
                                   d.extra.value("MessageGroupId", ""),
                                   d.extra.value("MessageDeduplicationId", ""));
    if (!sent.ok()) return sent.take_error();
    return Ok{};
  });
  outbox.Start();
  run_command.Start();
  associations.Start();
  ssm.inventory().StartLoading();  // the index of what is stored (seconds at fleet scale)
  std::unique_ptr<LocalAgent> local_agent;
  if (opt.local_agent) {
    LocalAgentOptions lopt;
    lopt.agent_binary = SiblingProgram("groundcrew-agent");
    lopt.state_dir = opt.data_dir + "/local-agent";
    lopt.endpoint = endpoint;
    lopt.ca_file = local_ca_file;
    const std::string account = (*creds)->root().account_id;
    local_agent = std::make_unique<LocalAgent>(lopt, [&ssm, &clock, account, lopt]()
                                                   -> Result<std::pair<std::string, std::string>> {
      wire::CallContext ctx;
      ctx.account_id = account;
      ctx.region = lopt.region;
      ctx.caller_user_id = account;
      ctx.caller_arn = fmt::format("arn:aws:iam::{}:root", account);
      ctx.now_millis = clock.NowMillis();
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      auto out = ssm.activations().CreateActivation(
          ctx, {{"IamRole", "groundcrew-local-agent"},
                {"Description", "groundcrewd --local-agent"},
                {"DefaultInstanceName", std::string(host)},
                {"RegistrationLimit", 1}});
      if (!out.ok()) return out.take_error();
      return std::make_pair((*out)["ActivationCode"].get<std::string>(),
                            (*out)["ActivationId"].get<std::string>());
    });
    local_agent->Start();
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
  if (hopt.host != "127.0.0.1" && hopt.host != "::1" && hopt.host != "localhost" &&
      !server.tls()) {
    fmt::print(stderr,
               "groundcrewd: WARNING: listening beyond loopback without TLS; use --tls-cert/"
               "--tls-key or --tls-self-signed\n");
  }
  fmt::print("groundcrewd: store {} ({}), account {}, data dir {}, started in {:.1f} ms\n",
             (*store)->Backend(), url.rfind("postgres", 0) == 0 ? "postgres" : url,
             (*creds)->root().account_id, opt.data_dir, ms);
  fmt::print("groundcrewd: point the AWS CLI at it with: eval \"$(groundcrew env --data-dir {})\"\n",
             opt.data_dir);
  fmt::print("groundcrewd ready on {}\n", endpoint);
  std::fflush(stdout);
  server.Wait();
  if (local_agent) local_agent->Stop();
  outbox.Stop();
  fmt::print("groundcrewd: stopped\n");
  return 0;
}

}  // namespace gc::server
