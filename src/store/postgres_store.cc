#include "store/postgres_store.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "store/migrations.h"
#include "store/sql_text.h"

namespace gc::store {
namespace {

// Type OIDs (src/include/catalog/pg_type.dat).
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

// Key of the advisory lock that serialises Migrate across servers sharing a database.
constexpr int64_t kMigrationLockKey = 0x67635f6d69677261;  // "gc_migra"
constexpr auto kAcquireTimeout = std::chrono::seconds(60);

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// A failed statement: the Store error and the SQLSTATE ("" when there is none).
struct PgError {
  AwsError error;
  std::string sqlstate;
};

PgError MakeError(PGconn* conn, const PGresult* res) {
  std::string sqlstate;
  std::string msg;
  if (res != nullptr) {
    if (const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) sqlstate = s;
    if (const char* m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) msg = m;
    if (const char* d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) {
      msg += std::string(": ") + d;
    }
  }
  if (msg.empty()) {
    msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (msg.empty()) msg = "unknown PostgreSQL error";
  }
  if (sqlstate == "23505") msg = std::string(kUniqueViolationPrefix) + msg;
  return {AwsError::Internal(std::move(msg)), std::move(sqlstate)};
}

bool IsConflict(const std::string& sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01";  // serialization_failure, deadlock_detected
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return std::string(buf, ec == std::errc() ? end : buf);
}

// Runs `sql` with text parameters (NULL for monostate) and text results.
std::variant<PgResult, PgError> Execute(PGconn* conn, const std::string& sql,
                                        const std::vector<Value>& params) {
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    const Value& v = params[i];
    if (const auto* x = std::get_if<int64_t>(&v)) {
      texts[i] = std::to_string(*x);
    } else if (const auto* d = std::get_if<double>(&v)) {
      texts[i] = FormatDouble(*d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      if (s->find('\0') != std::string::npos) {
        return PgError{AwsError::Internal("PostgreSQL text cannot hold a NUL byte (parameter " +
                                          std::to_string(i + 1) + ")"),
                       ""};
      }
      values[i] = s->c_str();
      continue;
    } else {
      continue;  // NULL
    }
    values[i] = texts[i].c_str();
  }
  PgResult res(PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                            values.data(), nullptr, nullptr, /*resultFormat=*/0));
  const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return res;
  return MakeError(conn, res.get());
}

// Runs a parameterless control statement (BEGIN, COMMIT, ...).
std::optional<PgError> Control(PGconn* conn, const std::string& sql) {
  auto r = Execute(conn, sql, {});
  if (auto* e = std::get_if<PgError>(&r)) return std::move(*e);
  return std::nullopt;
}

Value ToValue(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return std::monostate{};
  const char* p = PQgetvalue(res, row, col);
  const size_t len = static_cast<size_t>(PQgetlength(res, row, col));
  switch (PQftype(res, col)) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid: {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(p, p + len, v);
      if (ec == std::errc() && end == p + len) return v;
      break;
    }
    case kFloat4Oid:
    case kFloat8Oid:
    case kNumericOid: {
      double v = 0;
      auto [end, ec] = std::from_chars(p, p + len, v);
      if (ec == std::errc() && end == p + len) return v;
      if (ec == std::errc::result_out_of_range) return std::strtod(p, nullptr);
      break;
    }
    case kBoolOid:  // SQLite has no boolean: TRUE/FALSE are 1/0 there
      return int64_t{len > 0 && p[0] == 't' ? 1 : 0};
    default:
      break;
  }
  return std::string(p, len);
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

void Backoff(int attempt) {
  thread_local std::minstd_rand rng(static_cast<unsigned>(
      std::hash<std::thread::id>()(std::this_thread::get_id()) ^
      static_cast<size_t>(std::chrono::steady_clock::now().time_since_epoch().count())));
  const int cap_ms = std::min(100, 2 << std::min(attempt, 6));
  std::uniform_int_distribution<int> dist(0, cap_ms * 1000);
  std::this_thread::sleep_for(std::chrono::microseconds(1000 + dist(rng)));
}

// A Tx over one connection inside BEGIN ... COMMIT. The first failed statement aborts it.
class PgTx final : public Tx {
 public:
  explicit PgTx(PGconn* conn) : conn_(conn) {}

  Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params) override {
    auto r = Run(sql, params);
    if (auto* e = std::get_if<AwsError>(&r)) return std::move(*e);
    const PGresult* res = std::get<PgResult>(r).get();
    std::vector<Row> rows;
    const int nrows = PQntuples(res);
    const int ncols = PQnfields(res);
    rows.resize(static_cast<size_t>(nrows));
    for (int i = 0; i < nrows; ++i) {
      rows[i].cols.reserve(static_cast<size_t>(ncols));
      for (int c = 0; c < ncols; ++c) rows[i].cols.push_back(ToValue(res, i, c));
    }
    return rows;
  }

  Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    auto r = Run(sql, params);
    if (auto* e = std::get_if<AwsError>(&r)) return std::move(*e);
    const char* n = PQcmdTuples(std::get<PgResult>(r).get());
    int64_t changed = 0;
    if (n != nullptr) std::from_chars(n, n + std::char_traits<char>::length(n), changed);
    return changed;
  }

  const std::optional<PgError>& first_error() const { return first_error_; }

 private:
  std::variant<PgResult, AwsError> Run(std::string_view sql, const std::vector<Value>& params) {
    if (first_error_) {
      return AwsError::Internal("transaction aborted by an earlier error, statement ignored: " +
                                first_error_->error.message);
    }
    int placeholders = 0;
    const std::string rewritten = RewritePlaceholders(sql, &placeholders);
    std::variant<PgResult, PgError> r;
    if (placeholders != static_cast<int>(params.size())) {
      r = PgError{AwsError::Internal("statement has " + std::to_string(placeholders) +
                                     " placeholders but " + std::to_string(params.size()) +
                                     " parameters were given: " + std::string(sql)),
                  ""};
    } else {
      r = Execute(conn_, rewritten, params);
    }
    if (auto* e = std::get_if<PgError>(&r)) {
      first_error_ = *e;
      return e->error;
    }
    return std::get<PgResult>(std::move(r));
  }

  PGconn* conn_;
  std::optional<PgError> first_error_;
};

}  // namespace

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(url));
  auto conn = store->Acquire();  // fail early on a bad URL or an unreachable server
  if (!conn) return conn.take_error();
  store->Release(*conn);
  return store;
}

