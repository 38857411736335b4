// jobsd: the one binary. Parses the command line, knows every job type (the
// only place that does), and hands over to the command.
#include <iostream>

#include "daemon/command_line.h"
#include "daemon/commands.h"
#include "daemon/daemon.h"
#include "jobs/command/command_job.h"
#include "jobs/sleep/sleep_job.h"

namespace {

scheduler::JobCatalog Catalog() {
  scheduler::JobCatalog catalog;
  catalog.Add(jobs::command::Type());
  catalog.Add(jobs::sleep::Type());
  return catalog;
}

}  // namespace

int main(int argc, char** argv) {
  auto cl = jobsd::ParseCommandLine(argc, argv);
  if (!cl) {
    std::cerr << "jobsd: " << cl.error().message << "\n\n" << jobsd::UsageText();
    return 2;
  }
  const scheduler::JobCatalog catalog = Catalog();
  const std::string& command = cl->command;
  if (command == "help") {
    std::cout << jobsd::UsageText();
    return 0;
  }
  if (command == "version") return jobsd::VersionCommand();
  if (command == "check") return jobsd::CheckCommand(*cl, catalog);
  if (command == "list") return jobsd::ListCommand(*cl, catalog);
  if (command == "history") return jobsd::HistoryCommand(*cl, catalog);
  if (command == "once") return jobsd::OnceCommand(*cl, catalog);
  return jobsd::RunDaemon(*cl, catalog);
}
