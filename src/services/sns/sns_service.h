// SnsService: Amazon SNS — topics, subscriptions (http, https, email, email-json, sqs), filter
// policies, signed messages and Publish fan-out into the durable delivery outbox. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "delivery/outbox.h"
#include "services/sns/filter_policy.h"
#include "services/sns/message_signing.h"
#include "store/store.h"
#include "wire/service.h"

namespace gc::sns {

class SnsService {
 public:
  // `public_endpoint`: the server's own URL, used in message links when a call did not come
  // through HTTP (in-process publishes).
  SnsService(store::Store& store, delivery::Outbox& outbox, Signer& signer,
             std::string public_endpoint);

  static std::vector<store::Migration> Migrations();
  wire::ServiceDef Definition();
  // Sets the server's URL once it is known (after binding). Call before serving.
  void set_public_endpoint(std::string url) { public_endpoint_ = std::move(url); }

  // The unauthenticated links SNS puts in its messages, served under /_groundcrew/sns/:
  // confirm?TopicArn=&Token= (SubscribeURL), unsubscribe?SubscriptionArn= (UnsubscribeURL) and
  // SimpleNotificationService.pem (SigningCertURL).
  struct LinkResponse {
    int status = 200;
    std::string content_type = "text/xml";
    std::string body;
  };
  LinkResponse HandleLink(std::string_view path, std::string_view query, int64_t now_millis);

  using Json = nlohmann::json;
  using Ctx = wire::CallContext;
  Result<Json> CreateTopic(const Ctx& ctx, const Json& in);
  Result<Json> DeleteTopic(const Ctx& ctx, const Json& in);
  Result<Json> ListTopics(const Ctx& ctx, const Json& in);
  Result<Json> GetTopicAttributes(const Ctx& ctx, const Json& in);
  Result<Json> SetTopicAttributes(const Ctx& ctx, const Json& in);
  Result<Json> Subscribe(const Ctx& ctx, const Json& in);
  Result<Json> ConfirmSubscription(const Ctx& ctx, const Json& in);
  Result<Json> Unsubscribe(const Ctx& ctx, const Json& in);
  Result<Json> ListSubscriptions(const Ctx& ctx, const Json& in);
  Result<Json> ListSubscriptionsByTopic(const Ctx& ctx, const Json& in);
  Result<Json> GetSubscriptionAttributes(const Ctx& ctx, const Json& in);
  Result<Json> SetSubscriptionAttributes(const Ctx& ctx, const Json& in);
  // Answers through `done` (once durable); `ctx` and `in` stay valid until then.
  void Publish(const Ctx& ctx, const Json& in, wire::Done done);
  Result<Json> PublishBatch(const Ctx& ctx, const Json& in);
  // A message from another service of the account (Run Command's notifications), published in
  // the caller's transaction `tx`, so it is durable exactly when the caller's change is. Call
  // NotifyOutbox() once that transaction has committed. NotFound when the topic does not exist.
  Status PublishInTransaction(store::Tx& tx, const std::string& account,
                              const std::string& region, const std::string& topic_arn,
                              const std::string& message);
  void NotifyOutbox() { outbox_.Notify(); }
  // Drops the cached topics and subscriptions (after the store was changed behind this service's
  // back, such as a --dev reset).
  void ForgetCachedState();
  Result<Json> TagResource(const Ctx& ctx, const Json& in);
  Result<Json> UntagResource(const Ctx& ctx, const Json& in);
  Result<Json> ListTagsForResource(const Ctx& ctx, const Json& in);
  Result<Json> AddPermission(const Ctx& ctx, const Json& in);
  Result<Json> RemovePermission(const Ctx& ctx, const Json& in);
  Result<Json> GetDataProtectionPolicy(const Ctx& ctx, const Json& in);
  Result<Json> PutDataProtectionPolicy(const Ctx& ctx, const Json& in);

 // Row types, defined in sns_service.cc.
  struct Topic;
  struct Subscription;
  struct PublishInput;
  // A topic with its confirmed subscriptions, parsed for Publish.
  struct PublishTarget;

 private:
  // The topic `arn` of the caller's account and region with its confirmed subscriptions, read
  // in `tx`. TopicNotFound if there is no such topic.
  Result<std::shared_ptr<PublishTarget>> LoadPublishTarget(store::Tx& tx, const Ctx& ctx,
                                                           const std::string& arn);
  // LoadPublishTarget in a read of its own, served from memory when the store is SQLite.
  Result<std::shared_ptr<const PublishTarget>> CachedPublishTarget(const Ctx& ctx,
                                                                   const std::string& arn);
  // store_.Write for anything that changes topics or subscriptions: forgets the cache after.
  Status WriteTopics(const std::function<Status(store::Tx&)>& fn);

  // Parses and caches filter policies by text; shared by concurrent publishes.
  Result<std::shared_ptr<const FilterPolicy>> Policy(const std::string& text, bool body_scope);
  // One message: validation done; writes deliveries in `tx`. Returns MessageId (+ sequence).
  Result<Json> PublishOne(store::Tx& tx, const Ctx& ctx, const PublishTarget& target,
                          const PublishInput& msg);
  // What `msg` becomes for each confirmed subscription of `target` that takes it (filter
  // policies applied, signed).
  std::vector<delivery::Delivery> BuildDeliveries(const Ctx& ctx, const PublishTarget& target,
                                                  const PublishInput& msg,
                                                  const std::string& message_id,
                                                  const std::string& sequence,
                                                  const std::string& dedup_id);
  std::string Endpoint(const Ctx& ctx) const;

  store::Store& store_;
  delivery::Outbox& outbox_;
  Signer& signer_;
  std::string public_endpoint_;
  std::mutex policy_mu_;
  std::unordered_map<std::string, std::shared_ptr<const FilterPolicy>> policies_;  // GUARDED_BY

  // Publish targets by topic ARN. Only on SQLite, whose file belongs to this process, so every
  // change goes through WriteTopics here; on PostgreSQL other replicas may change them.
  const bool cache_targets_;
  std::mutex targets_mu_;
  // Bumped after every committed change: an entry loaded under an older generation may predate
  // the change and is not served.
  uint64_t targets_generation_ = 0;  // GUARDED_BY(targets_mu_)
  std::unordered_map<std::string, std::shared_ptr<const PublishTarget>> targets_;  // GUARDED_BY
};

}  // namespace gc::sns
