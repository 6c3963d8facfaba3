// Conformance tests for Store, run against both backends (SQLite in a temp dir per test, and a
// real PostgreSQL server the test binary starts once), plus unit tests of the SQL text helpers.
#include "store/store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/sql_text.h"
#include "store/sqlite_store.h"

namespace gc::store {
namespace {

namespace fs = std::filesystem;

#define ASSERT_OK(expr)                                            \
  do {                                                             \
    auto _st = (expr);                                             \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.error().message; \
  } while (0)
#define EXPECT_OK(expr)                                            \
  do {                                                             \
    auto _st = (expr);                                             \
    EXPECT_TRUE(_st.ok()) << #expr << ": " << _st.error().message; \
  } while (0)

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunShell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : (WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc));
}

// ---------------------------------------------------------------------------------------------
// A throwaway PostgreSQL server, started on first use and stopped at the end of the binary.

struct PgServer {
  std::string skip;   // PostgreSQL is not available here: the tests are skipped
  std::string error;  // it is available but did not start: the tests fail
  std::string dir;
  std::string url;       // postgresql://postgres@127.0.0.1:PORT/postgres
  std::string base_url;  // without the database name
  std::string bin;
  std::string runner;    // prefix that runs a command as the postgres user ("" if not root)
  std::string stop_cmd;  // shell command that stops the server and deletes `dir`
  int watchdog_fd = -1;  // write end of the watchdog's pipe (see StartWatchdog)
  bool running = false;
};

std::string FindPgBin() {
  if (const char* env = std::getenv("PG_BIN")) {
    if (fs::exists(fs::path(env) / "pg_ctl") && fs::exists(fs::path(env) / "initdb")) return env;
    return "";
  }
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    if (!fs::exists(bin / "pg_ctl") || !fs::exists(bin / "initdb")) continue;
    const int version = std::atoi(entry.path().filename().c_str());
    if (version > best_version) {
      best_version = version;
      best = bin.string();
    }
  }
  return best;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Forks a watchdog that runs `s.stop_cmd` once this process is gone, however it ends (a crash,
// SIGKILL, SIGPIPE when the output is piped to `head`): it blocks reading a pipe whose only write
// end this process holds (close-on-exec, so the server does not inherit it).
void StartWatchdog(PgServer& s) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls from here on
    close(fds[1]);
    const int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    char byte;
    while (read(fds[0], &byte, 1) != 0) {
    }
    execl("/bin/sh", "sh", "-c", s.stop_cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[0]);
  if (pid < 0) {
    close(fds[1]);
    return;
  }
  s.watchdog_fd = fds[1];
}

void StartPg(PgServer& s) {
  s.bin = FindPgBin();
  if (s.bin.empty()) {
    s.skip = "no initdb/pg_ctl under $PG_BIN or /usr/lib/postgresql/*/bin";
    return;
  }
  uid_t uid = 0;
  gid_t gid = 0;
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      s.skip = "running as root and there is no 'postgres' user to run PostgreSQL as";
      return;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if (fs::exists("/usr/sbin/runuser") || fs::exists("/sbin/runuser") ||
        fs::exists("/usr/bin/runuser")) {
      s.runner = "runuser -u postgres -- ";
    } else if (fs::exists("/bin/su") || fs::exists("/usr/bin/su")) {
      s.runner = "su postgres -s /bin/sh -c ";  // the command follows in single quotes
    } else {
      s.skip = "running as root and neither runuser nor su is available";
      return;
    }
  }
  s.dir = MakeTempDir("gc_pgtest_");
  auto as_pg = [&s](const std::string& cmd) {
    std::string wrapped = s.runner.starts_with("su ") ? s.runner + "'" + cmd + "'" : s.runner + cmd;
    return "cd " + s.dir + " && " + wrapped;
  };
  s.stop_cmd = "(" + as_pg(s.bin + "/pg_ctl -D " + s.dir + "/data -m fast -w stop") +
               ") > /dev/null 2>&1; rm -rf " + s.dir;
  StartWatchdog(s);
  if (geteuid() == 0 && chown(s.dir.c_str(), uid, gid) != 0) {
    s.error = "chown " + s.dir + " failed";
    return;
  }
  const std::string initdb = as_pg(s.bin + "/initdb -D " + s.dir + "/data -U postgres " +
                                   "--auth=trust -E UTF8 --locale=C -N") +
                             " > " + s.dir + "/initdb.log 2>&1";
  if (RunShell(initdb) != 0) {
    s.error = "initdb failed:\n" + ReadFile(s.dir + "/initdb.log");
    return;
  }
  for (int attempt = 0; attempt < 3 && !s.running; ++attempt) {
    const int port = FreeLoopbackPort();
    const std::string start =
        as_pg(s.bin + "/pg_ctl -D " + s.dir + "/data -l " + s.dir + "/server.log -w -t 60 " +
              "-o \"-c listen_addresses=127.0.0.1 -p " + std::to_string(port) + " -k " + s.dir +
              " -c fsync=on\" start") +
        " > " + s.dir + "/pg_ctl.log 2>&1";
    if (RunShell(start) == 0) {
      s.running = true;
      s.base_url = "postgresql://postgres@127.0.0.1:" + std::to_string(port);
      s.url = s.base_url + "/postgres";
    }
  }
  if (!s.running) {
    s.error = "pg_ctl start failed:\n" + ReadFile(s.dir + "/pg_ctl.log") +
              ReadFile(s.dir + "/server.log");
  }
}

