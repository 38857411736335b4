#include "config/config_loader.h"

#include <set>

#include <yaml-cpp/exceptions.h>

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
  if (std::optional<MapReader> ui = http.Map("ui")) {
    out.ui_enabled = ui->Bool("enabled").value_or(out.ui_enabled);
    out.ui_token_required = ui->Bool("token_required").value_or(out.ui_token_required);
    // Without a token every API read would be refused: surely not meant.
    if (out.ui_token_required && !out.token) {
      ui->Report("token_required", "needs http.token (or token_file), which is not set");
    }
  }
  return out;
}

// How many jobs the text can hold at most, to size the job list up front:
// every job that is kept has a `name` key. Only a hint; capacity that is
// never filled is never touched, so it costs address space, not memory.
std::size_t CountJobsAtMost(const std::string& text) {
  std::size_t count = 0;
  for (std::size_t at = text.find("name"); at != std::string::npos;
       at = text.find("name", at + 4)) {
    ++count;
  }
  return count;
}

// One attempt at loading. With `stream`, the jobs are read while the text is
// parsed, each as soon as its entry is complete (see JobsStream), using the
// `alerts:` and `defaults:` that precede `jobs:`. When one of those two comes
// after `jobs:` instead, or the text has a syntax error after some jobs were
// read, the attempt is abandoned (`retry`) and the loader reads the whole
// document first, which gives exactly the same answer more slowly. With
// `libyaml`, a large text may be parsed by libyaml; if it gives up after jobs
// were read (see ParseDocument), the attempt is abandoned too (`redo`) and
// the next one streams with yaml-cpp.
class Loading {
 public:
  Loading(const std::string& file_name, const LoadOptions& options, bool stream, bool libyaml)
      : options_(options),
        stream_(stream),
        libyaml_(libyaml),
        source_(file_name, Folder(file_name, options), diagnostics_) {
    config_.file = file_name;
  }

  // Read again without streaming: see above.
  bool retry() const { return retry_; }
  // Read again, streaming, but with yaml-cpp: libyaml gave up half-way.
  bool redo() const { return redo_; }

  void Run(const std::string& text) {
    jobs_hint_ = stream_ ? CountJobsAtMost(text) : 0;
    JobsStream stream;
    stream.on_start = [this](YamlNode before) { StartJobs(before); };
    stream.on_item = [this](YamlNode item, std::size_t index) { ReadJobItem(item, index); };
    try {
      bool redo = false;
      std::optional<YamlNode> root =
          ParseDocument(text, tree_, source_, options_.env, stream_ ? &stream : nullptr,
                        libyaml_ ? &redo : nullptr);
      if (!root) {
        retry_ = streamed_;
        redo_ = redo;
        return;
      }
      ReadTopLevel(*root);
    } catch (const YAML::Exception& error) {
      // ParseDocument owns yaml-cpp's parse errors; anything else from
      // yaml-cpp is a bug in how we read the tree. Refuse the config rather
      // than crash.
      source_.Report(error.mark, "", std::string("internal error while reading: ") + error.what());
    }
  }

  LoadResult Result() {
    // A bad inherited default (an unknown type, an `after:` naming no job) is
    // found once per job that uses it; report it once.
    std::vector<Diagnostic> unique;
    std::set<std::string> seen;
    for (const Diagnostic& diagnostic : diagnostics_.all()) {
      if (seen.insert(diagnostic.ToString()).second) unique.push_back(diagnostic);
    }
    Diagnostics sorted;
    for (Diagnostic& diagnostic : unique) sorted.Add(std::move(diagnostic));
    sorted.SortByPosition();

    LoadResult result;
    result.diagnostics = sorted.all();
    if (result.diagnostics.empty()) {
      // The streaming hint can overshoot (a text full of `name`s); the daemon
      // keeps this list for its whole life.
      if (config_.jobs.capacity() > config_.jobs.size() + config_.jobs.size() / 4 + 64) {
        config_.jobs.shrink_to_fit();
      }
      config_.IndexJobs();
      config_.secrets.assign(source_.secrets().begin(), source_.secrets().end());
      result.config = std::move(config_);
    }
    return result;
  }

 private:
  static std::filesystem::path Folder(const std::string& file_name, const LoadOptions& options) {
    std::filesystem::path folder =
        options.folder.value_or(std::filesystem::path(file_name).parent_path());
    std::error_code ignored;
    return std::filesystem::absolute(folder, ignored).lexically_normal();
  }

