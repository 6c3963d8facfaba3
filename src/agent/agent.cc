#include "agent/agent.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>

#include "agent/backoff.h"
#include "agent/document.h"
#include "agent/files.h"
#include "agent/job.h"
#include "agent/log.h"
#include "agent/platform.h"
#include "agent/reply.h"
#include "agent/timefmt.h"
#include "common/crypto.h"
#include "common/rsa_pss.h"

#ifndef GC_AGENT_VERSION
#define GC_AGENT_VERSION "0.0.0"
#endif

namespace gc::agent {
namespace {

using json = nlohmann::json;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr std::string_view kSsmPrefix = "AmazonSSM.";
constexpr std::string_view kMdsPrefix = "EC2WindowsMessageDeliveryService.";
constexpr int64_t kEmptyPollFloorMillis = 1000;   // a poll faster than this …
constexpr int64_t kEmptyPollPauseMillis = 2000;   // … is followed by this pause (as MDS does)
constexpr int64_t kLongPollNormalMillis = 10000;  // a timeout after this long is a normal poll
constexpr int64_t kRefusedRetryMillis = 5 * 60 * 1000;  // deregistered / fingerprint mismatch
constexpr int64_t kMinCredentialsGapMillis = 10000;     // refreshes forced by refusals
constexpr int64_t kDefaultTokenRefreshMillis = 15 * 60 * 1000;
constexpr int64_t kPruneEveryMillis = 6 * 3600 * 1000LL;
constexpr int kShutdownFlushMillis = 3000;

SteadyTime Now() { return std::chrono::steady_clock::now(); }
SteadyTime After(int64_t millis) { return Now() + std::chrono::milliseconds(millis); }

// The agent idles for hours between commands, so it trades a little allocation speed for a small
// resident set (measured with bench/agent_idle.py): one malloc arena for all its threads (each
// further arena keeps free pages of its own), and memory freed above 64 KiB handed back to the
// kernel at once, instead of thresholds that grow with the largest buffer ever freed (a
// script's output is captured up to 1 MiB). Call before any thread starts.
void ConfigureMallocForIdle() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);  // also stops the dynamic threshold adjustment
  mallopt(M_TRIM_THRESHOLD, 64 * 1024);
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Describe(const AwsError& e) { return e.code + ": " + e.message; }

// TokenExpirationDate: epoch seconds (number) or an ISO-8601 UTC string; 0 when unreadable.
int64_t ExpiryMillis(const json& v) {
  if (v.is_number()) return static_cast<int64_t>(v.get<double>() * 1000.0);
  if (!v.is_string()) return 0;
  const std::string s = v.get<std::string>();
  std::tm tm{};
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return 0;
  int64_t ms = static_cast<int64_t>(::timegm(&tm)) * 1000;
  if (*rest == '.') {
    int64_t frac = 0;
    int digits = 0;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest) {
      if (digits < 3) {
        frac = frac * 10 + (*rest - '0');
        ++digits;
      }
    }
    while (digits++ < 3) frac *= 10;
    ms += frac;
  }
  return ms;
}

}  // namespace

struct Agent::Job {
  std::string message_id;
  CancelToken cancel;
  std::thread thread;
  std::atomic<bool> finished{false};
};

Agent::Agent(RunOptions options, Identity identity, const Clock& clock)
    : options_(std::move(options)),
      identity_(std::move(identity)),
      clock_(clock),
      outbox_(options_.state_dir + "/replies"),
      messages_(options_.state_dir + "/messages") {}

