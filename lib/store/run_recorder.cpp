#include "store/run_recorder.h"

#include <future>

namespace store {

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

void RunRecorder::Flush() {
  std::promise<void> done;
  auto future = done.get_future();
  Query([&done](RunStore&) { done.set_value(); });
  future.wait();
}

void RunRecorder::Enqueue(Op op) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(op));
  }
  wake_.notify_one();
}

void RunRecorder::Loop() {
  std::vector<Op> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to write
      batch.swap(queue_);
    }
    ApplyBatch(batch);
    batch.clear();
    ReserveSpareBlockIfLow();
  }
}

void RunRecorder::ApplyBatch(std::vector<Op>& batch) {
  // Writes go in one transaction; queries run after it, in order, so they see
  // everything queued before them.
  std::size_t i = 0;
  while (i < batch.size()) {
    std::size_t end = i;
    while (end < batch.size() &&
           !std::holds_alternative<std::function<void(RunStore&)>>(batch[end])) {
      ++end;
    }
    if (end > i) {
      batches_.fetch_add(1);
      bool ok = store_.Begin().has_value();
      std::optional<core::Error> error;
      for (std::size_t k = i; ok && k < end; ++k) {
        if (const auto* run = std::get_if<RunRecord>(&batch[k])) {
          if (auto inserted = store_.InsertRun(*run); !inserted) {
            error = inserted.error();
            error->message = "state store: recording run " + std::to_string(run->id) + " of " +
                             run->job + ": " + error->message;
          }
        } else {
          const auto& finished = std::get<RunEnd>(batch[k]);
          if (auto done = store_.FinishRun(finished); !done) {
            error = done.error();
            error->message = "state store: recording the end of run " +
                             std::to_string(finished.id) + " of " + finished.job + ": " +
                             error->message;
          } else {
            ++ended_since_prune_[finished.job];
          }
        }
        if (error) {
          // Keep the rest of the batch: one bad row must not lose the others.
          failed_writes_.fetch_add(1);
          on_error_(*error);
          error.reset();
        }
      }
      const int keep = keep_runs_.load();
      for (auto it = ended_since_prune_.begin(); ok && it != ended_since_prune_.end();) {
        // Pruning a job every tenth of its history keeps the cost per run flat.
        if (it->second >= std::max(keep / 10, 10)) {
          if (auto pruned = store_.Prune(it->first, keep); !pruned) {
            on_error_(core::Error{
                pruned.error().kind,
                "state store: pruning " + it->first + ": " + pruned.error().message, true});
          }
          it = ended_since_prune_.erase(it);
        } else {
          ++it;
        }
      }
      if (!ok) {
        failed_writes_.fetch_add(end - i);
        on_error_(core::Error{core::ErrorKind::kIo,
                              "state store: cannot begin a transaction; " +
                                  std::to_string(end - i) + " run writes lost",
                              true});
      } else if (auto committed = store_.Commit(); !committed) {
        store_.Rollback();
        failed_writes_.fetch_add(end - i);
        on_error_(core::Error{core::ErrorKind::kIo,
                              "state store: commit failed, " + std::to_string(end - i) +
                                  " run writes lost: " + committed.error().message,
                              true});
      }
    }
    for (; end < batch.size() && std::holds_alternative<std::function<void(RunStore&)>>(batch[end]);
         ++end) {
      std::get<std::function<void(RunStore&)>>(batch[end])(store_);
    }
    i = end;
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
