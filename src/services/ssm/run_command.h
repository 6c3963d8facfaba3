// RunCommand: SSM Run Command — SendCommand, ListCommands, ListCommandInvocations,
// GetCommandInvocation, CancelCommand — and the ec2messages service the agents long-poll for
// their work (GetMessages, AcknowledgeMessage, SendReply, FailMessage, DeleteMessage;
// docs/AGENT_PROTOCOL.md section 2). Rate control (MaxConcurrency / MaxErrors), delivery
// timeouts and status aggregation run inside the store transaction that changes an invocation,
// and a periodic sweep (a timer) times out undelivered invocations and carries on after a
// restart. Tables ssm_command, ssm_invocation, ssm_node_message, ssm_command_reply.
//
// Thread-safe. Threads: GetMessages attempts and the sweep run on a small worker pool; parked
// polls wait as timers (common/long_poll.h), never as blocked threads.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/long_poll.h"
#include "common/status.h"
#include "common/timer_queue.h"
#include "common/worker_pool.h"
#include "services/ssm/command_engine.h"
#include "services/ssm/documents.h"
#include "services/ssm/managed_nodes.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::ssm {

struct NodeMessage;  // run_command.cc

struct RunCommandOptions {
  int64_t poll_wait_ms = 15000;    // an empty GetMessages is held this long (agent: 20 s client)
  int64_t sweep_interval_ms = 1000;
  int64_t max_deliveries = 3;      // an unacknowledged message is handed out at most this often
  // An invocation InProgress with no final reply this long after its execution timeout ran out
  // ends ExecutionTimedOut (the agent died mid-job); groundcrewd uses its node ping timeout.
  int64_t execution_grace_ms = 600000;
  // A node whose last heartbeat is older than this when a command is sent is Undeliverable.
  int64_t undeliverable_after_ms = int64_t{30} * 24 * 3600 * 1000;
  // Signs the links to a plugin's full output (StandardOutputUrl / StandardErrorUrl); without a
  // key those stay empty and only the truncated output is shown.
  std::string output_link_key;
};

// Publishes Run Command's SNS notifications (NotificationConfig) inside the transaction that
// changed a status, so that a notice is durable exactly when the change is.
struct CommandNotifier {
  std::function<Status(store::Tx&, const commands::Notice&)> publish;
  std::function<void()> committed;  // after a commit that published something
};

class RunCommand {
 public:
  RunCommand(store::Store& store, Documents& documents, ManagedNodes& nodes, const Clock& clock,
             RunCommandOptions options = {});
  ~RunCommand();  // stops the sweep, answers parked polls, joins the pool

  static std::vector<store::Migration> Migrations();

  // Sets where notifications go; call before serving. Without one, NotificationConfig is stored
  // and shown but nothing is published.
  void set_notifier(CommandNotifier notifier) { notifier_ = std::move(notifier); }

  // Adds SendCommand … CancelCommand to SSM's operation table, and wraps its
  // DeregisterManagedInstance so that the node's open invocations end Undeliverable; `this`
  // must outlive it.
  void AddOperations(wire::ServiceDef& ssm);
  // The ec2messages service (node credentials only); `this` must outlive it.
  wire::ServiceDef MessageDeliveryDefinition();

  // A plugin's full output when the agent's reply had more than the API's 24,000 / 8,000
  // characters: GetCommandInvocation and ListCommandInvocations give it as StandardOutputUrl /
  // StandardErrorUrl, {endpoint}/_groundcrew/ssm/output/<command>/<node>/<plugin>/stdout|stderr
  // ?Signature=<HMAC>: a capability link, as a presigned S3 URL is, served without SigV4.
  struct OutputLink {
    int status = 200;
    std::string body;
  };
  OutputLink HandleOutputLink(std::string_view path, std::string_view query);