Agent::~Agent() {
  Stop();
  if (control_.joinable()) control_.join();
  ReapJobs(/*all=*/true);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

HttpOptions Agent::Http() const {
  HttpOptions h;
  h.ca_file = identity_.ca_file;
  h.user_agent = std::string("groundcrew-agent/") + GC_AGENT_VERSION;
  return h;
}

Status Agent::Start() {
  auto ep = ParseEndpoint(identity_.endpoint);
  if (!ep.ok()) return ep.take_error();
  endpoint_ = *ep;
  if (!crypto::RsaPssSign(identity_.private_key, "probe")) {
    return LocalError(options_.state_dir +
                      "/identity.json holds no usable private key; register again");
  }

  if (Status s = MakePrivateDir(options_.state_dir); !s.ok()) return s;
  const std::string lock_path = options_.state_dir + "/agent.lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return LocalError("another groundcrew-agent is running with the state directory " +
                      options_.state_dir);
  }
  if (Status s = outbox_.Open(); !s.ok()) return s;
  if (Status s = messages_.Open(options_.message_retention_seconds); !s.ok()) return s;
  if (Status s = MakePrivateDir(options_.state_dir + "/jobs"); !s.ok()) return s;

  // Commands a previous run took but never finished: their outcome is unknown; say so rather
  // than leave them InProgress (and never run them again).
  for (const std::string& id : messages_.Unfinished()) {
    LogWarn("message {} was running when the agent stopped; reporting it Failed", id);
    QueueReply(id, TracePayload(status::kFailed,
                                "groundcrew-agent restarted while this command was running; "
                                "its outcome is unknown.",
                                clock_.NowMillis()));
    messages_.MarkDone(id);
  }
  if (outbox_.size() > 0) LogInfo("{} replies from a previous run wait to be sent", outbox_.size());
  Prune();
  control_ = std::thread([this] { ControlLoop(); });
  return Ok{};
}

void Agent::Stop() {
  stop_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

bool Agent::SleepFor(int64_t millis) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(millis), [&] { return stop_.load(); });
  return !stop_.load();
}

void Agent::WakeControl() {
  std::lock_guard<std::mutex> lock(mu_);
  wake_control_ = true;
  cv_.notify_all();
}

std::optional<sigv4::Credentials> Agent::Credentials() {
  std::lock_guard<std::mutex> lock(mu_);
  return creds_;
}

void Agent::CredentialsRefused() {
  std::lock_guard<std::mutex> lock(mu_);
  creds_refused_ = true;
  cv_.notify_all();
}

void Agent::QueueReply(const std::string& message_id, std::string payload) {
  outbox_.Add(message_id, crypto::Uuid4(), std::move(payload), clock_.NowMillis());
  WakeControl();
}

// ---------------------------------------------------------------------------------------------
// Control thread.

bool Agent::RefreshCredentials(AwsJsonClient& client, int64_t* refresh_in_millis) {
  RsaSigner signer(identity_.private_key, identity_.instance_id);
  auto r = client.Call(std::string(kSsmPrefix) + "RequestManagedInstanceRoleToken",
                       json{{"Fingerprint", identity_.fingerprint}}, "ssm", signer,
                       options_.call_timeout_millis);
  if (!r.ok()) {
    const AwsError& e = r.error();
    if (e.code == kAborted) return false;
    const bool refused =
        e.code == "AccessDeniedException" || e.code == "MachineFingerprintDoesNotMatch";
    LogWarn("RequestManagedInstanceRoleToken failed: {}{}", Describe(e),
            refused ? " (the node is deregistered or its key does not match; its credentials "
                      "are dropped and the token is asked again in 5 minutes)"
                    : "");
    *refresh_in_millis = refused ? kRefusedRetryMillis : -1;
    if (refused) {
      // A refused node stays quiet: no polls and no heartbeats until a token comes again.
      std::lock_guard<std::mutex> lock(mu_);
      creds_.reset();
    }
    return false;
  }
  sigv4::Credentials c;
  c.access_key_id = Str(*r, "AccessKeyId");
  c.secret_access_key = Str(*r, "SecretAccessKey");
  c.session_token = Str(*r, "SessionToken");
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    LogWarn("RequestManagedInstanceRoleToken answered without credentials");
    *refresh_in_millis = -1;
    return false;
  }
  const int64_t now = clock_.NowMillis();
  const int64_t expiry =
      r->contains("TokenExpirationDate") ? ExpiryMillis((*r)["TokenExpirationDate"]) : 0;
  // §1.5: refresh at half the lifetime.
  *refresh_in_millis =
      expiry > now ? std::max<int64_t>((expiry - now) / 2, 30000) : kDefaultTokenRefreshMillis;
  if (r->value("UpdateKeyPair", false)) {
    LogWarn("the server asks for a new key pair; key rotation is not supported yet");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool first = !creds_.has_value();
    creds_ = std::move(c);
    cv_.notify_all();
    if (first) {
      LogInfo("credentials received; next refresh in {} s", *refresh_in_millis / 1000);
    } else {
      LogDebug("credentials refreshed; next refresh in {} s", *refresh_in_millis / 1000);
    }
  }
  return true;
}

