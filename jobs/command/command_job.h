// `type: command`: runs a program (argv, or `shell:` through /bin/sh -c) in a
// process group of its own.
//
// Its stdout and stderr go to the log line by line, tagged with the job and
// run id, and the last 64 KiB are kept for the run record; memory stays flat
// however much it prints (logging stops after 1 MiB a run, the tail goes on).
// Exit code 0 is success; anything else fails the run with the code and the
// last line printed. On timeout or shutdown the whole group gets SIGTERM,
// then SIGKILL after `kill_grace`. When the program exits, processes it left
// behind in its group are ended the same way, so a run never leaks children
// that outlive it.
#pragma once

#include "scheduler/job.h"

namespace jobs::command {

scheduler::JobType Type();

}  // namespace jobs::command
