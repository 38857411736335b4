// The threads that carry out runs, woken as sparingly as the work allows.
//
// Waking a sleeping thread costs a context switch or two, and at thousands of
// runs a second most runs are shorter than the switch. So a task that is
// expected to be quick (its job's recent runs were) does not wake a worker
// when one is already awake and working through quick tasks: that one takes
// it next. A task that may be slow wakes a worker of its own, and so does a
// worker about to start a slow task while others wait behind it. If a quick
// task turns out slow, the loop notices the queue stalling (WakeIfStalled,
// called at every wake) and wakes another worker, so nothing waits behind a
// slow run for long.
//
// Tasks that come due together are best submitted together: one lock for
// all of them, and the workers are woken only once all are queued (a worker
// woken after the first would contend for the lock with the rest).
//
// Submit, WakeIfStalled: any thread (the loop in practice). Join: once, from
// the owner, after the last Submit. A task must not throw.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace scheduler {

class WorkerPool {
 public:
  using Task = std::function<void()>;
  struct Submission {
    Task task;
    bool expect_quick = false;
  };

  // `on_idle` runs on a worker that found nothing more to do, just before it
  // sleeps (the scheduler hands finished runs back to the loop there).
  WorkerPool(int threads, std::function<void()> on_idle);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(Task task, bool expect_quick);
  // Submits each of `tasks` in order, as Submit would, and leaves it empty
  // (its capacity stays, for the next batch).
  void Submit(std::vector<Submission>& tasks);
  // Wakes a sleeping worker when the oldest queued task has waited longer
  // than `patience`. Returns whether any task is still queued.
  bool WakeIfStalled(std::chrono::steady_clock::duration patience);
  // Runs what is queued, then ends the threads.
  void Join();

 private:
  struct Item {
    Task task;
    bool quick = false;
    std::chrono::steady_clock::time_point queued_at;
  };
  void Work();
  // Queues one task; true when a worker is to be woken for it (the caller notifies).
  bool QueueLocked(Task task, bool expect_quick, std::chrono::steady_clock::time_point now);
  // Picks a sleeping worker to wake (the caller notifies); false if none sleeps.
  bool WakeOneLocked();

  const std::function<void()> on_idle_;
  std::mutex mutex_;
  std::condition_variable wake_;
  // Guarded by mutex_.
  std::deque<Item> queue_;
  int sleeping_ = 0;
  int draining_ = 0;      // awake and between tasks or on a quick one
  int wake_tickets_ = 0;  // wakes granted and not yet taken by a worker
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace scheduler
