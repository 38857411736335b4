// Feeds arbitrary text to the cron parser and, when it parses, asks for fire
// times in a zone picked by the input, so the DST walk is fuzzed too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "schedule/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* const kZones[] = {"UTC", "Europe/Berlin", "Australia/Lord_Howe",
                                       "America/Sao_Paulo", "Pacific/Chatham"};
  const auto* zone = *schedules::LocateZone(kZones[data[0] % 5]);
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto expr = schedules::CronExpression::Parse(text);
  if (!expr) return 0;
  date::sys_seconds t{std::chrono::seconds(1700000000 + 997 * static_cast<int>(size))};
  for (int i = 0; i < 5; ++i) {
    const auto next = schedules::NextCronFire(*expr, zone, t);
    if (!next) break;
    if (*next <= t) __builtin_trap();  // time must move forward
    t = *next;
  }
  return 0;
}