  // The streamed `jobs:` list starts: what the jobs depend on must be read
  // now, from the entries before it.
  void StartJobs(YamlNode before) {
    streamed_ = true;
    MapReader top(before, "", source_);
    if (std::optional<MapReader> alerts = top.Map("alerts")) {
      config_.alerts = ReadAlerts(*alerts);
    }
    jobs_.emplace(source_, tree_, options_.job_types, options_.with_overrides);
    // Growing the job list by doubling would copy and touch about twice its
    // final size (about 50 MB for 100,000 jobs).
    config_.jobs.reserve(jobs_hint_);
    jobs_->Reserve(jobs_hint_);
    if (std::optional<MapReader> defaults = top.Map("defaults")) {
      jobs_->ReadDefaults(*defaults);
    }
    alerts_seen_ = top.Has("alerts");
    defaults_seen_ = top.Has("defaults");
    top.FinishQuietly();  // ReadTopLevel reports unknown keys
  }

  void ReadJobItem(YamlNode item, std::size_t index) {
    ++items_;
    const std::string path = "jobs[" + std::to_string(index) + "]";
    if (!item.IsMap()) {
      if (!item.unusable()) {
        source_.Report(item.Mark(), path, "expected a mapping, got " + Describe(item));
      }
      return;
    }
    MapReader entry(item, path, source_);
    if (std::optional<JobConfig> job = jobs_->ReadJob(entry, config_.alerts.rules)) {
      config_.jobs.push_back(std::move(*job));
    }
  }

  void ReadTopLevel(YamlNode root) {
    if (root.IsNull()) {
      source_.diagnostics().Add(
          Diagnostic{source_.file(), 0, 0, "", "no jobs defined (the file is empty)"});
      return;
    }
    if (!root.IsMap()) {
      source_.Report(root.Mark(), "",
                     "expected a mapping at the top level (keys such as jobs: and alerts:), got " +
                         Describe(root));
      return;
    }
    MapReader top(root, "", source_);

    if (std::optional<MapReader> state = top.Map("state")) config_.state = ReadState(*state);
    if (std::optional<MapReader> log = top.Map("log")) config_.log = ReadLog(*log);
    if (std::optional<MapReader> http = top.Map("http")) config_.http = ReadHttp(*http);
    config_.max_parallel_runs =
        static_cast<int>(top.Int("max_parallel_runs", 0, 10'000).value_or(0));
    config_.shutdown_grace = top.Duration("shutdown_grace").value_or(config_.shutdown_grace);

    if (streamed_) {
      // Read already, unless they come after `jobs:` (then read it all again).
      if (top.Has("alerts") != alerts_seen_ || top.Has("defaults") != defaults_seen_) {
        retry_ = true;
        top.FinishQuietly();
        return;
      }
      top.Allow("jobs");
      if (items_ == 0) top.Report("jobs", "no jobs defined");
    } else {
      if (std::optional<MapReader> alerts = top.Map("alerts")) config_.alerts = ReadAlerts(*alerts);
      jobs_.emplace(source_, tree_, options_.job_types, options_.with_overrides);
      if (std::optional<MapReader> defaults = top.Map("defaults")) jobs_->ReadDefaults(*defaults);
      ReadJobList(top);
    }
    CheckJobLinks(config_.jobs, jobs_->links(), source_);
    jobs_->ReportUnusedOverrides();
    top.Finish();
  }

  void ReadJobList(MapReader& top) {
    if (!top.Has("jobs")) {
      top.ReportHere("no jobs defined (add a jobs: list)");
      return;
    }
    const YamlNode list = *top.Node("jobs");
    if (list.IsNull() || (list.IsSequence() && list.size() == 0)) {
      top.Report("jobs", "no jobs defined");
      return;
    }
    if (!list.IsSequence()) {
      top.Report("jobs", "expected a list of mappings, got " + Describe(list));
      return;
    }
    config_.jobs.reserve(list.size());
    jobs_->Reserve(list.size());
    std::size_t index = 0;
    for (const YamlNode& item : list) ReadJobItem(item, index++);
  }

  const LoadOptions& options_;
  const bool stream_;
  const bool libyaml_;
  Diagnostics diagnostics_;
  ConfigSource source_;
  YamlTree tree_;
  Config config_;
  std::optional<JobReader> jobs_;

  bool streamed_ = false;     // the jobs were read while parsing
  bool alerts_seen_ = false;  // before the streamed `jobs:`
  bool defaults_seen_ = false;
  std::size_t items_ = 0;
  std::size_t jobs_hint_ = 0;  // at least the number of jobs, when streaming
  bool retry_ = false;
  bool redo_ = false;
};

}  // namespace

std::string LoadResult::ErrorText() const {
  std::string out;
  for (const Diagnostic& diagnostic : diagnostics) out += diagnostic.ToString() + '\n';
  return out;
}

LoadResult LoadConfigText(const std::string& text, const std::string& file_name,
                          const LoadOptions& options) {
  {
    Loading streamed(file_name, options, true, true);
    streamed.Run(text);
    if (!streamed.retry()) return streamed.Result();
    if (streamed.redo()) {
      Loading again(file_name, options, true, false);
      again.Run(text);
      if (!again.retry()) return again.Result();
    }
  }
  Loading whole(file_name, options, false, false);
  whole.Run(text);
  return whole.Result();
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
