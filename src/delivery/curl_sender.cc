#include "delivery/curl_sender.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/crypto.h"
#include "delivery/email_message.h"

namespace gc::delivery::internal {
namespace {

// Idle connections a worker's multi handle keeps for reuse (keep-alive across batches).
constexpr long kMaxCachedConnections = 64;
constexpr size_t kMaxResponseBytesKept = 200;

bool HasNewline(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string SmtpUrl(const SmtpOptions& smtp) {
  if (smtp.host.empty()) return "";
  if (smtp.host.starts_with("smtp://") || smtp.host.starts_with("smtps://")) return smtp.host;
  // Port 465 is SMTP over TLS from the first byte (RFC 8314); others speak plain SMTP first.
  const std::string scheme = smtp.port == 465 ? "smtps://" : "smtp://";
  const bool ipv6 = smtp.host.find(':') != std::string::npos;
  return scheme + (ipv6 ? "[" + smtp.host + "]" : smtp.host) + ":" + std::to_string(smtp.port);
}

bool PlausibleAddress(std::string_view a) {
  if (a.empty() || a.size() > 320 || a.find('@') == std::string_view::npos) return false;
  for (unsigned char c : a) {
    if (c <= ' ' || c == '<' || c == '>' || c == ',' || c == 0x7f) return false;
  }
  return true;
}

CURLcode SslCtxHook(CURL* /*easy*/, void* ssl_ctx, void* user) {
  static_cast<const ExtraCas*>(user)->AddTo(ssl_ctx);
  return CURLE_OK;
}

}  // namespace

std::string HostKey(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const size_t end = url.find_first_of("/?#", scheme_end + 3);
  return std::string(url.substr(0, end));
}

// ---------------------------------------------------------------------------------------------

bool HostHealth::IsSlow(const std::string& host) {
  std::lock_guard lock(mu_);
  if (slow_until_.empty()) return false;
  auto it = slow_until_.find(host);
  if (it == slow_until_.end()) return false;
  if (it->second > clock_.NowMillis()) return true;
  slow_until_.erase(it);
  marked_ = slow_until_.size();
  return false;
}

void HostHealth::Observe(const std::string& host, int64_t elapsed_ms, bool timed_out, bool ok) {
  const bool slow = timed_out || elapsed_ms >= kSlowAttemptMs;
  if (!slow && (!ok || !AnySlow())) return;  // nothing to mark or clear
  std::lock_guard lock(mu_);
  if (slow) {
    slow_until_[host] = clock_.NowMillis() + kSlowHostHoldMs;
  } else if (ok && !slow_until_.empty()) {
    slow_until_.erase(host);
  }
  marked_ = slow_until_.size();
}

// ---------------------------------------------------------------------------------------------

ExtraCas::ExtraCas(const std::string& pem_file) : file_(pem_file) {
  if (pem_file.empty()) return;
  BIO* bio = BIO_new_file(pem_file.c_str(), "r");
  if (bio == nullptr) {
    error_ = "cannot read " + pem_file;
    ERR_clear_error();
    return;
  }
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) certs_.push_back(cert);
  ERR_clear_error();  // the loop ends on a "no start line" error at end of file
  BIO_free(bio);
  if (certs_.empty()) error_ = "no PEM certificate in " + pem_file;
}

ExtraCas::~ExtraCas() {
  for (X509* cert : certs_) X509_free(cert);
}

void ExtraCas::AddTo(void* ssl_ctx) const {
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (store == nullptr) return;
  for (X509* cert : certs_) X509_STORE_add_cert(store, cert);  // a duplicate is harmless
  ERR_clear_error();
}

// ---------------------------------------------------------------------------------------------

struct CurlSender::Transfer {
  CURL* easy = nullptr;
  Status* result = nullptr;
  bool email = false;
  std::string host;  // HostKey of the endpoint (the relay for email)
  curl_slist* headers = nullptr;
  curl_slist* recipients = nullptr;
  std::string message;  // email: the RFC 5322 text, uploaded from read_pos
  size_t read_pos = 0;
  std::string response;  // the first bytes of the answer, for error messages
  char error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (recipients != nullptr) curl_slist_free_all(recipients);
  }

  static size_t OnWrite(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t bytes = size * n;
    if (t->response.size() < kMaxResponseBytesKept) {
      t->response.append(data, std::min(bytes, kMaxResponseBytesKept - t->response.size()));
    }
    return bytes;
  }

  static size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t bytes = std::min(size * n, t->message.size() - t->read_pos);
    std::memcpy(buffer, t->message.data() + t->read_pos, bytes);
    t->read_pos += bytes;
    return bytes;
  }
};

