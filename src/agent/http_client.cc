#include "agent/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "agent/files.h"

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
  if (!options_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
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
