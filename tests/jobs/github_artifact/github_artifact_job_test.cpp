// The github_artifact job against the fake GitHub (tests/fakes/fake_github.h)
// in process: what it picks, what it asks, what it leaves in dest and in its
// state, and how it fails. Hostile archives are lib/archive's tests; the
// daemon, kill -9 and the chains are tests/integration/github_artifact_test.py.
#include "jobs/github_artifact/github_artifact_job.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>

#include "jobs/github_artifact/github_artifact_config.h"
#include "store/run_recorder.h"
#include "store/run_store.h"
#include "tests/fakes/fake_github.h"
#include "tests/support/job_run.h"

namespace jobs::github_artifact {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

constexpr const char* kToken = "ghp_unitTestTokenThatMustNotLeak";

std::string Utc(Clock::time_point t) {
  const std::time_t seconds = Clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string Read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> Names(const fs::path& folder) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(folder)) {
    out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Files = std::vector<std::pair<std::string, std::string>>;

void WriteZip(const fs::path& file, const Files& files) {
  struct archive* a = archive_write_new();
  REQUIRE(archive_write_set_format_zip(a) == ARCHIVE_OK);
  REQUIRE(archive_write_open_filename(a, file.c_str()) == ARCHIVE_OK);
  for (const auto& [name, data] : files) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_mode(entry, AE_IFREG | 0644);
    archive_entry_set_size(entry, la_int64_t(data.size()));
    REQUIRE(archive_write_header(a, entry) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, data.data(), data.size()) == la_ssize_t(data.size()));
    archive_entry_free(entry);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
}

fakes::FakeGithub::Options FakeOptions() {
  fakes::FakeGithub::Options options;
  options.repo = "acme/aqi-pipeline";
  options.token = kToken;
  return options;
}

http::ClientOptions FastClient() {
  http::ClientOptions options;
  options.retry.base_backoff = 5ms;
  options.retry.max_backoff = 20ms;
  options.retry.max_retries = 2;
  options.attempt_timeout = 5s;
  return options;
}

struct Harness {
  Harness() : fake(FakeOptions()), client(FastClient()) {
    char name[] = "/tmp/jobsd-github-artifact-XXXXXX";
    dir = ::mkdtemp(name);
    fs::create_directories(dir / "zips");
    fake.Start();
    auto store = store::RunStore::Open(dir / "state.db", store::Database::Mode::kReadWrite);
    REQUIRE(store);
    auto recorder_or = store::RunRecorder::Start(
        std::move(*store), 100, [](const core::Error& e) { FAIL("store error: " << e.message); },
        10);
    REQUIRE(recorder_or);
    recorder = std::move(*recorder_or);
    settings.token = kToken;
    settings.repo = "acme/aqi-pipeline";
    settings.artifact = "feast-offline-store-*";
    settings.dest = dir / "data" / "feast";
    settings.api_url = fake.api_url();
  }
  ~Harness() {
    recorder.reset();
    fake.Stop();
    fs::remove_all(dir);
  }

  support::JobRun Run() {
    config::JobConfig job;
    job.name = "feast-sync";
    job.type = "github_artifact";
    job.settings = settings;
    scheduler::CancelToken cancel;
    cancel.SetDeadline(std::chrono::time_point_cast<core::Duration>(Clock::now()) + 60s);
    return support::RunJob(Type(), job, cancel, client, {}, ++runs, recorder.get());
  }

  // A successful run of the hourly workflow created `ago` before now.
  void AddRun(std::int64_t id, core::Duration ago, std::string branch = "main") {
    fakes::FakeWorkflowRun run;
    run.id = id;
    run.head_branch = std::move(branch);
    run.created_at = Utc(Clock::now() - std::chrono::duration_cast<Clock::duration>(ago));
    fake.AddRun(run);
  }

