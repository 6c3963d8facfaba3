// Signer: signs SNS messages as AWS does (SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA) with
// an RSA-2048 key and self-signed certificate kept in a directory. Thread-safe once loaded.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace gc::sns {

// The fields of a Notification; the URLs are built by the service from the server's endpoint.
struct NotificationParams {
  std::string topic_arn;
  std::string message_id;
  std::string message;
  std::string subject;  // empty: the document has no Subject
  int64_t timestamp_millis = 0;
  std::string signing_cert_url;
  std::string unsubscribe_url;
  // As in Publish ({"n": {"DataType": .., "StringValue"|"BinaryValue": ..}}); null or {}: none.
  nlohmann::json message_attributes;
  std::string sequence_number;  // FIFO topics; empty: none. Not part of the signature.
};

class Signer {
 public:
  // Loads <dir>/sns-signing-key.pem (mode 0600) and <dir>/sns-signing-cert.pem, creating them
  // (and `dir`, mode 0700) on first start: an RSA-2048 key and a self-signed X.509 certificate
  // for CN=sns.groundcrew.local valid 10 years. A missing certificate is re-made from the key.
  // Errors: InternalFailure when the files cannot be read, written or do not belong together.
  // Not safe to call concurrently for the same `dir` (start-up only).
  static Result<std::unique_ptr<Signer>> LoadOrCreate(const std::string& dir);
  // The same for the server's start: when the key must be made (RSA-2048 generation takes 0.1 to
  // 0.5 s here), it is made on a thread of its own, and the first call that needs it waits for
  // it. `dir` is created (and its files loaded, when they exist) before this returns, so that
  // errors show at start; a failure on that thread is printed, and Sign and cert_pem then return
  // "".
  static Result<std::unique_ptr<Signer>> OpenForServer(const std::string& dir);

  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  // The certificate, PEM: what the server returns at the SigningCertURL.
  const std::string& cert_pem() const {
    AwaitKey();
    return cert_pem_;
  }

  // AWS's string to sign ("Verifying the signatures of Amazon SNS messages"): "Key\nValue\n" for
  //   Notification: Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type;
  //   SubscriptionConfirmation / UnsubscribeConfirmation: Message, MessageId, SubscribeURL,
  //   Timestamp, Token, TopicArn, Type.
  // Keys are taken from `message` (the JSON document); keys it lacks are left out.
  static std::string StringToSign(const nlohmann::json& message);

  // Base64 RSA PKCS#1 v1.5 signature of StringToSign(message): SHA1 for `signature_version` 1,
  // SHA256 for 2 (anything else is treated as 1). Empty only if OpenSSL fails.
  std::string Sign(const nlohmann::json& message, int signature_version) const;

  // The JSON documents SNS POSTs to HTTP/S endpoints (and puts in SQS / email-json bodies),
  // signed: Type, MessageId, TopicArn, Subject?, Message, Timestamp (ISO 8601, milliseconds, Z),
  // SignatureVersion, Signature, SigningCertURL, UnsubscribeURL, MessageAttributes? (as
  // {"Name": {"Type": "String", "Value": ".."}}), SequenceNumber? (FIFO).
  nlohmann::json BuildNotification(const NotificationParams& params, int signature_version) const;
  // Type SubscriptionConfirmation: Message "You have chosen to subscribe to the topic <arn>.\nTo
  // confirm the subscription, visit the SubscribeURL included in this message.", Token,
  // SubscribeURL and the common fields.
  nlohmann::json BuildSubscriptionConfirmation(
      const std::string& topic_arn, const std::string& message_id, const std::string& token,
      const std::string& subscribe_url, const std::string& signing_cert_url,
      int64_t timestamp_millis, int signature_version) const;
  // Type UnsubscribeConfirmation: Message "You have chosen to deactivate subscription <sub
  // arn>.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included
  // in this message.", Token, SubscribeURL (re-subscribes) and the common fields.
  nlohmann::json BuildUnsubscribeConfirmation(
      const std::string& topic_arn, const std::string& subscription_arn,
      const std::string& message_id, const std::string& token, const std::string& subscribe_url,
      const std::string& signing_cert_url, int64_t timestamp_millis, int signature_version) const;

 private:
  struct KeyFree {
    void operator()(evp_pkey_st* key) const;
  };
  Signer(std::unique_ptr<evp_pkey_st, KeyFree> key, std::string cert_pem);
  Signer();  // key and certificate still to come (OpenForServer)
  // Returns once key_ and cert_pem_ are set (or their making failed).
  void AwaitKey() const {
    if (!ready_.load(std::memory_order_acquire)) AwaitKeySlow();
  }
  void AwaitKeySlow() const;

  nlohmann::json BuildConfirmation(std::string_view type, const std::string& topic_arn,
                                   const std::string& message_id, const std::string& token,
                                   const std::string& message, const std::string& subscribe_url,
                                   const std::string& signing_cert_url, int64_t timestamp_millis,
                                   int signature_version) const;

  std::unique_ptr<evp_pkey_st, KeyFree> key_;  // set once, before ready_
  std::string cert_pem_;                       // set once, before ready_
  std::atomic<bool> ready_{true};
  mutable std::mutex mu_;  // with cv_: waiting for ready_
  mutable std::condition_variable cv_;
  std::thread maker_;  // OpenForServer's key maker, joined by the destructor
};

// "2012-04-26T20:45:04.751Z": SNS's Timestamp format (UTC, milliseconds).
std::string SnsTimestamp(int64_t millis);

// Publish MessageAttributes ({"DataType", "StringValue"|"BinaryValue"}) in the notification form
// ({"Type", "Value"}); Binary values stay base64 as they came in.
nlohmann::json NotificationMessageAttributes(const nlohmann::json& publish_attributes);

}  // namespace gc::sns