void StopPg(PgServer& s) {
  if (!s.stop_cmd.empty()) RunShell(s.stop_cmd);
  s.stop_cmd.clear();
  s.running = false;
  if (s.watchdog_fd >= 0) close(s.watchdog_fd);  // the watchdog wakes, finds nothing, exits
  s.watchdog_fd = -1;
}

class PgEnvironment : public ::testing::Environment {
 public:
  // The server, started on first call (so a run filtered to SQLite never starts one).
  static PgServer& Server() {
    static std::once_flag once;
    std::call_once(once, [] {
      StartPg(server_);
      if (!server_.skip.empty()) {
        std::fprintf(stderr,
                     "\n**********************************************************************\n"
                     "*** POSTGRESQL TESTS SKIPPED: %s\n"
                     "**********************************************************************\n\n",
                     server_.skip.c_str());
      } else if (server_.running) {
        std::fprintf(stderr, "[ PG ] test server at %s (data in %s)\n", server_.url.c_str(),
                     server_.dir.c_str());
        std::atexit([] { StopPg(server_); });  // in case TearDown is never reached
      }
    });
    return server_;
  }
  void TearDown() override { StopPg(server_); }

 private:
  static PgServer server_;
};
PgServer PgEnvironment::server_;
[[maybe_unused]] ::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(new PgEnvironment);

// Runs one admin statement on the test server's `postgres` database.
std::string PgAdmin(const std::string& sql) {
  PGconn* c = PQconnectdb(PgEnvironment::Server().url.c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

// ---------------------------------------------------------------------------------------------
// Helpers over a Store.

Status ExecW(Store& s, const std::string& sql, const std::vector<Value>& params = {}) {
  return s.Write([&](Tx& tx) -> Status {
    auto r = tx.Exec(sql, params);
    if (!r) return r.take_error();
    return Ok{};
  });
}

Result<std::vector<Row>> QueryR(Store& s, const std::string& sql,
                                const std::vector<Value>& params = {}) {
  std::vector<Row> out;
  Status st = s.Read([&](Tx& tx) -> Status {
    auto r = tx.Query(sql, params);
    if (!r) return r.take_error();
    out = std::move(*r);
    return Ok{};
  });
  if (!st) return st.take_error();
  return out;
}

int64_t Count(Store& s, const std::string& table) {
  auto r = QueryR(s, "SELECT COUNT(*) FROM " + table);
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return -1;
  }
  return r->at(0).Int(0);
}

std::set<int64_t> Keys(Store& s, const std::string& sql) {
  std::set<int64_t> out;
  auto r = QueryR(s, sql);
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return out;
  }
  for (const Row& row : *r) out.insert(row.Int(0));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The conformance suite, parameterised by backend.

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = MakeTempDir("gc_store_test_");
      url_ = "sqlite://" + dir_ + "/sub/dir/test.db";  // the parent directories do not exist yet
    } else {
      PgServer& pg = PgEnvironment::Server();
      if (!pg.skip.empty()) {
        GTEST_SKIP() << "POSTGRESQL TESTS SKIPPED: " << pg.skip;
      }
      ASSERT_TRUE(pg.running) << pg.error;
      static std::atomic<int> counter{0};
      db_ = "gc_test_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
      ASSERT_EQ(PgAdmin("CREATE DATABASE " + db_), "");
      url_ = pg.base_url + "/" + db_;
    }
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    if (!db_.empty()) {
      EXPECT_EQ(PgAdmin("DROP DATABASE " + db_ + " WITH (FORCE)"), "");
    }
  }

  std::unique_ptr<Store> OpenStore() {
    auto r = Store::Open(url_);
    if (!r) {
      ADD_FAILURE() << "Store::Open(" << url_ << "): " << r.error().message;
      return nullptr;
    }
    return std::move(*r);
  }

  std::string dir_;
  std::string db_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, ReportsItsBackend) { EXPECT_EQ(store_->Backend(), GetParam()); }