  // An artifact of run `run_id` made of `files`, uploaded when the run ended.
  fs::path AddArtifact(std::int64_t id, const std::string& name, std::int64_t run_id,
                       const Files& files, bool expired = false) {
    const fs::path zip = dir / "zips" / (std::to_string(id) + ".zip");
    WriteZip(zip, files);
    AddFile(id, name, run_id, zip, expired);
    return zip;
  }
  void AddFile(std::int64_t id, const std::string& name, std::int64_t run_id, const fs::path& file,
               bool expired = false) {
    fakes::FakeArtifact artifact;
    artifact.id = id;
    artifact.name = name;
    artifact.run_id = run_id;
    artifact.file = file;
    artifact.expired = expired;
    fake.AddArtifact(artifact);
  }

  std::optional<std::string> State(const std::string& key) {
    recorder->Flush();
    auto store = store::RunStore::Open(dir / "state.db", store::Database::Mode::kReadOnly);
    REQUIRE(store);
    auto value = store->GetState("feast-sync", key);
    REQUIRE(value);
    return *value;
  }

  int Requests(const std::string& part) const {
    const auto log = fake.request_log();
    return int(std::count_if(log.begin(), log.end(), [&](const std::string& line) {
      return line.find(part) != std::string::npos;
    }));
  }

  fs::path versions() const { return settings.dest.string() + ".versions"; }

  fs::path dir;
  fakes::FakeGithub fake;
  http::Client client;
  std::unique_ptr<store::RunRecorder> recorder;
  GithubArtifactSettings settings;
  std::int64_t runs = 0;  // the run ids given so far
};

void RequireOk(const support::JobRun& run) {
  INFO((run ? "" : run.error().message));
  REQUIRE(run);
}

const Files kFeast = {{"aqi_features.parquet", std::string(20000, 'p')},
                      {"registry/registry.db", "registry"},
                      {"README.md", "# feast offline store\n"}};

}  // namespace

