#include "scheduler/job.h"

#include <future>
#include <system_error>

#include <spdlog/spdlog.h>

#include "store/run_recorder.h"

namespace scheduler {
namespace {

std::filesystem::path ScratchRoot(const std::filesystem::path& state_folder) {
  return state_folder / "scratch";
}

core::Error NoStateStore() {
  return core::Error{core::ErrorKind::kInternal, "job state: this run has no state store", false};
}

}  // namespace

JobContext::JobContext(const JobServices& services, const config::JobConfig& job,
                       std::int64_t run_id, int attempt, store::Trigger trigger,
                       const CancelToken& cancel)
    : services_(services),
      job_(job),
      run_id_(run_id),
      attempt_(attempt),
      trigger_(trigger),
      cancel_(cancel) {}

JobContext::~JobContext() {
  if (scratch_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(scratch_, ec);
  if (ec) Warn("could not remove the scratch folder " + scratch_.string() + ": " + ec.message());
}

http::CallOptions JobContext::CallOptions() const {
  http::CallOptions options;
  options.deadline = cancel_.deadline();
  options.cancelled = [token = &cancel_] { return token->Cancelled(); };
  return options;
}

core::Error JobContext::CancelledError(std::string_view what) const {
  std::string message =
      cancel_.reason() == CancelToken::Reason::kTimeout ? "timed out" : "cancelled";
  if (!what.empty()) message += std::string(" during ") + std::string(what);
  return core::Error{core::ErrorKind::kCancelled, std::move(message), false};
}

core::Result<std::optional<std::string>> JobContext::GetState(std::string_view key) const {
  if (services_.state == nullptr) return core::Unexpected(NoStateStore());
  std::promise<core::Result<std::optional<std::string>>> answer;
  auto future = answer.get_future();
  services_.state->Query(
      [&](store::RunStore& store) { answer.set_value(store.GetState(job_.name, key)); });
  return future.get();
}

core::Result<void> JobContext::PutState(std::string_view key, std::string_view value) const {
  if (services_.state == nullptr) return core::Unexpected(NoStateStore());
  // Written in the recorder's next batch, in order with the run records;
  // Flush returns once that batch is committed.
  auto written = std::make_shared<core::Result<void>>();
  services_.state->Write(
      [written, job = job_.name, key = std::string(key), value = std::string(value),
       now = Now()](store::RunStore& store) { *written = store.PutState(job, key, value, now); });
  services_.state->Flush();
  return *written;
}

core::Result<std::filesystem::path> JobContext::ScratchFolder() {
  if (!scratch_.empty()) return scratch_;
  const std::filesystem::path base =
      state_folder().empty() ? std::filesystem::temp_directory_path() / "jobsd" : state_folder();
  std::filesystem::path folder = ScratchRoot(base) / (job_.name + "-" + std::to_string(run_id_));
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo,
        "cannot make the scratch folder " + folder.string() + ": " + ec.message(), false});
  }
  scratch_ = std::move(folder);
  return scratch_;
}

void RemoveScratchLeftovers(const std::filesystem::path& state_folder) {
  const std::filesystem::path root = ScratchRoot(state_folder);
  std::error_code ec;
  const auto removed = std::filesystem::remove_all(root, ec);
  if (ec) {
    spdlog::warn("could not clear {}: {}", root.string(), ec.message());
  } else if (removed > 1) {
    spdlog::info("cleared {} left by runs cut short ({} entries)", root.string(), removed - 1);
  }
}

void JobContext::Info(std::string_view message) const {
  spdlog::info("job={} run={} {}", job_.name, run_id_, message);
}

void JobContext::Warn(std::string_view message) const {
  spdlog::warn("job={} run={} {}", job_.name, run_id_, message);
}

void JobContext::Error(std::string_view message) const {
  spdlog::error("job={} run={} {}", job_.name, run_id_, message);
}

void JobCatalog::Add(JobType type) {
  std::string name = type.spec.name;
  types_.insert_or_assign(std::move(name), std::move(type));
}

const JobType* JobCatalog::Find(std::string_view name) const {
  const auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<config::JobTypeSpec> JobCatalog::Specs() const {
  std::vector<config::JobTypeSpec> specs;
  for (const auto& [name, type] : types_) specs.push_back(type.spec);
  return specs;
}

}  // namespace scheduler
