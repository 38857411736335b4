#include "store/run_metrics.h"

#include "core/json_writer.h"

namespace store {

RunMetrics::Figure& RunMetrics::At(std::string_view name, Kind kind) {
  auto it = figures_.find(name);
  if (it == figures_.end())
    return figures_.emplace(std::string(name), Figure{0, kind}).first->second;
  // Records stay records when a job also tallies or sets the same name, so
  // /metrics counts them whatever the order of the calls.
  if (kind == Kind::kRecords) it->second.kind = kind;
  return it->second;
}

void RunMetrics::Add(std::string_view name, double n) { At(name, Kind::kTally).value += n; }

void RunMetrics::AddRecords(std::string_view kind, double n) {
  At(kind, Kind::kRecords).value += n;
}

void RunMetrics::Set(std::string_view name, double value) { At(name, Kind::kLevel).value = value; }

void RunMetrics::SetFolderSize(std::string_view path, double files, double bytes) {
  auto it = folder_sizes_.find(path);
  if (it == folder_sizes_.end()) it = folder_sizes_.emplace(std::string(path), FolderSize{}).first;
  it->second = FolderSize{files, bytes};
}

std::optional<double> RunMetrics::Get(std::string_view name) const {
  const auto it = figures_.find(name);
  if (it == figures_.end()) return std::nullopt;
  return it->second.value;
}

std::optional<bool> RunMetrics::changed() const {
  const std::optional<double> value = Get(kChanged);
  if (!value) return std::nullopt;
  return *value != 0;
}

std::string RunMetrics::ToJson() const {
  if (figures_.empty()) return "{}";
  core::JsonWriter json;
  for (const auto& [name, figure] : figures_) json.Key(name).Double(figure.value);
  return json.Finish();
}

}  // namespace store
