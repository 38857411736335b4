// The fake GitHub API and blob host as a process, for the integration tests
// and the benchmark. Writes {"api":PORT,"blob":PORT} to --port-file once both
// listen (the file appears whole, by rename); stops on SIGTERM or SIGINT.
// Runs, artifacts and faults can be added while it runs: POST /_fake/run,
// /_fake/artifact, /_fake/fault; GET /_fake/log (see fake_github.h).
//
//   fake_github --port-file FILE [--spec FILE.json] [--token T] [--url-lifetime S]
//               [--repo OWNER/NAME] [--repository-id N] [--rate-limit N]
//               [--cert FILE --key FILE]
#include <pthread.h>

#include <csignal>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "tests/fakes/fake_github.h"

int main(int argc, char** argv) {
  std::string port_file, spec_file;
  fakes::FakeGithub::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "fake_github: " << arg << " needs a value\n";
      return 2;
    }
    const std::string value = argv[++i];
    try {
      if (arg == "--port-file") {
        port_file = value;
      } else if (arg == "--spec") {
        spec_file = value;
      } else if (arg == "--token") {
        options.token = value;
      } else if (arg == "--url-lifetime") {
        options.url_lifetime = std::chrono::seconds(std::stoll(value));
      } else if (arg == "--repo") {
        options.repo = value;
      } else if (arg == "--repository-id") {
        options.repository_id = std::stoll(value);
      } else if (arg == "--rate-limit") {
        options.rate_limit = std::stoi(value);
      } else if (arg == "--cert") {
        options.cert_file = value;
      } else if (arg == "--key") {
        options.key_file = value;
      } else {
        std::cerr << "fake_github: unknown argument " << arg << "\n";
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << "fake_github: bad value for " << arg << ": " << value << "\n";
      return 2;
    }
  }
  if (port_file.empty()) {
    std::cerr << "usage: fake_github --port-file FILE [--spec FILE.json] [--token T] "
                 "[--url-lifetime S]\n";
    return 2;
  }
  // Blocked before the servers' threads exist, so that they inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  fakes::FakeGithub fake(options);
  if (!spec_file.empty()) {
    std::ifstream in(spec_file);
    if (!in) {
      std::cerr << "fake_github: cannot read " << spec_file << "\n";
      return 2;
    }
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
      fake.LoadSpec(text, std::filesystem::absolute(spec_file).parent_path());
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      return 2;
    }
  }
  fake.Start();
  {
    const std::string partial = port_file + ".tmp";
    std::ofstream(partial) << "{\"api\":" << fake.api_port() << ",\"blob\":" << fake.blob_port()
                           << "}\n";
    std::filesystem::rename(partial, port_file);
  }
  int signal = 0;
  sigwait(&set, &signal);
  fake.Stop();
  return 0;
}
