#include "store/sqlite_store.h"

#include <fmt/format.h>

#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "store/migrations.h"

namespace gc::store {
namespace {

constexpr int kBusyTimeoutMs = 10000;
constexpr size_t kMaxIdleReaders = 8;
constexpr size_t kMaxCachedStatements = 256;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

AwsError SqliteError(sqlite3* db, std::string_view what = {}) {
  const int ext = sqlite3_extended_errcode(db);
  std::string msg = sqlite3_errmsg(db);
  if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return AwsError::Internal(std::string(kUniqueViolationPrefix) + msg);
  }
  if (!what.empty()) msg = std::string(what) + ": " + msg;
  return AwsError::Internal(std::move(msg));
}

Status CallFn(const std::function<Status(Tx&)>& fn, Tx& tx) {
  try {
    return fn(tx);
  } catch (const std::exception& e) {
    return AwsError::Internal(std::string("exception in transaction: ") + e.what());
  } catch (...) {
    return AwsError::Internal("unknown exception in transaction");
  }
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

}  // namespace

// One SQLite connection and its prepared-statement cache. Thread-compatible: used by one thread
// at a time (the writer thread, or the reader that took it from the pool).
class SqliteConn {
 public:
  static Result<std::unique_ptr<SqliteConn>> Open(const std::string& path, bool read_only) {
    sqlite3* db = nullptr;
    const int flags =
        SQLITE_OPEN_NOMUTEX |
        (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    std::unique_ptr<SqliteConn> conn(new SqliteConn(db));  // closes db on every path
    if (rc != SQLITE_OK) {
      std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      return AwsError::Internal("opening " + path + ": " + msg);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    if (auto st = conn->Control("PRAGMA foreign_keys = ON"); !st) return st.take_error();
    if (!read_only) {
      auto mode = conn->QueryText("PRAGMA journal_mode = WAL");
      if (!mode) return mode.take_error();
      if (*mode != "wal") return AwsError::Internal("cannot enable WAL mode on " + path);
      if (auto st = conn->Control("PRAGMA synchronous = FULL"); !st) return st.take_error();
    }
    return conn;
  }

  ~SqliteConn() {
    ClearCache();
    sqlite3_close_v2(db_);
  }
  SqliteConn(const SqliteConn&) = delete;
  SqliteConn& operator=(const SqliteConn&) = delete;

  sqlite3* db() const { return db_; }

  // Returns the cached prepared statement for `sql` (nullptr for an empty statement).
  Result<sqlite3_stmt*> Prepare(std::string_view sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return SqliteError(db_);
    for (const char* p = tail; p != nullptr && p < sql.data() + sql.size(); ++p) {
      if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') {
        sqlite3_finalize(stmt);
        return AwsError::Internal("only one SQL statement is allowed per call: " +
                                  std::string(sql));
      }
    }
    if (cache_.size() >= kMaxCachedStatements) ClearCache();
    cache_.emplace(std::string(sql), stmt);
    return stmt;
  }

  // Runs a statement without parameters whose result rows (if any) are ignored.
  Status Control(std::string_view sql) {
    auto stmt = Prepare(sql);
    if (!stmt) return stmt.take_error();
    if (*stmt == nullptr) return Ok{};
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    }
    Status result = Ok{};
    if (rc != SQLITE_DONE) result = SqliteError(db_, sql);
    sqlite3_reset(*stmt);
    return result;
  }

  // Runs a statement returning one text value.
  Result<std::string> QueryText(std::string_view sql) {
    auto stmt = Prepare(sql);
    if (!stmt) return stmt.take_error();
    if (*stmt == nullptr) return AwsError::Internal("empty statement");
    std::string out;
    const int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(*stmt, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    }
    Result<std::string> result = std::move(out);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) result = SqliteError(db_, sql);
    sqlite3_reset(*stmt);
    return result;
  }

 private:
  explicit SqliteConn(sqlite3* db) : db_(db) {}

  void ClearCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*, StringHash, std::equal_to<>> cache_;
};

