// Nanoseconds per next-fire computation (schedules::NextCronFire) for the
// expressions of bench/cron_expressions.txt; bench/cron_next.sh runs it next
// to croniter and croner, which time the same rows the same way.
//
//   cron_next_bench [--quick] [--file PATH]
//
// For each row: parse once, then `reps` batches of `calls` chained calls
// (each from the previous result) starting at 2026-01-01T00:00:00Z, starting
// over when a result reaches 2037. Prints one line per row,
//   label<TAB>median ns per call<TAB>first fire (epoch seconds)
// or  label<TAB>n/a<TAB>reason  when jobsd refuses the row. No timing is
// asserted: a slow machine only prints bigger numbers.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "schedule/cron_expression.h"
#include "schedule/schedule.h"

namespace {

// The three runners share these; see the head of cron_expressions.txt.
constexpr std::int64_t kStart = 1767225600;    // 2026-01-01T00:00:00Z
constexpr std::int64_t kHorizon = 2114380800;  // 2037-01-01T00:00:00Z

struct Row {
  std::string label;
  std::string zone;
  std::string expression;
};

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> parts;
  std::stringstream in(line);
  std::string part;
  while (std::getline(in, part, '\t')) parts.push_back(part);
  return parts;
}

std::optional<std::vector<Row>> ReadRows(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts = SplitTabs(line);
    if (parts.size() < 3) continue;
    rows.push_back(Row{parts[0], parts[1], parts[2]});
  }
  return rows;
}

struct Timing {
  double ns_per_call = 0;
  std::int64_t first_fire = 0;
  std::int64_t checksum = 0;  // keeps the chained results observably used
};

Timing Measure(const schedules::CronExpression& expression, const date::time_zone* zone, int calls,
               int reps) {
  using Clock = std::chrono::steady_clock;
  const date::sys_seconds start{std::chrono::seconds(kStart)};
  const date::sys_seconds horizon{std::chrono::seconds(kHorizon)};
  Timing timing;
  if (auto first = schedules::NextCronFire(expression, zone, start)) {
    timing.first_fire = first->time_since_epoch().count();
  }
  std::vector<double> samples;
  for (int r = 0; r <= reps; ++r) {  // batch 0 warms the caches, untimed
    date::sys_seconds t = start;
    const auto begin = Clock::now();
    for (int i = 0; i < calls; ++i) {
      const std::optional<date::sys_seconds> next = schedules::NextCronFire(expression, zone, t);
      t = (!next || *next >= horizon) ? start : *next;
    }
    const auto elapsed = std::chrono::duration<double, std::nano>(Clock::now() - begin);
    if (r > 0) samples.push_back(elapsed.count() / calls);
    timing.checksum += t.time_since_epoch().count();
  }
  std::sort(samples.begin(), samples.end());
  timing.ns_per_call = samples[samples.size() / 2];
  return timing;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string file = JOBSD_SOURCE_DIR "/bench/cron_expressions.txt";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--file" && i + 1 < argc) {
      file = argv[++i];
    } else {
      std::cerr << "usage: cron_next_bench [--quick] [--file PATH]\n";
      return 2;
    }
  }
  const std::optional<std::vector<Row>> rows = ReadRows(file);
  if (!rows || rows->empty()) {
    std::cerr << "cron_next_bench: cannot read expressions from " << file << "\n";
    return 1;
  }
  const int calls = quick ? 50 : 2000;
  const int reps = quick ? 3 : 15;

  std::int64_t checksum = 0;
  std::cout << "# jobsd schedules::NextCronFire, " << calls << " chained calls x " << reps
            << " batches per row, median\n";
  for (const Row& row : *rows) {
    const core::Result<schedules::CronExpression> expression =
        schedules::CronExpression::Parse(row.expression);
    if (!expression) {
      std::cout << row.label << "\tn/a\t" << expression.error().message << "\n";
      continue;
    }
    const date::time_zone* zone = nullptr;
    if (row.zone != "UTC") {
      const core::Result<const date::time_zone*> located = schedules::LocateZone(row.zone);
      if (!located) {
        std::cout << row.label << "\tn/a\t" << located.error().message << "\n";
        continue;
      }
      zone = *located;
    }
    const Timing timing = Measure(*expression, zone, calls, reps);
    checksum += timing.checksum;
    char ns[32];
    std::snprintf(ns, sizeof ns, "%.1f", timing.ns_per_call);
    std::cout << row.label << "\t" << ns << "\t" << timing.first_fire << "\n";
  }
  std::cout << "# checksum " << checksum << "\n";
  return 0;
}
