// bench/http_client.h: what the benchmark programs share — the endpoint parser, SigV4 dates, a
// blocking HTTP/1.1 keep-alive client connection, and the figures' helpers. Header-only; a
// Connection is used by one thread.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gc::bench {

constexpr int kIoTimeoutSeconds = 10;

struct Endpoint {
  std::string url;
  std::string host_header;  // host[:port] as sent in Host
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

bool ParseEndpoint(const std::string& url, Endpoint* ep, std::string* err) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    *err = "endpoint must start with http:// (TLS is not supported by the load generator)";
    return false;
  }
  std::string rest = url.substr(kScheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    rest.resize(slash);
  }
  std::string host;
  std::string port = "80";
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) {
      *err = "bad IPv6 endpoint";
      return false;
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') {
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    host = rest;
  }
  if (host.empty() || port.empty()) {
    *err = "endpoint needs a host and a port";
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    *err = std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
    return false;
  }
  std::memcpy(&ep->addr, res->ai_addr, res->ai_addrlen);
  ep->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  ep->url = url;
  ep->host_header = rest;
  return true;
}

std::string AmzDateNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// A fully serialised, signed SSM JSON 1.1 request.

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Response {
  int status = 0;
  bool close = false;  // the server will close the connection after this response
  std::string body;    // kept for non-200 responses (or all, see Connection)
};

enum class IoResult {
  kOk,
  kNoResponse,  // the connection failed before any response byte (stale keep-alive: retry)
  kFailed,      // partial response, timeout or malformed response
};

// One blocking client connection with a growable receive buffer.
class Connection {
 public:
  // `keep_all_bodies`: keep every response body, not only those of non-200 answers.
  explicit Connection(const Endpoint& ep, bool keep_all_bodies = false)
      : ep_(ep), keep_all_bodies_(keep_all_bodies), buf_(new char[kInitial]), cap_(kInitial) {}
  ~Connection() { Close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool open() const { return fd_ >= 0; }

  bool Connect(std::string* err) {
    Close();
    fd_ = ::socket(ep_.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *err = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{kIoTimeoutSeconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&ep_.addr), ep_.addr_len) != 0) {
      *err = std::string("connect: ") + std::strerror(errno);
      Close();
      return false;
    }
    served_ = 0;
    return true;
  }