bool Agent::SendHeartbeat(AwsJsonClient& client) {
  auto creds = Credentials();
  if (!creds) return false;
  const PlatformInfo p = ReadPlatform(options_.root);
  json body = {{"AgentName", kAgentName},          {"AgentStatus", "Active"},
               {"AgentVersion", GC_AGENT_VERSION}, {"AvailabilityZone", ""},
               {"AvailabilityZoneId", ""},         {"SSMConnectionChannel", "ec2messages"},
               {"PlatformType", "Linux"},          {"IPAddress", p.ip_address},
               {"ComputerName", p.computer_name},  {"InstanceId", identity_.instance_id},
               {"PlatformName", p.name},           {"PlatformVersion", p.version}};
  auto r = client.Call(std::string(kSsmPrefix) + "UpdateInstanceInformation", body, "ssm",
                       CredentialsSigner(*creds), options_.call_timeout_millis);
  if (!r.ok()) {
    if (r.error().code == kAborted) return false;
    if (IsCredentialError(r.error())) CredentialsRefused();
    LogWarn("UpdateInstanceInformation failed: {}", Describe(r.error()));
    return false;
  }
  LogDebug("heartbeat sent");
  return true;
}

bool Agent::FlushReplies(AwsJsonClient& client, int timeout_millis,
                         std::chrono::steady_clock::time_point deadline) {
  while (auto reply = outbox_.Front()) {
    if (Now() >= deadline) return false;
    const int64_t age = (clock_.NowMillis() - reply->created_millis) / 1000;
    if (age > options_.reply_retention_seconds) {
      LogWarn("dropping reply {} for {}: not delivered in {} s", reply->reply_id, reply->message_id,
              age);
      outbox_.Remove(reply->reply_id);
      continue;
    }
    auto creds = Credentials();
    if (!creds) return false;
    json body = {{"MessageId", reply->message_id},
                 {"ReplyId", reply->reply_id},
                 {"Payload", reply->payload}};
    auto r = client.Call(std::string(kMdsPrefix) + "SendReply", body, "ec2messages",
                         CredentialsSigner(*creds), timeout_millis);
    if (r.ok()) {
      LogDebug("reply {} for {} delivered", reply->reply_id, reply->message_id);
      outbox_.Remove(reply->reply_id);
      continue;
    }
    const AwsError& e = r.error();
    if (e.code == kAborted) return false;
    if (IsCredentialError(e)) {
      CredentialsRefused();
      return false;
    }
    if (IsRetryable(e)) {
      LogWarn("SendReply for {} failed ({}); kept for later", reply->message_id, Describe(e));
      return false;
    }
    if (e.http_status == 413) {
      std::string smaller = StripFullOutput(reply->payload);
      if (smaller.size() < reply->payload.size()) {
        LogWarn("reply {} too large for the server; resending without the full output",
                reply->reply_id);
        outbox_.Replace(reply->reply_id, std::move(smaller));
        continue;
      }
    }
    LogWarn("SendReply for {} refused ({}); dropping reply {}", reply->message_id, Describe(e),
            reply->reply_id);
    outbox_.Remove(reply->reply_id);
  }
  return true;
}

void Agent::Prune() {
  messages_.Prune(options_.message_retention_seconds);
  const std::string jobs = options_.state_dir + "/jobs";
  for (const std::string& name : ListDir(jobs)) {
    if (AgeSeconds(jobs + "/" + name) > options_.job_dir_retention_seconds) {
      RemoveTree(jobs + "/" + name);
    }
  }
}

