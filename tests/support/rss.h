// How much memory a piece of work takes: the process's resident set sampled
// every 2 ms while `work` runs, for tests that hold code to flat memory
// (a 100 MiB download or upload, a big extraction).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

namespace support {

// VmRSS of this process, in KiB (0 when /proc cannot tell).
inline long RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// How far the RSS rose above its level before `work`, at its peak while
// `work` ran.
inline long PeakRssGrowthKiB(const std::function<void()>& work) {
  std::atomic<bool> done{false};
  std::atomic<long> peak{0};
  const long before = RssKiB();
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak.load(), RssKiB());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  work();
  done = true;
  sampler.join();
  return std::max(0L, peak.load() - before);
}

}  // namespace support
