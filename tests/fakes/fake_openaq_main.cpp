// The fake OpenAQ API as a process, for the integration tests and the
// benchmark. Prints "port N" on stdout once it listens; stops on SIGTERM or
// SIGINT.
//
//   fake_openaq [--locations N] [--sensors N] [--records N] [--start EPOCH]
//               [--invalid-every N] [--null-every N] [--api-key K] [--gzip]
//               [--rate-per-minute N] [--cert FILE --key FILE]
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/fakes/fake_openaq.h"

int main(int argc, char** argv) {
  int locations = 2, sensors = 2;
  long long records = 48, start = 1704067200;  // 2024-01-01T00:00:00Z
  int invalid_every = 0, null_every = 0;
  fakes::FakeOpenAq::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "fake_openaq: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--locations")
      locations = std::stoi(next());
    else if (arg == "--sensors")
      sensors = std::stoi(next());
    else if (arg == "--records")
      records = std::stoll(next());
    else if (arg == "--start")
      start = std::stoll(next());
    else if (arg == "--invalid-every")
      invalid_every = std::stoi(next());
    else if (arg == "--null-every")
      null_every = std::stoi(next());
    else if (arg == "--api-key")
      options.api_key = next();
    else if (arg == "--gzip")
      options.gzip = true;
    else if (arg == "--rate-per-minute")
      options.rate_limit_per_minute = std::stoi(next());
    else if (arg == "--cert")
      options.cert_file = next();
    else if (arg == "--key")
      options.key_file = next();
    else {
      std::cerr << "fake_openaq: unknown argument " << arg << "\n";
      return 2;
    }
  }
  std::vector<fakes::FakeLocation> all;
  for (int l = 0; l < locations; ++l) {
    fakes::FakeLocation location;
    location.id = 100201 + l;
    location.name = "Location " + std::to_string(l + 1);
    location.timezone = l % 2 == 0 ? "Europe/Berlin" : "America/Los_Angeles";
    for (int s = 0; s < sensors; ++s) {
      fakes::FakeSeries series;
      series.sensor_id = 300000 + (l + 1) * 100 + s + 1;
      if (s % 2 == 1) {
        series.parameter = "no2";
        series.parameter_id = 5;
      }
      series.start = start;
      series.count = records;
      series.invalid_every = invalid_every;
      series.null_every = null_every;
      location.sensors.push_back(series);
    }
    all.push_back(location);
  }
  // Blocked before the server's threads exist, so that they inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  fakes::FakeOpenAq fake(all, options);
  fake.Start();
  std::cout << "port " << fake.port() << std::endl;
  int signal = 0;
  sigwait(&set, &signal);
  return 0;
}
