// Outbox: the durable outbox for everything that leaves the process — SNS deliveries to HTTP(S)
// endpoints (libcurl), email over SMTP (libcurl), and in-process sinks such as SQS enqueue.
// A delivery is written in the caller's store transaction (so an accepted Publish and its
// deliveries commit together), then worker threads deliver it at least once, retrying by its
// RetryPolicy, and finally hand it to its dead-letter queue (through the "sqs" sink) or drop it.
// Survives kill -9: undelivered rows are picked up again at start. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

namespace gc::delivery {

// SNS "healthyRetryPolicy" (DeliveryPolicy); defaults are AWS's for HTTP/S endpoints.
struct RetryPolicy {
  int num_retries = 3;
  int num_no_delay_retries = 0;
  int min_delay_target_s = 20;
  int max_delay_target_s = 20;
  int num_min_delay_retries = 0;
  int num_max_delay_retries = 0;
  std::string backoff_function = "linear";  // linear | arithmetic | geometric | exponential

  // Parses {"healthyRetryPolicy": {...}} (the "http" part of a topic DeliveryPolicy, or a
  // subscription DeliveryPolicy); fields absent keep their defaults.
  static RetryPolicy FromDeliveryPolicy(const nlohmann::json& policy);
  // Delay in seconds before retry number `attempt` (1-based), per AWS's backoff phases.
  int64_t DelaySeconds(int attempt) const;
};

struct Delivery {
  std::string kind;      // "http" (http and https URLs), "email", or an in-process sink ("sqs")
  std::string endpoint;  // URL, email address, or queue ARN
  std::string body;      // HTTP body / email text / SQS message body
  std::vector<std::pair<std::string, std::string>> headers;  // HTTP request headers
  std::string subject;   // email subject
  nlohmann::json extra = nlohmann::json::object();  // sink-specific (e.g. SQS attributes)
  RetryPolicy retry;
  std::string dead_letter_arn;  // SQS queue ARN for failed deliveries, or ""
  std::string account;
  std::string region;
  std::string source;  // what produced it (a subscription ARN), for logs
  // Deliveries with the same non-empty key are made one at a time, in the order enqueued (a
  // FIFO topic's message group to one subscription); a failing one holds the rest back.
  std::string ordering_key;
};

struct SmtpOptions {
  std::string host;  // empty: email deliveries fail (and are retried) with "no SMTP relay"
  int port = 25;
  bool starttls = false;  // require STARTTLS
  std::string username;
  std::string password;
  std::string from = "no-reply@groundcrew.local";
};

struct OutboxOptions {
  int workers = 4;                 // delivery threads
  int http_timeout_ms = 15000;     // per attempt
  std::string ca_file;             // extra CA for https endpoints (tests); system store otherwise
  SmtpOptions smtp;
};

class Outbox {
 public:
  Outbox(store::Store& store, const Clock& clock, OutboxOptions options);
  ~Outbox();  // stops the workers; undelivered rows stay in the store
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  static std::vector<store::Migration> Migrations();

  // Writes the deliveries in the caller's transaction. Call Notify() after it committed.
  Status Enqueue(store::Tx& tx, const std::vector<Delivery>& deliveries);
  // Enqueue for a hand-off: on SQLite (whose file belongs to this process) the rows are written
  // already claimed by this process, and `handed_ids` (cleared first) gets one id per delivery
  // (0: not handed off, such as an ordered delivery, or any delivery on PostgreSQL). Once the
  // transaction has committed, call HandOff(ids, deliveries): the workers then take them from
  // memory instead of claiming them back from the store. If the process dies first, the next
  // Start releases the claims, so the rows are delivered after all (at least once).
  Status Enqueue(store::Tx& tx, const std::vector<Delivery>& deliveries,
                 std::vector<int64_t>* handed_ids);
  // After the commit of an Enqueue with `handed_ids`; wakes the workers (like Notify).
  void HandOff(const std::vector<int64_t>& handed_ids, std::vector<Delivery>&& deliveries);
  // Wakes the workers.
  void Notify();

  // An in-process destination: returns Ok when delivered, an error to retry. Register before
  // Start().
  using Sink = std::function<Status(const Delivery&)>;
  void RegisterSink(const std::string& kind, Sink sink);

  // Starts options.workers delivery threads (no-op if running).
  void Start();
  // Lets the attempts in progress finish and records them, puts claimed deliveries not yet
  // attempted back (due at once), and joins the threads. Idempotent; Start may follow.
  void Stop();

  // Counters of this Outbox since construction (not persisted).
  struct Stats {
    int64_t delivered = 0;        // successful attempts at the delivery's own endpoint
    int64_t failed_attempts = 0;  // failed attempts at the delivery's own endpoint
    int64_t dead_lettered = 0;    // exhausted deliveries accepted by the "sqs" sink
    int64_t dropped = 0;          // exhausted deliveries without a dead-letter queue, deleted
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gc::delivery