void Agent::ControlLoop() {
  AwsJsonClient client(endpoint_, identity_.region, Http(), clock_);
  client.set_abort_flag(&stop_);
  Backoff cred_backoff;
  Backoff heartbeat_backoff;
  Backoff reply_backoff;
  SteadyTime next_creds = Now();
  // Refusals of the credentials by other calls force a refresh, but never before this.
  SteadyTime earliest_forced = Now();
  SteadyTime next_heartbeat = Now();
  SteadyTime next_replies = Now();
  SteadyTime next_prune = After(kPruneEveryMillis);

  while (!stop_.load()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (creds_refused_) {
        creds_refused_ = false;
        next_creds = std::max(std::min(next_creds, Now()), earliest_forced);
      }
    }
    if (server_back_.exchange(false)) {  // the poller got through: retry now what waits
      next_replies = Now();
      if (heartbeat_backoff.attempts() > 0) next_heartbeat = Now();
      if (cred_backoff.attempts() > 0) next_creds = Now();
    }
    if (Now() >= next_creds) {
      int64_t refresh_in = -1;
      if (RefreshCredentials(client, &refresh_in)) {
        cred_backoff.Reset();
        next_creds = After(refresh_in);
        earliest_forced = After(kMinCredentialsGapMillis);
      } else if (!stop_.load()) {
        next_creds = After(refresh_in > 0 ? refresh_in : cred_backoff.Next());
        if (refresh_in > 0) earliest_forced = next_creds;
      }
    }
    const bool have_creds = Credentials().has_value();
    if (have_creds && !stop_.load() && Now() >= next_heartbeat) {
      if (SendHeartbeat(client)) {
        heartbeat_backoff.Reset();
        next_heartbeat = After(static_cast<int64_t>(options_.heartbeat_seconds) * 1000);
      } else {
        next_heartbeat = After(heartbeat_backoff.Next());
      }
    }
    if (have_creds && !stop_.load() && outbox_.size() > 0 && Now() >= next_replies) {
      if (FlushReplies(client, options_.call_timeout_millis, SteadyTime::max())) {
        reply_backoff.Reset();
      } else {
        next_replies = After(reply_backoff.Next());
      }
    }
    if (Now() >= next_prune) {
      Prune();
      next_prune = After(kPruneEveryMillis);
    }

    SteadyTime wake = std::min(next_creds, next_prune);
    if (have_creds) {
      wake = std::min(wake, next_heartbeat);
      if (outbox_.size() > 0) wake = std::min(wake, next_replies);
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, wake, [&] {
      return stop_.load() || wake_control_ || creds_refused_ || server_back_.load();
    });
    wake_control_ = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Poller.

void Agent::Run() {
  AwsJsonClient client(endpoint_, identity_.region, Http(), clock_);
  client.set_abort_flag(&stop_);
  Backoff backoff;
  LogInfo("groundcrew-agent {} running as {} ({}, region {}, root {})", GC_AGENT_VERSION,
          identity_.instance_id, identity_.endpoint, identity_.region, options_.root);
  while (!stop_.load()) {
    std::optional<sigv4::Credentials> creds;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_.load() || creds_.has_value(); });
      if (stop_.load()) break;
      creds = creds_;
    }
    const CredentialsSigner signer(*creds);
    const SteadyTime start = Now();
    json body = {{"Destination", identity_.instance_id},
                 {"MessagesRequestId", crypto::Uuid4()},
                 {"VisibilityTimeoutInSeconds", 10}};
    auto r = client.Call(std::string(kMdsPrefix) + "GetMessages", body, "ec2messages", signer,
                         options_.poll_timeout_millis);
    ReapJobs(/*all=*/false);
    if (stop_.load()) break;
    const int64_t elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Now() - start).count();
    if (!r.ok()) {
      const AwsError& e = r.error();
      if (e.code == kRequestTimeout && elapsed >= kLongPollNormalMillis) continue;
      if (IsCredentialError(e)) CredentialsRefused();
      const int64_t delay = backoff.Next();
      LogWarn("GetMessages failed ({}); polling again in {} ms", Describe(e), delay);
      SleepFor(delay);
      continue;
    }
    if (backoff.attempts() > 0) {
      LogInfo("GetMessages works again");
      server_back_.store(true);
      WakeControl();
    }
    backoff.Reset();
    size_t count = 0;
    if (auto it = r->find("Messages"); it != r->end() && it->is_array()) {
      for (const json& m : *it) {
        if (stop_.load()) break;
        if (m.is_object()) {
          HandleMessage(client, signer, m);
          ++count;
        }
      }
    }
    if (count == 0 && elapsed < kEmptyPollFloorMillis) SleepFor(kEmptyPollPauseMillis);
  }

  // Shutdown: running scripts are killed (their plugins end Failed, as amazon-ssm-agent reports
  // a shutdown), their replies join the outbox, and the outbox gets a last short chance.
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    for (auto& [id, job] : jobs_) job->cancel.Cancel(CancelToken::Reason::kShutdown);
  }
  ReapJobs(/*all=*/true);
  if (control_.joinable()) control_.join();
  if (outbox_.size() > 0 && Credentials()) {
    AwsJsonClient last(endpoint_, identity_.region, Http(), clock_);
    FlushReplies(last, kShutdownFlushMillis, After(kShutdownFlushMillis));
  }
  if (outbox_.size() > 0) {
    LogInfo("{} replies kept in {}/replies for the next start", outbox_.size(), options_.state_dir);
  }
  LogInfo("groundcrew-agent stopped");
}

