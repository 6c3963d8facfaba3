// Outbox: rows in `delivery_outbox`, worker threads that claim them with a lease, deliver them
// (libcurl for http/https/email, registered sinks for the rest) and record the outcome.
//
// A row is due when next_attempt_at <= now. Claiming a row sets next_attempt_at to the end of a
// lease (now + lease_ms) and claim_token to the claiming batch: other workers and processes skip
// it until the lease ends, and if this process dies the row simply becomes due again when the
// lease ends (at-least-once). Recording an outcome deletes the row (delivered, or dropped) or sets
// the next attempt time, and clears the claim; updates are conditional on the claim token, so a
// worker whose lease ran out cannot overwrite the work of the worker that took the row over.
// Each worker records the outcomes of one batch and claims the next one in the same transaction:
// one commit per batch of up to kClaimBatch deliveries.
//
// Hand-off (SQLite only, where one process owns the file): a Publish's rows are written already
// claimed with this Outbox's hand-off token, and after the commit the deliveries themselves are
// handed to the workers in memory, which saves claiming them back (a SELECT, an UPDATE and a
// decode per row). Their outcomes are recorded asynchronously in the store's next group commit.
// A row is still deleted only after its delivery succeeded; if the process dies first, Start
// releases the claim and the row is delivered from the store (at least once). A handed delivery
// that waits in memory longer than half a lease is left to the store path, which takes it over
// when the lease ends.
//
// Slow hosts: a batch is done when its slowest transfer is, so one unresponsive endpoint (every
// attempt waiting out the timeout) would hold up each worker whose batch has a delivery to it.
// internal::HostHealth marks a host slow after an attempt that timed out or took a second or
// more; the workers pass claimed or handed deliveries to slow hosts to the slow lane, one more
// thread with a sender of its own, which delivers them in batches of their own and records their
// outcomes under their claims. A quick success there clears the mark. A delivery that has waited
// in the slow lane too long to finish within its lease is left to the store path.
#include "delivery/outbox.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <system_error>
#include <thread>

#include "common/crypto.h"
#include "common/json_text.h"
#include "delivery/curl_sender.h"

namespace gc::delivery {
namespace {

using nlohmann::json;

constexpr int kClaimBatch = 64;                // rows per claim
constexpr int64_t kMaxIdleWaitMs = 200;        // idle workers look for new rows this often
constexpr int64_t kMinIdleWaitMs = 5;          // ... and never spin faster than this
constexpr int64_t kStoreErrorWaitMs = 200;     // after a failed claim
constexpr int64_t kDeadLetterMaxDelayS = 300;  // hand-off retries back off up to 5 minutes
constexpr size_t kMaxErrorChars = 1000;        // last_error column

constexpr char kStatePending[] = "pending";
constexpr char kStateDeadLetter[] = "dead_letter";

constexpr char kColumns[] =
    "id, state, kind, endpoint, body, headers, subject, extra, retry, dead_letter_arn, account, "
    "region, source, attempts";
enum Col : size_t {
  kId,
  kState,
  kKind,
  kEndpoint,
  kBody,
  kHeaders,
  kSubject,
  kExtra,
  kRetry,
  kDeadLetterArn,
  kAccount,
  kRegion,
  kSource,
  kAttempts
};

std::string Placeholders(int n) {
  std::string s = "(";
  for (int i = 0; i < n; ++i) s += i == 0 ? "?" : ", ?";
  return s + ")";
}

std::string Dump(const json& j) {
  // Invalid UTF-8 in a string becomes U+FFFD instead of an exception.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}


std::string HeadersToJson(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out = "[";
  for (const auto& [name, value] : headers) {
    if (out.size() > 1) out += ',';
    out += '[';
    AppendJsonString(out, name);
    out += ',';
    AppendJsonString(out, value);
    out += ']';
  }
  return out + "]";
}

std::string RetryToJson(const RetryPolicy& r) {
  std::string out = fmt::format(
      "{{\"numRetries\":{},\"numNoDelayRetries\":{},\"minDelayTarget\":{},"
      "\"maxDelayTarget\":{},\"numMinDelayRetries\":{},\"numMaxDelayRetries\":{},"
      "\"backoffFunction\":",
      r.num_retries, r.num_no_delay_retries, r.min_delay_target_s, r.max_delay_target_s,
      r.num_min_delay_retries, r.num_max_delay_retries);
  AppendJsonString(out, r.backoff_function);
  return out + "}";
}

std::string ExtraToJson(const json& extra) {
  if (extra.is_null() || (extra.is_object() && extra.empty())) return "{}";
  return Dump(extra);
}

std::string TakeStr(store::Row& row, size_t i) {
  if (auto* s = std::get_if<std::string>(&row.cols.at(i))) return std::move(*s);
  return row.Str(i);
}

std::string Truncated(std::string s, size_t n) {
  if (s.size() > n) s.resize(n);
  return s;
}

// Exponential back-off for dead-letter hand-offs: 1, 2, 4, ... seconds, at most 5 minutes.
int64_t DeadLetterDelaySeconds(int64_t failures) {
  const int64_t shift = std::clamp<int64_t>(failures - 1, 0, 20);
  return std::min<int64_t>(int64_t{1} << shift, kDeadLetterMaxDelayS);
}

bool IsNetworkKind(const std::string& kind) {
  return kind == "http" || kind == "https" || kind == "email";
}

std::once_flag curl_init_once;

}  // namespace

// One claimed row.
struct Item {
  int64_t id = 0;
  bool dead_letter = false;  // a hand-off of an exhausted delivery to its dead-letter queue
  int64_t attempts = 0;
  Delivery delivery;  // for a dead-letter hand-off: kind "sqs", endpoint = dead_letter_arn
  std::string original_kind;
  std::string original_endpoint;
  int64_t claimed_at = 0;  // epoch ms when its claim (lease) began
  bool attempted = false;  // false: released unattempted (Stop came first)
  Status result = AwsError::Internal("no outcome");  // set by the attempt
};

// What to write after a batch; all rows of one batch share the claim token.
struct Outcomes {
  struct Update {
    int64_t id;
    int64_t attempts;
    int64_t next_attempt_at;
    std::string state;
    std::string error;
  };
  std::string token;
  std::vector<int64_t> done;      // delivered: deleted
  std::vector<Update> updates;    // failed: next attempt scheduled
  std::vector<int64_t> drops;     // exhausted without a dead-letter queue: deleted
  std::vector<int64_t> releases;  // not attempted: due again now
  std::vector<std::string> drop_logs;

