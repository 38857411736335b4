#include "store/run_store.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "store/run_recorder.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using store::RunStatus;

// A fresh folder under the system temp dir, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("jobsd-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

core::TimePoint T(int seconds) {
  return core::TimePoint(std::chrono::seconds(1'800'000'000 + seconds));
}

store::RunStore OpenStore(const fs::path& file) {
  auto s = store::RunStore::Open(file, store::Database::Mode::kReadWrite);
  if (!s) FAIL(s.error().message);
  return std::move(*s);
}

std::int64_t Start(store::RunStore& s, const std::string& job, int at,
                   store::Trigger trigger = store::Trigger::kSchedule) {
  store::RunRecord run;
  run.job = job;
  run.trigger = trigger;
  run.scheduled_at = T(at);
  run.started_at = T(at);
  auto id = s.InsertRun(run);
  REQUIRE(id);
  return *id;
}

void End(store::RunStore& s, std::int64_t id, const std::string& job, RunStatus status, int at) {
  store::RunEnd end;
  end.id = id;
  end.job = job;
  end.status = status;
  end.finished_at = T(at);
  REQUIRE(s.FinishRun(end));
}

store::JobHealth HealthOf(store::RunStore& s, const std::string& job) {
  auto all = s.AllHealth();
  REQUIRE(all);
  for (const auto& h : *all) {
    if (h.job == job) return h;
  }
  FAIL("no health row for " << job);
  return {};
}

void CheckIntegrity(store::RunStore& s) {
  auto check = s.IntegrityCheck();
  REQUIRE(check);
  CHECK(*check == "ok");
}

// How many runs are in the per-job index.
std::int64_t IndexedCount(const fs::path& file) {
  auto db = store::Database::Open(file, store::Database::Mode::kReadOnly);
  REQUIRE(db);
  auto stmt = db->Prepare("SELECT COUNT(*) FROM run_index");
  REQUIRE(stmt);
  REQUIRE(*stmt->Step());
  return stmt->Int(0);
}

}  // namespace

TEST_CASE("run store records runs and failure streaks", "[store]") {
  TempDir dir;
  auto s = OpenStore(dir.path / "state" / "jobsd.db");  // creates the folder
  const auto a = Start(s, "backup", 0);
  End(s, a, "backup", RunStatus::kFailed, 1);
  const auto b = Start(s, "backup", 10);
  End(s, b, "backup", RunStatus::kTimeout, 11);
  CHECK(HealthOf(s, "backup").consecutive_failures == 2);
  CHECK(HealthOf(s, "backup").last_failure_at == T(11));
  CHECK_FALSE(HealthOf(s, "backup").last_success_at);

  // Skipped and cancelled runs leave the streak alone; success resets it.
  const auto c = Start(s, "backup", 20);
  End(s, c, "backup", RunStatus::kSkipped, 20);
  CHECK(HealthOf(s, "backup").consecutive_failures == 2);
  const auto d = Start(s, "backup", 30);
  End(s, d, "backup", RunStatus::kOk, 31);
  CHECK(HealthOf(s, "backup").consecutive_failures == 0);
  CHECK(HealthOf(s, "backup").last_success_at == T(31));
  CHECK(HealthOf(s, "backup").last_status == RunStatus::kOk);

  auto runs = s.RecentRuns("backup", 10);
  REQUIRE(runs);
  REQUIRE(runs->size() == 4);
  CHECK(runs->front().id == d);  // newest first
  CHECK(runs->front().status == RunStatus::kOk);
  CHECK(runs->back().status == RunStatus::kFailed);
  auto found = s.FindRun(b);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->status == RunStatus::kTimeout);
}

