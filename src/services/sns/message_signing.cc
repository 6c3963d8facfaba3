#include "services/sns/message_signing.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "common/crypto.h"

namespace gc::sns {
namespace {

constexpr char kKeyFile[] = "sns-signing-key.pem";
constexpr char kCertFile[] = "sns-signing-cert.pem";
constexpr char kCommonName[] = "sns.groundcrew.local";
constexpr long kCertValiditySeconds = 10L * 365 * 24 * 60 * 60;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

AwsError Internal(const std::string& what) { return AwsError::Internal("SNS signing: " + what); }

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Writes `data` to `path` through a temporary file and rename, created with `mode`.
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Internal(fmt::format("cannot create {}: {}", tmp, std::strerror(errno)));
  bool ok = ::fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Internal(fmt::format("cannot write {}: {}", path, err));
  }
  return Ok{};
}

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  return BioString(bio.get());
}

std::string KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return BioString(bio.get());
}

void AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext != nullptr) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

// A self-signed certificate for `key`, CN=sns.groundcrew.local.
CertPtr MakeCertificate(EVP_PKEY* key) {
  CertPtr cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);
  std::string serial = crypto::RandomBytes(16);
  serial[0] = static_cast<char>(serial[0] & 0x7f);
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()), 16, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kCertValiditySeconds);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("groundcrew"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(kCommonName), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

const nlohmann::json* Member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// Creates `dir` (mode 0700) if it is not there.
Status MakePrivateDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec)) return Ok{};
  fs::create_directories(dir, ec);
  if (ec) return Internal(fmt::format("cannot create {}: {}", dir, ec.message()));
  ::chmod(dir.c_str(), 0700);
  return Ok{};
}

}  // namespace

void Signer::KeyFree::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

Signer::Signer(std::unique_ptr<evp_pkey_st, KeyFree> key, std::string cert_pem)
    : key_(std::move(key)), cert_pem_(std::move(cert_pem)) {}

Signer::Signer() : ready_(false) {}

Signer::~Signer() {
  if (maker_.joinable()) maker_.join();
}

void Signer::AwaitKeySlow() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return ready_.load(std::memory_order_acquire); });
}

Result<std::unique_ptr<Signer>> Signer::OpenForServer(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir + "/" + kKeyFile, ec)) return LoadOrCreate(dir);  // loading is quick
  if (Status st = MakePrivateDir(dir); !st.ok()) return st.take_error();
  if (::access(dir.c_str(), W_OK) != 0) return Internal("cannot write to " + dir);
  std::unique_ptr<Signer> signer(new Signer());
  Signer* s = signer.get();
  s->maker_ = std::thread([s, dir] {
    auto made = LoadOrCreate(dir);
    if (made.ok()) {
      s->key_ = std::move((*made)->key_);
      s->cert_pem_ = std::move((*made)->cert_pem_);
    } else {
      fmt::print(stderr, "groundcrewd: SNS signing key: {}\n", made.error().message);
    }
    {
      std::lock_guard lock(s->mu_);
      s->ready_.store(true, std::memory_order_release);
    }
    s->cv_.notify_all();
  });
  return signer;
}

Result<std::unique_ptr<Signer>> Signer::LoadOrCreate(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string key_path = dir + "/" + kKeyFile;
  const std::string cert_path = dir + "/" + kCertFile;
  std::error_code ec;
  if (Status st = MakePrivateDir(dir); !st.ok()) return st.take_error();

  std::unique_ptr<EVP_PKEY, KeyFree> key;
  if (auto pem = ReadFile(key_path)) {
    BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
      return Internal(key_path + " is not an RSA private key");
    }
  } else {
    key.reset(EVP_RSA_gen(2048));
    if (!key) return Internal("cannot generate an RSA key");
    const std::string key_pem = KeyToPem(key.get());
    if (key_pem.empty()) return Internal("cannot encode the RSA key");
    if (Status st = WriteFileAtomic(key_path, key_pem, 0600); !st.ok()) return st.take_error();
    fs::remove(cert_path, ec);  // a certificate left from another key is useless
  }

  CertPtr cert;
  if (auto pem = ReadFile(cert_path)) {
    BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
    cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) return Internal(cert_path + " is not a PEM certificate");
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      return Internal(cert_path + " does not belong to " + key_path);
    }
  } else {
    cert = MakeCertificate(key.get());
    if (!cert) return Internal("cannot make the signing certificate");
    const std::string cert_pem = CertToPem(cert.get());
    if (cert_pem.empty()) return Internal("cannot encode the signing certificate");
    if (Status st = WriteFileAtomic(cert_path, cert_pem, 0644); !st.ok()) return st.take_error();
  }
  std::string cert_pem = CertToPem(cert.get());
  if (cert_pem.empty()) return Internal("cannot encode the signing certificate");
  return std::unique_ptr<Signer>(new Signer(std::move(key), std::move(cert_pem)));
}

