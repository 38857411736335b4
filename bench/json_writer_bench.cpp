// Throughput of core::JsonWriter::String on a few 1 MiB strings: plain ASCII
// (what nearly every job prints), ASCII with a quote every 64 bytes, valid
// multi-byte text, and bytes that are not UTF-8 at all.
//
//   json_writer_bench [--quick]
//
// Prints one line per input, label<TAB>median MiB/s over `reps` batches. No
// speed is asserted: a slow or busy machine only prints smaller numbers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_writer.h"

namespace {

constexpr std::size_t kBytes = std::size_t(1) << 20;

std::string Repeat(std::string_view unit) {
  std::string out;
  out.reserve(kBytes + unit.size());
  while (out.size() < kBytes) out += unit;
  out.resize(kBytes);
  return out;
}

double MedianMibPerSecond(const std::string& text, int reps, int calls) {
  std::vector<double> rates;
  std::size_t sink = 0;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) {
      core::JsonWriter json;
      json.Key("output").String(text);
      sink += json.Finish().size();
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    rates.push_back(static_cast<double>(calls) * static_cast<double>(text.size()) /
                    (1024.0 * 1024.0) / took.count());
  }
  std::sort(rates.begin(), rates.end());
  if (sink == 0) std::puts("");  // keeps the writes from being optimised away
  return rates[rates.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  const int reps = quick ? 3 : 15;
  const int calls = quick ? 5 : 40;
  std::string quotes = Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\"");
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"ascii", Repeat("The quick brown fox jumps over the lazy dog. 0123456789 ")},
      {"ascii_quotes", quotes},
      {"utf8_mixed", Repeat("r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 ok ")},
      {"invalid", Repeat("\xff\xfe\xc0\xaf abc ")},
  };
  for (const auto& [label, text] : inputs) {
    std::printf("%s\t%.0f\n", label.c_str(), MedianMibPerSecond(text, reps, calls));
  }
  return 0;
}