namespace {

// A Tx over one SqliteConn. The first failed statement aborts it (see store.h).
class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(SqliteConn& conn) : conn_(conn) {}

  Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params) override {
    std::vector<Row> rows;
    auto r = Run(sql, params, &rows);
    if (!r) return r.take_error();
    return rows;
  }

  Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    return Run(sql, params, nullptr);
  }

  const std::optional<AwsError>& first_error() const { return first_error_; }

 private:
  Result<int64_t> Run(std::string_view sql, const std::vector<Value>& params,
                      std::vector<Row>* rows) {
    if (first_error_) {
      return AwsError::Internal("transaction aborted by an earlier error, statement ignored: " +
                                first_error_->message);
    }
    auto r = RunStatement(sql, params, rows);
    if (!r) first_error_ = r.error();
    return r;
  }

  Result<int64_t> RunStatement(std::string_view sql, const std::vector<Value>& params,
                               std::vector<Row>* rows) {
    sqlite3* db = conn_.db();
    auto prepared = conn_.Prepare(sql);
    if (!prepared) return prepared.take_error();
    sqlite3_stmt* stmt = *prepared;
    if (stmt == nullptr) {
      if (!params.empty()) return AwsError::Internal("parameters given for an empty statement");
      return int64_t{0};
    }
    const int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size())) {
      return AwsError::Internal("statement has " + std::to_string(expected) + " placeholders but " +
                                std::to_string(params.size()) +
                                " parameters were given: " + std::string(sql));
    }
    int rc = SQLITE_OK;
    for (int i = 0; i < expected && rc == SQLITE_OK; ++i) {
      const Value& v = params[i];
      if (const auto* x = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, i + 1, *x);
      } else if (const auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, i + 1, *d);
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(stmt, i + 1, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
      } else {
        rc = sqlite3_bind_null(stmt, i + 1);
      }
    }
    std::optional<AwsError> error;
    if (rc != SQLITE_OK) error = SqliteError(db, "binding parameters");
    const int64_t before = sqlite3_total_changes64(db);
    while (!error) {
      rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        error = SqliteError(db);
        break;
      }
      if (rows == nullptr) continue;
      Row& row = rows->emplace_back();
      const int n = sqlite3_column_count(stmt);
      row.cols.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            row.cols.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          case SQLITE_FLOAT:
            row.cols.emplace_back(sqlite3_column_double(stmt, c));
            break;
          case SQLITE_NULL:
            row.cols.emplace_back(std::monostate{});
            break;
          default: {  // TEXT or BLOB
            const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
            const int len = sqlite3_column_bytes(stmt, c);
            row.cols.emplace_back(std::string(p != nullptr ? p : "", static_cast<size_t>(len)));
          }
        }
      }
    }
    // A statement changed rows only if the total moved; sqlite3_changes64 is stale after DDL.
    const int64_t changed = sqlite3_total_changes64(db) == before ? 0 : sqlite3_changes64(db);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (error) return *std::move(error);
    return changed;
  }

  SqliteConn& conn_;
  std::optional<AwsError> first_error_;
};

// Runs `fn` inside SAVEPOINT gc_write on the writer connection. On failure the savepoint is rolled
// back; if even that fails the whole transaction is rolled back (the caller sees autocommit).
Status RunInSavepoint(SqliteConn& conn, const std::function<Status(Tx&)>& fn) {
  if (auto sp = conn.Control("SAVEPOINT gc_write"); !sp) return sp;
  SqliteTx tx(conn);
  Status st = CallFn(fn, tx);
  if (st.ok() && tx.first_error()) st = *tx.first_error();
  if (sqlite3_get_autocommit(conn.db())) return st;  // SQLite already rolled everything back
  if (st.ok()) {
    Status released = conn.Control("RELEASE gc_write");
    if (released.ok()) return st;
    st = released;
  }
  Status undone = conn.Control("ROLLBACK TO gc_write");
  if (undone.ok()) undone = conn.Control("RELEASE gc_write");
  // A failed closure may leave deferred foreign-key checking on (Reset sets it); clear it.
  if (undone.ok()) undone = conn.Control("PRAGMA defer_foreign_keys = OFF");
  if (!undone.ok()) conn.Control("ROLLBACK");  // never commit a failed closure's work
  return st;
}

}  // namespace