TEST_CASE("a job that keeps succeeding rewrites its health row once a minute, not every run",
          "[store]") {
  TempDir dir;
  auto s = OpenStore(dir.path / "jobsd.db");
  auto stored_success = [&] {
    auto row = store::Database::Open(dir.path / "jobsd.db", store::Database::Mode::kReadOnly);
    REQUIRE(row);
    auto stmt = row->Prepare("SELECT last_success_at FROM job_health WHERE job = 'beat'");
    REQUIRE(stmt);
    REQUIRE(*stmt->Step());
    return stmt->Int(0);
  };
  for (int at = 0; at <= 90; at += 10) End(s, Start(s, "beat", at), "beat", RunStatus::kOk, at + 1);
  // Written at 1 s and at 61 s (a minute later); the runs since then are
  // found among the runs.
  CHECK(stored_success() == T(61).time_since_epoch().count());
  CHECK(HealthOf(s, "beat").last_success_at == T(91));
  CHECK(HealthOf(s, "beat").consecutive_failures == 0);

  // A failure is always written, and so is the success after it.
  End(s, Start(s, "beat", 100), "beat", RunStatus::kFailed, 101);
  CHECK(HealthOf(s, "beat").consecutive_failures == 1);
  End(s, Start(s, "beat", 110), "beat", RunStatus::kOk, 111);
  CHECK(stored_success() == T(111).time_since_epoch().count());
  CHECK(HealthOf(s, "beat").consecutive_failures == 0);
  CHECK(HealthOf(s, "beat").last_failure_at == T(101));
}

TEST_CASE("runs left running by a crash become interrupted failures", "[store]") {
  TempDir dir;
  const auto file = dir.path / "jobsd.db";
  {
    auto s = OpenStore(file);
    Start(s, "sync", 0);
    const auto done = Start(s, "sync", 5);
    End(s, done, "sync", RunStatus::kFailed, 6);
    Start(s, "other", 7);
  }
  auto s = OpenStore(file);
  auto marked = s.MarkInterrupted(T(100));
  REQUIRE(marked);
  CHECK(*marked == 2);
  CHECK(HealthOf(s, "sync").consecutive_failures == 2);
  CHECK(HealthOf(s, "other").last_status == RunStatus::kInterrupted);
  auto again = s.MarkInterrupted(T(200));
  REQUIRE(again);
  CHECK(*again == 0);
  CheckIntegrity(s);
}

TEST_CASE("last scheduled slot feeds misfire handling", "[store]") {
  TempDir dir;
  auto s = OpenStore(dir.path / "jobsd.db");
  const std::vector<std::string> jobs = {"j", "k", "never"};
  auto none = s.LastScheduledSlots(jobs);
  REQUIRE(none);
  CHECK(none->empty());
  Start(s, "j", 60);
  Start(s, "j", 120, store::Trigger::kCatchup);
  Start(s, "j", 500, store::Trigger::kManual);  // not a slot
  Start(s, "k", 30);
  using Slots = std::map<std::string, core::TimePoint>;
  const Slots expected = {{"j", T(120)}, {"k", T(30)}};
  auto pending = s.LastScheduledSlots(jobs);
  REQUIRE(pending);
  CHECK(*pending == expected);
  REQUIRE(s.IndexPendingRuns());
  auto indexed = s.LastScheduledSlots(jobs);
  REQUIRE(indexed);
  CHECK(*indexed == expected);
  // Newer runs, some indexed and some not: the newest slot wins.
  Start(s, "k", 90, store::Trigger::kRetry);  // not a slot either
  Start(s, "k", 60);
  auto mixed = s.LastScheduledSlots(jobs);
  REQUIRE(mixed);
  CHECK(*mixed == Slots{{"j", T(120)}, {"k", T(60)}});
}

TEST_CASE("pruning keeps the newest runs of each job", "[store]") {
  TempDir dir;
  auto s = OpenStore(dir.path / "jobsd.db");
  for (int i = 0; i < 30; ++i) End(s, Start(s, "a", i), "a", RunStatus::kOk, i);
  for (int i = 0; i < 5; ++i) End(s, Start(s, "b", i), "b", RunStatus::kOk, i);
  auto pruned = s.Prune("a", 10);
  REQUIRE(pruned);
  CHECK(*pruned == 20);
  auto runs = s.RecentRuns("a", 100);
  REQUIRE(runs);
  REQUIRE(runs->size() == 10);
  CHECK(runs->back().started_at == T(20));
  CHECK(s.RecentRuns("b", 100)->size() == 5);
}