TEST_P(StoreTest, MigrationsApplyOnceAndAreIdempotent) {
  const std::vector<Migration> migrations = {
      {"test.a", 1,
       "CREATE TABLE a (k TEXT PRIMARY KEY, v BIGINT);\n"
       "-- a comment; with a semicolon\n"
       "INSERT INTO a (k, v) VALUES ('x;y', 1);\n"
       "/* another; comment */ INSERT INTO a (k, v) VALUES ('it''s; fine', 2);"},
  };
  ASSERT_OK(store_->Migrate(migrations));
  ASSERT_OK(store_->Migrate(migrations));
  EXPECT_EQ(Count(*store_, "a"), 2);
  auto rows = QueryR(*store_, "SELECT k FROM a ORDER BY v");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].Str(0), "x;y");
  EXPECT_EQ((*rows)[1].Str(0), "it's; fine");
  EXPECT_EQ(Count(*store_, "schema_migrations"), 1);

  store_.reset();  // still applied after reopening
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK(store_->Migrate(migrations));
  EXPECT_EQ(Count(*store_, "a"), 2);
}

TEST_P(StoreTest, MigrationsRunInVersionOrder) {
  // Listed out of order: v2 and v3 need v1's table.
  std::vector<Migration> migrations = {
      {"test.b", 3, "INSERT INTO b (n, s) VALUES (3, 'three')"},
      {"test.b", 1, "CREATE TABLE b (n BIGINT PRIMARY KEY)"},
      {"test.b", 2, "ALTER TABLE b ADD COLUMN s TEXT"},
      {"test.other", 1, "CREATE TABLE other (n BIGINT)"},
  };
  ASSERT_OK(store_->Migrate(migrations));
  auto rows = QueryR(
      *store_, "SELECT component, version FROM schema_migrations ORDER BY component, version");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].Str(0), "test.b");
  EXPECT_EQ((*rows)[2].Int(1), 3);
  EXPECT_EQ((*rows)[3].Str(0), "test.other");

  // A later release adds v4: only it runs.
  migrations.push_back({"test.b", 4, "INSERT INTO b (n, s) VALUES (4, 'four')"});
  ASSERT_OK(store_->Migrate(migrations));
  EXPECT_EQ(Count(*store_, "b"), 2);
  EXPECT_EQ(Count(*store_, "schema_migrations"), 5);

  EXPECT_FALSE(store_->Migrate({{"test.c", 1, "SELECT 1"}, {"test.c", 1, "SELECT 2"}}).ok())
      << "duplicate versions must be rejected";
}

// Several servers starting at once on one database: each migration still runs exactly once.
TEST_P(StoreTest, ConcurrentMigrateFromSeveralStores) {
  const std::vector<Migration> migrations = {
      {"test.race", 1, "CREATE TABLE race (n BIGINT); INSERT INTO race (n) VALUES (1)"},
      {"test.race", 2, "INSERT INTO race (n) VALUES (2)"},
  };
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < 4; ++i) {
    stores.push_back(OpenStore());
    ASSERT_NE(stores.back(), nullptr);
  }
  std::vector<Status> results(stores.size(), Ok{});
  std::vector<std::thread> threads;
  for (size_t i = 0; i < stores.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = stores[i]->Migrate(migrations); });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : results) EXPECT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(Count(*store_, "race"), 2);
  EXPECT_EQ(Count(*store_, "schema_migrations"), 2);
}

