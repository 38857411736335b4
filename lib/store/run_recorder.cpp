#include "store/run_recorder.h"

#include <pthread.h>
#include <sched.h>

#include <future>
#include <unordered_map>

namespace store {
namespace {

// How long a batch may gather once its first write arrived, and how many
// writes end the wait early. 20 ms keeps `jobsd history` current while
// letting a busy daemon commit a few dozen times a second, not thousands.
constexpr auto kGatherTime = std::chrono::milliseconds(20);
constexpr std::size_t kGatherWrites = 512;
// How often the runs written are added to the per-job index (see
// RunStore::IndexPendingRuns): at most this long after the first of them, or
// once this many have gathered. Fewer, larger bulks cost less; the bound on
// the runs waiting keeps a query for one job's runs (which looks through
// them) quick.
constexpr auto kIndexEvery = std::chrono::seconds(30);
constexpr std::size_t kIndexBacklog = 200000;

using QueryFn = std::function<void(RunStore&)>;

}  // namespace

core::Result<std::unique_ptr<RunRecorder>> RunRecorder::Start(RunStore store, int keep_runs,
                                                              ErrorHandler on_error,
                                                              std::int64_t id_block) {
  auto first = store.ReserveRunIds(id_block);
  if (!first) return core::Unexpected(first.error());
  std::unique_ptr<RunRecorder> recorder(
      new RunRecorder(std::move(store), keep_runs, std::move(on_error), id_block));
  recorder->next_id_ = *first;
  recorder->block_end_ = *first + id_block;
  recorder->thread_ = std::thread([r = recorder.get()] { r->Loop(); });
  return recorder;
}

RunRecorder::RunRecorder(RunStore store, int keep_runs, ErrorHandler on_error,
                         std::int64_t id_block)
    : store_(std::move(store)),
      on_error_(std::move(on_error)),
      id_block_(id_block),
      keep_runs_(keep_runs) {}

RunRecorder::~RunRecorder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::int64_t RunRecorder::NewRunId() {
  std::lock_guard lock(ids_mutex_);
  if (next_id_ == block_end_ && spare_first_ != 0) {
    next_id_ = spare_first_;
    block_end_ = spare_first_ + id_block_;
    spare_first_ = 0;
  }
  // Past the block without a spare (a burst of more than half a block of runs within one
  // batch): the ids stay unique within this process, and only a `jobsd once`
  // started in that instant could be handed one of them.
  return next_id_++;
}

void RunRecorder::RecordStart(RunRecord run) { Enqueue(std::move(run)); }
void RunRecorder::RecordEnd(RunEnd end) { Enqueue(std::move(end)); }
void RunRecorder::Query(std::function<void(RunStore&)> query) { Enqueue(std::move(query)); }
void RunRecorder::Write(std::function<void(RunStore&)> write) {
  Enqueue(WriteOp{std::move(write)});
}

void RunRecorder::SetEndHook(EndHook hook) {
  std::lock_guard lock(mutex_);
  end_hook_ = hook ? std::make_shared<const EndHook>(std::move(hook)) : nullptr;
}

void RunRecorder::Flush() {
  std::promise<void> done;
  auto future = done.get_future();
  Query([&done](RunStore&) { done.set_value(); });
  future.wait();
}

void RunRecorder::Enqueue(Op op) {
  const bool is_query = std::holds_alternative<QueryFn>(op);
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(op));
    // Wake the thread only when it has a reason to act: the first write of
    // a batch, a full batch, or a query someone may be waiting on.
    wake = queue_.size() == 1 || queue_.size() == kGatherWrites || is_query;
  }
  if (wake) wake_.notify_one();
}

void RunRecorder::Loop() {
  // Recording is background work: when a batch is ready, the event loop and
  // the runs come first. SCHED_BATCH (allowed without privileges) keeps this
  // thread from preempting them on wake-up, which on a small machine shows
  // up directly as schedule lateness.
  const sched_param batch_param{};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch_param);
  std::vector<Op> batch;
  std::shared_ptr<const EndHook> end_hook;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and nothing left to write
      wake_.wait_for(lock, kGatherTime, [this] {
        return stopping_ || queue_.size() >= kGatherWrites ||
               std::any_of(queue_.begin(), queue_.end(),
                           [](const Op& op) { return std::holds_alternative<QueryFn>(op); });
      });
      batch.swap(queue_);
      end_hook = end_hook_;
    }
    ApplyBatch(batch, end_hook.get());
    batch.clear();
    ReserveSpareBlockIfLow();
  }
  // Leave nothing for the next start to index.
  if (unindexed_runs_ > 0 || !prune_due_.empty()) {
    if (auto began = store_.Begin(); !began) {
      on_error_(core::Error{core::ErrorKind::kIo,
                            "state store: cannot index the last runs: " + began.error().message,
                            true});
      return;
    }
    IndexAndPrune();
    if (auto committed = store_.Commit(); !committed) {
      store_.Rollback();
      on_error_(core::Error{core::ErrorKind::kIo,
                            "state store: cannot index the last runs: " + committed.error().message,
                            true});
    }
  }
}

