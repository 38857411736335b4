// What a run reports about its work, built up while it runs.
//
// A job fills it through JobContext::metrics() as it goes, so a run that
// fails halfway still reports what it did (40,000 rows inserted, then a
// 503). The figures land in the run record (as a flat JSON object) and on
// /metrics. Three kinds, because the platform treats them differently:
//   - tallies (pages, requests, bytes): summed over the run, kept in the
//     run record only;
//   - records of a kind (fetched, inserted, updated, duplicate, invalid):
//     tallies that are also added to jobsd_records_total{job,kind};
//   - levels (a score, a size): the last value set wins.
// Two levels have a meaning the platform itself reads: `quality` (0..1,
// the quality_below alert rule) and `changed` (1 or 0: whether the run
// changed anything, for chains that follow only a change).
// Apart from the figures, folder sizes: how many files and bytes a data
// folder the job keeps (or prunes) holds, by the folder's path. They go to
// /metrics only, as the gauges jobsd_data_folder_files{path} and
// jobsd_data_folder_bytes{path}, not into the run record.
//
// Not thread-safe: the run's own thread writes it; the executor reads it
// once the run is over.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace store {

class RunMetrics {
 public:
  enum class Kind : std::uint8_t { kTally, kRecords, kLevel };
  struct Figure {
    double value = 0;
    Kind kind = Kind::kTally;
  };
  using Figures = std::map<std::string, Figure, std::less<>>;

  static constexpr std::string_view kQuality = "quality";
  static constexpr std::string_view kChanged = "changed";

  // Adds `n` to a tally (created at 0).
  void Add(std::string_view name, double n);
  // Adds `n` records of `kind` (fetched, inserted, ...).
  void AddRecords(std::string_view kind, double n);
  // Sets a level.
  void Set(std::string_view name, double value);
  // The data quality score, 0 (all bad) to 1 (all good).
  void SetQuality(double score) { Set(kQuality, score); }
  // Whether the run changed anything; a run that never says is taken to
  // have changed something when it succeeds.
  void SetChanged(bool changed) { Set(kChanged, changed ? 1 : 0); }

  // How many files and bytes the folder at `path` (absolute, resolved) holds
  // now; the last value set for a path wins, within a run and across runs
  // and jobs on /metrics.
  struct FolderSize {
    double files = 0;
    double bytes = 0;
  };
  using FolderSizes = std::map<std::string, FolderSize, std::less<>>;
  void SetFolderSize(std::string_view path, double files, double bytes);
  const FolderSizes& folder_sizes() const { return folder_sizes_; }

  std::optional<double> Get(std::string_view name) const;
  double Value(std::string_view name) const { return Get(name).value_or(0); }
  std::optional<double> quality() const { return Get(kQuality); }
  std::optional<bool> changed() const;
  const Figures& figures() const { return figures_; }
  // No figures (folder sizes do not count).
  bool empty() const { return figures_.empty(); }

  // The figures as a JSON object, names in order: {"fetched":120,"quality":0.98}.
  // Folder sizes are not in it.
  std::string ToJson() const;

 private:
  Figure& At(std::string_view name, Kind kind);
  Figures figures_;
  FolderSizes folder_sizes_;
};

}  // namespace store