TEST_CASE("github_artifact job: pulls the newest match, then nothing new costs 304s",
          "[github_artifact][job]") {
  Harness h;
  h.AddRun(11, 5h);
  h.AddArtifact(1001, "feast-offline-store-11", 11, {{"old.txt", "old"}});
  h.AddRun(12, 2h);
  h.AddArtifact(1002, "feast-offline-store-12", 12, kFeast);
  h.AddArtifact(1003, "coverage-html", 12, {{"index.html", "<html>"}});  // another name
  h.AddRun(13, 1h, "feature/x");  // not asked for: branch main below
  h.AddArtifact(1004, "feast-offline-store-13", 13, {{"wrong.txt", "branch"}});
  h.settings.branch = "main";
  h.settings.workflow = "hourly.yml";
  h.settings.expect = {"aqi_features.parquet", "registry/registry.db"};
  h.settings.max_artifact_age = 26h;

  const auto first = h.Run();
  RequireOk(first);
  CHECK(first.Metric("changed") == 1);
  CHECK(first.Metric("artifact_id") == 1002);
  CHECK(first.Metric("workflow_run_id") == 12);
  CHECK(first.Metric("artifact_age_seconds") == Approx(2 * 3600 - 15 * 60).margin(30));
  CHECK(first.Metric("bytes") == double(fs::file_size(h.dir / "zips" / "1002.zip")));
  CHECK(first.Metric("files") == 3);
  CHECK(first.Metric("extracted_bytes") == 20000 + 8 + 22);
  CHECK(first.Metric("download_attempts") == 1);
  CHECK(first.Metric("rate_limit_waits") == 0);
  CHECK(fs::read_symlink(h.settings.dest) ==
        fs::path("feast.versions/1002-feast-offline-store-12"));
  CHECK(Read(h.settings.dest / "aqi_features.parquet") == std::string(20000, 'p'));
  CHECK(Read(h.settings.dest / "registry/registry.db") == "registry");
  CHECK(Names(h.versions()) == std::vector<std::string>{"1002-feast-offline-store-12"});
  CHECK_THAT(first.output, Catch::Contains("pulled 'feast-offline-store-12' (artifact 1002"));
  CHECK_THAT(first.output, Catch::Contains("sha256 "));
  // The workflow's runs, of branch main, successful only, 100 a page.
  CHECK(h.Requests("GET /repos/acme/aqi-pipeline/actions/workflows/hourly.yml/runs?") == 1);
  CHECK(h.Requests("branch=main") == 1);
  CHECK(h.Requests("status=success") == 1);
  CHECK(h.Requests("per_page=100") >= 2);
  CHECK(h.Requests("/artifacts/1002/zip") == 1);
  CHECK(h.fake.blob_requests() == 1);
  CHECK_FALSE(h.fake.token_reached_blob_host());
  CHECK(h.fake.every_request_had_api_version_and_user_agent());
  const auto pulled = h.State("pulled");
  REQUIRE(pulled);
  CHECK_THAT(*pulled, Catch::Contains("\"artifact_id\":1002"));
  CHECK_THAT(*pulled, Catch::Contains("\"run_id\":12"));
  CHECK_THAT(*pulled, Catch::Contains("\"head_branch\":\"main\""));
  CHECK_THAT(*pulled, Catch::Contains("\"sha256\":\""));

  // Again: every listing answers 304 from the ETags in the job's state.
  const int requests = h.fake.requests();
  const auto second = h.Run();
  RequireOk(second);
  CHECK(second.Metric("changed") == 0);
  CHECK(second.Metric("artifact_id") == 1002);
  CHECK(second.Metric("not_modified") == second.Metric("requests"));
  CHECK(h.fake.not_modified() == h.fake.requests() - requests);
  CHECK(h.Requests("/zip") == 1);
  CHECK(h.fake.blob_requests() == 1);
  CHECK_THAT(second.output, Catch::StartsWith("unchanged: 'feast-offline-store-12'"));
  // The token is nowhere in what the run reported or kept.
  for (const auto& text : {first.output, second.output, *pulled, *h.State("listings")}) {
    CHECK_THAT(text, !Catch::Contains(kToken));
  }
}

TEST_CASE("github_artifact job: a newer artifact replaces dest, keep earlier ones",
          "[github_artifact][job]") {
  Harness h;
  h.settings.keep = 1;
  h.AddRun(21, 3h);
  h.AddArtifact(2001, "feast-offline-store-21", 21, {{"v.txt", "1"}});
  RequireOk(h.Run());
  h.AddRun(22, 2h);
  h.AddArtifact(2002, "feast-offline-store-22", 22, {{"v.txt", "2"}});
  const auto second = h.Run();
  RequireOk(second);
  CHECK(second.Metric("changed") == 1);
  CHECK(Read(h.settings.dest / "v.txt") == "2");
  h.AddRun(23, 1h);
  h.AddArtifact(2003, "feast-offline-store-23", 23, {{"v.txt", "3"}});
  RequireOk(h.Run());
  CHECK(Read(h.settings.dest / "v.txt") == "3");
  // The current one and one earlier pull, for rollback.
  CHECK(Names(h.versions()) ==
        std::vector<std::string>{"2002-feast-offline-store-22", "2003-feast-offline-store-23"});
}