  bool empty() const {
    return done.empty() && updates.empty() && drops.empty() && releases.empty();
  }
};

struct Outbox::Impl {
  Impl(store::Store& s, const Clock& c, OutboxOptions o)
      : store(s),
        clock(c),
        options(std::move(o)),
        // A batch to a single unresponsive host takes kClaimBatch / kMaxInFlightPerHost rounds
        // of the timeout; the lease outlasts that with room to spare for sinks and the store.
        lease_ms((kClaimBatch / internal::kMaxInFlightPerHost + 1) *
                     int64_t{std::max(1, options.http_timeout_ms)} +
                 60'000),
        postgres(s.Backend() == "postgres"),
        cas(options.ca_file),
        health(c),
        token_prefix(crypto::RandomHex(16)),
        handoff_token(token_prefix + "-handoff") {
    std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    const std::string seed = crypto::RandomBytes(8);
    uint64_t s64 = 0;
    for (char ch : seed) s64 = (s64 << 8) | static_cast<unsigned char>(ch);
    rng.seed(s64);
    select_sql = std::string("SELECT ") + kColumns +
                 " FROM delivery_outbox WHERE next_attempt_at <= ? AND (ordering_key = '' OR id = "
                 "(SELECT MIN(o2.id) FROM delivery_outbox o2 WHERE o2.ordering_key = "
                 "delivery_outbox.ordering_key)) ORDER BY next_attempt_at, id LIMIT ?" +
                 (postgres ? " FOR UPDATE SKIP LOCKED" : "");
    claim_sql = "UPDATE delivery_outbox SET next_attempt_at = ?, claim_token = ? WHERE id IN " +
                Placeholders(kClaimBatch);
    delete_in_sql = "DELETE FROM delivery_outbox WHERE id IN " + Placeholders(kClaimBatch);
    if (!cas.error().empty()) {
      fmt::print(stderr, "delivery outbox: ca_file: {}\n", cas.error());
    }
  }

  // Milliseconds << 20 | a sequence number that starts at a random point: increasing within
  // a process, rarely equal across processes (Enqueue retries on a clash). Positive (0 pads IN
  // lists) until the year 2248.
  int64_t NewId(int64_t now_ms) {
    std::lock_guard lock(id_mu);
    const int64_t base = std::max<int64_t>(now_ms, 1) << 20;
    if (base > last_id) {
      last_id = base | static_cast<int64_t>(rng() & 0x7FFFF);  // room for 2^19 ids in this ms
    } else {
      ++last_id;
    }
    return last_id;
  }

  std::string NewToken() { return token_prefix + "-" + std::to_string(++token_counter); }

  // Wakes the workers to look for due rows in the store.
  void WakeAll() {
    {
      std::lock_guard lock(mu);
      ++wake_seq;
      ++store_wakes;
    }
    cv.notify_all();
  }

  // Runs `loop` (WorkerLoop or SlowLaneLoop) until it returns; after an exception it logs and
  // starts it again a second later, unless the outbox is stopping.
  void RunRestarting(const char* name, void (Impl::*loop)());
  void WorkerLoop();
  void SlowLaneLoop();
  // Moves the deliveries to hosts HostHealth calls slow out of `items` into the slow lane,
  // with the claim `token` they are held under.
  void Route(std::vector<Item>& items, const std::string& token, internal::CurlSender& sender);
  Status RecordAndClaim(const Outcomes& out, int limit, const std::string& token,
                        std::vector<store::Row>* rows, std::optional<int64_t>* next_due);
  // Writes `out` (deletes, retry times, releases) in `tx`; idempotent.
  Status Record(store::Tx& tx, const Outcomes& out, int64_t now) const;
  // Records `out` in the store's next commit without waiting for it (handed deliveries).
  void RecordAsync(Outcomes out);
  // Up to `limit` handed deliveries, oldest first; those too old to trust their claim are left
  // to the store path.
  std::vector<Item> TakeHanded(size_t limit);  // requires mu
  void DeliverHanded(std::vector<Item>& items, internal::CurlSender& sender);
  Item Decode(store::Row& row, int64_t claimed_at) const;
  void Deliver(std::vector<Item>& items, internal::CurlSender& sender);
  Status CallSink(const Delivery& d) const;
  Outcomes Judge(std::vector<Item>& items, const std::string& token);
  // Sleeps `ms` or until Notify / Stop (wake_seq moves on from `seen`).
  void Wait(uint64_t seen, int64_t ms);
  // The earliest next_attempt_at in the table (nullopt: empty).
  Result<std::optional<int64_t>> PeekNextDue();

  store::Store& store;
  const Clock& clock;
  const OutboxOptions options;
  const int64_t lease_ms;
  const bool postgres;
  const internal::ExtraCas cas;
  internal::HostHealth health;
  const std::string token_prefix;
  const std::string handoff_token;  // claim_token of handed rows
  std::string select_sql, claim_sql, delete_in_sql;
  std::map<std::string, Sink> sinks;  // written before Start only; read by workers

  std::mutex mu;
  std::condition_variable cv;  // signalled when wake_seq changes or stop is set
  uint64_t wake_seq = 0;       // guarded by mu
  uint64_t store_wakes = 0;    // guarded by mu; the wakes that ask to look in the store
  bool stop = false;           // guarded by mu
  struct Handed {
    int64_t id;
    int64_t handed_at;  // epoch ms
    Delivery delivery;
  };
  std::deque<Handed> handed;  // guarded by mu
  struct Slow {
    Item item;
    std::string token;  // the claim it is held under
  };
  std::deque<Slow> slow;            // the slow lane's queue; guarded by mu
  std::condition_variable slow_cv;  // signalled when `slow` grows or stop is set
  bool slow_lane_up = false;        // guarded by mu; its thread started
  int records_in_flight = 0;        // guarded by mu; RecordAsync writes not done yet
  std::atomic<bool> stopping{false};

  std::mutex lifecycle_mu;           // serialises Start/Stop
  std::vector<std::thread> workers;  // guarded by lifecycle_mu

  std::mutex id_mu;
  std::mt19937_64 rng;  // guarded by id_mu
  int64_t last_id = 0;  // guarded by id_mu
  std::atomic<uint64_t> token_counter{0};
  std::atomic<int64_t> log_count{0};

  std::atomic<int64_t> delivered{0}, failed_attempts{0}, dead_lettered{0}, dropped{0};
};

Result<std::optional<int64_t>> Outbox::Impl::PeekNextDue() {
  std::optional<int64_t> next;
  Status st = store.Read([&](store::Tx& tx) -> Status {
    next.reset();
    auto r = tx.Query("SELECT MIN(next_attempt_at) FROM delivery_outbox");
    if (!r) return r.take_error();
    if (!r->empty() && !(*r)[0].IsNull(0)) next = (*r)[0].Int(0);
    return Ok{};
  });
  if (!st) return st.take_error();
  return next;
}

void Outbox::Impl::Wait(uint64_t seen, int64_t ms) {
  std::unique_lock lock(mu);
  cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop || wake_seq != seen; });
}

Status Outbox::Impl::RecordAndClaim(const Outcomes& out, int limit, const std::string& token,
                                    std::vector<store::Row>* rows,
                                    std::optional<int64_t>* next_due) {
  // Runs on the store's writer (SQLite) and may run more than once (PostgreSQL): no side effects
  // outside `tx` and the two outputs, which are reset first.
  return store.Write([&](store::Tx& tx) -> Status {
    rows->clear();
    next_due->reset();
    const int64_t now = clock.NowMillis();
    if (Status st = Record(tx, out, now); !st) return st;
    if (limit <= 0) return Ok{};

    auto due = tx.Query(select_sql, {now, int64_t{limit}});
    if (!due) return due.take_error();
    if (!due->empty()) {
      std::vector<store::Value> params;
      params.reserve(kClaimBatch + 2);
      params.emplace_back(now + lease_ms);
      params.emplace_back(token);
      for (const store::Row& row : *due) params.emplace_back(row.Int(kId));
      while (params.size() < kClaimBatch + 2) params.emplace_back(int64_t{0});
      if (auto r = tx.Exec(claim_sql, params); !r) return r.take_error();
    }
    if (static_cast<int>(due->size()) < limit) {
      auto next = tx.Query("SELECT MIN(next_attempt_at) FROM delivery_outbox");
      if (!next) return next.take_error();
      if (!next->empty() && !(*next)[0].IsNull(0)) *next_due = (*next)[0].Int(0);
    }
    *rows = std::move(*due);
    return Ok{};
  });
}

Status Outbox::Impl::Record(store::Tx& tx, const Outcomes& out, int64_t now) const {
  for (size_t i = 0; i < out.done.size(); i += kClaimBatch) {
    std::vector<store::Value> params;
    params.reserve(kClaimBatch);
    for (size_t j = i; j < out.done.size() && j < i + kClaimBatch; ++j) {
      params.emplace_back(out.done[j]);
    }
    while (params.size() < kClaimBatch) params.emplace_back(int64_t{0});
    if (auto r = tx.Exec(delete_in_sql, params); !r) return r.take_error();
  }
  for (const Outcomes::Update& u : out.updates) {
    auto r = tx.Exec(
        "UPDATE delivery_outbox SET attempts = ?, next_attempt_at = ?, state = ?, "
        "last_error = ?, claim_token = NULL WHERE id = ? AND claim_token = ?",
        {u.attempts, u.next_attempt_at, u.state, u.error, u.id, out.token});
    if (!r) return r.take_error();
  }
  for (int64_t id : out.drops) {
    auto r =
        tx.Exec("DELETE FROM delivery_outbox WHERE id = ? AND claim_token = ?", {id, out.token});
    if (!r) return r.take_error();
  }
  for (int64_t id : out.releases) {
    auto r = tx.Exec(
        "UPDATE delivery_outbox SET next_attempt_at = ?, claim_token = NULL "
        "WHERE id = ? AND claim_token = ?",
        {now, id, out.token});
    if (!r) return r.take_error();
  }
  return Ok{};
}

void Outbox::Impl::RecordAsync(Outcomes out) {
  if (out.empty()) return;
  {
    std::lock_guard lock(mu);
    ++records_in_flight;
  }
  auto shared = std::make_shared<const Outcomes>(std::move(out));
  store.WriteAsync(
      [this, shared](store::Tx& tx) { return Record(tx, *shared, clock.NowMillis()); },
      [this, shared](Status st) {
        if (st.ok()) {
          dropped += static_cast<int64_t>(shared->drops.size());
          for (const std::string& line : shared->drop_logs) fmt::print(stderr, "{}\n", line);
        } else {
          // The rows stay claimed: the store path delivers them again when the lease ends.
          fmt::print(stderr, "delivery outbox: store error: {}\n", st.error().message);
        }
        // A failed delivery's retry (or dead-letter hand-off) is now a row for the store path.
        const bool store_rows = st.ok() && !shared->updates.empty();
        {
          std::lock_guard lock(mu);
          --records_in_flight;
          ++wake_seq;
          if (store_rows) ++store_wakes;
        }
        cv.notify_all();
      });
}

std::vector<Item> Outbox::Impl::TakeHanded(size_t limit) {
  std::vector<Item> items;
  const int64_t stale_before = clock.NowMillis() - lease_ms / 2;
  while (!handed.empty() && items.size() < limit) {
    Handed h = std::move(handed.front());
    handed.pop_front();
    if (h.handed_at < stale_before) continue;  // its lease may run out during the attempt
    Item& item = items.emplace_back();
    item.id = h.id;
    item.claimed_at = h.handed_at;
    item.delivery = std::move(h.delivery);
    item.original_kind = item.delivery.kind;
    item.original_endpoint = item.delivery.endpoint;
  }
  return items;
}

void Outbox::Impl::DeliverHanded(std::vector<Item>& items, internal::CurlSender& sender) {
  Route(items, handoff_token, sender);
  if (items.empty()) return;
  Deliver(items, sender);
  RecordAsync(Judge(items, handoff_token));
}

void Outbox::Impl::Route(std::vector<Item>& items, const std::string& token,
                         internal::CurlSender& sender) {
  if (!health.AnySlow()) return;
  std::vector<Item> kept;
  std::vector<Item> moved;
  for (Item& item : items) {
    const bool to_slow = !item.attempted && IsNetworkKind(item.delivery.kind) &&
                         health.IsSlow(sender.HostOf(item.delivery));
    (to_slow ? moved : kept).push_back(std::move(item));
  }
  if (moved.empty()) {
    items = std::move(kept);
    return;
  }
  {
    std::lock_guard lock(mu);
    if (stop || !slow_lane_up) {  // the slow lane may be gone: deliver (or release) them here
      for (Item& item : moved) kept.push_back(std::move(item));
      moved.clear();
    }
    for (Item& item : moved) slow.push_back({std::move(item), token});
  }
  if (!moved.empty()) slow_cv.notify_one();
  items = std::move(kept);
}

Item Outbox::Impl::Decode(store::Row& row, int64_t claimed_at) const {
  Item item;
  item.id = row.Int(kId);
  item.claimed_at = claimed_at;
  item.dead_letter = row.Str(kState) == kStateDeadLetter;
  item.attempts = row.Int(kAttempts);
  Delivery& d = item.delivery;
  d.kind = TakeStr(row, kKind);
  d.endpoint = TakeStr(row, kEndpoint);
  d.body = TakeStr(row, kBody);
  d.subject = TakeStr(row, kSubject);
  d.dead_letter_arn = TakeStr(row, kDeadLetterArn);
  d.account = TakeStr(row, kAccount);
  d.region = TakeStr(row, kRegion);
  d.source = TakeStr(row, kSource);
  const json headers = json::parse(row.Str(kHeaders), nullptr, /*allow_exceptions=*/false);
  const json extra = json::parse(row.Str(kExtra), nullptr, false);
  const json retry = json::parse(row.Str(kRetry), nullptr, false);
  if (headers.is_discarded() || extra.is_discarded() || retry.is_discarded()) {
    item.result = AwsError::Internal("corrupt outbox row");
    item.attempted = true;  // counts as a failed attempt: retried, then dropped
  }
  if (headers.is_array()) {
    for (const json& h : headers) {
      if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
        d.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
      }
    }
  }
  if (!extra.is_discarded()) d.extra = extra;
  d.retry = RetryPolicy::FromDeliveryPolicy(json{{"healthyRetryPolicy", retry}});
  item.original_kind = d.kind;
  item.original_endpoint = d.endpoint;
  if (item.dead_letter) {
    d.kind = "sqs";
    d.endpoint = d.dead_letter_arn;
  }
  return item;
}

