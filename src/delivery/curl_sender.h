// CurlSender: runs a batch of network deliveries — HTTP(S) POSTs and SMTP sends — concurrently on
// one libcurl multi handle, keeping connections alive between batches. Internal to delivery/.
// Thread-compatible: each delivery worker owns one. ExtraCas is thread-safe after construction.
#pragma once

#include <curl/curl.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
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
  // `cas` may be null; it must outlive the sender.
  CurlSender(const OutboxOptions& options, const Clock& clock, const ExtraCas* cas);
  ~CurlSender();  // aborts what is still running (Finish first to complete it)
  CurlSender(const CurlSender&) = delete;
  CurlSender& operator=(const CurlSender&) = delete;

  // Starts delivering `d`: kind "http"/"https" (POST to d.endpoint) or "email" (SMTP to the
  // relay of OutboxOptions::smtp, RCPT TO d.endpoint). `*result` is set once the attempt is over:
  // Ok for a 2xx answer / an accepted message, an error otherwise (HTTP status, network, TLS or
  // SMTP failure). `d` and `result` must stay valid until Finish returns.
  void Start(const Delivery& d, Status* result);
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
  std::string smtp_url_;
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_;                         // easy handles to reuse
  std::vector<std::unique_ptr<Transfer>> running_;  // started, not yet complete
  std::deque<std::unique_ptr<Transfer>> waiting_;   // set up, waiting for room at their host
  std::map<std::string, int> in_flight_;            // running transfers per host
};

}  // namespace gc::delivery::internal
