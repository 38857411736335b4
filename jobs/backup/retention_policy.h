// Which backups to keep: grandfather-father-son, as restic's
// `forget --keep-last/--keep-daily/--keep-weekly/--keep-monthly` decides it.
//
// Each rule on its own picks backups, newest first:
//   last N     the N newest;
//   daily N    the newest backup of each of the last N days that have one;
//   weekly N   ... of each of the last N ISO weeks (Monday to Sunday) that have one;
//   monthly N  ... of each of the last N calendar months that have one.
// Days, weeks and months are UTC. A backup picked by any rule is kept; the
// rest may go. A policy with every rule at 0 keeps everything (nothing was
// asked to go).
//
// Pure; any thread.
#pragma once

#include <set>
#include <vector>

#include "core/time.h"

namespace jobs::backup {

struct KeepPolicy {
  int last = 0;
  int daily = 0;
  int weekly = 0;
  int monthly = 0;

  bool keeps_everything() const { return last == 0 && daily == 0 && weekly == 0 && monthly == 0; }
};

// The indexes into `times` (any order) of the backups to keep.
std::set<std::size_t> BackupsToKeep(const std::vector<core::TimePoint>& times,
                                    const KeepPolicy& policy);

}  // namespace jobs::backup
