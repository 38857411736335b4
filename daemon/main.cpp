// jobsd: the one binary. Parses the command line, knows every job type (the
// only place that does), and hands over to the command.
#include <iostream>

#include "alert/channel.h"
#include "daemon/backup_commands.h"
#include "daemon/command_line.h"
#include "daemon/commands.h"
#include "daemon/daemon.h"
#include "http/client.h"
#include "http_server/api_metrics.h"
#include "jobs/athena_postgres/athena_postgres_job.h"
#include "jobs/backup/backup_job.h"
#include "jobs/command/command_job.h"
#include "jobs/github_artifact/github_artifact_job.h"
#include "jobs/openaq/openaq_job.h"
#include "jobs/retention/retention_job.h"
#include "jobs/sql_import/sql_import_job.h"
#include "jobs/sleep/sleep_job.h"

namespace {

// Every job type, one line each.
scheduler::JobCatalog Catalog() {
  scheduler::JobCatalog catalog;
  catalog.Add(jobs::command::Type());
  catalog.Add(jobs::sleep::Type());
  catalog.Add(jobs::openaq::Type());
  catalog.Add(jobs::github_artifact::Type());
  catalog.Add(jobs::athena_postgres::Type());
  catalog.Add(jobs::backup::Type());
  catalog.Add(jobs::retention::Type());
  catalog.Add(jobs::sql_import::Type());
  return catalog;
}

}  // namespace

int main(int argc, char** argv) {
  auto cl = jobsd::ParseCommandLine(argc, argv);
  if (!cl) {
    std::cerr << "jobsd: " << cl.error().message << "\n\n" << jobsd::UsageText();
    return 2;
  }
  // One HTTP client for every job: its per-upstream rate limiters span all
  // runs of all jobs.
  http::ClientOptions http_options;
  http_options.proxy = http::ProxySettings::FromEnvironment();
  http_options.user_agent = "jobsd/" JOBSD_VERSION;
  http::Client http_client(http_options);
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
  if (command == "once") return jobsd::OnceCommand(*cl, catalog, http_client);
  if (command == "alert-test") return jobsd::AlertTestCommand(*cl, catalog, http_client);
  if (command == "backups") return jobsd::BackupsCommand(*cl, catalog);
  if (command == "restore") return jobsd::RestoreCommand(*cl, catalog);
  return jobsd::RunDaemon(*cl, catalog, http_client, {[&http_client](metrics::Exposition& out) {
    http::WriteClientMetrics(http_client.Stats(), out);
  }},
                          [&http_client](const config::ChannelConfig& channel) {
                            return alert::MakeChannel(channel, alert::ChannelContext{http_client});
                          });
}