  void Close() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = -1;
    begin_ = end_ = 0;
  }

  // Number of responses read on this connection since it was opened.
  long served() const { return served_; }

  IoResult RoundTrip(std::string_view request, Response* resp, std::string* err) {
    resp->status = 0;
    resp->close = false;
    resp->body.clear();
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        *err = std::string("send: ") + std::strerror(errno);
        return IoResult::kNoResponse;
      }
      sent += static_cast<size_t>(n);
    }
    return ReadResponse(resp, err);
  }

 private:
  static constexpr size_t kInitial = size_t{64} * 1024;

  std::string_view Data() const { return {buf_.get() + begin_, end_ - begin_}; }

  // Reads more bytes into the buffer: >0 bytes read, 0 on EOF, -1 on error (err set).
  ssize_t Fill(std::string* err) {
    if (begin_ > 0 && begin_ == end_) {
      begin_ = end_ = 0;
    }
    if (cap_ - end_ < 4096) {
      if (begin_ > 0) {
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (cap_ - end_ < 4096) {
        std::unique_ptr<char[]> bigger(new char[cap_ * 2]);
        std::memcpy(bigger.get(), buf_.get(), end_);
        buf_ = std::move(bigger);
        cap_ *= 2;
      }
    }
    for (;;) {
      const ssize_t n = ::recv(fd_, buf_.get() + end_, cap_ - end_, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        *err = (errno == EAGAIN || errno == EWOULDBLOCK)
                   ? std::string("timed out waiting for the response")
                   : std::string("recv: ") + std::strerror(errno);
        return -1;
      }
      end_ += static_cast<size_t>(n);
      return n;
    }
  }

  IoResult ReadResponse(Response* resp, std::string* err) {
    // Head.
    size_t scanned = 0;
    size_t head_end = std::string_view::npos;
    bool got_any = end_ > begin_;
    for (;;) {
      const std::string_view data = Data();
      head_end = data.find("\r\n\r\n", scanned);
      if (head_end != std::string_view::npos) {
        break;
      }
      scanned = data.size() >= 3 ? data.size() - 3 : 0;
      const ssize_t n = Fill(err);
      if (n <= 0) {
        if (n == 0) {
          *err = "connection closed by the server";
        }
        return got_any ? IoResult::kFailed : IoResult::kNoResponse;
      }
      got_any = true;
    }
    const std::string_view head = Data().substr(0, head_end);
    // Status line: HTTP/1.x SSS reason
    const size_t line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.rfind("HTTP/1.", 0) != 0) {
      *err = "malformed status line: " + std::string(status_line.substr(0, 80));
      return IoResult::kFailed;
    }
    const bool http10 = status_line[7] == '0';
    resp->status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    long content_length = -1;
    bool chunked = false;
    bool conn_close = http10;
    size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string_view::npos) {
        eol = head.size();
      }
      const std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        continue;
      }
      const std::string_view name = Trim(line.substr(0, colon));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (IEquals(name, "content-length")) {
        content_length = std::atol(std::string(value).c_str());
      } else if (IEquals(name, "transfer-encoding")) {
        chunked = value.find("chunked") != std::string_view::npos;
      } else if (IEquals(name, "connection")) {
        if (IEquals(value, "close")) {
          conn_close = true;
        }
        if (IEquals(value, "keep-alive")) {
          conn_close = false;
        }
      }
    }
    begin_ += head_end + 4;
    resp->close = conn_close;
    const bool keep_body = keep_all_bodies_ || resp->status != 200;

    if (chunked) {
      for (;;) {
        // Chunk size line.
        size_t eol;
        while ((eol = Data().find("\r\n")) == std::string_view::npos) {
          if (Fill(err) <= 0) {
            return Broken(err);
          }
        }
        const long size = std::strtol(std::string(Data().substr(0, eol)).c_str(), nullptr, 16);
        begin_ += eol + 2;
        if (size == 0) {
          // Trailers, up to the empty line.
          for (;;) {
            while ((eol = Data().find("\r\n")) == std::string_view::npos) {
              if (Fill(err) <= 0) {
                return Broken(err);
              }
            }
            begin_ += eol + 2;
            if (eol == 0) {
              break;
            }
          }
          break;
        }
        while (Data().size() < static_cast<size_t>(size) + 2) {
          if (Fill(err) <= 0) {
            return Broken(err);
          }
        }
        if (keep_body) {
          resp->body.append(Data().substr(0, static_cast<size_t>(size)));
        }
        begin_ += static_cast<size_t>(size) + 2;
      }
    } else if (content_length >= 0) {
      while (Data().size() < static_cast<size_t>(content_length)) {
        if (Fill(err) <= 0) {
          return Broken(err);
        }
      }
      if (keep_body) {
        resp->body.assign(Data().substr(0, static_cast<size_t>(content_length)));
      }
      begin_ += static_cast<size_t>(content_length);
    } else if (resp->status != 204 && resp->status != 304 && resp->status >= 200) {
      // Body delimited by the end of the connection.
      for (;;) {
        const ssize_t n = Fill(err);
        if (n < 0) {
          return Broken(err);
        }
        if (n == 0) {
          break;
        }
      }
      if (keep_body) {
        resp->body.assign(Data());
      }
      begin_ = end_;
      resp->close = true;
    }
    ++served_;
    return IoResult::kOk;
  }

  IoResult Broken(std::string* err) {
    if (err->empty()) {
      *err = "connection closed in the middle of a response";
    }
    return IoResult::kFailed;
  }

  const Endpoint& ep_;
  const bool keep_all_bodies_;
  int fd_ = -1;
  long served_ = 0;
  std::unique_ptr<char[]> buf_;
  size_t cap_;
  size_t begin_ = 0;
  size_t end_ = 0;
};


double Round3(double v) { return std::round(v * 1000.0) / 1000.0; }

// Nearest-rank percentile of a sorted sample, in milliseconds.
double PercentileMs(const std::vector<uint64_t>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return Round3(static_cast<double>(sorted[rank - 1]) / 1e6);
}

std::string NewRunTag() {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  uint64_t v = static_cast<uint64_t>(now) ^ (static_cast<uint64_t>(getpid()) << 40);
  std::string tag;
  while (v > 0) {
    tag.insert(tag.begin(), kDigits[v % 36]);
    v /= 36;
  }
  return tag;
}


}  // namespace gc::bench
