// CurlSender: runs a batch of network deliveries — HTTP(S) POSTs and SMTP sends — concurrently on
// one libcurl multi handle, keeping connections alive between batches. Internal to delivery/.
// Thread-compatible: each delivery worker owns one. ExtraCas is thread-safe after construction.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "delivery/outbox.h"

struct x509_st;  // OpenSSL's X509

namespace gc::delivery::internal {

// Transfers one worker runs at once to one host ("scheme://authority"; so also its connections
// to that host); the rest of a batch for that host waits its turn. Deliveries to different hosts
// all run at once. Against a local endpoint on a 2-core machine, 1 (the same as one keep-alive
// easy handle per worker), 4, 16 and 64 measured within noise of each other; for distant or slow
// endpoints concurrency is what counts. libcurl's own CURLMOPT_MAX_HOST_CONNECTIONS is not used:
// in libcurl 7.88 the transfers it holds back sit until a 1 s timeout before they start.
inline constexpr int kMaxInFlightPerHost = 16;

// "scheme://authority" of a URL: the unit of per-host concurrency and of HostHealth.
std::string HostKey(std::string_view url);

// Which hosts answer slowly. An attempt that timed out, or took kSlowAttemptMs or more, marks its
// host slow until kSlowHostHoldMs after that attempt; a quicker success clears the mark. The
// outbox gives deliveries to slow hosts a lane of their own, so that an unresponsive subscriber
// holds up only deliveries to slow hosts, not every worker's batch. Thread-safe.
inline constexpr int64_t kSlowAttemptMs = 1000;
inline constexpr int64_t kSlowHostHoldMs = 60'000;

class HostHealth {
 public:
  explicit HostHealth(const Clock& clock) : clock_(clock) {}
  // Whether any host is marked (cheap: no lock).
  bool AnySlow() const { return marked_.load(std::memory_order_relaxed) != 0; }
  bool IsSlow(const std::string& host);
  // One finished attempt at `host` that took `elapsed_ms`.
  void Observe(const std::string& host, int64_t elapsed_ms, bool timed_out, bool ok);

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, int64_t, std::less<>> slow_until_;  // epoch ms; guarded by mu_
  std::atomic<size_t> marked_{0};                           // slow_until_.size()
};

// Certificates trusted on top of the system store (OutboxOptions::ca_file), parsed once.
class ExtraCas {
 public:
  // Reads every PEM certificate in `pem_file` ("" → none). error() says what went wrong, if any.
  explicit ExtraCas(const std::string& pem_file);
  ~ExtraCas();
  ExtraCas(const ExtraCas&) = delete;
  ExtraCas& operator=(const ExtraCas&) = delete;

  bool empty() const { return certs_.empty(); }
  const std::string& file() const { return file_; }
  const std::string& error() const { return error_; }
  // Adds the certificates to an OpenSSL SSL_CTX's verification store (libcurl's SSL_CTX hook).
  void AddTo(void* ssl_ctx) const;

 private:
  std::string file_;
  std::string error_;
  std::vector<x509_st*> certs_;  // owned
};

class CurlSender {
 public:
  // `cas` and `health` may be null; they must outlive the sender. Every finished attempt is
  // reported to `health`.
  CurlSender(const OutboxOptions& options, const Clock& clock, const ExtraCas* cas,
             HostHealth* health = nullptr);
  ~CurlSender();  // aborts what is still running (Finish first to complete it)
  CurlSender(const CurlSender&) = delete;
  CurlSender& operator=(const CurlSender&) = delete;

  // Starts delivering `d`: kind "http"/"https" (POST to d.endpoint) or "email" (SMTP to the
  // relay of OutboxOptions::smtp, RCPT TO d.endpoint). `*result` is set once the attempt is over:
  // Ok for a 2xx answer / an accepted message, an error otherwise (HTTP status, network, TLS or
  // SMTP failure). `d` and `result` must stay valid until Finish returns.
  void Start(const Delivery& d, Status* result);
  // The host key a network delivery goes to (the SMTP relay for email), as HostHealth knows it.
  std::string HostOf(const Delivery& d) const;
  // Moves running transfers forward without blocking.
  void Poll();
  // Blocks until every started transfer is over.
  void Finish();

 private:
  struct Transfer;

  Result<CURL*> TakeHandle();
  void SetCommonOptions(Transfer& t);
  Status SetUpHttp(Transfer& t, const Delivery& d);
  Status SetUpEmail(Transfer& t, const Delivery& d);
  void Launch(std::unique_ptr<Transfer> t);  // starts it, or queues it if its host is busy
  void StartWaiting();
  void Reap();  // completes the transfers libcurl reports done
  void Complete(Transfer* t, CURLcode code);

  const OutboxOptions& options_;
  const Clock& clock_;
  const ExtraCas* cas_;
  HostHealth* health_;
  std::string smtp_url_;
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_;                         // easy handles to reuse
  std::vector<std::unique_ptr<Transfer>> running_;  // started, not yet complete
  std::deque<std::unique_ptr<Transfer>> waiting_;   // set up, waiting for room at their host
  std::map<std::string, int> in_flight_;            // running transfers per host
};

}  // namespace gc::delivery::internal