Status Outbox::Impl::CallSink(const Delivery& d) const {
  auto it = sinks.find(d.kind);
  if (it == sinks.end()) return AwsError::Internal("no sink for delivery kind \"" + d.kind + "\"");
  try {
    return it->second(d);
  } catch (const std::exception& e) {
    return AwsError::Internal(std::string("sink threw: ") + e.what());
  } catch (...) {
    return AwsError::Internal("sink threw");
  }
}

void Outbox::Impl::Deliver(std::vector<Item>& items, internal::CurlSender& sender) {
  // Network attempts first (they run concurrently), then the in-process sinks one by one while
  // libcurl moves the transfers on between calls.
  for (Item& item : items) {
    if (item.attempted || !IsNetworkKind(item.delivery.kind)) continue;
    if (stopping.load()) continue;  // not started: released for a later run
    item.attempted = true;
    sender.Start(item.delivery, &item.result);
  }
  for (Item& item : items) {
    if (item.attempted || IsNetworkKind(item.delivery.kind)) continue;
    if (stopping.load()) continue;  // not started: released for a later run
    item.attempted = true;
    item.result = CallSink(item.delivery);
    sender.Poll();
  }
  sender.Finish();
}

Outcomes Outbox::Impl::Judge(std::vector<Item>& items, const std::string& token) {
  const int64_t now = clock.NowMillis();
  Outcomes out;
  out.token = token;
  for (Item& item : items) {
    if (!item.attempted) {
      out.releases.push_back(item.id);
      continue;
    }
    if (item.result.ok()) {
      out.done.push_back(item.id);
      ++(item.dead_letter ? dead_lettered : delivered);
      continue;
    }
    std::string error = Truncated(item.result.error().message, kMaxErrorChars);
    const int64_t attempts = item.attempts + 1;
    if (item.dead_letter) {
      if (attempts == 1 || attempts % 10 == 0) {
        fmt::print(stderr,
                   "delivery outbox: dead-letter hand-off to {} of a delivery from {} failed "
                   "({} time(s)): {}\n",
                   item.delivery.endpoint, item.delivery.source, attempts, error);
      }
      out.updates.push_back({item.id, attempts, now + DeadLetterDelaySeconds(attempts) * 1000,
                             kStateDeadLetter, std::move(error)});
      continue;
    }
    ++failed_attempts;
    const RetryPolicy& policy = item.delivery.retry;
    if (attempts <= policy.num_retries) {  // retry number `attempts` comes next
      out.updates.push_back({item.id, attempts,
                             now + policy.DelaySeconds(static_cast<int>(attempts)) * 1000,
                             kStatePending, std::move(error)});
    } else if (!item.delivery.dead_letter_arn.empty()) {
      out.updates.push_back({item.id, 0, now, kStateDeadLetter, std::move(error)});
    } else {
      out.drops.push_back(item.id);
      out.drop_logs.push_back(fmt::format(
          "delivery outbox: dropped {} delivery to {} from {} after {} attempt(s): {}",
          item.original_kind, item.original_endpoint, item.delivery.source, attempts, error));
    }
  }
  return out;
}