// A queued write. Write's ops live on the waiting caller's stack (`done` + `cv`); WriteAsync's
// own their function and are deleted by the writer after calling `callback`.
struct SqliteStore::WriteOp {
  explicit WriteOp(const std::function<Status(Tx&)>* f) : fn(f) {}
  WriteOp(std::function<Status(Tx&)> f, WriteDone cb)
      : owned_fn(std::move(f)), fn(&owned_fn), callback(std::move(cb)) {}
  std::function<Status(Tx&)> owned_fn;  // WriteAsync only
  const std::function<Status(Tx&)>* fn;
  WriteDone callback;            // WriteAsync only
  std::optional<Status> result;  // set by the writer before `done`
  bool done = false;             // guarded by SqliteStore::mu_
  std::condition_variable cv;    // signalled when `done` is set
};

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  if (path.empty() || path == ":memory:" || path.starts_with("file:")) {
    return AwsError::Internal("SQLite store needs a file path, got '" + path + "'");
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return AwsError::Internal("creating " + parent.string() + ": " + ec.message());
  }
  auto writer = SqliteConn::Open(path, /*read_only=*/false);
  if (!writer) return writer.take_error();
  return std::unique_ptr<SqliteStore>(new SqliteStore(path, std::move(*writer)));
}

SqliteStore::SqliteStore(std::string path, std::unique_ptr<SqliteConn> writer)
    : path_(std::move(path)), writer_conn_(std::move(writer)) {
  completer_ = std::thread([this] { CompleterLoop(); });
  writer_ = std::thread([this] { WriterLoop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  queue_cv_.notify_all();
  writer_.join();
  {
    std::lock_guard lock(completed_mu_);
    completer_stop_ = true;
  }
  completed_cv_.notify_all();
  completer_.join();  // after every callback has run
  idle_readers_.clear();
  writer_conn_.reset();  // the last connection closes: checkpoints the WAL
}

Status SqliteStore::Write(const std::function<Status(Tx&)>& fn) {
  try {
    if (std::this_thread::get_id() == writer_.get_id()) {
      return AwsError::Internal("Store::Write called from inside a Write (would deadlock)");
    }
    WriteOp op(&fn);
    std::unique_lock lock(mu_);
    if (stop_) return AwsError::Internal("store is closing");
    queue_.push_back(&op);
    if (queue_.size() == 1) queue_cv_.notify_one();  // else the writer is already awake
    op.cv.wait(lock, [&op] { return op.done; });
    if (!op.result) return AwsError::Internal("write outcome unknown");  // not expected
    return std::move(*op.result);
  } catch (const std::exception& e) {
    return AwsError::Internal(std::string("write failed: ") + e.what());
  }
}

void SqliteStore::WriteAsync(std::function<Status(Tx&)> fn, WriteDone done) {
  auto* op = new WriteOp(std::move(fn), std::move(done));
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      queue_.push_back(op);
      if (queue_.size() == 1) queue_cv_.notify_one();
      return;
    }
  }
  WriteDone callback = std::move(op->callback);
  delete op;
  callback(AwsError::Internal("store is closing"));
}

void SqliteStore::WriterLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    queue_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stop_ and nothing left to do
    std::vector<WriteOp*> batch(queue_.begin(), queue_.end());
    queue_.clear();
    lock.unlock();
    try {
      RunBatch(batch);
    } catch (const std::exception& e) {  // e.g. bad_alloc: fail what is unfinished, carry on
      if (!sqlite3_get_autocommit(writer_conn_->db())) writer_conn_->Control("ROLLBACK");
      for (WriteOp* op : batch) {
        if (!op->result) op->result = AwsError::Internal(std::string("writer: ") + e.what());
      }
    }
    // Asynchronous writers hear from the completer thread.
    bool any_async = false;
    {
      std::lock_guard done_lock(completed_mu_);
      for (WriteOp*& op : batch) {
        if (!op->callback) continue;
        completed_.push_back(op);
        op = nullptr;
        any_async = true;
      }
    }
    if (any_async) completed_cv_.notify_one();
    lock.lock();
    stats_.writes += static_cast<int64_t>(batch.size());
    for (WriteOp* op : batch) {
      if (op == nullptr) continue;
      op->done = true;
      op->cv.notify_one();  // under mu_: the waiter cannot return (and free op) before we unlock
    }
  }
}

void SqliteStore::CompleterLoop() {
  std::unique_lock lock(completed_mu_);
  while (true) {
    completed_cv_.wait(lock, [this] { return completer_stop_ || !completed_.empty(); });
    if (completed_.empty()) break;  // stopping, and every callback has run
    std::deque<WriteOp*> ops;
    ops.swap(completed_);
    lock.unlock();
    for (WriteOp* op : ops) {
      Status result = op->result ? std::move(*op->result)
                                 : Status(AwsError::Internal("write outcome unknown"));
      try {
        op->callback(std::move(result));
      } catch (const std::exception& e) {
        fmt::print(stderr, "store: write callback failed: {}\n", e.what());
      }
      delete op;
    }
    lock.lock();
  }
}

