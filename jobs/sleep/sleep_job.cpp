#include "jobs/sleep/sleep_job.h"

#include "jobs/sleep/sleep_config.h"

namespace jobs::sleep {
namespace {

class SleepJob final : public scheduler::Job {
 public:
  explicit SleepJob(const SleepSettings& settings) : settings_(settings) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override {
    if (settings_.duration > core::Duration::zero() && ctx.cancel().WaitFor(settings_.duration)) {
      return core::Unexpected(ctx.CancelledError("the sleep"));
    }
    ctx.metrics().Add("slept_seconds", std::chrono::duration<double>(settings_.duration).count());
    if (settings_.result == SleepResult::kFailed) {
      return core::Unexpected(
          core::Error{core::ErrorKind::kInternal, "failed, as configured (result: failed)", true});
    }
    return {};
  }

 private:
  const SleepSettings settings_;
};

}  // namespace

scheduler::JobType Type() {
  return scheduler::JobType{
      SleepJobType(), [](const config::JobConfig& job) {
        const auto* settings = job.Settings<SleepSettings>();
        return std::make_unique<SleepJob>(settings ? *settings : SleepSettings{});
      }};
}

}  // namespace jobs::sleep