TEST_CASE("github_artifact job: paging stops 6 hours past a match, and goes on without one",
          "[github_artifact][job]") {
  Harness h;
  // 150 hourly runs, 100 a page; the newest has the match.
  for (int i = 0; i < 150; ++i) h.AddRun(1000 + i, std::chrono::hours(150 - i));
  h.AddArtifact(9001, "feast-offline-store-new", 1149, {{"a", "new"}});
  h.AddArtifact(9000, "feast-offline-store-old", 1000, {{"a", "old"}});
  const auto run = h.Run();
  RequireOk(run);
  CHECK(run.Metric("artifact_id") == 9001);
  // One page of runs, the artifacts of the newest run only (the others
  // ended before the match was made), /zip.
  CHECK(run.Metric("requests") == 3);
  CHECK(h.Requests("page=2") == 0);

  // Without a match on the first page, the link header leads on.
  Harness old;
  for (int i = 0; i < 150; ++i) old.AddRun(1000 + i, std::chrono::hours(150 - i));
  old.AddArtifact(9000, "feast-offline-store-old", 1000, {{"a", "old"}});
  const auto far = old.Run();
  RequireOk(far);
  CHECK(far.Metric("artifact_id") == 9000);
  CHECK(Read(old.settings.dest / "a") == "old");
  CHECK(old.Requests("GET /repositories/") >= 1);  // GitHub's next links, verbatim
  CHECK(far.Metric("requests") == 2 + 150 + 1);
}

TEST_CASE("github_artifact job: expired artifacts are skipped; none left is a clear failure",
          "[github_artifact][job]") {
  Harness h;
  h.AddRun(31, 2h);
  h.AddArtifact(3001, "feast-offline-store-31", 31, {{"a", "1"}}, true);
  h.AddArtifact(3002, "coverage", 31, {{"a", "1"}});
  h.settings.branch = "main";
  const auto run = h.Run();
  REQUIRE_FALSE(run);
  CHECK(run.error().kind == core::ErrorKind::kNotFound);
  CHECK_FALSE(run.error().retryable);
  CHECK_THAT(run.error().message,
             Catch::Contains("no artifact matching 'feast-offline-store-*' in the successful "
                             "runs of acme/aqi-pipeline (branch main)"));
  CHECK_FALSE(fs::exists(fs::symlink_status(h.settings.dest)));

  h.AddRun(32, 1h);
  h.AddArtifact(3003, "feast-offline-store-32", 32, {{"a", "2"}});
  RequireOk(h.Run());
  CHECK(Read(h.settings.dest / "a") == "2");
}

TEST_CASE("github_artifact job: a stale newest artifact fails the run and changes nothing",
          "[github_artifact][job]") {
  Harness h;
  h.AddRun(41, 75h);
  h.AddArtifact(4001, "feast-offline-store-41", 41, {{"a", "1"}});
  h.settings.max_artifact_age = 26h;
  const auto run = h.Run();
  REQUIRE_FALSE(run);
  CHECK_FALSE(run.error().retryable);
  CHECK_THAT(run.error().message, Catch::StartsWith("newest artifact is 3 days old"));
  CHECK_THAT(run.error().message, Catch::Contains("older than max_artifact_age 1d2h"));
  CHECK(run.Metric("artifact_age_seconds") > 74 * 3600);
  CHECK(run.Metric("changed") == -1);  // a failure reports no change
  CHECK(h.Requests("/zip") == 0);
  CHECK_FALSE(fs::exists(fs::symlink_status(h.settings.dest)));
}

TEST_CASE("github_artifact job: a missing expected file leaves dest as it was",
          "[github_artifact][job]") {
  Harness h;
  h.settings.expect = {"registry/registry.db"};
  h.AddRun(51, 2h);
  h.AddArtifact(5001, "feast-offline-store-51", 51, kFeast);
  RequireOk(h.Run());
  h.AddRun(52, 1h);
  h.AddArtifact(5002, "feast-offline-store-52", 52, {{"aqi_features.parquet", "no registry"}});
  const auto run = h.Run();
  REQUIRE_FALSE(run);
  CHECK_FALSE(run.error().retryable);
  CHECK_THAT(run.error().message, Catch::Contains("has no 'registry/registry.db' (expect)"));
  CHECK(fs::read_symlink(h.settings.dest) ==
        fs::path("feast.versions/5001-feast-offline-store-51"));
  CHECK(Names(h.versions()) == std::vector<std::string>{"5001-feast-offline-store-51"});
}

