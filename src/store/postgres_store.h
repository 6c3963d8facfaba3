// PostgresStore: the Store backend over libpq (SERIALIZABLE writes retried on conflict).
// Thread-safe: each Read/Write takes its own connection from a small pool.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/worker_pool.h"
#include "store/store.h"

namespace gc::store {

class PostgresStore final : public Store {
 public:
  static constexpr int kMaxConnections = 16;  // per store
  static constexpr int kMaxAttempts = 10;     // Write attempts on SQLSTATE 40001 / 40P01

  // Connects to `url` (a libpq URI or conninfo string); fails if the server is unreachable.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& url);
  ~PostgresStore() override;  // closes the pooled connections (no Read/Write may be running)

  Status Migrate(const std::vector<Migration>& migrations) override;
  Status Write(const std::function<Status(Tx&)>& fn) override;
  // Runs the Write on one of the store's own threads (a PostgreSQL round trip blocks).
  void WriteAsync(std::function<Status(Tx&)> fn, WriteDone done) override;
  Status Read(const std::function<Status(Tx&)>& fn) override;
  Status Reset() override;
  std::string Backend() const override { return "postgres"; }

 private:
  explicit PostgresStore(std::string url) : url_(std::move(url)) {}
  // Runs `fn` between `begin_sql` and COMMIT on a pooled connection; with `retry_conflicts`, the
  // whole transaction is run again on a serialization failure or deadlock.
  Status RunTx(const char* begin_sql, const std::function<Status(Tx&)>& fn, bool retry_conflicts);
  Result<PGconn*> Acquire();
  void Release(PGconn* conn);  // pools it if healthy and idle, else closes it

  const std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;  // signalled when a connection is released or closed
  std::vector<PGconn*> idle_;   // guarded by mu_
  int open_ = 0;                // connections open, idle or in use; guarded by mu_
  // WriteAsync's threads, one per pooled connection; first to be destroyed (drains its queue).
  std::unique_ptr<WorkerPool> async_writers_;
};

// Store::Open helper for postgres:// and postgresql:// URLs.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url);

}  // namespace gc::store