void Outbox::Impl::WorkerLoop() {
  internal::CurlSender sender(options, clock, &cas, &health);
  Outcomes pending;   // of the last batch, not yet recorded
  bool idle = false;  // the last claim found nothing
  uint64_t store_wakes_seen = 0;
  int64_t quiet_until = 0;  // while idle: the store has nothing due before this (epoch ms)
  while (true) {
    uint64_t seen = 0;
    uint64_t wakes = 0;
    bool stop_now = false;
    std::vector<Item> handed_items;
    {
      std::lock_guard lock(mu);
      seen = wake_seq;
      wakes = store_wakes;
      stop_now = stop;
      if (!stop_now && pending.empty()) handed_items = TakeHanded(kClaimBatch);
    }
    if (!handed_items.empty()) {
      DeliverHanded(handed_items, sender);
      continue;
    }
    const bool store_woken = wakes != store_wakes_seen;
    store_wakes_seen = wakes;
    if (idle && pending.empty() && !stop_now) {
      int64_t now = clock.NowMillis();
      if (!store_woken && now < quiet_until) {  // woken for handed deliveries only
        Wait(seen, quiet_until - now);
        continue;
      }
      // Look before claiming: a Read runs beside the writer instead of queueing behind it.
      auto next = PeekNextDue();
      now = clock.NowMillis();
      if (next.ok() && (!next->has_value() || **next > now)) {
        const int64_t wait = next->has_value()
                                 ? std::clamp(**next - now, kMinIdleWaitMs, kMaxIdleWaitMs)
                                 : kMaxIdleWaitMs;
        quiet_until = now + wait;
        Wait(seen, wait);
        continue;
      }
    }
    std::vector<store::Row> rows;
    std::optional<int64_t> next_due;
    const std::string token = NewToken();
    const int64_t claimed_at = clock.NowMillis();  // the lease starts no earlier than this
    Status st = RecordAndClaim(pending, stop_now ? 0 : kClaimBatch, token, &rows, &next_due);
    if (!st) {
      const int64_t n = ++log_count;
      if (n <= 10 || n % 100 == 0) {
        fmt::print(stderr, "delivery outbox: store error: {}\n", st.error().message);
      }
      // The outcomes stay pending (recording is idempotent) and are retried; if they never make
      // it, the claims expire and the rows are delivered again: at least once.
      if (stop_now) return;
      Wait(seen, kStoreErrorWaitMs);
      continue;
    }
    if (!pending.drops.empty()) {
      dropped += static_cast<int64_t>(pending.drops.size());
      for (const std::string& line : pending.drop_logs) fmt::print(stderr, "{}\n", line);
    }
    pending = Outcomes{};
    if (stop_now) return;
    idle = rows.empty();
    if (rows.empty()) {
      int64_t wait = kMaxIdleWaitMs;
      if (next_due) {
        wait = std::clamp(*next_due - clock.NowMillis(), kMinIdleWaitMs, kMaxIdleWaitMs);
      }
      quiet_until = clock.NowMillis() + wait;
      Wait(seen, wait);
      continue;
    }
    if (rows.size() == static_cast<size_t>(kClaimBatch)) WakeAll();  // there may be more: help
    std::vector<Item> items;
    items.reserve(rows.size());
    for (store::Row& row : rows) items.push_back(Decode(row, claimed_at));
    rows.clear();
    Route(items, token, sender);
    Deliver(items, sender);
    pending = Judge(items, token);
  }
}