TEST_CASE("github_artifact job: a corrupt or cut download is tried again, then fails",
          "[github_artifact][job]") {
  Harness h;
  h.AddRun(61, 1h);
  h.AddArtifact(6001, "feast-offline-store-61", 61, kFeast);
  fakes::FakeGithubFault corrupt;
  corrupt.kind = fakes::FakeGithubFaultKind::kCorrupt;
  corrupt.target = fakes::FakeGithubTarget::kBlob;
  h.fake.AddFault(corrupt);
  const auto once = h.Run();
  RequireOk(once);
  CHECK(once.Metric("download_attempts") == 2);
  CHECK(h.Requests("/artifacts/6001/zip") == 2);  // a new signed URL each time
  CHECK(Read(h.settings.dest / "README.md") == "# feast offline store\n");

  Harness cut;
  cut.AddRun(62, 1h);
  cut.AddArtifact(6002, "feast-offline-store-62", 62, kFeast);
  fakes::FakeGithubFault truncate;
  truncate.kind = fakes::FakeGithubFaultKind::kTruncate;
  truncate.target = fakes::FakeGithubTarget::kBlob;
  truncate.times = 100;
  cut.fake.AddFault(truncate);
  const auto failed = cut.Run();
  REQUIRE_FALSE(failed);
  CHECK(failed.error().retryable);  // the scheduler's retries: {max: N} try again later
  CHECK_THAT(failed.error().message, Catch::Contains("download of 'feast-offline-store-62'"));
  CHECK(failed.Metric("download_attempts") == 3);
  CHECK_FALSE(fs::exists(fs::symlink_status(cut.settings.dest)));
  CHECK(Names(cut.versions()).empty());  // no partial download left
}

TEST_CASE("github_artifact job: raw bytes fail unless extract is false", "[github_artifact][job]") {
  Harness h;
  const fs::path raw = h.dir / "zips" / "model.bin";
  std::ofstream(raw, std::ios::binary) << std::string(5000, '\x7f');
  h.AddRun(71, 1h);
  h.AddFile(7001, "feast-offline-store-model", 71, raw);
  const auto refused = h.Run();
  REQUIRE_FALSE(refused);
  CHECK_FALSE(refused.error().retryable);
  CHECK_THAT(refused.error().message,
             Catch::Contains("is not a zip archive; set `extract: false` to keep it as "
                             "downloaded"));
  CHECK_FALSE(fs::exists(fs::symlink_status(h.settings.dest)));
  CHECK(Names(h.versions()).empty());

  h.settings.extract = false;
  const auto kept = h.Run();
  RequireOk(kept);
  CHECK(kept.Metric("files") == 1);
  CHECK(Read(h.settings.dest / "feast-offline-store-model") == std::string(5000, '\x7f'));
}

TEST_CASE("github_artifact job: dest switched by a run that died before recording it",
          "[github_artifact][job]") {
  Harness h;
  h.AddRun(81, 2h);
  h.AddArtifact(8001, "feast-offline-store-81", 81, {{"a", "1"}});
  RequireOk(h.Run());
  h.AddRun(82, 1h);
  h.AddArtifact(8002, "feast-offline-store-82", 82, {{"a", "2"}});
  RequireOk(h.Run());
  // As if the second run had been killed after the swap, before the state
  // said so: the state still names the first pull.
  config::JobConfig job;
  job.name = "feast-sync";
  scheduler::CancelToken cancel;
  const scheduler::SystemClock clock;
  const scheduler::JobServices services{clock, h.client, h.recorder.get()};
  scheduler::JobContext ctx(services, job, 99, 1, store::Trigger::kManual, cancel);
  REQUIRE(
      ctx.PutState("pulled", R"({"artifact_id":8001,"version":"8001-feast-offline-store-81"})"));

  const int blobs = h.fake.blob_requests();
  const auto recovered = h.Run();
  RequireOk(recovered);
  CHECK(recovered.Metric("changed") == 1);  // the chain after it never ran
  CHECK(h.fake.blob_requests() == blobs);   // nothing downloaded again
  CHECK_THAT(*h.State("pulled"), Catch::Contains("\"artifact_id\":8002"));
  const auto after = h.Run();
  RequireOk(after);
  CHECK(after.Metric("changed") == 0);
}

