#include "scheduler/job.h"

#include <spdlog/spdlog.h>

namespace scheduler {

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