void Agent::HandleMessage(AwsJsonClient& client, const RequestSigner& signer, const json& m) {
  const std::string topic = Str(m, "Topic");
  const std::string destination = Str(m, "Destination");
  const std::string message_id = Str(m, "MessageId");
  const std::string created = Str(m, "CreatedDate");
  // §2.3 step 1: incomplete messages are dropped, without reply or acknowledgement.
  if (topic.empty() || destination.empty() || message_id.empty() || created.empty()) {
    LogWarn("dropping an incomplete message (MessageId '{}', Topic '{}')", message_id, topic);
    return;
  }
  const std::string payload = Str(m, "Payload");
  if (topic.starts_with("aws.ssm.sendCommand")) {
    HandleSendCommand(client, signer, message_id, payload);
  } else if (topic.starts_with("aws.ssm.cancelCommand")) {
    HandleCancelCommand(client, signer, message_id, payload);
  } else {
    LogWarn("message {} has an unknown topic {}", message_id, topic);
    FailMessage(client, signer, message_id);
  }
}

void Agent::ReplyNowOrLater(AwsJsonClient& client, const RequestSigner& signer,
                            const std::string& message_id, std::string payload) {
  const std::string reply_id = crypto::Uuid4();
  json body = {{"MessageId", message_id}, {"ReplyId", reply_id}, {"Payload", payload}};
  auto r = client.Call(std::string(kMdsPrefix) + "SendReply", body, "ec2messages", signer,
                       options_.call_timeout_millis);
  if (r.ok()) return;
  if (r.error().code == kAborted) return;
  if (IsCredentialError(r.error())) CredentialsRefused();
  LogWarn("SendReply for {} failed ({}); kept for later", message_id, Describe(r.error()));
  outbox_.Add(message_id, reply_id, std::move(payload), clock_.NowMillis());
  WakeControl();
}

void Agent::Acknowledge(AwsJsonClient& client, const RequestSigner& signer,
                        const std::string& message_id) {
  auto r =
      client.Call(std::string(kMdsPrefix) + "AcknowledgeMessage", json{{"MessageId", message_id}},
                  "ec2messages", signer, options_.call_timeout_millis);
  if (!r.ok() && r.error().code != kAborted) {
    if (IsCredentialError(r.error())) CredentialsRefused();
    // A redelivery is recognised by the message record and acknowledged then.
    LogWarn("AcknowledgeMessage {} failed: {}", message_id, Describe(r.error()));
  }
}