void Outbox::Impl::SlowLaneLoop() {
  internal::CurlSender sender(options, clock, &cas, &health);
  // A batch to one unresponsive host takes up to this long; a delivery starts only with that
  // much of its lease left, and half a minute to spare.
  const int64_t batch_ms = (kClaimBatch / internal::kMaxInFlightPerHost) *
                               int64_t{std::max(1, options.http_timeout_ms)} +
                           30'000;
  while (true) {
    std::vector<Item> items;
    std::vector<std::string> tokens;
    bool stop_now = false;
    {
      std::unique_lock lock(mu);
      slow_cv.wait(lock, [&] { return stop || !slow.empty(); });
      stop_now = stop;
      const int64_t now = clock.NowMillis();
      while (!slow.empty() && (stop_now || items.size() < static_cast<size_t>(kClaimBatch))) {
        Slow s = std::move(slow.front());
        slow.pop_front();
        // Too late to finish within the lease: the store path takes it over when it ends.
        if (!stop_now && s.item.claimed_at + lease_ms - batch_ms < now) continue;
        items.push_back(std::move(s.item));
        tokens.push_back(std::move(s.token));
      }
    }
    Deliver(items, sender);  // when stopping, starts nothing: all are released
    std::map<std::string, std::vector<Item>> by_claim;
    for (size_t i = 0; i < items.size(); ++i) by_claim[tokens[i]].push_back(std::move(items[i]));
    for (auto& [token, claimed] : by_claim) RecordAsync(Judge(claimed, token));
    if (stop_now) return;
  }
}

