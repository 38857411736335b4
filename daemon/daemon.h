// `jobsd run`: the daemon in the foreground. Loads the config, opens the
// state store (marking runs a crash left `running` as `interrupted`), starts
// the scheduler on the event loop, and serves signals: SIGHUP reloads the
// config all or nothing, SIGTERM/SIGINT stop gracefully (no new runs; running
// ones get shutdown_grace, then are cancelled). Returns the exit code.
#pragma once

#include "alert/outbox.h"
#include "daemon/command_line.h"
#include "http_server/api_metrics.h"
#include "scheduler/job.h"

namespace jobsd {

// `http_client` is lent to every run; `collectors` add figures of objects
// main() owns (the HTTP client) to /metrics; `make_channel` builds the alert
// channels the config names.
int RunDaemon(const CommandLine& cl, const scheduler::JobCatalog& catalog,
              http::Client& http_client, std::vector<http::MetricsCollector> collectors,
              alert::AlertOutbox::ChannelFactory make_channel);

}  // namespace jobsd