TEST_CASE("a job's runs are found whether or not they are in the per-job index yet", "[store]") {
  TempDir dir;
  const auto file = dir.path / "jobsd.db";
  auto s = OpenStore(file);
  for (int i = 0; i < 30; ++i) End(s, Start(s, "a", i), "a", RunStatus::kOk, i);
  for (int i = 0; i < 5; ++i)
    End(s, Start(s, "b", i), "b", i < 4 ? RunStatus::kOk : RunStatus::kFailed, i);
  CHECK(IndexedCount(file) == 0);
  // The health row holds a's first success (written once a minute); the
  // latest is found among the runs, indexed or not.
  CHECK(HealthOf(s, "a").last_success_at == T(29));

  auto before = s.RecentRuns("a", 7);
  REQUIRE(before);
  REQUIRE(before->size() == 7);
  CHECK(before->front().started_at == T(29));
  CHECK(s.RecentRuns("b", 100)->size() == 5);

  auto indexed = s.IndexPendingRuns();
  REQUIRE(indexed);
  CHECK(*indexed == 35);
  CHECK(IndexedCount(file) == 35);
  auto again = s.IndexPendingRuns();
  REQUIRE(again);
  CHECK(*again == 0);

  CHECK(HealthOf(s, "a").last_success_at == T(29));
  CHECK(HealthOf(s, "b").consecutive_failures == 1);
  auto after = s.RecentRuns("a", 7);
  REQUIRE(after);
  REQUIRE(after->size() == 7);
  for (std::size_t i = 0; i < after->size(); ++i) CHECK((*after)[i].id == (*before)[i].id);

  // Half indexed, half not: one list, newest first, nothing twice.
  for (int i = 30; i < 35; ++i) End(s, Start(s, "a", i), "a", RunStatus::kOk, i);
  auto mixed = s.RecentRuns("a", 8);
  REQUIRE(mixed);
  REQUIRE(mixed->size() == 8);
  for (std::size_t i = 0; i < mixed->size(); ++i) {
    CHECK((*mixed)[i].started_at == T(34 - static_cast<int>(i)));
  }
  CHECK(s.RecentRuns("", 100)->size() == 40);
}

TEST_CASE("pruning counts the runs not indexed yet, and drops their index entries", "[store]") {
  TempDir dir;
  const auto file = dir.path / "jobsd.db";
  auto s = OpenStore(file);
  for (int i = 0; i < 20; ++i) End(s, Start(s, "a", i), "a", RunStatus::kOk, i);
  REQUIRE(s.IndexPendingRuns());
  for (int i = 20; i < 30; ++i) End(s, Start(s, "a", i), "a", RunStatus::kOk, i);
  auto pruned = s.Prune("a", 15);
  REQUIRE(pruned);
  CHECK(*pruned == 15);
  auto runs = s.RecentRuns("a", 100);
  REQUIRE(runs);
  REQUIRE(runs->size() == 15);
  CHECK(runs->back().started_at == T(15));
  CHECK(IndexedCount(file) == 5);  // the 5 newest indexed runs remain
  REQUIRE(s.IndexPendingRuns());
  CHECK(IndexedCount(file) == 15);
  CheckIntegrity(s);
}

TEST_CASE("one writer's indexing takes in another writer's runs", "[store]") {
  TempDir dir;
  const auto file = dir.path / "jobsd.db";
  auto daemon = OpenStore(file);
  auto once = OpenStore(file);  // `jobsd once` beside the daemon
  REQUIRE(daemon.Begin());
  Start(daemon, "d", 10);
  Start(daemon, "d", 11);
  REQUIRE(daemon.Commit());
  Start(once, "o", 5);  // started earlier than the daemon's runs
  auto indexed = daemon.IndexPendingRuns();
  REQUIRE(indexed);
  CHECK(*indexed == 3);
  // After the daemon cleared the mark, the other writer marks its new run.
  Start(once, "o", 20);
  auto runs = daemon.RecentRuns("o", 10);
  REQUIRE(runs);
  CHECK(runs->size() == 2);
  auto last = once.IndexPendingRuns();
  REQUIRE(last);
  CHECK(*last == 1);
  CHECK(IndexedCount(file) == 4);
}

TEST_CASE("a state file from before the per-job index is migrated with its runs indexed",
          "[store]") {
  TempDir dir;
  const auto file = dir.path / "jobsd.db";
  {
    auto s = OpenStore(file);
    for (int i = 0; i < 5; ++i) End(s, Start(s, i % 2 ? "odd" : "even", i), "x", RunStatus::kOk, i);
  }
  {
    // Back to schema 2 as jobsd left it: the per-job SQLite index, no run_index.
    auto db = store::Database::Open(file, store::Database::Mode::kReadWrite);
    REQUIRE(db);
    REQUIRE(
        db->Execute("DROP TABLE run_index; DROP TABLE run_index_pending; DROP INDEX runs_by_start; "
                    "CREATE INDEX runs_by_job ON runs (job, started_at); "
                    "CREATE INDEX runs_by_start ON runs (started_at); PRAGMA user_version = 2;"));
  }
  auto s = OpenStore(file);
  CHECK(IndexedCount(file) == 5);
  auto even = s.RecentRuns("even", 10);
  REQUIRE(even);
  CHECK(even->size() == 3);
  CheckIntegrity(s);
}