CurlSender::CurlSender(const OutboxOptions& options, const Clock& clock, const ExtraCas* cas,
                       HostHealth* health)
    : options_(options),
      clock_(clock),
      cas_(cas),
      health_(health),
      smtp_url_(SmtpUrl(options.smtp)) {
  multi_ = curl_multi_init();
  if (multi_ != nullptr) {
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, kMaxCachedConnections);
  }
}

CurlSender::~CurlSender() {
  for (auto& t : running_) {
    curl_multi_remove_handle(multi_, t->easy);
    curl_easy_cleanup(t->easy);
  }
  running_.clear();
  for (CURL* e : idle_) curl_easy_cleanup(e);
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
}

Result<CURL*> CurlSender::TakeHandle() {
  if (multi_ == nullptr) return AwsError::Internal("curl_multi_init failed");
  if (!idle_.empty()) {
    CURL* e = idle_.back();
    idle_.pop_back();
    curl_easy_reset(e);  // options only: connections live in the multi handle's cache
    return e;
  }
  CURL* e = curl_easy_init();
  if (e == nullptr) return AwsError::Internal("curl_easy_init failed");
  return e;
}

void CurlSender::SetCommonOptions(Transfer& t) {
  CURL* e = t.easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::OnWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max(1, options_.http_timeout_ms)));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (cas_ != nullptr && !cas_->empty()) {
    // The system store stays; the extra certificates join it on each new TLS connection.
    if (curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, &SslCtxHook) == CURLE_OK) {
      curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, cas_);
    } else {  // a TLS backend other than OpenSSL: trust the file alone
      curl_easy_setopt(e, CURLOPT_CAINFO, cas_->file().c_str());
    }
  }
}

Status CurlSender::SetUpHttp(Transfer& t, const Delivery& d) {
  CURL* e = t.easy;
  SetCommonOptions(t);
  if (curl_easy_setopt(e, CURLOPT_URL, d.endpoint.c_str()) != CURLE_OK) {
    return AwsError::Internal("invalid URL: " + d.endpoint);
  }
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");  // never file://, gopher://, ...
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(d.body.size()));
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, d.body.data());  // not copied: `d` outlives the transfer
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);               // prefer multiplexing over new conns
  bool content_type = false, user_agent = false, expect = false;
  for (const auto& [name, value] : d.headers) {
    if (name.empty() || HasNewline(name) || HasNewline(value) ||
        name.find(':') != std::string::npos) {
      continue;  // would split into another header: never sent
    }
    content_type = content_type || EqualsNoCase(name, "Content-Type");
    user_agent = user_agent || EqualsNoCase(name, "User-Agent");
    expect = expect || EqualsNoCase(name, "Expect");
    // "Name;" is libcurl's way to send a header with an empty value.
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    t.headers = curl_slist_append(t.headers, line.c_str());
  }
  if (!content_type) {  // libcurl would send application/x-www-form-urlencoded
    t.headers = curl_slist_append(t.headers, "Content-Type: text/plain; charset=UTF-8");
  }
  if (!user_agent) t.headers = curl_slist_append(t.headers, "User-Agent: groundcrew-outbox/1");
  if (!expect) t.headers = curl_slist_append(t.headers, "Expect:");  // no 100-continue round trip
  if (t.headers == nullptr) return AwsError::Internal("out of memory");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
  return Ok{};
}

Status CurlSender::SetUpEmail(Transfer& t, const Delivery& d) {
  if (smtp_url_.empty()) return AwsError::Internal("no SMTP relay configured");
  const std::string to = AddressOf(d.endpoint);
  if (!PlausibleAddress(to)) return AwsError::Internal("not an email address: " + d.endpoint);
  const std::string from = AddressOf(options_.smtp.from);
  CURL* e = t.easy;
  SetCommonOptions(t);
  t.email = true;
  curl_easy_setopt(e, CURLOPT_URL, smtp_url_.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(e, CURLOPT_MAIL_FROM, ("<" + from + ">").c_str());
  t.recipients = curl_slist_append(nullptr, ("<" + to + ">").c_str());
  if (t.recipients == nullptr) return AwsError::Internal("out of memory");
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t.recipients);
  if (options_.smtp.starttls)
    curl_easy_setopt(e, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!options_.smtp.username.empty()) {
    curl_easy_setopt(e, CURLOPT_USERNAME, options_.smtp.username.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, options_.smtp.password.c_str());
  }
  t.message = BuildEmailMessage(options_.smtp.from, to, d.subject, d.body, clock_.NowMillis(),
                                crypto::Uuid4());
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, &Transfer::OnRead);
  curl_easy_setopt(e, CURLOPT_READDATA, &t);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.message.size()));
  return Ok{};
}