  // Starts the sweep (delivery timeouts, rate control after a restart). Call once serving.
  void Start();
  // Answers every parked GetMessages at once (server shutdown).
  void Shutdown();

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> SendCommand(const Ctx& ctx, const Json& in);
  Result<Json> ListCommands(const Ctx& ctx, const Json& in);
  Result<Json> ListCommandInvocations(const Ctx& ctx, const Json& in);
  Result<Json> GetCommandInvocation(const Ctx& ctx, const Json& in);
  Result<Json> CancelCommand(const Ctx& ctx, const Json& in);

  void GetMessages(const Ctx& ctx, const Json& in, wire::Done done);
  // Answer through `done` once durable.
  void AcknowledgeMessage(const Ctx& ctx, const Json& in, wire::Done done);
  void SendReply(const Ctx& ctx, const Json& in, wire::Done done);
  void FailMessage(const Ctx& ctx, const Json& in, wire::Done done);
  Result<Json> DeleteMessage(const Ctx& ctx, const Json& in);

  // ---- For State Manager (and later Maintenance Windows): a command made in their own
  // transaction, so that "this run was started" and "its command exists" commit together.
  struct PreparedCommand {
    struct Target {
      std::string id, name;
      bool deliverable = true;
    };
    std::string command_id, account, region, origin, spec_text;
    std::vector<Target> targets;
    int64_t requested_ms = 0, expires_ms = 0, max_concurrency = 0, max_errors = 0;
  };
  // Validates a SendCommand request and resolves its document and targets (reads only).
  // `origin` "" is a command of SendCommand; anything else is hidden from ListCommands.
  Result<PreparedCommand> Prepare(const Ctx& ctx, const Json& in, std::string origin = "");
  // Writes the command and releases what rate control allows, in `tx`.
  Status Insert(store::Tx& tx, const PreparedCommand& command, commands::Effects& effects);
  // A write whose Effects (released nodes, notices) are acted on after the commit.
  Status Write(const std::function<Status(store::Tx&, commands::Effects&)>& fn);

  // One sweep now (tests; the timer calls it every sweep_interval_ms).
  void Sweep();

 private:
  struct Poll;
  void Attempt(const std::shared_ptr<Poll>& poll);
  void ScheduleSweep();
  // AcknowledgeMessage, SendReply and FailMessage: finds the caller's own message `MessageId`
  // (InvalidMessageIdException otherwise), applies `change` in an asynchronous write and answers
  // `answer` from the commit.
  using MessageChange = std::function<Status(store::Tx&, const NodeMessage&, int64_t now,
                                             commands::Effects&)>;
  void ChangeOwnMessage(const Ctx& ctx, const Json& in, wire::Done done, MessageChange change,
                        Json answer);
  // Commits `fn` with the notices it made published in the same transaction, then wakes the
  // polls of the nodes it gave new messages.
  Status WriteAndNotify(const std::function<Status(store::Tx&, commands::Effects&)>& fn);
  // The same without waiting: `done` gets the outcome after the commit (store thread; quick).
  void WriteAsyncAndNotify(std::function<Status(store::Tx&, commands::Effects&)> fn,
                           std::function<void(Status)> done);
  // Publishes the notices `effects` holds in `tx`; after the commit, AfterCommit wakes the
  // released nodes' polls and the outbox.
  Status PublishNotices(store::Tx& tx, const commands::Effects& effects);
  void AfterCommit(const commands::Effects& effects);
  // Ends the open invocations of deregistered nodes Undeliverable (all such nodes when `nodes`
  // is empty).
  Status MarkUndeliverable(const std::vector<std::string>& nodes);

  store::Store& store_;
  Documents& documents_;
  ManagedNodes& nodes_;
  const Clock& clock_;
  const RunCommandOptions options_;
  CommandNotifier notifier_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<TimerQueue> timers_;
  std::unique_ptr<LongPoll> long_poll_;
  std::atomic<int64_t> sweeps_ = 0;
  std::mutex mu_;
  bool stopping_ = false;  // GUARDED_BY(mu_): set by the destructor
};

}  // namespace gc::ssm