TEST_CASE("reserved run ids never collide with other writers", "[store]") {
  TempDir dir;
  const auto file = dir.path / "jobsd.db";
  auto daemon = OpenStore(file);
  auto other = OpenStore(file);  // e.g. `jobsd once` beside the daemon
  auto block = daemon.ReserveRunIds(100);
  REQUIRE(block);
  // The other writer's rows land after the block...
  const auto foreign = Start(other, "x", 0);
  CHECK(foreign >= *block + 100);
  // ...so the daemon can use every id of its block.
  store::RunRecord run;
  run.id = *block + 99;
  run.job = "y";
  run.started_at = T(1);
  auto id = daemon.InsertRun(run);
  REQUIRE(id);
  CHECK(*id == *block + 99);
  auto next = other.ReserveRunIds(10);
  REQUIRE(next);
  CHECK(*next > foreign);
}

TEST_CASE("job state keeps per-job cursors", "[store]") {
  TempDir dir;
  auto s = OpenStore(dir.path / "jobsd.db");
  REQUIRE(s.PutState("openaq", "cursor", "2026-01-01", T(0)));
  REQUIRE(s.PutState("openaq", "cursor", "2026-02-01", T(1)));
  auto v = s.GetState("openaq", "cursor");
  REQUIRE(v);
  CHECK(v->value_or("") == "2026-02-01");
  CHECK_FALSE(s.GetState("openaq", "other")->has_value());
}

TEST_CASE("bad state files give clear errors", "[store]") {
  TempDir dir;
  const auto garbage = dir.path / "garbage.db";
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(i * 7919 % 251));
  }
  auto opened = store::RunStore::Open(garbage, store::Database::Mode::kReadWrite);
  REQUIRE_FALSE(opened);
  CHECK_THAT(opened.error().message, Catch::Contains(garbage.string()));

  auto missing = store::RunStore::Open(dir.path / "nope.db", store::Database::Mode::kReadOnly);
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("no state file"));
}

TEST_CASE("the recorder batches writes off the caller's thread", "[store]") {
  TempDir dir;
  const auto file = dir.path / "jobsd.db";
  std::vector<std::string> errors;
  {
    auto recorder = store::RunRecorder::Start(
        OpenStore(file), 1000, [&](const core::Error& e) { errors.push_back(e.message); });
    REQUIRE(recorder);
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 2000; ++i) {
      store::RunRecord run;
      run.id = (*recorder)->NewRunId();
      run.job = "j" + std::to_string(i % 10);
      run.started_at = T(i);
      (*recorder)->RecordStart(run);
      store::RunEnd end;
      end.id = run.id;
      end.job = run.job;
      end.status = i % 3 ? RunStatus::kOk : RunStatus::kFailed;
      end.finished_at = T(i);
      (*recorder)->RecordEnd(end);
      ids.push_back(run.id);
    }
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
    int seen = 0;
    (*recorder)->Query(
        [&](store::RunStore& s) { seen = static_cast<int>(s.RecentRuns("", 5000)->size()); });
    (*recorder)->Flush();
    CHECK(seen == 2000);
    CHECK((*recorder)->batches() < 2000);  // many rows per transaction
  }
  CHECK(errors.empty());
  CHECK(IndexedCount(file) == 2000);  // a stopping recorder indexes what it wrote
  auto s = OpenStore(file);
  auto running = s.RecentRuns("", 5000);
  REQUIRE(running);
  CHECK(std::none_of(running->begin(), running->end(),
                     [](const store::RunRecord& r) { return r.status == RunStatus::kRunning; }));
}

namespace {

std::vector<std::int64_t> Ids(const std::vector<store::RunRecord>& runs) {
  std::vector<std::int64_t> ids;
  for (const auto& run : runs) ids.push_back(run.id);
  return ids;
}

}  // namespace

