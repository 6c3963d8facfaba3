// Applying Migrations through a Tx: the schema_migrations bookkeeping both backends share.
// Stateless; thread-safe (the Tx it is given is used by the calling thread only).
#pragma once

#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace gc::store {

// Creates `schema_migrations(component, version)` if needed and applies, inside `tx`, every
// migration not recorded there, recording each. Migrations of one component run in version order;
// different components keep the order the caller listed them in. The caller provides the
// transaction (and, for PostgreSQL, the lock that serialises concurrent migrators).
Status ApplyMigrations(Tx& tx, const std::vector<Migration>& migrations);

}  // namespace gc::store
