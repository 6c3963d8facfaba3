#include "store/migrations.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "store/sql_text.h"

namespace gc::store {

Status ApplyMigrations(Tx& tx, const std::vector<Migration>& migrations) {
  // Each component's migrations are sorted by version into the slots that component occupies in
  // the caller's list, so the interleaving of components is kept.
  std::map<std::string, std::vector<size_t>> slots;
  for (size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    if (m.component.empty() || m.version < 1) {
      return AwsError::Internal("invalid migration '" + m.component + "' v" +
                                std::to_string(m.version));
    }
    slots[m.component].push_back(i);
  }
  std::vector<const Migration*> ordered(migrations.size());
  for (auto& [component, idx] : slots) {
    std::vector<const Migration*> mine;
    for (size_t i : idx) mine.push_back(&migrations[i]);
    std::stable_sort(mine.begin(), mine.end(), [](const Migration* a, const Migration* b) {
      return a->version < b->version;
    });
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0 && mine[k]->version == mine[k - 1]->version) {
        return AwsError::Internal("duplicate migration " + component + " v" +
                                  std::to_string(mine[k]->version));
      }
      ordered[idx[k]] = mine[k];
    }
  }

  auto created = tx.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, "
      "version BIGINT NOT NULL, PRIMARY KEY (component, version))");
  if (!created) return created.take_error();
  auto rows = tx.Query("SELECT component, version FROM schema_migrations");
  if (!rows) return rows.take_error();
  std::set<std::pair<std::string, int64_t>> applied;
  for (const Row& r : *rows) applied.emplace(r.Str(0), r.Int(1));

  for (const Migration* m : ordered) {
    if (applied.count({m->component, m->version}) > 0) continue;
    const std::string where = "migration " + m->component + " v" + std::to_string(m->version);
    for (const std::string& statement : SplitStatements(m->sql)) {
      auto r = tx.Exec(statement);
      if (!r) {
        AwsError e = r.take_error();
        e.message = where + ": " + e.message;
        return e;
      }
    }
    auto r = tx.Exec("INSERT INTO schema_migrations (component, version) VALUES (?, ?)",
                     {m->component, static_cast<int64_t>(m->version)});
    if (!r) return r.take_error();
  }
  return Ok{};
}

}  // namespace gc::store