void SqliteStore::RunBatch(std::vector<WriteOp*> batch) {
  SqliteConn& conn = *writer_conn_;
  int64_t commits = 0;
  while (!batch.empty()) {
    Status begin = conn.Control("BEGIN IMMEDIATE");
    if (!begin.ok()) {
      for (WriteOp* op : batch) op->result = begin;
      break;
    }
    std::vector<WriteOp*> succeeded;  // ran fine; their result waits for COMMIT
    std::vector<WriteOp*> rerun;      // to run again in a fresh transaction
    for (size_t i = 0; i < batch.size(); ++i) {
      WriteOp* op = batch[i];
      Status st = RunInSavepoint(conn, *op->fn);
      if (sqlite3_get_autocommit(conn.db())) {
        // The whole transaction is gone (SQLite rolls back on e.g. SQLITE_FULL or IOERR): this op
        // gets its error; the ones that had succeeded, and those not run yet, go again.
        op->result = st.ok() ? Status(AwsError::Internal("transaction rolled back by SQLite")) : st;
        rerun = std::move(succeeded);
        rerun.insert(rerun.end(), batch.begin() + static_cast<ptrdiff_t>(i) + 1, batch.end());
        succeeded.clear();
        break;
      }
      if (st.ok()) {
        succeeded.push_back(op);
      } else {
        op->result = std::move(st);
      }
    }
    if (!sqlite3_get_autocommit(conn.db())) {
      Status commit = conn.Control("COMMIT");  // the one fsync of the batch
      if (commit.ok()) {
        ++commits;
      } else {
        conn.Control("ROLLBACK");
      }
      for (WriteOp* op : succeeded) op->result = commit;
    }
    batch = std::move(rerun);
  }
  std::lock_guard lock(mu_);
  stats_.commits += commits;
}

Result<std::unique_ptr<SqliteConn>> SqliteStore::AcquireReader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<SqliteConn> conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return conn;
    }
  }
  return SqliteConn::Open(path_, /*read_only=*/true);
}

void SqliteStore::ReleaseReader(std::unique_ptr<SqliteConn> conn) {
  if (!sqlite3_get_autocommit(conn->db()) && !conn->Control("ROLLBACK").ok()) return;
  std::lock_guard lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(conn));
}

Status SqliteStore::Read(const std::function<Status(Tx&)>& fn) {
  try {
    auto conn = AcquireReader();
    if (!conn) return conn.take_error();
    Status st = (*conn)->Control("BEGIN DEFERRED");
    if (st.ok()) {
      SqliteTx tx(**conn);
      st = CallFn(fn, tx);
      if (st.ok() && tx.first_error()) st = *tx.first_error();
      if (!sqlite3_get_autocommit((*conn)->db())) {
        Status end = (*conn)->Control("COMMIT");
        if (st.ok() && !end.ok()) st = end;
      }
    }
    ReleaseReader(std::move(*conn));
    return st;
  } catch (const std::exception& e) {
    return AwsError::Internal(std::string("read failed: ") + e.what());
  }
}

Status SqliteStore::Migrate(const std::vector<Migration>& migrations) {
  return Write([&migrations](Tx& tx) { return ApplyMigrations(tx, migrations); });
}

Status SqliteStore::Reset() {
  return Write([](Tx& tx) -> Status {
    auto tables = tx.Query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_migrations' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name");
    if (!tables) return tables.take_error();
    // Tables are emptied in any order; foreign keys are checked at the end, when all are empty.
    if (auto r = tx.Exec("PRAGMA defer_foreign_keys = ON"); !r) return r.take_error();
    for (const Row& t : *tables) {
      if (auto r = tx.Exec("DELETE FROM " + QuoteIdent(t.Str(0))); !r) return r.take_error();
    }
    auto seq =
        tx.Query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'");
    if (!seq) return seq.take_error();
    if (!seq->empty()) {
      if (auto r = tx.Exec("DELETE FROM sqlite_sequence"); !r) return r.take_error();
    }
    if (auto r = tx.Exec("PRAGMA defer_foreign_keys = OFF"); !r) return r.take_error();
    return Ok{};
  });
}

SqliteStore::Stats SqliteStore::GetStats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  auto s = SqliteStore::Open(path);
  if (!s) return s.take_error();
  return std::unique_ptr<Store>(std::move(*s));
}

}  // namespace gc::store