TEST_P(StoreTest, FailedMigrationIsNotRecorded) {
  ASSERT_OK(store_->Migrate({{"test.c", 1, "CREATE TABLE c (n BIGINT)"}}));
  Status st =
      store_->Migrate({{"test.c", 1, "CREATE TABLE c (n BIGINT)"},
                       {"test.c", 2, "INSERT INTO c (n) VALUES (1); INSERT INTO nope VALUES (1)"}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("test.c v2"), std::string::npos) << st.error().message;
  EXPECT_EQ(Count(*store_, "c"), 0);
  EXPECT_EQ(Count(*store_, "schema_migrations"), 1);
  ASSERT_OK(
      store_->Migrate({{"test.c", 1, "CREATE TABLE c (n BIGINT)"},
                       {"test.c", 2, "INSERT INTO c (n) VALUES (1); INSERT INTO c VALUES (2)"}}));
  EXPECT_EQ(Count(*store_, "c"), 2);
}

TEST_P(StoreTest, RoundTripsEveryValueKind) {
  ASSERT_OK(store_->Migrate({{"test.v", 1,
                              "CREATE TABLE vals (id BIGINT PRIMARY KEY, i BIGINT, "
                              "d DOUBLE PRECISION, s TEXT)"}}));
  const std::string unicode =
      "h\xC3\xA9llo w\xC3\xB6rld \xE2\x80\x94 \xE2\x9C\x93 "
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x9A\x80 \x01 \"'\\";
  std::string big;
  big.reserve(1 << 20);
  while (big.size() < (1 << 20)) big += "0123456789abcdef\xE2\x9C\x93 ";
  struct Case {
    int64_t id;
    Value i, d, s;
  };
  const std::vector<Case> cases = {
      {1, std::numeric_limits<int64_t>::max(), 3.25, std::string("plain")},
      {2, std::numeric_limits<int64_t>::min(), -0.5, std::string("")},
      {3, int64_t{0}, 1e300, unicode},
      {4, std::monostate{}, std::monostate{}, std::monostate{}},
      {5, int64_t{42}, 1.0 / 3.0, big},
      {6, int64_t{-7}, 5e-324, std::string("?")},
  };
  ASSERT_OK(store_->Write([&](Tx& tx) -> Status {
    for (const Case& c : cases) {
      auto r = tx.Exec("INSERT INTO vals (id, i, d, s) VALUES (?, ?, ?, ?)", {c.id, c.i, c.d, c.s});
      if (!r) return r.take_error();
      if (*r != 1) return AwsError::Internal("expected 1 changed row");
    }
    return Ok{};
  }));
  for (const Case& c : cases) {
    auto rows = QueryR(*store_, "SELECT i, d, s, id FROM vals WHERE id = ?", {c.id});
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    const Row& row = (*rows)[0];
    ASSERT_EQ(row.cols.size(), 4u);
    EXPECT_EQ(row.cols[0], c.i) << "id " << c.id;
    EXPECT_EQ(row.cols[1], c.d) << "id " << c.id;
    EXPECT_TRUE(row.cols[2] == c.s) << "id " << c.id;
    EXPECT_EQ(row.Int(3), c.id);
  }
  // Text parameters compare exactly, unicode and all.
  auto rows = QueryR(*store_, "SELECT id FROM vals WHERE s = ?", {unicode});
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Int(0), 3);
  rows = QueryR(*store_, "SELECT id FROM vals WHERE i IS NULL AND s IS NULL");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE((*rows)[0].cols[0] == Value(int64_t{4}));
  // A `?` inside a literal is not a placeholder.
  rows = QueryR(*store_, "SELECT COUNT(*) FROM vals WHERE s = '?' OR id = ?", {int64_t{1}});
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ((*rows)[0].Int(0), 2);
  // Aggregates come back as numbers on both backends.
  rows = QueryR(*store_, "SELECT COUNT(*), SUM(d), MAX(id) FROM vals WHERE id IN (1, 2)");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ((*rows)[0].Int(0), 2);
  EXPECT_DOUBLE_EQ((*rows)[0].Real(1), 2.75);
  EXPECT_EQ((*rows)[0].Int(2), 2);
}

