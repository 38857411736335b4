// Prints the next fire times of cron expressions, for the oracle test
// (tests/lib/schedule/cron_oracle.py) to compare with independent
// implementations.
//
// Each stdin line is  EXPR<TAB>TZ<TAB>START_EPOCH_SECONDS<TAB>N  and gets one
// output line: the next N fire times strictly after START as space-separated
// epoch seconds, each computed from the previous one with
// schedules::NextCronFire. A sequence that ends early is closed by the word
// `none` (alone when the expression never fires); a refused expression, zone
// or line gets `error: <message>`. An empty TZ means UTC.
//
// The oracle feeds it ten thousand lines, so input and output are buffered
// and parsed expressions and zones are reused while they repeat.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "schedule/cron_expression.h"
#include "schedule/schedule.h"

namespace {

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> parts;
  std::size_t begin = 0;
  while (true) {
    std::size_t tab = line.find('\t', begin);
    if (tab == std::string_view::npos) {
      parts.push_back(line.substr(begin));
      return parts;
    }
    parts.push_back(line.substr(begin, tab - begin));
    begin = tab + 1;
  }
}

template <typename Int>
std::optional<Int> ParseInt(std::string_view text) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The parsed form of the previous line's expression and zone; the oracle
// sends several starts per expression, and parsing is not what is tested here.
struct Cache {
  std::string expression_text;
  std::optional<core::Result<schedules::CronExpression>> expression;
  std::string zone_name;
  std::optional<core::Result<const date::time_zone*>> zone;
};

std::string Answer(std::string_view line, Cache& cache) {
  std::vector<std::string_view> parts = SplitTabs(line);
  if (parts.size() != 4) return "error: expected EXPR<TAB>TZ<TAB>START<TAB>N";
  std::optional<std::int64_t> start = ParseInt<std::int64_t>(parts[2]);
  std::optional<int> count = ParseInt<int>(parts[3]);
  if (!start || !count || *count < 1) return "error: bad START or N";

  if (!cache.expression || cache.expression_text != parts[0]) {
    cache.expression_text = std::string(parts[0]);
    cache.expression = schedules::CronExpression::Parse(parts[0]);
  }
  if (!*cache.expression) return "error: " + cache.expression->error().message;

  const date::time_zone* zone = nullptr;
  if (!parts[1].empty()) {
    if (!cache.zone || cache.zone_name != parts[1]) {
      cache.zone_name = std::string(parts[1]);
      cache.zone = schedules::LocateZone(parts[1]);
    }
    if (!*cache.zone) return "error: " + cache.zone->error().message;
    zone = **cache.zone;
  }

  std::string out;
  date::sys_seconds t{std::chrono::seconds(*start)};
  for (int i = 0; i < *count; ++i) {
    std::optional<date::sys_seconds> next = schedules::NextCronFire(**cache.expression, zone, t);
    if (i > 0) out += ' ';
    if (!next) {
      out += "none";
      break;
    }
    out += std::to_string(next->time_since_epoch().count());
    t = *next;
  }
  return out;
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::cin.tie(nullptr);
  Cache cache;
  std::string line;
  std::string out;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      out += Answer(line, cache);
    } catch (const std::exception& e) {
      // A bug in lib/schedule; report it on this line and keep answering.
      out += std::string("error: exception: ") + e.what();
    }
    out += '\n';
    if (out.size() > (1 << 16)) {
      std::cout << out;
      out.clear();
    }
  }
  std::cout << out;
  std::cout.flush();
  return 0;
}