TEST_CASE("RecentRuns pages back with before, indexed or not", "[store]") {
  TempDir dir;
  auto s = OpenStore(dir.path / "jobsd.db");
  std::vector<std::int64_t> ids;  // oldest first
  for (int i = 0; i < 25; ++i) {
    ids.push_back(Start(s, "a", i));
    End(s, ids.back(), "a", RunStatus::kOk, i);
    End(s, Start(s, "b", i), "b", RunStatus::kOk, i);
  }
  auto page = [&](std::optional<std::int64_t> before) {
    auto runs = s.RecentRuns("a", 10, before);
    REQUIRE(runs);
    return Ids(*runs);
  };
  for (int round = 0; round < 2; ++round) {
    INFO((round == 0 ? "not indexed" : "indexed"));
    const auto first = page(std::nullopt);
    REQUIRE(first.size() == 10);
    CHECK(first.front() == ids[24]);
    const auto second = page(first.back());
    REQUIRE(second.size() == 10);
    CHECK(second.front() == ids[14]);
    const auto third = page(second.back());
    CHECK(third == std::vector<std::int64_t>{ids[4], ids[3], ids[2], ids[1], ids[0]});
    CHECK(page(ids[0]).empty());
    REQUIRE(s.IndexPendingRuns());
  }
  // Run order is by start: a run recorded late with an earlier start (from
  // another process's id block) is paged where its start puts it.
  store::RunRecord late;
  late.id = ids[24] + 1000;
  late.job = "a";
  late.started_at = T(10) + 500ms;
  late.finished_at = T(11);
  late.status = RunStatus::kOk;
  REQUIRE(s.InsertRun(late));
  const auto around = page(ids[12]);
  REQUIRE(around.size() == 10);
  CHECK(around[0] == ids[11]);
  CHECK(around[1] == late.id);
  CHECK(around[2] == ids[10]);
  // A run that is gone: the runs with a smaller id.
  CHECK(page(ids[5] * 1000).size() == 10);
  CHECK(page(ids[0] - 1).empty());
  // All jobs, paged.
  auto all = s.RecentRuns("", 4, ids[1]);
  REQUIRE(all);
  REQUIRE(all->size() == 2);  // b's first run, then a's (same start, smaller id)
  CHECK(all->front().job == "b");
  CHECK(all->back().id == ids[0]);
}

TEST_CASE("RecentRunsPerJob: each job's newest N in one query", "[store]") {
  TempDir dir;
  auto s = OpenStore(dir.path / "jobsd.db");
  for (int i = 0; i < 40; ++i) End(s, Start(s, "a", i), "a", RunStatus::kOk, i);
  for (int i = 0; i < 3; ++i) End(s, Start(s, "b", i), "b", RunStatus::kFailed, i);
  REQUIRE(s.IndexPendingRuns());
  // Indexed and not: one that starts earlier than indexed runs makes those
  // count as pending too, and each is still listed once.
  for (int i = 40; i < 45; ++i) End(s, Start(s, "a", i), "a", RunStatus::kOk, i);
  End(s, Start(s, "c", 5), "c", RunStatus::kOk, 6);
  const auto running = Start(s, "c", 50);

  auto recent = s.RecentRunsPerJob({"a", "b", "c", "none"}, 30);
  REQUIRE(recent);
  REQUIRE(recent->size() == 3);
  const auto& a = recent->at("a");
  REQUIRE(a.size() == 30);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].started_at == T(44 - static_cast<int>(i)));
  CHECK(recent->at("b").size() == 3);
  REQUIRE(recent->at("c").size() == 2);
  CHECK(recent->at("c").front().id == running);
  CHECK(recent->at("c").front().status == RunStatus::kRunning);

  auto one = s.RecentRunsPerJob({"a", "c"}, 1);
  REQUIRE(one);
  REQUIRE(one->size() == 2);
  CHECK(one->at("a").size() == 1);
  CHECK(one->at("a").front().started_at == T(44));
  CHECK(one->at("c").front().id == running);
  // Runs that share a start are told apart by id, indexed or not.
  REQUIRE(s.IndexPendingRuns());
  const auto twin = Start(s, "b", 2);
  auto tied = s.RecentRunsPerJob({"b"}, 2);
  REQUIRE(tied);
  REQUIRE(tied->at("b").size() == 2);
  CHECK(tied->at("b")[0].id == twin);
  CHECK(tied->at("b")[1].started_at == T(2));
  CHECK(s.RecentRunsPerJob({}, 5)->empty());
}