PostgresStore::~PostgresStore() {
  async_writers_.reset();  // finishes queued asynchronous writes
  std::lock_guard lock(mu_);
  for (PGconn* c : idle_) PQfinish(c);
  idle_.clear();
}

Result<PGconn*> PostgresStore::Acquire() {
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kAcquireTimeout,
                      [this] { return !idle_.empty() || open_ < kMaxConnections; })) {
      return AwsError::Internal("PostgreSQL connection pool exhausted");
    }
    if (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    ++open_;
  }
  PGconn* c = PQconnectdb(url_.c_str());
  if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
    std::string msg = c != nullptr ? PQerrorMessage(c) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(c);
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    cv_.notify_one();
    return AwsError::Internal("connecting to PostgreSQL: " + msg);
  }
  // NOTICEs (e.g. "relation already exists, skipping") must not go to stderr.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  PQsetClientEncoding(c, "UTF8");
  return c;
}

void PostgresStore::Release(PGconn* conn) {
  const bool reusable =
      PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
  {
    std::lock_guard lock(mu_);
    if (reusable) {
      idle_.push_back(conn);
    } else {
      --open_;
    }
  }
  if (!reusable) PQfinish(conn);
  cv_.notify_one();
}

Status PostgresStore::RunTx(const char* begin_sql, const std::function<Status(Tx&)>& fn,
                            bool retry_conflicts) {
  try {
    for (int attempt = 1;; ++attempt) {
      auto acquired = Acquire();
      if (!acquired) return acquired.take_error();
      PGconn* conn = *acquired;
      if (auto e = Control(conn, begin_sql)) {
        const bool broken = PQstatus(conn) != CONNECTION_OK;
        Release(conn);
        if (broken && attempt < kMaxAttempts) continue;  // a stale pooled connection: reconnect
        return std::move(e->error);
      }
      std::string sqlstate;
      Status st = Ok{};
      {
        PgTx tx(conn);
        st = CallFn(fn, tx);
        if (tx.first_error()) {
          sqlstate = tx.first_error()->sqlstate;
          if (st.ok()) st = tx.first_error()->error;
        }
      }
      if (st.ok()) {
        PgResult res(PQexec(conn, "COMMIT"));
        if (res && PQresultStatus(res.get()) == PGRES_COMMAND_OK &&
            std::string_view(PQcmdStatus(res.get())) == "COMMIT") {
          Release(conn);
          return Ok{};
        }
        if (res && PQresultStatus(res.get()) == PGRES_COMMAND_OK) {
          st = AwsError::Internal("COMMIT rolled back the transaction");
        } else {
          PgError e = MakeError(conn, res.get());
          sqlstate = e.sqlstate;
          st = std::move(e.error);
        }
      } else {
        Control(conn, "ROLLBACK");
      }
      Release(conn);
      if (retry_conflicts && IsConflict(sqlstate) && attempt < kMaxAttempts) {
        Backoff(attempt);
        continue;
      }
      return st;
    }
  } catch (const std::exception& e) {
    return AwsError::Internal(std::string("PostgreSQL transaction failed: ") + e.what());
  }
}

