// SqliteStore: the embedded Store backend (SQLite, WAL, synchronous=FULL, group-committed writes).
// Thread-safe: one writer thread owns the write connection; reads use a pool of read-only ones.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace gc::store {

class SqliteConn;

class SqliteStore final : public Store {
 public:
  // Counters for tests and benchmarks.
  struct Stats {
    int64_t writes = 0;   // Write calls run by the writer (Migrate and Reset included)
    int64_t commits = 0;  // transactions committed (one per batch)
  };

  // Opens (creating if needed, parent directory included) the database file at `path`.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;  // finishes queued writes, then stops the writer and closes

  Status Migrate(const std::vector<Migration>& migrations) override;
  Status Write(const std::function<Status(Tx&)>& fn) override;
  // Queued like Write; `done` runs on the writer thread right after the batch's COMMIT.
  void WriteAsync(std::function<Status(Tx&)> fn, WriteDone done) override;
  Status Read(const std::function<Status(Tx&)>& fn) override;
  Status Reset() override;
  std::string Backend() const override { return "sqlite"; }

  Stats GetStats() const;

 private:
  struct WriteOp;

  SqliteStore(std::string path, std::unique_ptr<SqliteConn> writer);
  void WriterLoop();
  // Runs `batch` in one BEGIN IMMEDIATE ... COMMIT, each op in its own savepoint, and sets every
  // op's result. Called on the writer thread only.
  void RunBatch(std::vector<WriteOp*> batch);
  Result<std::unique_ptr<SqliteConn>> AcquireReader();
  void ReleaseReader(std::unique_ptr<SqliteConn> conn);

  const std::string path_;
  std::unique_ptr<SqliteConn> writer_conn_;  // used by the writer thread only

  mutable std::mutex mu_;
  std::condition_variable queue_cv_;  // signalled when queue_ grows or stop_ is set
  std::deque<WriteOp*> queue_;        // guarded by mu_
  bool stop_ = false;                 // guarded by mu_
  Stats stats_;                       // guarded by mu_

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<SqliteConn>> idle_readers_;  // guarded by readers_mu_

  // Asynchronous writes whose batch has committed: the completer thread runs their callbacks (in
  // commit order), so the writer starts the next batch while responses are encoded.
  void CompleterLoop();
  std::mutex completed_mu_;
  std::condition_variable completed_cv_;
  std::deque<WriteOp*> completed_;  // guarded by completed_mu_
  bool completer_stop_ = false;     // guarded by completed_mu_

  std::thread completer_;  // started before the writer, stopped after it
  std::thread writer_;     // last: started once everything above is initialised
};

// Store::Open helper for SQLite paths.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace gc::store