TEST_P(StoreTest, ExecReportsChangedRows) {
  ASSERT_OK(store_->Migrate({{"test.kv", 1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT)"}}));
  ASSERT_OK(store_->Write([](Tx& tx) -> Status {
    for (int i = 0; i < 5; ++i) {
      auto r =
          tx.Exec("INSERT INTO kv (k, v) VALUES (?, ?)", {"k" + std::to_string(i), int64_t{i}});
      if (!r) return r.take_error();
    }
    auto up = tx.Exec("UPDATE kv SET v = v + 10 WHERE v >= ?", {int64_t{2}});
    if (!up || *up != 3) return AwsError::Internal("UPDATE should change 3 rows");
    auto none = tx.Exec("UPDATE kv SET v = 0 WHERE k = ?", {std::string("missing")});
    if (!none || *none != 0) return AwsError::Internal("UPDATE should change 0 rows");
    auto ddl = tx.Exec("CREATE TABLE other (n BIGINT)");
    if (!ddl || *ddl != 0) return AwsError::Internal("DDL should change 0 rows");
    auto del = tx.Exec("DELETE FROM kv WHERE v < ?", {int64_t{10}});
    if (!del || *del != 2) return AwsError::Internal("DELETE should change 2 rows");
    return Ok{};
  }));
}

TEST_P(StoreTest, WriteErrorRollsBackEverything) {
  ASSERT_OK(store_->Migrate({{"test.kv", 1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT)"}}));
  Status st = store_->Write([](Tx& tx) -> Status {
    for (int i = 0; i < 3; ++i) {
      auto r =
          tx.Exec("INSERT INTO kv (k, v) VALUES (?, ?)", {"k" + std::to_string(i), int64_t{i}});
      if (!r) return r.take_error();
    }
    return AwsError::Validation("changed my mind");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "ValidationException");
  EXPECT_EQ(st.error().message, "changed my mind");
  EXPECT_EQ(Count(*store_, "kv"), 0);

  st = store_->Write([](Tx& tx) -> Status {
    auto r = tx.Exec("INSERT INTO kv (k, v) VALUES ('a', 1)");
    if (!r) return r.take_error();
    throw std::runtime_error("boom");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "InternalFailure");
  EXPECT_NE(st.error().message.find("boom"), std::string::npos);
  EXPECT_EQ(Count(*store_, "kv"), 0);
}

TEST_P(StoreTest, FailedStatementAbortsTheTransaction) {
  ASSERT_OK(store_->Migrate({{"test.kv", 1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT)"}}));
  bool later_failed = false;
  Status st = store_->Write([&](Tx& tx) -> Status {
    EXPECT_TRUE(tx.Exec("INSERT INTO kv (k, v) VALUES ('a', 1)").ok());
    EXPECT_FALSE(tx.Exec("INSERT INTO no_such_table VALUES (1)").ok());
    later_failed = !tx.Exec("INSERT INTO kv (k, v) VALUES ('b', 2)").ok();
    return Ok{};  // ignores the errors: Write must not commit anyway
  });
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(later_failed);
  EXPECT_EQ(Count(*store_, "kv"), 0);
  // Wrong parameter counts are errors, not silent NULLs.
  EXPECT_FALSE(ExecW(*store_, "INSERT INTO kv (k, v) VALUES (?, ?)", {std::string("x")}).ok());
  EXPECT_FALSE(ExecW(*store_, "SELEC nonsense").ok());
}

TEST_P(StoreTest, UniqueAndForeignKeyViolationsAreErrors) {
  ASSERT_OK(store_->Migrate({{"test.fk", 1,
                              "CREATE TABLE parent (id BIGINT PRIMARY KEY, name TEXT UNIQUE);"
                              "CREATE TABLE child (id BIGINT PRIMARY KEY, parent_id BIGINT NOT "
                              "NULL REFERENCES parent (id))"}}));
  ASSERT_OK(ExecW(*store_, "INSERT INTO parent (id, name) VALUES (?, ?)",
                  {int64_t{1}, std::string("a")}));
  Status dup =
      ExecW(*store_, "INSERT INTO parent (id, name) VALUES (?, ?)", {int64_t{1}, std::string("b")});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "InternalFailure");
  EXPECT_TRUE(IsUniqueViolation(dup.error())) << dup.error().message;
  Status dup_unique =
      ExecW(*store_, "INSERT INTO parent (id, name) VALUES (?, ?)", {int64_t{2}, std::string("a")});
  ASSERT_FALSE(dup_unique.ok());
  EXPECT_TRUE(IsUniqueViolation(dup_unique.error())) << dup_unique.error().message;
  EXPECT_EQ(Count(*store_, "parent"), 1);

  // The error reaches the closure, which can map it.
  Status mapped = store_->Write([](Tx& tx) -> Status {
    auto r = tx.Exec("INSERT INTO parent (id, name) VALUES (1, 'c')");
    if (!r && IsUniqueViolation(r.error())) {
      return AwsError{"ParameterAlreadyExists", "exists", 400, true};
    }
    return Ok{};
  });
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.error().code, "ParameterAlreadyExists");

  Status orphan = ExecW(*store_, "INSERT INTO child (id, parent_id) VALUES (1, 99)");
  ASSERT_FALSE(orphan.ok());
  EXPECT_FALSE(IsUniqueViolation(orphan.error())) << orphan.error().message;
  ASSERT_OK(ExecW(*store_, "INSERT INTO child (id, parent_id) VALUES (1, 1)"));
}

TEST_P(StoreTest, UpsertAndLimitOffset) {
  ASSERT_OK(store_->Migrate({{"test.kv", 1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT)"}}));
  const std::string upsert =
      "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v";
  ASSERT_OK(ExecW(*store_, upsert, {std::string("a"), int64_t{1}}));
  ASSERT_OK(ExecW(*store_, upsert, {std::string("a"), int64_t{10}}));
  ASSERT_OK(ExecW(*store_, upsert, {std::string("b"), int64_t{5}}));
  auto rows = QueryR(*store_, "SELECT k, v FROM kv ORDER BY k");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].Int(1), 11);
  EXPECT_EQ((*rows)[1].Int(1), 5);

  ASSERT_OK(store_->Write([&](Tx& tx) -> Status {
    auto r = tx.Exec("INSERT INTO kv (k, v) VALUES ('a', 0) ON CONFLICT (k) DO NOTHING");
    if (!r) return r.take_error();
    if (*r != 0) return AwsError::Internal("DO NOTHING changed a row");
    for (int i = 0; i < 20; ++i) {
      char key[8];
      std::snprintf(key, sizeof(key), "n%02d", i);
      r = tx.Exec(upsert, {std::string(key), int64_t{i}});
      if (!r) return r.take_error();
    }
    return Ok{};
  }));
  rows = QueryR(*store_, "SELECT k, v FROM kv WHERE k LIKE ? ORDER BY k LIMIT ? OFFSET ?",
                {std::string("n%"), int64_t{3}, int64_t{4}});
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].Str(0), "n04");
  EXPECT_EQ((*rows)[2].Int(1), 6);
}

TEST_P(StoreTest, ReadSeesCommittedDataAsASnapshot) {
  ASSERT_OK(store_->Migrate({{"test.kv", 1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT)"}}));
  ASSERT_OK(ExecW(*store_, "INSERT INTO kv (k, v) VALUES ('a', 1)"));
  EXPECT_EQ(Count(*store_, "kv"), 1);  // a Read right after a Write sees it

  ASSERT_OK(store_->Read([&](Tx& tx) -> Status {
    auto before = tx.Query("SELECT COUNT(*) FROM kv");
    if (!before) return before.take_error();
    Status written = AwsError::Internal("not run");
    std::thread writer([&] { written = ExecW(*store_, "INSERT INTO kv (k, v) VALUES ('b', 2)"); });
    writer.join();
    EXPECT_TRUE(written.ok()) << written.error().message;
    auto after = tx.Query("SELECT COUNT(*) FROM kv");
    if (!after) return after.take_error();
    EXPECT_EQ((*before)[0].Int(0), 1);
    EXPECT_EQ((*after)[0].Int(0), 1) << "a Read is one snapshot";
    return Ok{};
  }));
  EXPECT_EQ(Count(*store_, "kv"), 2);

  Status st = store_->Read([](Tx& tx) -> Status {
    auto r = tx.Exec("INSERT INTO kv (k, v) VALUES ('c', 3)");
    if (!r) return r.take_error();
    return Ok{};
  });
  EXPECT_FALSE(st.ok()) << "a Read must not write";
  EXPECT_EQ(Count(*store_, "kv"), 2);
}

// 8 threads x 200 writes, every 10th failing on purpose after writing (two ways), while readers
// check every snapshot is consistent. Exactly the successful writes must be present.
TEST_P(StoreTest, ConcurrentWritesKeepExactlyTheSuccessfulOnes) {
  ASSERT_OK(store_->Migrate({{"test.conc", 1,
                              "CREATE TABLE items (k BIGINT PRIMARY KEY, t BIGINT);"
                              "CREATE TABLE log (k BIGINT PRIMARY KEY);"
                              "INSERT INTO items (k, t) VALUES (-1, -1)"}}));
  constexpr int kThreads = 8;
  constexpr int kWrites = 200;
  std::mutex mu;
  std::set<int64_t> expected;  // guarded by mu
  std::atomic<int> unexpected{0};
  std::atomic<bool> done{false};
  std::atomic<int> snapshots{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        Status st = store_->Read([&](Tx& tx) -> Status {
          auto items = tx.Query("SELECT COUNT(*) FROM items");
          if (!items) return items.take_error();
          auto log = tx.Query("SELECT COUNT(*) FROM log");
          if (!log) return log.take_error();
          if ((*items)[0].Int(0) != (*log)[0].Int(0) + 1) {
            return AwsError::Internal("inconsistent snapshot");
          }
          return Ok{};
        });
        if (!st) {
          ADD_FAILURE() << st.error().message;
          ++unexpected;
          return;
        }
        ++snapshots;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        const int64_t k = t * 1000 + i;
        const int kind = i % 10;  // 3: the closure returns an error; 7: a unique violation
        Status st = store_->Write([&](Tx& tx) -> Status {
          auto a = tx.Exec("INSERT INTO items (k, t) VALUES (?, ?)", {k, int64_t{t}});
          if (!a) return a.take_error();
          auto b = tx.Exec("INSERT INTO log (k) VALUES (?)", {k});
          if (!b) return b.take_error();
          if (kind == 3) return AwsError::Validation("planned failure");
          if (kind == 7) {
            auto c = tx.Exec("INSERT INTO items (k, t) VALUES (-1, ?)", {int64_t{t}});
            if (!c) return c.take_error();
          }
          return Ok{};
        });
        const bool want_ok = kind != 3 && kind != 7;
        bool as_planned = st.ok() == want_ok;
        if (kind == 3) as_planned = as_planned && st.error().code == "ValidationException";
        if (kind == 7) as_planned = as_planned && IsUniqueViolation(st.error());
        if (!as_planned) {
          ++unexpected;
          ADD_FAILURE() << "write " << k << ": " << (st.ok() ? "ok" : st.error().message);
        }
        if (st.ok()) {
          std::lock_guard lock(mu);
          expected.insert(k);
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  for (auto& r : readers) r.join();
  ASSERT_EQ(unexpected, 0);
  EXPECT_EQ(expected.size(), static_cast<size_t>(kThreads * kWrites * 8 / 10));
  EXPECT_EQ(Keys(*store_, "SELECT k FROM log"), expected);
  std::set<int64_t> items = expected;
  items.insert(-1);
  EXPECT_EQ(Keys(*store_, "SELECT k FROM items"), items);
  EXPECT_GT(snapshots, 0);
  if (auto* sqlite = dynamic_cast<SqliteStore*>(store_.get())) {
    const SqliteStore::Stats stats = sqlite->GetStats();
    std::printf("[ INFO ] sqlite group commit: %lld writes in %lld commits\n",
                static_cast<long long>(stats.writes), static_cast<long long>(stats.commits));
    EXPECT_LT(stats.commits, stats.writes) << "concurrent writes should share commits";
  }
}

TEST_P(StoreTest, ResetEmptiesTablesButKeepsMigrations) {
  const std::vector<Migration> migrations = {
      {"test.reset", 1,
       "CREATE TABLE parent (id BIGINT PRIMARY KEY);"
       "CREATE TABLE child (id BIGINT PRIMARY KEY, parent_id BIGINT REFERENCES parent (id));"
       "INSERT INTO parent (id) VALUES (1)"},
  };
  ASSERT_OK(store_->Migrate(migrations));
  ASSERT_OK(store_->Write([](Tx& tx) -> Status {
    for (int64_t i = 2; i < 10; ++i) {
      if (auto r = tx.Exec("INSERT INTO parent (id) VALUES (?)", {i}); !r) return r.take_error();
      if (auto r = tx.Exec("INSERT INTO child (id, parent_id) VALUES (?, ?)", {i, i}); !r) {
        return r.take_error();
      }
    }
    return Ok{};
  }));
  ASSERT_OK(store_->Reset());
  EXPECT_EQ(Count(*store_, "parent"), 0);
  EXPECT_EQ(Count(*store_, "child"), 0);
  EXPECT_EQ(Count(*store_, "schema_migrations"), 1);
  ASSERT_OK(store_->Migrate(migrations));  // not re-run
  EXPECT_EQ(Count(*store_, "parent"), 0);
  ASSERT_OK(ExecW(*store_, "INSERT INTO parent (id) VALUES (1)"));  // usable, keys free again
  ASSERT_OK(ExecW(*store_, "INSERT INTO child (id, parent_id) VALUES (1, 1)"));
  EXPECT_FALSE(ExecW(*store_, "INSERT INTO child (id, parent_id) VALUES (2, 42)").ok())
      << "foreign keys are still enforced after Reset";
}

TEST_P(StoreTest, DataSurvivesReopen) {
  ASSERT_OK(store_->Migrate({{"test.kv", 1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT)"}}));
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(ExecW(*store_, "INSERT INTO kv (k, v) VALUES (?, ?)",
                    {"k" + std::to_string(i), int64_t{i}}));
  }
  store_.reset();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Count(*store_, "kv"), 20);
}

// A child process writes and dies without closing anything; every Write that returned is there.
TEST_P(StoreTest, DataSurvivesProcessDeath) {
  ASSERT_OK(store_->Migrate({{"test.kv", 1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT)"}}));
  store_.reset();  // no open connections or threads across fork()
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = Store::Open(url_);
    if (!s) _exit(2);
    for (int i = 0; i < 30; ++i) {
      if (!ExecW(**s, "INSERT INTO kv (k, v) VALUES (?, ?)",
                 {"k" + std::to_string(i), int64_t{i}})) {
        _exit(3);
      }
    }
    _exit(0);  // no destructors: no checkpoint, no clean close
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Count(*store_, "kv"), 30);
}

// Not a pass/fail test: prints durable single-row writes per second from 4 threads.
TEST_P(StoreTest, DurableWriteThroughput) {
  ASSERT_OK(
      store_->Migrate({{"test.bench", 1, "CREATE TABLE bench (k BIGINT PRIMARY KEY, v TEXT)"}}));
  constexpr int kThreads = 4;
  const auto duration = std::chrono::milliseconds(1500);
  std::atomic<int64_t> total{0};
  std::atomic<int> failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = 0; std::chrono::steady_clock::now() - start < duration; ++i) {
        if (ExecW(*store_, "INSERT INTO bench (k, v) VALUES (?, ?)",
                  {t * 100000000 + i, std::string("value")})) {
          ++total;
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string batching;
  if (auto* sqlite = dynamic_cast<SqliteStore*>(store_.get())) {
    const SqliteStore::Stats stats = sqlite->GetStats();
    batching = ", " +
               std::to_string(static_cast<double>(stats.writes) /
                              static_cast<double>(std::max<int64_t>(stats.commits, 1))) +
               " writes per commit";
  }
  std::printf(
      "[ BENCH ] %s: %d threads, %lld durable single-row writes in %.2f s = %.0f writes/s%s\n",
      GetParam().c_str(), kThreads, static_cast<long long>(total.load()), secs,
      static_cast<double>(total.load()) / secs, batching.c_str());
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(Count(*store_, "bench"), total.load());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// ---------------------------------------------------------------------------------------------
// Backend-specific and helper tests.

TEST(SqliteStoreTest, NestedWriteIsAnErrorNotADeadlock) {
  const std::string dir = MakeTempDir("gc_store_nested_");
  {
    auto store = Store::Open(dir + "/plain-path.db");  // a plain path works too
    ASSERT_TRUE(store.ok()) << store.error().message;
    Status inner = Ok{};
    ASSERT_OK((*store)->Write([&](Tx&) -> Status {
      inner = (*store)->Write([](Tx&) -> Status { return Ok{}; });
      return Ok{};
    }));
    EXPECT_FALSE(inner.ok());
  }
  fs::remove_all(dir);
}

TEST(SqliteStoreTest, BadPathsAreErrors) {
  EXPECT_FALSE(Store::Open(":memory:").ok());
  EXPECT_FALSE(Store::Open("sqlite://").ok());
  EXPECT_FALSE(Store::Open("sqlite:///proc/self/no/such/dir/x.db").ok());
}

TEST(PostgresStoreTest, UnreachableServerIsAnError) {
  auto r = Store::Open("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "InternalFailure");
}

TEST(PostgresStoreTest, TestServerScriptStartsAndStops) {
  PgServer& pg = PgEnvironment::Server();  // same availability rules as the suite
  if (!pg.skip.empty()) {
    GTEST_SKIP() << "POSTGRESQL TESTS SKIPPED: " << pg.skip;
  }
  const std::string out_dir = MakeTempDir("gc_pgscript_out_");
  const int rc = RunShell(std::string(GC_PG_TEST_SERVER_SH) + " start > " + out_dir + "/out 2> " +
                          out_dir + "/err");
  const std::string out = ReadFile(out_dir + "/out");
  const std::string err = ReadFile(out_dir + "/err");
  fs::remove_all(out_dir);
  ASSERT_EQ(rc, 0) << out << err;
  std::istringstream lines(out);
  std::string url;
  std::string dir;
  std::getline(lines, url);
  std::getline(lines, dir);
  ASSERT_TRUE(url.starts_with("postgresql://postgres@127.0.0.1:")) << out;
  ASSERT_TRUE(fs::exists(dir + "/data")) << out;
  {
    auto store = Store::Open(url);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (store.ok()) {
      EXPECT_OK((*store)->Migrate({{"script", 1, "CREATE TABLE t (n BIGINT)"}}));
      EXPECT_OK(ExecW(**store, "INSERT INTO t (n) VALUES (?)", {int64_t{7}}));
      EXPECT_EQ(Count(**store, "t"), 1);
    }
  }
  EXPECT_EQ(RunShell(std::string(GC_PG_TEST_SERVER_SH) + " stop " + dir), 0);
  EXPECT_FALSE(fs::exists(dir));
}

TEST(SqlTextTest, SplitStatements) {
  EXPECT_EQ(SplitStatements("  "), std::vector<std::string>{});
  EXPECT_EQ(SplitStatements("A; B ;; C"), (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_EQ(SplitStatements("INSERT INTO t VALUES ('a;b', \"c;d\"); -- x; y\nSELECT 1 /* ; */;"),
            (std::vector<std::string>{"INSERT INTO t VALUES ('a;b', \"c;d\")",
                                      "-- x; y\nSELECT 1 /* ; */"}));
  EXPECT_EQ(SplitStatements("-- only a comment;\n/* and; another */"), std::vector<std::string>{});
  EXPECT_EQ(SplitStatements("SELECT 'it''s;'; SELECT E'\\';'"),
            (std::vector<std::string>{"SELECT 'it''s;'", "SELECT E'\\';'"}));
  EXPECT_EQ(SplitStatements("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; X"),
            (std::vector<std::string>{
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "X"}));
  EXPECT_EQ(SplitStatements("CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = CASE WHEN "
                            "1 THEN 2 END; DELETE FROM v; END; SELECT 1"),
            (std::vector<std::string>{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = "
                                      "CASE WHEN 1 THEN 2 END; DELETE FROM v; END",
                                      "SELECT 1"}));
}

TEST(SqlTextTest, RewritePlaceholders) {
  int n = -1;
  EXPECT_EQ(RewritePlaceholders("SELECT ? , ?", &n), "SELECT $1 , $2");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(RewritePlaceholders("SELECT '?', \"a?\", ? -- ?\n, ? /* ? */", &n),
            "SELECT '?', \"a?\", $1 -- ?\n, $2 /* ? */");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(RewritePlaceholders("SELECT 'it''s ?', ?", &n), "SELECT 'it''s ?', $1");
  EXPECT_EQ(RewritePlaceholders("SELECT $$ ? $$, $tag$ ?$$ $tag$, ?", &n),
            "SELECT $$ ? $$, $tag$ ?$$ $tag$, $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(RewritePlaceholders("SELECT 1", &n), "SELECT 1");
  EXPECT_EQ(n, 0);
}

TEST(RowTest, Conversions) {
  Row r{{std::monostate{}, int64_t{42}, 2.5, std::string("17"), std::string("x"), 1e30,
         std::string("3.75")}};
  EXPECT_TRUE(r.IsNull(0));
  EXPECT_EQ(r.Int(0), 0);
  EXPECT_EQ(r.Str(0), "");
  EXPECT_EQ(r.Real(0), 0.0);
  EXPECT_EQ(r.Int(1), 42);
  EXPECT_EQ(r.Str(1), "42");
  EXPECT_EQ(r.Real(1), 42.0);
  EXPECT_EQ(r.Int(2), 2);
  EXPECT_EQ(r.Str(2), "2.5");
  EXPECT_EQ(r.Int(3), 17);
  EXPECT_EQ(r.Real(3), 17.0);
  EXPECT_EQ(r.Int(4), 0);
  EXPECT_EQ(r.Int(5), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(r.Int(6), 3);
  EXPECT_EQ(r.Real(6), 3.75);
  EXPECT_FALSE(r.IsNull(1));
}

}  // namespace
}  // namespace gc::store
