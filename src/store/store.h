// Store: the one storage interface every service uses. Backends: SQLite (WAL, embedded default)
// and PostgreSQL. Store is thread-safe; a Tx is used by one thread inside one Read/Write call.
//
// SQL is written once, portably: `?` placeholders (the PostgreSQL backend numbers them), types
// TEXT / BIGINT / DOUBLE PRECISION, `INSERT ... ON CONFLICT ... DO UPDATE`, `LIMIT ? OFFSET ?`.
// Binary data is stored base64 text. A Write is durable (fsync'd / committed) before it returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace gc::store {

// NULL, integer, real, or text.
using Value = std::variant<std::monostate, int64_t, double, std::string>;

struct Row {
  std::vector<Value> cols;

  bool IsNull(size_t i) const { return std::holds_alternative<std::monostate>(cols.at(i)); }
  // Integer column (a text or real column is converted; NULL gives 0).
  int64_t Int(size_t i) const;
  double Real(size_t i) const;
  // Text column (an integer column is formatted; NULL gives "").
  std::string Str(size_t i) const;
};

// A statement that fails aborts its transaction on both backends: later statements in the same
// Tx fail too, and Write/Read return the first such error if `fn` returns Ok (an error `fn`
// returns wins). PostgreSQL cannot continue an aborted transaction; SQLite is made to match.
class Tx {
 public:
  virtual ~Tx() = default;
  // Runs a statement that returns rows. Errors are AwsError::Internal with the backend's message.
  virtual Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs a statement; returns the number of rows changed.
  virtual Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
};

// One schema change of one component, applied once, in version order, inside a transaction.
// `sql` may hold several statements separated by ';'.
struct Migration {
  std::string component;  // e.g. "ssm.parameters"
  int version;            // 1, 2, ... per component
  std::string sql;
};

// Errors from a unique or primary-key violation (SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY,
// PostgreSQL SQLSTATE 23505) are AwsError::Internal whose message starts with this prefix.
inline constexpr std::string_view kUniqueViolationPrefix = "unique violation: ";
inline bool IsUniqueViolation(const AwsError& e) {
  return std::string_view(e.message).starts_with(kUniqueViolationPrefix);
}

class Store {
 public:
  virtual ~Store() = default;

  // Opens a store. `url` is "sqlite:///path/to/file.db", a plain path (SQLite), or
  // "postgres://..." / "postgresql://..." (libpq connection URI).
  static Result<std::unique_ptr<Store>> Open(const std::string& url);

  // Applies the migrations not yet recorded in the `schema_migrations` table. Idempotent.
  virtual Status Migrate(const std::vector<Migration>& migrations) = 0;

  // Runs `fn` in a read-write transaction. If `fn` returns an error, everything it did is rolled
  // back and that error is returned. On success the transaction is durable when Write returns.
  // Writers are serialised (SQLite) or run SERIALIZABLE and retried on conflict (PostgreSQL), so
  // `fn` may be called more than once and must not have side effects outside `tx`.
  virtual Status Write(const std::function<Status(Tx&)>& fn) = 0;

  // Write without waiting: returns at once and calls `done` exactly once with what Write would
  // have returned, after the transaction is durable (or failed). `done` runs on a store thread
  // (or on the caller's before WriteAsync returns, if the store is closing): it must be quick,
  // must not block, and must not call Write. For event-loop threads, which must not wait for
  // the disk. `fn` follows Write's rules.
  using WriteDone = std::function<void(Status)>;
  virtual void WriteAsync(std::function<Status(Tx&)> fn, WriteDone done) = 0;

  // Runs `fn` in a read-only transaction (a consistent snapshot). Reads run concurrently.
  virtual Status Read(const std::function<Status(Tx&)>& fn) = 0;

  // Deletes every row of every table except schema_migrations (for --dev reset).
  virtual Status Reset() = 0;

  // "sqlite" or "postgres".
  virtual std::string Backend() const = 0;
};

}  // namespace gc::store