void PostgresStore::WriteAsync(std::function<Status(Tx&)> fn, WriteDone done) {
  {
    std::lock_guard lock(mu_);
    if (!async_writers_) async_writers_ = std::make_unique<WorkerPool>(kMaxConnections, "pg-write");
  }
  async_writers_->Post([this, fn = std::move(fn), done = std::move(done)] { done(Write(fn)); });
}

Status PostgresStore::Write(const std::function<Status(Tx&)>& fn) {
  return RunTx("BEGIN ISOLATION LEVEL SERIALIZABLE", fn, /*retry_conflicts=*/true);
}

Status PostgresStore::Read(const std::function<Status(Tx&)>& fn) {
  return RunTx("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn, /*retry_conflicts=*/false);
}

Status PostgresStore::Migrate(const std::vector<Migration>& migrations) {
  // READ COMMITTED, so that once the lock is held every statement sees what earlier migrators
  // committed (a SERIALIZABLE snapshot would date from before the wait).
  return RunTx(
      "BEGIN ISOLATION LEVEL READ COMMITTED",
      [&migrations](Tx& tx) -> Status {
        auto locked =
            tx.Query("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
        if (!locked) return locked.take_error();
        return ApplyMigrations(tx, migrations);
      },
      /*retry_conflicts=*/true);
}

Status PostgresStore::Reset() {
  return Write([](Tx& tx) -> Status {
    auto tables = tx.Query(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename <> 'schema_migrations' ORDER BY tablename");
    if (!tables) return tables.take_error();
    if (tables->empty()) return Ok{};
    std::string sql = "TRUNCATE TABLE ";
    for (size_t i = 0; i < tables->size(); ++i) {
      if (i > 0) sql += ", ";
      sql += QuoteIdent((*tables)[i].Str(0));
    }
    sql += " RESTART IDENTITY";
    if (auto r = tx.Exec(sql); !r) return r.take_error();
    return Ok{};
  });
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  auto s = PostgresStore::Open(url);
  if (!s) return s.take_error();
  return std::unique_ptr<Store>(std::move(*s));
}

}  // namespace gc::store
