#include "server/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/crypto.h"

namespace gc::server {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return AwsError::Internal("cannot write " + tmp);
  ::fchmod(fd, static_cast<mode_t>(mode));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      return AwsError::Internal("cannot write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return AwsError::Internal("cannot rename " + tmp);
  return Ok{};
}

Result<std::unique_ptr<Credentials>> Credentials::LoadOrCreate(
    const std::string& data_dir, const std::string& account_id_override) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  ::chmod(data_dir.c_str(), 0700);
  const std::string path = data_dir + "/credentials.json";
  nlohmann::json j;
  if (auto text = ReadFile(path)) {
    j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("access_key_id") || !j.contains("secret_access_key") ||
        !j.contains("account_id")) {
      return AwsError::Internal(path + " is damaged; move it away to make new credentials");
    }
  } else {
    // 12 random digits, not starting with 0.
    std::string digits;
    std::string raw = crypto::RandomBytes(12);
    for (size_t i = 0; i < 12; ++i) {
      int d = static_cast<unsigned char>(raw[i]) % 10;
      if (i == 0 && d == 0) d = 1;
      digits += static_cast<char>('0' + d);
    }
    j = {{"account_id", digits},
         {"access_key_id", "GCAK" + crypto::RandomAlnum(16, true)},
         {"secret_access_key", crypto::Base64Encode(crypto::RandomBytes(30))}};
    if (Status st = WriteFileAtomic(path, j.dump(2) + "\n", 0600); !st.ok()) {
      return st.take_error();
    }
  }
  auto creds = std::make_unique<Credentials>();
  Principal& root = creds->root_;
  root.access_key_id = j["access_key_id"].get<std::string>();
  root.secret_access_key = j["secret_access_key"].get<std::string>();
  root.account_id =
      account_id_override.empty() ? j["account_id"].get<std::string>() : account_id_override;
  root.arn = "arn:aws:iam::" + root.account_id + ":root";
  root.user_id = root.account_id;
  creds->by_key_[root.access_key_id] = root;
  return creds;
}

std::optional<Principal> Credentials::Lookup(std::string_view access_key_id) const {
  if (access_key_id == root_.access_key_id) return root_;
  std::lock_guard lock(mu_);
  auto it = by_key_.find(std::string(access_key_id));
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

void Credentials::Add(Principal p) {
  std::lock_guard lock(mu_);
  std::string key = p.access_key_id;
  by_key_[key] = std::move(p);
}

}  // namespace gc::server