void Agent::FailMessage(AwsJsonClient& client, const RequestSigner& signer,
                        const std::string& message_id) {
  auto r = client.Call(std::string(kMdsPrefix) + "FailMessage",
                       json{{"MessageId", message_id}, {"FailureType", "InternalHandlerException"}},
                       "ec2messages", signer, options_.call_timeout_millis);
  if (!r.ok() && r.error().code != kAborted) {
    LogWarn("FailMessage {} failed: {}", message_id, Describe(r.error()));
  }
}

void Agent::HandleSendCommand(AwsJsonClient& client, const RequestSigner& signer,
                              const std::string& message_id, const std::string& payload) {
  // Never run a message twice: one already taken is only acknowledged again.
  if (messages_.Get(message_id) != MessageLog::State::kUnknown) {
    LogInfo("message {} was already taken; acknowledging it again", message_id);
    Acknowledge(client, signer, message_id);
    return;
  }
  auto plan = ParseSendCommand(payload);
  if (!plan.ok()) {
    // §2.3 step 2: a Failed reply with the reason, no acknowledgement.
    LogWarn("message {}: {}", message_id, plan.error().message);
    messages_.MarkDone(message_id);
    ReplyNowOrLater(client, signer, message_id,
                    TracePayload(status::kFailed, plan.error().message, clock_.NowMillis()));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    if (static_cast<int>(jobs_.size()) >= options_.max_concurrent_jobs) {
      LogWarn("{} jobs already running; message {} waits for redelivery", jobs_.size(), message_id);
      return;
    }
  }
  messages_.MarkStarted(message_id);
  // §2.3 step 4: InProgress, then acknowledge.
  ReplyNowOrLater(client, signer, message_id, InProgressPayload(clock_.NowMillis()));
  Acknowledge(client, signer, message_id);
  StartJob(message_id, std::move(*plan));
}

void Agent::HandleCancelCommand(AwsJsonClient& client, const RequestSigner& signer,
                                const std::string& message_id, const std::string& payload) {
  json p = json::parse(payload, nullptr, false);
  const std::string target = p.is_object() ? Str(p, "CancelMessageId") : std::string();
  if (target.empty()) {
    LogWarn("cancel message {} has no CancelMessageId", message_id);
    FailMessage(client, signer, message_id);
    return;
  }
  if (messages_.Get(message_id) != MessageLog::State::kUnknown) {
    Acknowledge(client, signer, message_id);
    return;
  }
  messages_.MarkDone(message_id);
  // §2.7: InProgress for the cancel message and an ack; the cancelled job sends its own final.
  ReplyNowOrLater(client, signer, message_id, InProgressPayload(clock_.NowMillis()));
  Acknowledge(client, signer, message_id);
  std::lock_guard<std::mutex> lock(jobs_mu_);
  auto it = jobs_.find(target);
  if (it == jobs_.end() || it->second->finished.load()) {
    LogInfo("cancel {}: the command is not running", target);
    return;
  }
  LogInfo("cancelling {}", target);
  it->second->cancel.Cancel(CancelToken::Reason::kCancel);
}

