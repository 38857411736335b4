// `type: sleep`: waits `with.duration`, then succeeds or fails as
// `with.result` says. A job with no side effects, for tests, demos and
// benchmarks of the scheduler itself. Cancellation cuts the wait short.
#pragma once

#include "scheduler/job.h"

namespace jobs::sleep {

// The type's registration: config validation plus the factory.
scheduler::JobType Type();

}  // namespace jobs::sleep