void RunRecorder::IndexAndPrune() {
  if (auto indexed = store_.IndexPendingRuns(); !indexed) {
    // The runs stay marked pending: queries still find them, the next bulk
    // indexes them.
    on_error_(core::Error{indexed.error().kind,
                          "state store: indexing runs: " + indexed.error().message, true});
    return;
  }
  unindexed_runs_ = 0;
  // Pruning waits for the index: with no runs pending, finding a job's
  // oldest runs is a lookup, not a scan of the recent ones.
  for (const std::string& job : prune_due_) {
    if (auto pruned = store_.Prune(job, keep_runs_.load()); !pruned) {
      on_error_(core::Error{pruned.error().kind,
                            "state store: pruning " + job + ": " + pruned.error().message, true});
    }
  }
  prune_due_.clear();
}

void RunRecorder::ApplyBatch(std::vector<Op>& batch, const EndHook* end_hook) {
  // Writes go in one transaction; queries run after it, in order, so they see
  // everything queued before them.
  std::size_t i = 0;
  while (i < batch.size()) {
    std::size_t end = i;
    while (end < batch.size() && !std::holds_alternative<QueryFn>(batch[end])) ++end;
    if (end > i) ApplyWrites(batch, i, end, end_hook);
    for (; end < batch.size() && std::holds_alternative<QueryFn>(batch[end]); ++end) {
      std::get<QueryFn>(batch[end])(store_);
    }
    i = end;
  }
}

void RunRecorder::ApplyWrites(std::vector<Op>& batch, std::size_t begin, std::size_t end,
                              const EndHook* end_hook) {
  // A run that started and ended within the batch becomes one finished row:
  // an INSERT instead of an INSERT and an UPDATE.
  std::unordered_map<std::int64_t, RunRecord*> started;
  std::vector<bool> merged(end - begin);  // by k - begin: only the health update remains
  for (std::size_t k = begin; k < end; ++k) {
    if (auto* run = std::get_if<RunRecord>(&batch[k]); run && run->status == RunStatus::kRunning) {
      started[run->id] = run;
    } else if (auto* finished = std::get_if<RunEnd>(&batch[k])) {
      const auto it = started.find(finished->id);
      if (it == started.end()) continue;
      RunRecord& run_record = *it->second;
      run_record.status = finished->status;
      run_record.finished_at = finished->finished_at;
      // The error and metrics are copied, not moved: the end hook reads them.
      run_record.error = finished->error;
      run_record.output = std::move(finished->output);
      run_record.metrics_json = finished->metrics.ToJson();
      merged[k - begin] = true;
    }
  }

  batches_.fetch_add(1);
  const std::size_t writes = end - begin;
  if (auto began = store_.Begin(); !began) {
    on_error_(core::Error{core::ErrorKind::kIo,
                          "state store: cannot begin a transaction, " + std::to_string(writes) +
                              " run writes lost: " + began.error().message,
                          true});
    return;
  }
  auto report = [&](const core::Error& error, const std::string& what) {
    // Keep the rest of the batch: one bad row must not lose the others.
    on_error_(core::Error{error.kind, "state store: " + what + ": " + error.message, true});
  };
  for (std::size_t k = begin; k < end; ++k) {
    if (auto* write = std::get_if<WriteOp>(&batch[k])) {
      write->write(store_);
      continue;
    }
    if (const auto* run = std::get_if<RunRecord>(&batch[k])) {
      if (unindexed_runs_++ == 0) first_unindexed_at_ = std::chrono::steady_clock::now();
      if (auto inserted = store_.InsertRun(*run); !inserted) {
        report(inserted.error(), "recording run " + std::to_string(run->id) + " of " + run->job);
      } else if (run->status != RunStatus::kRunning && run->status != RunStatus::kSkipped) {
        if (auto health = store_.RecordHealth(run->job, run->status, *run->finished_at); !health) {
          report(health.error(), "updating the health of " + run->job);
        }
      }
      continue;
    }
    const auto& finished = std::get<RunEnd>(batch[k]);
    if (!merged[k - begin]) {
      if (auto done = store_.FinishRun(finished); !done) {
        report(done.error(),
               "recording the end of run " + std::to_string(finished.id) + " of " + finished.job);
        continue;
      }
    }
    if (end_hook != nullptr) (*end_hook)(store_, finished);
    // Pruning a job every tenth of its history keeps the cost per run flat.
    const int keep = keep_runs_.load();
    if (++ended_since_prune_[finished.job] >= std::max(keep / 10, 10)) {
      ended_since_prune_.erase(finished.job);
      prune_due_.insert(finished.job);
    }
  }
  if (unindexed_runs_ >= kIndexBacklog ||
      (unindexed_runs_ > 0 &&
       std::chrono::steady_clock::now() - first_unindexed_at_ >= kIndexEvery)) {
    IndexAndPrune();
  }
  if (auto committed = store_.Commit(); !committed) {
    store_.Rollback();
    on_error_(core::Error{core::ErrorKind::kIo,
                          "state store: commit failed, " + std::to_string(writes) +
                              " run writes lost: " + committed.error().message,
                          true});
  }
}

void RunRecorder::ReserveSpareBlockIfLow() {
  {
    std::lock_guard lock(ids_mutex_);
    if (spare_first_ != 0 || block_end_ - next_id_ > id_block_ / 2) return;
  }
  auto first = store_.ReserveRunIds(id_block_);
  if (!first) {
    on_error_(core::Error{first.error().kind,
                          "state store: reserving run ids: " + first.error().message, true});
    return;
  }
  std::lock_guard lock(ids_mutex_);
  spare_first_ = *first;
}

}  // namespace store