std::string Signer::StringToSign(const nlohmann::json& message) {
  // AWS "Verifying the signatures of Amazon SNS messages": fixed keys in byte order.
  static constexpr const char* kNotification[] = {"Message",   "MessageId", "Subject",
                                                  "Timestamp", "TopicArn",  "Type"};
  static constexpr const char* kConfirmation[] = {
      "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"};
  const nlohmann::json* type = Member(message, "Type");
  const bool notification = type != nullptr && type->is_string() && *type == "Notification";
  std::string out;
  auto add = [&](const char* key) {
    const nlohmann::json* v = Member(message, key);
    if (v == nullptr) return;
    out += key;
    out += '\n';
    out += v->is_string() ? v->get_ref<const std::string&>() : v->dump();
    out += '\n';
  };
  if (notification) {
    for (const char* key : kNotification) add(key);
  } else {
    for (const char* key : kConfirmation) add(key);
  }
  return out;
}

std::string Signer::Sign(const nlohmann::json& message, int signature_version) const {
  AwaitKey();
  if (!key_) return {};
  const std::string data = StringToSign(message);
  const EVP_MD* md = signature_version == 2 ? EVP_sha256() : EVP_sha1();
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return {};
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return {};
  }
  sig.resize(len);
  return crypto::Base64Encode(sig);
}

nlohmann::json Signer::BuildNotification(const NotificationParams& p, int signature_version) const {
  const int version = signature_version == 2 ? 2 : 1;
  nlohmann::json doc = {{"Type", "Notification"},
                        {"MessageId", p.message_id},
                        {"TopicArn", p.topic_arn},
                        {"Message", p.message},
                        {"Timestamp", SnsTimestamp(p.timestamp_millis)},
                        {"SignatureVersion", std::to_string(version)}};
  if (!p.subject.empty()) doc["Subject"] = p.subject;
  if (!p.sequence_number.empty()) doc["SequenceNumber"] = p.sequence_number;
  doc["Signature"] = Sign(doc, version);
  doc["SigningCertURL"] = p.signing_cert_url;
  doc["UnsubscribeURL"] = p.unsubscribe_url;
  if (p.message_attributes.is_object() && !p.message_attributes.empty()) {
    doc["MessageAttributes"] = NotificationMessageAttributes(p.message_attributes);
  }
  return doc;
}

nlohmann::json Signer::BuildConfirmation(std::string_view type, const std::string& topic_arn,
                                         const std::string& message_id, const std::string& token,
                                         const std::string& message,
                                         const std::string& subscribe_url,
                                         const std::string& signing_cert_url,
                                         int64_t timestamp_millis, int signature_version) const {
  const int version = signature_version == 2 ? 2 : 1;
  nlohmann::json doc = {{"Type", type},
                        {"MessageId", message_id},
                        {"Token", token},
                        {"TopicArn", topic_arn},
                        {"Message", message},
                        {"SubscribeURL", subscribe_url},
                        {"Timestamp", SnsTimestamp(timestamp_millis)},
                        {"SignatureVersion", std::to_string(version)}};
  doc["Signature"] = Sign(doc, version);
  doc["SigningCertURL"] = signing_cert_url;
  return doc;
}

nlohmann::json Signer::BuildSubscriptionConfirmation(
    const std::string& topic_arn, const std::string& message_id, const std::string& token,
    const std::string& subscribe_url, const std::string& signing_cert_url, int64_t timestamp_millis,
    int signature_version) const {
  return BuildConfirmation(
      "SubscriptionConfirmation", topic_arn, message_id, token,
      fmt::format("You have chosen to subscribe to the topic {}.\nTo confirm the subscription, "
                  "visit the SubscribeURL included in this message.",
                  topic_arn),
      subscribe_url, signing_cert_url, timestamp_millis, signature_version);
}

nlohmann::json Signer::BuildUnsubscribeConfirmation(
    const std::string& topic_arn, const std::string& subscription_arn,
    const std::string& message_id, const std::string& token, const std::string& subscribe_url,
    const std::string& signing_cert_url, int64_t timestamp_millis, int signature_version) const {
  return BuildConfirmation(
      "UnsubscribeConfirmation", topic_arn, message_id, token,
      fmt::format("You have chosen to deactivate subscription {}.\nTo cancel this operation and "
                  "restore the subscription, visit the SubscribeURL included in this message.",
                  subscription_arn),
      subscribe_url, signing_cert_url, timestamp_millis, signature_version);
}

std::string SnsTimestamp(int64_t millis) {
  int64_t seconds = millis / 1000;
  int64_t ms = millis % 1000;
  if (ms < 0) {
    ms += 1000;
    --seconds;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

nlohmann::json NotificationMessageAttributes(const nlohmann::json& publish_attributes) {
  nlohmann::json out = nlohmann::json::object();
  if (!publish_attributes.is_object()) return out;
  for (const auto& [name, attr] : publish_attributes.items()) {
    if (!attr.is_object()) continue;
    const nlohmann::json* type = Member(attr, "DataType");
    if (type == nullptr) type = Member(attr, "Type");
    const nlohmann::json* value = Member(attr, "StringValue");
    if (value == nullptr) value = Member(attr, "BinaryValue");
    if (value == nullptr) value = Member(attr, "Value");
    out[name] = {{"Type", type != nullptr ? *type : nlohmann::json("String")},
                 {"Value", value != nullptr ? *value : nlohmann::json("")}};
  }
  return out;
}

}  // namespace gc::sns