void Outbox::Impl::RunRestarting(const char* name, void (Impl::*loop)()) {
  while (true) {
    try {
      (this->*loop)();
      return;
    } catch (const std::exception& e) {  // e.g. bad_alloc: the claimed rows come back later
      fmt::print(stderr, "delivery outbox: {} error: {}\n", name, e.what());
    } catch (...) {
      fmt::print(stderr, "delivery outbox: {} error\n", name);
    }
    if (stopping.load()) return;
    Wait(0, 1000);
  }
}

// ---------------------------------------------------------------------------------------------

Outbox::Outbox(store::Store& store, const Clock& clock, OutboxOptions options)
    : impl_(std::make_unique<Impl>(store, clock, std::move(options))) {}

Outbox::~Outbox() { Stop(); }

std::vector<store::Migration> Outbox::Migrations() {
  return {
      {"delivery.outbox", 1,
       "CREATE TABLE delivery_outbox ("
       " id BIGINT PRIMARY KEY,"
       " state TEXT NOT NULL,"  // pending | dead_letter
       " kind TEXT NOT NULL,"
       " endpoint TEXT NOT NULL,"
       " body TEXT NOT NULL,"
       " headers TEXT NOT NULL,"  // JSON [[name, value], ...]
       " subject TEXT NOT NULL,"
       " extra TEXT NOT NULL,"  // JSON object
       " retry TEXT NOT NULL,"  // JSON healthyRetryPolicy
       " dead_letter_arn TEXT NOT NULL,"
       " account TEXT NOT NULL,"
       " region TEXT NOT NULL,"
       " source TEXT NOT NULL,"
       " attempts BIGINT NOT NULL,"         // attempts made (dead_letter: hand-offs tried)
       " next_attempt_at BIGINT NOT NULL,"  // epoch ms; while claimed: the end of the lease
       " claim_token TEXT,"                 // the claiming batch, NULL when not claimed
       " created_at BIGINT NOT NULL,"
       " last_error TEXT NOT NULL"
       ");"
       "CREATE INDEX delivery_outbox_due ON delivery_outbox (next_attempt_at)"},
      // FIFO: deliveries that share an ordering key go one at a time, in id order.
      {"delivery.outbox", 2,
       "ALTER TABLE delivery_outbox ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';"
       "CREATE INDEX delivery_outbox_ordering ON delivery_outbox (ordering_key, id)"},
  };
}

