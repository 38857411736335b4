// RunStore: per-job key/value state (job_state), for the cursors of jobs
// whose data lives in the state file.
#include "store/run_store.h"
#include "store/run_store_sql.h"

namespace store {

using core::Unexpected;
using detail::Micros;

core::Result<std::optional<std::string>> RunStore::GetState(std::string_view job,
                                                            std::string_view key) {
  auto stmt = db_.Prepare("SELECT value FROM job_state WHERE job = ?1 AND key = ?2");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, job).Bind(2, key);
  auto row = stmt->Step();
  if (!row) return Unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->Text(0));
}

core::Result<void> RunStore::PutState(std::string_view job, std::string_view key,
                                      std::string_view value, core::TimePoint now) {
  auto stmt = db_.Prepare(
      "INSERT INTO job_state (job, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (job, key) DO UPDATE SET value = ?3, updated_at = ?4");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, job).Bind(2, key).Bind(3, value).Bind(4, Micros(now));
  return stmt->Run();
}

}  // namespace store
