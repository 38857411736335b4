// Replays the committed fuzz corpora (tests/fuzz_corpus/<target>/) through
// the code the fuzzers in fuzz/ exercise, with the same checks, so every
// input that once crashed or hung stays fixed in an ordinary test run that
// needs no clang or libFuzzer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/config_loader.h"
#include "jobs/command/command_config.h"
#include "jobs/sleep/sleep_config.h"
#include "schedule/schedule.h"

namespace {

// Every regular file of one corpus, in name order so failures reproduce.
std::vector<std::filesystem::path> CorpusFiles(const std::string& target) {
  const std::filesystem::path folder =
      std::filesystem::path(JOBSD_SOURCE_DIR) / "tests" / "fuzz_corpus" / target;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadBytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// As in fuzz/config_fuzz.cpp.
config::LoadOptions FuzzOptions() {
  config::LoadOptions options;
  options.job_types = {jobs::command::CommandJobType(), jobs::sleep::SleepJobType()};
  options.folder = "/nonexistent/jobsd-fuzz";
  options.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "JOBSD_API_TOKEN") return "s3cret";
    if (name == "SLACK_WEBHOOK_URL") return "https://hooks.slack.com/services/T0/B0/x";
    if (name == "EMPTY") return "";
    return std::nullopt;
  };
  return options;
}

}  // namespace

TEST_CASE("fuzz corpus replay: cron expressions", "[fuzz][schedule]") {
  // As in fuzz/cron_fuzz.cpp: the first byte picks the zone, the rest is the
  // expression; a parsed expression must yield strictly increasing fire times.
  static const char* const kZones[] = {"UTC", "Europe/Berlin", "Australia/Lord_Howe",
                                       "America/Sao_Paulo", "Pacific/Chatham"};
  const std::vector<std::filesystem::path> files = CorpusFiles("cron");
  REQUIRE_FALSE(files.empty());
  int parsed = 0;
  for (const std::filesystem::path& file : files) {
    const std::string bytes = ReadBytes(file);
    if (bytes.empty()) continue;
    INFO(file.filename().string() << ": '" << bytes.substr(1) << "'");
    const auto zone = schedules::LocateZone(kZones[static_cast<unsigned char>(bytes[0]) % 5]);
    REQUIRE(zone.has_value());
    // Result has no default constructor; the optional only holds it.
    std::optional<core::Result<schedules::CronExpression>> holder;
    REQUIRE_NOTHROW(
        holder.emplace(schedules::CronExpression::Parse(std::string_view(bytes).substr(1))));
    const core::Result<schedules::CronExpression>& expr = *holder;
    if (!expr) {
      CHECK_FALSE(expr.error().message.empty());
      continue;
    }
    ++parsed;
    date::sys_seconds t{std::chrono::seconds(1700000000 + 997 * static_cast<int>(bytes.size()))};
    for (int i = 0; i < 5; ++i) {
      std::optional<date::sys_seconds> next;
      REQUIRE_NOTHROW(next = schedules::NextCronFire(*expr, *zone, t));
      if (!next) break;
      REQUIRE(*next > t);  // time must move forward
      t = *next;
    }
  }
  CHECK(parsed > 0);  // the corpus must reach past the parser
}

TEST_CASE("fuzz corpus replay: config files", "[fuzz][config]") {
  const config::LoadOptions options = FuzzOptions();
  const std::vector<std::filesystem::path> files = CorpusFiles("config");
  REQUIRE_FALSE(files.empty());
  int loaded = 0;
  for (const std::filesystem::path& file : files) {
    const std::string text = ReadBytes(file);
    INFO(file.filename().string());
    config::LoadResult result;
    REQUIRE_NOTHROW(result = config::LoadConfigText(text, "fuzz.yaml", options));
    if (!result.ok()) {
      CHECK_FALSE(result.diagnostics.empty());  // a refusal always says why
      continue;
    }
    ++loaded;
    CHECK(result.diagnostics.empty());
    std::set<std::string> names;
    for (const config::JobConfig& job : result.config->jobs) {
      INFO("job " << job.name);
      CHECK(config::IsValidJobName(job.name));
      CHECK(names.insert(job.name).second);
      CHECK(result.config->FindJob(job.name) == &job);
      CHECK_FALSE((job.cron && job.every));
      for (const config::Upstream& upstream : job.after) {
        CHECK(result.config->FindJob(upstream.job) != nullptr);
      }
    }
  }
  CHECK(loaded > 0);  // the corpus must hold valid configs too
}