Status Outbox::Enqueue(store::Tx& tx, const std::vector<Delivery>& deliveries) {
  return Enqueue(tx, deliveries, nullptr);
}

Status Outbox::Enqueue(store::Tx& tx, const std::vector<Delivery>& deliveries,
                       std::vector<int64_t>* handed_ids) {
  try {
    const int64_t now = impl_->clock.NowMillis();
    if (handed_ids != nullptr) {
      handed_ids->clear();
      handed_ids->reserve(deliveries.size());
    }
    for (const Delivery& d : deliveries) {
      if (d.kind.empty()) return AwsError::Internal("delivery without a kind");
      // Ordered deliveries go one at a time through the store path, which keeps their order.
      const bool hand_off = handed_ids != nullptr && !impl_->postgres && d.ordering_key.empty();
      std::vector<store::Value> params = {int64_t{0},
                                          HeadersToJson(d.headers),
                                          ExtraToJson(d.extra),
                                          RetryToJson(d.retry),
                                          std::string(kStatePending),
                                          d.kind,
                                          d.endpoint,
                                          d.body,
                                          d.subject,
                                          d.dead_letter_arn,
                                          d.account,
                                          d.region,
                                          d.source,
                                          hand_off ? now + impl_->lease_ms : now,
                                          now,
                                          d.ordering_key,
                                          hand_off ? store::Value(impl_->handoff_token)
                                                   : store::Value()};
      // Ids are time-ordered (index pages stay local); a clash with another process's id is
      // skipped by ON CONFLICT without aborting the caller's transaction, and tried again.
      for (int tries = 0;; ++tries) {
        params[0] = impl_->NewId(now);
        auto r = tx.Exec(
            "INSERT INTO delivery_outbox (id, headers, extra, retry, state, kind, endpoint, body, "
            "subject, dead_letter_arn, account, region, source, next_attempt_at, created_at, "
            "ordering_key, attempts, claim_token, last_error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '') "
            "ON CONFLICT (id) DO NOTHING",
            params);
        if (!r) return r.take_error();
        if (*r == 1) break;
        if (tries == 100) return AwsError::Internal("cannot find a free outbox id");
      }
      if (handed_ids != nullptr) {
        handed_ids->push_back(hand_off ? std::get<int64_t>(params[0]) : 0);
      }
    }
    return Ok{};
  } catch (const std::exception& e) {
    return AwsError::Internal(std::string("outbox enqueue failed: ") + e.what());
  }
}

