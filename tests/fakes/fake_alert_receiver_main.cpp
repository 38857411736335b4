// The fake alert receiver as a process, for the integration tests. Writes its
// port to --port-file once it listens (the file appears whole, by rename) and
// logs every request as a JSON line to --log; stops on SIGTERM or SIGINT.
//
//   fake_alert_receiver --port-file F --log F.jsonl [--tls-cert C --tls-key K]
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "tests/fakes/fake_alert_receiver.h"

int main(int argc, char** argv) {
  std::string port_file;
  fakes::FakeAlertReceiver::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "fake_alert_receiver: " << arg << " needs a value\n";
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--port-file") {
      port_file = value;
    } else if (arg == "--log") {
      options.log_file = value;
    } else if (arg == "--tls-cert") {
      options.cert_file = value;
    } else if (arg == "--tls-key") {
      options.key_file = value;
    } else {
      std::cerr << "fake_alert_receiver: unknown argument " << arg << "\n";
      return 2;
    }
  }
  if (port_file.empty()) {
    std::cerr << "usage: fake_alert_receiver --port-file F --log F.jsonl "
                 "[--tls-cert C --tls-key K]\n";
    return 2;
  }
  // Blocked before the server's threads exist, so that they inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  fakes::FakeAlertReceiver receiver(options);
  receiver.Start();
  {
    const std::string partial = port_file + ".tmp";
    std::ofstream(partial) << receiver.port() << "\n";
    std::filesystem::rename(partial, port_file);
  }
  int signal = 0;
  sigwait(&set, &signal);
  receiver.Stop();
  return 0;
}