void Agent::StartJob(const std::string& message_id, CommandPlan plan) {
  auto job = std::make_unique<Job>();
  job->message_id = message_id;
  Job* j = job.get();

  PluginContext ctx;
  ctx.orchestration_dir = options_.state_dir + "/jobs/" +
                          SafeFileName(plan.command_id.empty() ? message_id : plan.command_id);
  ctx.env = {{"AWS_SSM_INSTANCE_ID", identity_.instance_id},
             {"AWS_SSM_REGION_NAME", identity_.region},
             {"GC_AGENT_ROOT", options_.root},
             {"GC_AGENT_CUSTOM_INVENTORY_DIR", options_.state_dir + "/inventory/custom"}};
  ctx.min_timeout_seconds = options_.min_timeout_seconds;
  ctx.clock = &clock_;
  ctx.root = options_.root;
  ctx.get_document = [this](const std::string& name, const std::string& version) {
    return FetchDocument(name, version);
  };
  ctx.instance_id = identity_.instance_id;
  ctx.inventory_dir = options_.state_dir + "/inventory";
  ctx.put_inventory = [this](const json& body) { return CallSsmFromJob("PutInventory", body); };

  std::lock_guard<std::mutex> lock(jobs_mu_);
  job->thread = std::thread([this, j, ctx = std::move(ctx), plan = std::move(plan)] {
    LogInfo("job start {} command {} document {} ({} steps)", j->message_id, plan.command_id,
            plan.document_name, plan.steps.size());
    const std::string final_status = RunJob(plan, ctx, j->cancel, [this, j](std::string payload) {
      QueueReply(j->message_id, std::move(payload));
    });
    messages_.MarkDone(j->message_id);
    LogInfo("job end {} command {} status {}", j->message_id, plan.command_id, final_status);
    j->finished.store(true);
  });
  jobs_[message_id] = std::move(job);
}

Result<json> Agent::CallSsmFromJob(const std::string& operation, const json& body) {
  AwsJsonClient client(endpoint_, identity_.region, Http(), clock_);
  client.set_abort_flag(&stop_);
  Backoff backoff;
  for (int attempt = 1;; ++attempt) {
    auto creds = Credentials();
    if (!creds) return LocalError("the node has no credentials (it may be deregistered)");
    auto r = client.Call(std::string(kSsmPrefix) + operation, body, "ssm",
                         CredentialsSigner(*creds), options_.call_timeout_millis);
    if (r.ok()) return r;
    AwsError e = r.take_error();
    const bool refused = IsCredentialError(e);
    if (refused) CredentialsRefused();
    if (attempt >= 3 || e.code == kAborted || !(refused || IsRetryable(e))) return e;
    LogWarn("{} failed ({}); trying again", operation, Describe(e));
    if (!SleepFor(backoff.Next())) return e;
  }
}

Result<std::string> Agent::FetchDocument(const std::string& name, const std::string& version) {
  // §3.2: as amazon-ssm-agent's GetDocument (version only when given), asking for JSON.
  json body = {{"Name", name}, {"DocumentFormat", "JSON"}};
  if (!version.empty()) body["DocumentVersion"] = version;
  auto r = CallSsmFromJob("GetDocument", body);
  if (!r.ok()) return r.take_error();
  std::string content = Str(*r, "Content");
  if (content.empty()) return LocalError("GetDocument answered without Content");
  return content;
}

void Agent::ReapJobs(bool all) {
  std::vector<std::unique_ptr<Job>> done;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (all || it->second->finished.load()) {
        done.push_back(std::move(it->second));
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& job : done) {
    if (job->thread.joinable()) job->thread.join();
  }
  // What the jobs freed in the middle of the heap goes back to the kernel too.
  if (!done.empty()) {
    done.clear();
    malloc_trim(0);
  }
}

// ---------------------------------------------------------------------------------------------

int RunAgentUntilSignalled(const RunOptions& options) {
  // SIGTERM and SIGINT are taken by one thread with sigwait; every other thread blocks them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ConfigureMallocForIdle();
  GlobalHttpInit();

  auto identity = LoadIdentity(options.state_dir);
  if (!identity.ok()) {
    LogError("{}", identity.error().message);
    return 1;
  }
  SystemClock clock;
  Agent agent(options, *identity, clock);
  if (Status s = agent.Start(); !s.ok()) {
    LogError("{}", s.error().message);
    return 1;
  }
  std::atomic<bool> done{false};
  std::thread signals([&] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      if (done.load()) return;
      LogInfo("signal {} received; stopping", sig);
      agent.Stop();
      return;
    }
  });
  agent.Run();
  done.store(true);
  pthread_kill(signals.native_handle(), SIGTERM);  // ends the sigwait if no signal came
  signals.join();
  return 0;
}

}  // namespace gc::agent