TEST_CASE("github_artifact job: GitHub's refusals", "[github_artifact][job]") {
  SECTION("a bad token fails at once and the error does not carry it") {
    Harness h;
    h.AddRun(91, 1h);
    h.settings.token = "ghp_wrongWrongWrong";
    const auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK_FALSE(run.error().retryable);
    CHECK_THAT(run.error().message, Catch::Contains("HTTP 401: Bad credentials"));
    CHECK_THAT(run.error().message, Catch::Contains("check `token`"));
    CHECK_THAT(run.error().message, !Catch::Contains("ghp_wrong"));
    CHECK(h.fake.requests() == 1);
  }
  SECTION("another repository (or a private one) is a 404 that says so") {
    Harness h;
    h.settings.repo = "acme/secret";
    const auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK_FALSE(run.error().retryable);
    CHECK_THAT(run.error().message, Catch::Contains("HTTP 404"));
    CHECK_THAT(run.error().message, Catch::Contains("private repository"));
  }
  SECTION("Resource not accessible by integration") {
    Harness h;
    h.AddRun(92, 1h);
    fakes::FakeGithubFault forbidden;
    forbidden.status = 403;
    forbidden.message = "Resource not accessible by integration";
    h.fake.AddFault(forbidden);
    const auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK_FALSE(run.error().retryable);
    CHECK_THAT(run.error().message, Catch::Contains("Resource not accessible by integration"));
    CHECK_THAT(run.error().message, Catch::Contains("Actions: read"));
  }
  SECTION("the primary rate limit is waited out") {
    Harness h;
    h.AddRun(93, 1h);
    h.AddArtifact(9301, "feast-offline-store-93", 93, {{"a", "1"}});
    fakes::FakeGithubFault limit;
    limit.kind = fakes::FakeGithubFaultKind::kPrimaryRateLimit;
    limit.status = 429;
    limit.seconds = 1;
    h.fake.AddFault(limit);
    const auto run = h.Run();
    RequireOk(run);
    CHECK(run.Metric("rate_limit_waits") >= 1);
    // Waited for the reset instead of asking again and again.
    CHECK(h.Requests("GET /repos/acme/aqi-pipeline/actions/runs?") <= 3);
    CHECK(Read(h.settings.dest / "a") == "1");
  }
  SECTION("an expired artifact's /zip is a 410") {
    Harness h;
    h.AddRun(94, 1h);
    h.AddArtifact(9401, "feast-offline-store-94", 94, {{"a", "1"}});
    fakes::FakeGithubFault gone;
    gone.target = fakes::FakeGithubTarget::kPath;
    gone.path = "/zip";
    gone.status = 410;
    h.fake.AddFault(gone);
    const auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK_FALSE(run.error().retryable);
    CHECK_THAT(run.error().message, Catch::Contains("HTTP 410"));
  }
}

TEST_CASE("github_artifact job: a hostile artifact name stays one file name",
          "[github_artifact][job]") {
  Harness h;
  h.settings.artifact = "*";
  h.AddRun(95, 1h);
  h.AddArtifact(9501, "../../evil", 95, {{"a", "1"}});
  RequireOk(h.Run());
  CHECK(fs::read_symlink(h.settings.dest) == fs::path("feast.versions/9501-.._.._evil"));
  CHECK(Names(h.dir / "data") == std::vector<std::string>{"feast", "feast.versions"});
  CHECK_FALSE(fs::exists(h.dir / "evil"));
  CHECK_FALSE(fs::exists(h.dir.parent_path() / "evil"));
}

}  // namespace jobs::github_artifact