void CurlSender::Start(const Delivery& d, Status* result) {
  auto handle = TakeHandle();
  if (!handle) {
    *result = handle.take_error();
    return;
  }
  auto t = std::make_unique<Transfer>();
  t->easy = *handle;
  t->result = result;
  t->host = HostOf(d);
  Status set_up = Ok{};
  try {
    set_up = d.kind == "email" ? SetUpEmail(*t, d) : SetUpHttp(*t, d);
  } catch (const std::exception& e) {  // bad_alloc building strings
    set_up = AwsError::Internal(std::string("delivery set-up failed: ") + e.what());
  }
  if (!set_up) {
    *result = set_up.take_error();
    idle_.push_back(t->easy);
    return;
  }
  Launch(std::move(t));
}

std::string CurlSender::HostOf(const Delivery& d) const {
  return d.kind == "email" ? smtp_url_ : HostKey(d.endpoint);
}

void CurlSender::Launch(std::unique_ptr<Transfer> t) {
  int& in_flight = in_flight_[t->host];
  if (in_flight >= kMaxInFlightPerHost) {
    waiting_.push_back(std::move(t));
    return;
  }
  const CURLMcode rc = curl_multi_add_handle(multi_, t->easy);
  if (rc != CURLM_OK) {
    *t->result =
        AwsError::Internal(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
    idle_.push_back(t->easy);
    return;
  }
  ++in_flight;
  running_.push_back(std::move(t));
}

void CurlSender::Poll() {
  if (running_.empty()) return;
  int still_running = 0;
  curl_multi_perform(multi_, &still_running);
  Reap();
}

void CurlSender::Finish() {
  while (!running_.empty() || !waiting_.empty()) {
    if (running_.empty()) StartWaiting();  // only after failed starts; not expected
    int still_running = 0;
    const CURLMcode rc = curl_multi_perform(multi_, &still_running);
    Reap();
    if (rc != CURLM_OK) {  // not expected: fail what is left rather than spin
      while (!running_.empty()) Complete(running_.back().get(), CURLE_FAILED_INIT);
      for (auto& w : waiting_) *w->result = AwsError::Internal("curl_multi_perform failed");
      waiting_.clear();
      return;
    }
    if (running_.empty() && waiting_.empty()) break;
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }
}

void CurlSender::StartWaiting() {
  std::deque<std::unique_ptr<Transfer>> waiting;
  waiting.swap(waiting_);
  for (auto& w : waiting) Launch(std::move(w));  // those without room go back to waiting_
}

void CurlSender::Reap() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    if (t != nullptr) Complete(t, msg->data.result);
  }
}

void CurlSender::Complete(Transfer* t, CURLcode code) {
  if (code != CURLE_OK) {
    const char* detail = t->error[0] != '\0' ? t->error : curl_easy_strerror(code);
    *t->result =
        AwsError::Internal(fmt::format("{} failed: {}", t->email ? "SMTP" : "HTTP", detail));
  } else if (t->email) {
    *t->result = Ok{};
  } else {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status <= 299) {
      *t->result = Ok{};
    } else {
      std::string body = t->response;
      for (char& c : body) {
        if (c == '\r' || c == '\n') c = ' ';
      }
      *t->result = AwsError::Internal(fmt::format("HTTP {}: {}", status, body));
    }
  }
  if (health_ != nullptr) {
    curl_off_t total_us = 0;
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    health_->Observe(t->host, static_cast<int64_t>(total_us / 1000),
                     code == CURLE_OPERATION_TIMEDOUT, t->result->ok());
  }
  curl_multi_remove_handle(multi_, t->easy);
  idle_.push_back(t->easy);
  auto it = std::find_if(running_.begin(), running_.end(),
                         [t](const std::unique_ptr<Transfer>& p) { return p.get() == t; });
  const std::string host = t->host;
  if (--in_flight_[host] <= 0) in_flight_.erase(host);
  if (it != running_.end()) {  // frees *t
    std::swap(*it, running_.back());
    running_.pop_back();
  }
  // The next transfer to that host, now that it has room.
  for (auto w = waiting_.begin(); w != waiting_.end(); ++w) {
    if ((*w)->host == host) {
      std::unique_ptr<Transfer> next = std::move(*w);
      waiting_.erase(w);
      Launch(std::move(next));
      break;
    }
  }
}

}  // namespace gc::delivery::internal
