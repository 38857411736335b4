#include "config/config_loader.h"

#include <set>

#include "config/alerts_reader.h"
#include "config/document.h"
#include "config/job_graph.h"
#include "config/job_reader.h"
#include "config/map_reader.h"

namespace config {
namespace {

StateConfig ReadState(MapReader& state) {
  StateConfig out;
  out.path = state.Path("path").value_or(out.path);
  out.keep_runs = static_cast<int>(state.Int("keep_runs", 1, 100'000'000).value_or(out.keep_runs));
  return out;
}

LogConfig ReadLog(MapReader& log) {
  LogConfig out;
  out.level = log.Enum<LogLevel>("level", {{"trace", LogLevel::kTrace},
                                           {"debug", LogLevel::kDebug},
                                           {"info", LogLevel::kInfo},
                                           {"warn", LogLevel::kWarn},
                                           {"error", LogLevel::kError}})
                  .value_or(out.level);
  out.format =
      log.Enum<LogFormat>("format", {{"text", LogFormat::kText}, {"json", LogFormat::kJson}})
          .value_or(out.format);
  return out;
}

// "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:9000"; false when malformed.
bool SplitListen(const std::string& listen, std::string& host, int& port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return false;  // an IPv6 address needs brackets to tell it from the port
  }
  const std::string digits = listen.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  port = std::stoi(digits);
  return port >= 1 && port <= 65535;
}

HttpConfig ReadHttp(MapReader& http) {
  HttpConfig out;
  if (std::optional<std::string> listen = http.String("listen")) {
    out.listen = *listen;
    if (!listen->empty() && !SplitListen(*listen, out.host, out.port)) {
      http.Report("listen",
                  "expected host:port with a port from 1 to 65535 (like 127.0.0.1:8080, "
                  "or \"\" to disable the server), got '" +
                      *listen + "'");
    }
    if (listen->empty()) {
      out.host.clear();
      out.port = 0;
    }
  }
  out.token = http.Secret("token");
  if (out.token && out.token->empty()) out.token.reset();
  out.public_url = http.String("public_url");
  if (out.public_url && out.public_url->rfind("http://", 0) != 0 &&
      out.public_url->rfind("https://", 0) != 0) {
    http.Report("public_url",
                "expected a URL starting with http:// or https://, got '" + *out.public_url + "'");
  }
  return out;
}

void ReadTopLevel(const YAML::Node& root, const ConfigSource& source, const LoadOptions& options,
                  Config& config) {
  if (root.IsNull()) {
    source.diagnostics().Add(
        Diagnostic{source.file(), 0, 0, "", "no jobs defined (the file is empty)"});
    return;
  }
  if (!root.IsMap()) {
    source.Report(root.Mark(), "",
                  "expected a mapping at the top level (keys such as jobs: and alerts:), got " +
                      Describe(root));
    return;
  }
  MapReader top(root, "", source);

  if (std::optional<MapReader> state = top.Map("state")) config.state = ReadState(*state);
  if (std::optional<MapReader> log = top.Map("log")) config.log = ReadLog(*log);
  if (std::optional<MapReader> http = top.Map("http")) config.http = ReadHttp(*http);
  config.max_parallel_runs = static_cast<int>(top.Int("max_parallel_runs", 0, 10'000).value_or(0));
  config.shutdown_grace = top.Duration("shutdown_grace").value_or(config.shutdown_grace);
  if (std::optional<MapReader> alerts = top.Map("alerts")) config.alerts = ReadAlerts(*alerts);

  JobReader jobs(source, options.job_types, options.with_overrides);
  if (std::optional<MapReader> defaults = top.Map("defaults")) jobs.ReadDefaults(*defaults);

  const bool has_jobs = top.Has("jobs");
  std::optional<std::vector<MapReader>> entries = top.MapList("jobs");
  if (!has_jobs) {
    top.ReportHere("no jobs defined (add a jobs: list)");
  } else if (entries && entries->empty() && top.Node("jobs")->size() == 0) {
    top.Report("jobs", "no jobs defined");
  }
  if (entries) {
    config.jobs.reserve(entries->size());
    for (MapReader& entry : *entries) {
      if (std::optional<JobConfig> job = jobs.ReadJob(entry, config.alerts.rules)) {
        config.jobs.push_back(std::move(*job));
      }
    }
  }
  CheckJobLinks(jobs.links(), source);
  jobs.ReportUnusedOverrides();
  top.Finish();
}

}  // namespace

std::string LoadResult::ErrorText() const {
  std::string out;
  for (const Diagnostic& diagnostic : diagnostics) out += diagnostic.ToString() + '\n';
  return out;
}

LoadResult LoadConfigText(const std::string& text, const std::string& file_name,
                          const LoadOptions& options) {
  Diagnostics diagnostics;
  std::filesystem::path folder =
      options.folder.value_or(std::filesystem::path(file_name).parent_path());
  std::error_code ignored;
  folder = std::filesystem::absolute(folder, ignored).lexically_normal();
  ConfigSource source(file_name, folder, diagnostics);

  Config config;
  config.file = file_name;
  try {
    if (std::optional<YAML::Node> root = ParseDocument(text, source, options.env)) {
      ReadTopLevel(*root, source, options, config);
    }
  } catch (const YAML::Exception& error) {
    // ParseDocument owns yaml-cpp's parse errors; anything else from yaml-cpp
    // is a bug in how we read the tree. Refuse the config rather than crash.
    source.Report(error.mark, "", std::string("internal error while reading: ") + error.what());
  }

  // A bad inherited default (an unknown type, an `after:` naming no job) is
  // found once per job that uses it; report it once.
  std::vector<Diagnostic> unique;
  std::set<std::string> seen;
  for (const Diagnostic& diagnostic : diagnostics.all()) {
    if (seen.insert(diagnostic.ToString()).second) unique.push_back(diagnostic);
  }
  Diagnostics sorted;
  for (Diagnostic& diagnostic : unique) sorted.Add(std::move(diagnostic));
  sorted.SortByPosition();

  LoadResult result;
  result.diagnostics = sorted.all();
  if (result.diagnostics.empty()) {
    config.IndexJobs();
    result.config = std::move(config);
  }
  return result;
}

LoadResult LoadConfigFile(const std::filesystem::path& path, const LoadOptions& options) {
  // Far beyond any real config; the cap keeps a wrong path (a log, a device)
  // from being read whole.
  constexpr std::size_t kMaxConfigBytes = 64 << 20;
  core::Result<std::string> text = ReadTextFile(path, kMaxConfigBytes);
  if (!text) {
    LoadResult result;
    result.diagnostics.push_back(Diagnostic{
        path.string(), 0, 0, "", "cannot read the config file: " + text.error().message});
    return result;
  }
  return LoadConfigText(*text, path.string(), options);
}

}  // namespace config