void Outbox::Notify() { impl_->WakeAll(); }

void Outbox::HandOff(const std::vector<int64_t>& handed_ids, std::vector<Delivery>&& deliveries) {
  const int64_t now = impl_->clock.NowMillis();
  bool store_rows = false;  // deliveries not handed off wait in the store
  {
    std::lock_guard lock(impl_->mu);
    for (size_t i = 0; i < deliveries.size(); ++i) {
      const int64_t id = i < handed_ids.size() ? handed_ids[i] : 0;
      if (id == 0) {
        store_rows = true;
      } else if (!impl_->stop) {  // when stopped, the next Start releases the claim
        impl_->handed.push_back({id, now, std::move(deliveries[i])});
      }
    }
    ++impl_->wake_seq;
    if (store_rows) ++impl_->store_wakes;
  }
  if (store_rows) {
    impl_->cv.notify_all();
  } else {
    impl_->cv.notify_one();  // one worker takes them all (up to a batch)
  }
}

void Outbox::RegisterSink(const std::string& kind, Sink sink) {
  std::lock_guard lock(impl_->lifecycle_mu);
  impl_->sinks[kind] = std::move(sink);
}

void Outbox::Start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (!impl_->workers.empty()) return;
  {
    std::lock_guard state_lock(impl_->mu);
    impl_->stop = false;
  }
  impl_->stopping = false;
  // A SQLite store belongs to one process: claims still held are a crashed run's, so they are
  // due again now rather than when their lease ends. (PostgreSQL may be shared by several
  // servers; there the leases decide.)
  if (impl_->store.Backend() == "sqlite") {
    {
      std::lock_guard state_lock(impl_->mu);
      impl_->handed.clear();  // their claims are released here: the store path delivers them
      impl_->slow.clear();
    }
    const int64_t now = impl_->clock.NowMillis();
    Status st = impl_->store.Write([now](store::Tx& tx) -> Status {
      auto r = tx.Exec(
          "UPDATE delivery_outbox SET next_attempt_at = ?, claim_token = NULL "
          "WHERE claim_token IS NOT NULL",
          {now});
      if (!r.ok()) return r.take_error();
      return Ok{};
    });
    if (!st.ok()) {
      fmt::print(stderr, "delivery outbox: cannot release old claims: {}\n", st.error().message);
    }
  }
  const int n = std::max(1, impl_->options.workers);
  try {
    for (int i = 0; i < n; ++i) {
      impl_->workers.emplace_back([this] { impl_->RunRestarting("worker", &Impl::WorkerLoop); });
    }
    impl_->workers.emplace_back(
        [this] { impl_->RunRestarting("slow lane", &Impl::SlowLaneLoop); });
    std::lock_guard state_lock(impl_->mu);
    impl_->slow_lane_up = true;
  } catch (const std::system_error& e) {  // no more threads: run with those that started
    fmt::print(stderr, "delivery outbox: started {} of {} workers: {}\n", impl_->workers.size(), n,
               e.what());
  }
}

void Outbox::Stop() {
  std::lock_guard lock(impl_->lifecycle_mu);
  impl_->stopping = true;
  {
    std::lock_guard state_lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->slow_cv.notify_all();
  for (std::thread& t : impl_->workers) t.join();
  impl_->workers.clear();
  std::unique_lock state_lock(impl_->mu);
  // Handed deliveries not taken keep their claims, which the next Start releases.
  impl_->handed.clear();
  impl_->slow.clear();  // empty already: the slow lane released what it held
  impl_->slow_lane_up = false;
  impl_->cv.wait(state_lock, [&] { return impl_->records_in_flight == 0; });
}

Outbox::Stats Outbox::stats() const {
  Stats s;
  s.delivered = impl_->delivered.load();
  s.failed_attempts = impl_->failed_attempts.load();
  s.dead_lettered = impl_->dead_lettered.load();
  s.dropped = impl_->dropped.load();
  return s;
}

}  // namespace gc::delivery
