#include "agent/http_client.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <map>
#include <mutex>

#include "agent/files.h"
#include "agent/log.h"

namespace gc::agent {
namespace {

constexpr size_t kMaxResponseBytes = 16 * 1024 * 1024;

struct CallState {
  std::string body;
  bool too_big = false;
  const std::atomic<bool>* abort = nullptr;
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<CallState*>(user);
  const size_t bytes = size * n;
  if (s->body.size() + bytes > kMaxResponseBytes) {
    s->too_big = true;
    return 0;  // aborts the transfer
  }
  s->body.append(data, bytes);
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* s = static_cast<CallState*>(user);
  return (s->abort != nullptr && s->abort->load()) ? 1 : 0;
}

bool HasBadChars(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// The certificates HTTPS is verified against, parsed once per process and shared by reference by
// every connection's SSL_CTX. Left to itself libcurl parses the CA file into a store of its own
// for each client (the poller's, the control thread's, ...), which for the system bundle is a few
// hundred KB each. Reloaded after a day, as libcurl's own CA cache (CURLOPT_CA_CACHE_TIMEOUT).
class TrustStores {
 public:
  // `ca_file` "" = libcurl's default bundle and directory (the system trust store). Returns a
  // new reference the caller owns, or nullptr when nothing could be loaded (not cached: the
  // file may appear later).
  X509_STORE* Get(const std::string& ca_file, CURL* handle) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    auto it = stores_.find(ca_file);
    if (it == stores_.end() || now - it->second.loaded >= std::chrono::hours(24)) {
      X509_STORE* store = Load(ca_file, handle);
      if (store == nullptr) return nullptr;
      if (it != stores_.end()) {
        X509_STORE_free(it->second.store);  // contexts still using it hold their own reference
        it->second = {store, now};
      } else {
        it = stores_.emplace(ca_file, Entry{store, now}).first;
      }
    }
    X509_STORE_up_ref(it->second.store);
    return it->second.store;
  }

 private:
  struct Entry {
    X509_STORE* store;
    std::chrono::steady_clock::time_point loaded;
  };

  static X509_STORE* Load(const std::string& ca_file, CURL* handle) {
    X509_STORE* store = X509_STORE_new();
    if (store == nullptr) return nullptr;
    bool loaded = false;
    if (!ca_file.empty()) {
      loaded = X509_STORE_load_file(store, ca_file.c_str()) == 1;
    } else {
      // libcurl's compiled-in defaults (Debian: the bundle and /etc/ssl/certs).
      char* bundle = nullptr;
      char* dir = nullptr;
      curl_easy_getinfo(handle, CURLINFO_CAINFO, &bundle);
      curl_easy_getinfo(handle, CURLINFO_CAPATH, &dir);
      if (bundle != nullptr && X509_STORE_load_file(store, bundle) == 1) loaded = true;
      if (dir != nullptr && X509_STORE_load_path(store, dir) == 1) loaded = true;
      if (!loaded) loaded = X509_STORE_set_default_paths(store) == 1;
    }
    if (!loaded) {
      X509_STORE_free(store);
      return nullptr;
    }
    return store;
  }

  std::mutex mu_;
  std::map<std::string, Entry> stores_;  // GUARDED_BY(mu_); lives as long as the process
};

TrustStores& Stores() {
  static auto* stores = new TrustStores();  // never destroyed: threads may connect at exit
  return *stores;
}

struct TlsSetup {
  const std::string* ca_file;
  CURL* handle;
};

// CURLOPT_SSL_CTX_FUNCTION: runs for each new connection's SSL_CTX, before the handshake.
CURLcode OnSslContext(CURL*, void* ssl_ctx, void* user) {
  const auto* setup = static_cast<const TlsSetup*>(user);
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  // An idle keep-alive connection gives its 16 KB+ read and write buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  X509_STORE* store = Stores().Get(*setup->ca_file, setup->handle);
  if (store == nullptr) {
    LogWarn("cannot load the certificates to trust from {}",
            setup->ca_file->empty() ? "the system trust store" : *setup->ca_file);
    return CURLE_SSL_CACERT_BADFILE;
  }
  SSL_CTX_set_cert_store(ctx, store);  // takes over the reference Get gave us
  return CURLE_OK;
}

}  // namespace

void GlobalHttpInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
  GlobalHttpInit();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpResponse> HttpClient::Post(
    const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
    std::string_view body, int timeout_ms) {
  CURL* e = static_cast<CURL*>(curl_);
  if (e == nullptr) return LocalError("curl_easy_init failed");
  curl_easy_reset(e);  // options only; the connection cache stays

  CallState state;
  state.abort = abort_;
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* list = nullptr;
  for (const auto& [name, value] : headers) {
    if (name.empty() || HasBadChars(name) || HasBadChars(value)) continue;
    list = curl_slist_append(list, (name + ": " + value).c_str());
  }
  // Only the headers above: curl's own Accept and Expect are switched off.
  list = curl_slist_append(list, "Accept:");
  list = curl_slist_append(list, "Expect:");

  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &state);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms > 0 ? timeout_ms : 1));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);  // never follow redirects with credentials
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  // The trust store comes from OnSslContext (shared); curl loads none of its own. A libcurl
  // without that callback (not OpenSSL) gets the CA file the usual way.
  TlsSetup tls{&options_.ca_file, e};
  if (curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, &OnSslContext) == CURLE_OK) {
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, &tls);
    curl_easy_setopt(e, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
  } else if (!options_.ca_file.empty()) {
    curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  if (!options_.user_agent.empty()) {
    curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  }

  const CURLcode code = curl_easy_perform(e);
  curl_slist_free_all(list);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, nullptr);
  if (code != CURLE_OK) {
    const std::string detail = error[0] != '\0' ? error : curl_easy_strerror(code);
    if (code == CURLE_ABORTED_BY_CALLBACK) return AwsError{std::string(kAborted), detail, 0};
    if (code == CURLE_OPERATION_TIMEDOUT) {
      return AwsError{std::string(kRequestTimeout), detail, 0};
    }
    if (state.too_big) return AwsError{std::string(kNetworkError), "response too large", 0};
    return AwsError{std::string(kNetworkError), detail, 0};
  }
  HttpResponse out;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out.status);
  out.body = std::move(state.body);
  return out;
}

}  // namespace gc::agent
