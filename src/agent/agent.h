// Agent: the `groundcrew-agent run` daemon (AGENT_PROTOCOL §1.3, §1.5, §2, §3.1).
//
// Threads:
//  - poller (the thread calling Run): long-polls GetMessages on its own HTTP connection; for
//    each message sends the InProgress reply, acknowledges it and starts a job;
//  - control: RequestManagedInstanceRoleToken at start and at half the token's lifetime,
//    UpdateInstanceInformation at start and every heartbeat period, and the reply outbox
//    (every SendReply of the jobs goes through the state directory, sent in order, resent with
//    the same ReplyId until the server takes it), on a second connection;
//  - one thread per running job (see job.h), mostly asleep in poll(2) on its script's pipes;
//    aws:runDocument's GetDocument and aws:softwareInventory's PutInventory calls are made from
//    it, on a connection of their own.
// Failures back off exponentially from 1 s to 30 s; an idle agent sleeps in the long poll and
// in a condition variable. Stop is thread-safe; everything else runs on the threads above.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "agent/aws_client.h"
#include "agent/document.h"
#include "agent/process.h"
#include "agent/state.h"
#include "common/clock.h"
#include "wire/sigv4.h"

namespace gc::agent {

struct RunOptions {
  std::string state_dir = "/var/lib/groundcrew-agent";
  std::string root = "/";
  int heartbeat_seconds = 300;                  // UpdateInstanceInformation period
  int poll_timeout_millis = 20000;              // client side of the GetMessages long poll
  int call_timeout_millis = 15000;              // every other call
  int max_concurrent_jobs = 16;                 // more messages wait for redelivery (no ack)
  int64_t reply_retention_seconds = 24 * 3600;  // unsent replies older than this are dropped
  int64_t message_retention_seconds = 14 * 24 * 3600;
  int64_t job_dir_retention_seconds = 7 * 24 * 3600;
  int min_timeout_seconds = 5;  // runShellScript timeoutSeconds range (amazon-ssm-agent's)
};

class Agent {
 public:
  Agent(RunOptions options, Identity identity, const Clock& clock);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Locks the state directory (one agent per directory), loads pending replies and the message
  // record, reports commands a previous run left unfinished, starts the control thread.
  Status Start();
  // Polls until Stop; then stops the jobs (their plugins end Failed), and spends up to a few
  // seconds handing the last replies to the server (the rest stay on disk for the next run).
  void Run();
  // Thread-safe; callable from a signal-handling thread.
  void Stop();

 private:
  struct Job;

  // control thread
  void ControlLoop();
  bool RefreshCredentials(AwsJsonClient& client, int64_t* refresh_in_millis);
  bool SendHeartbeat(AwsJsonClient& client);
  // Sends queued replies in order until `deadline`; true when the queue is empty.
  bool FlushReplies(AwsJsonClient& client, int timeout_millis,
                    std::chrono::steady_clock::time_point deadline);
  void Prune();

  // poller
  void HandleMessage(AwsJsonClient& client, const RequestSigner& signer, const nlohmann::json& m);
  void HandleSendCommand(AwsJsonClient& client, const RequestSigner& signer,
                         const std::string& message_id, const std::string& payload);
  void HandleCancelCommand(AwsJsonClient& client, const RequestSigner& signer,
                           const std::string& message_id, const std::string& payload);
  void ReplyNowOrLater(AwsJsonClient& client, const RequestSigner& signer,
                       const std::string& message_id, std::string payload);
  void Acknowledge(AwsJsonClient& client, const RequestSigner& signer,
                   const std::string& message_id);
  void FailMessage(AwsJsonClient& client, const RequestSigner& signer,
                   const std::string& message_id);
  void StartJob(const std::string& message_id, CommandPlan plan);
  void ReapJobs(bool all);

  // job threads: an ssm operation (e.g. "PutInventory") with the node's credentials, on a
  // connection of its own; up to 3 attempts on transport errors, 5xx, throttling and refused
  // credentials.
  Result<nlohmann::json> CallSsmFromJob(const std::string& operation, const nlohmann::json& body);
  // aws:runDocument's ssm GetDocument (JSON content), through CallSsmFromJob.
  Result<std::string> FetchDocument(const std::string& name, const std::string& version);

  // shared
  void QueueReply(const std::string& message_id, std::string payload);
  std::optional<sigv4::Credentials> Credentials();
  void CredentialsRefused();
  bool SleepFor(int64_t millis);  // false when stopping
  void WakeControl();
  HttpOptions Http() const;

  const RunOptions options_;
  const Identity identity_;
  const Clock& clock_;
  Endpoint endpoint_;
  ReplyOutbox outbox_;
  MessageLog messages_;
  int lock_fd_ = -1;

  std::atomic<bool> stop_{false};
  std::atomic<bool> server_back_{false};  // the poller reached the server after failures

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<sigv4::Credentials> creds_;  // GUARDED_BY(mu_)
  bool creds_refused_ = false;               // GUARDED_BY(mu_)
  bool wake_control_ = false;                // GUARDED_BY(mu_)

  std::mutex jobs_mu_;
  std::map<std::string, std::unique_ptr<Job>> jobs_;  // GUARDED_BY(jobs_mu_), by message id

  std::thread control_;
};

// `groundcrew-agent run`: loads the identity, runs an Agent until SIGTERM or SIGINT. Returns
// the process exit code (1 when not registered or the state directory is in use).
int RunAgentUntilSignalled(const RunOptions& options);

}  // namespace gc::agent
