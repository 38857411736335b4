// Records runs for the daemon without making anyone wait on SQLite.
//
// Callers queue writes (a run started, a run ended) and read requests; the
// recorder's own thread applies them in batches, one transaction per batch,
// so thousands of run rows a second cost a handful of commits and the event
// loop never blocks on the disk. A batch gathers for up to 20 ms (or 512
// writes) once the first write arrives; a run that starts and ends within
// one batch is written as one finished row. Run ids come from blocks reserved in the
// store ahead of time, so a run has its id the moment it is created. The
// runs written are added to the per-job index in bulk every 30 s (and when
// the recorder stops), and jobs due for pruning are pruned then.
//
// Any thread may call any method. Callbacks given to Query run on the
// recorder's thread; post to your own thread from there. Write failures
// (disk full, a broken file) go to the error handler given at construction
// and are counted; the queue keeps going so one bad batch cannot wedge it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "store/run_store.h"

namespace store {

class RunRecorder {
 public:
  using ErrorHandler = std::function<void(const core::Error&)>;
  // Sees every run's end inside the transaction that records it, so what it
  // writes (an alert) commits or rolls back with the run.
  using EndHook = std::function<void(RunStore&, const RunEnd&)>;

  // Takes over `store` (open, migrated, interrupted runs already marked).
  // Blocking: reserves the first block of `id_block` run ids before
  // returning (a daemon wants many; `jobsd once` needs one).
  static core::Result<std::unique_ptr<RunRecorder>> Start(RunStore store, int keep_runs,
                                                          ErrorHandler on_error,
                                                          std::int64_t id_block = 10000);
  // Applies everything queued, then stops the thread.
  ~RunRecorder();
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  // A fresh run id, unique across every process that writes the store.
  std::int64_t NewRunId();

  void RecordStart(RunRecord run);
  void RecordEnd(RunEnd end);
  // Runs `query` on the recorder's thread after the writes queued before it.
  void Query(std::function<void(RunStore&)> query);
  // Runs `write` on the recorder's thread inside the next batch's
  // transaction, in order with the other writes. It reports its own errors.
  void Write(std::function<void(RunStore&)> write);
  // Installs the hook every later RunEnd passes through (one at a time).
  void SetEndHook(EndHook hook);
  // Blocks until everything queued before the call is committed.
  void Flush();

  void set_keep_runs(int keep_runs) { keep_runs_.store(keep_runs); }
  std::uint64_t batches() const { return batches_.load(); }

 private:
  struct WriteOp {
    std::function<void(RunStore&)> write;
  };
  using Op = std::variant<RunRecord, RunEnd, std::function<void(RunStore&)>, WriteOp>;
  RunRecorder(RunStore store, int keep_runs, ErrorHandler on_error, std::int64_t id_block);
  void Enqueue(Op op);
  void Loop();
  void ApplyBatch(std::vector<Op>& batch, const EndHook* end_hook);
  void ApplyWrites(std::vector<Op>& batch, std::size_t begin, std::size_t end,
                   const EndHook* end_hook);
  void ReserveSpareBlockIfLow();
  // Inside a transaction: adds the runs written since the last time to the
  // per-job index, then prunes the jobs that are due.
  void IndexAndPrune();

  RunStore store_;  // recorder thread only
  ErrorHandler on_error_;
  const std::int64_t id_block_;
  std::atomic<int> keep_runs_;
  std::atomic<std::uint64_t> batches_{0};
  // Recorder thread only: finished runs per job since its history was last
  // pruned, the jobs whose count reached the threshold (pruned at the next
  // indexing), and the runs written since the last indexing.
  std::unordered_map<std::string, int> ended_since_prune_;
  std::set<std::string> prune_due_;  // a set: a job due twice before a bulk is pruned once
  std::size_t unindexed_runs_ = 0;
  std::chrono::steady_clock::time_point first_unindexed_at_;

  // Guarded by ids_mutex_.
  std::mutex ids_mutex_;
  std::int64_t next_id_ = 0;
  std::int64_t block_end_ = 0;
  std::int64_t spare_first_ = 0;  // 0: no spare block reserved yet

  // Guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Op> queue_;
  bool stopping_ = false;
  std::shared_ptr<const EndHook> end_hook_;

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace store
