// The one-shot commands of the jobsd binary: check, list, history, once,
// alert-test and version. Each returns the process exit code and writes to stdout (results)
// and stderr (problems). `run` lives in daemon.h.
#pragma once

#include "config/config_loader.h"
#include "daemon/command_line.h"
#include "scheduler/job.h"

namespace http {
class Client;
}

namespace jobsd {

// Loads the config for a command, printing every problem on failure.
// The options are what every command shares (the job types, --set).
config::LoadOptions LoadOptionsFor(const CommandLine& cl, const scheduler::JobCatalog& catalog);

int CheckCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog);
int ListCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog);
int HistoryCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog);
int OnceCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog,
                http::Client& http_client);
// Sends one test alert through the channel named by the positional argument,
// with no outbox and no retries, and prints what came of it. Exit 0
// delivered, 1 not (or an invalid config), 2 no such channel.
int AlertTestCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog,
                     http::Client& http_client);
int VersionCommand();

}  // namespace jobsd
