// `jobsd backups -c FILE JOB [--json]` and `jobsd restore -c FILE JOB --to PATH
// [--at TIME|latest] [--source NAME] [--force]`. Exit codes: 0 ok, 1 failed
// (no such backup, a check failed), 2 the job is unknown or not a backup job.
#pragma once

#include "daemon/command_line.h"
#include "scheduler/job.h"

namespace jobsd {

int BackupsCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog);
int RestoreCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog);

}  // namespace jobsd
