#include "scheduler/worker_pool.h"

namespace scheduler {
namespace {

// Queued quick tasks per draining worker beyond which another is woken.
constexpr std::size_t kBacklogPerWorker = 64;

}  // namespace

WorkerPool::WorkerPool(int threads, std::function<void()> on_idle) : on_idle_(std::move(on_idle)) {
  const int count = std::max(1, threads);
  threads_.reserve(static_cast<std::size_t>(count));
  {
    // Every worker starts out draining until it finds the queue empty.
    std::lock_guard lock(mutex_);
    draining_ = count;
  }
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() { Join(); }

void WorkerPool::Submit(Task task, bool expect_quick) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    wake = QueueLocked(std::move(task), expect_quick, std::chrono::steady_clock::now());
  }
  if (wake) wake_.notify_one();
}

void WorkerPool::Submit(std::vector<Submission>& tasks) {
  if (tasks.empty()) return;
  int wakes = 0;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    for (Submission& s : tasks) {
      if (QueueLocked(std::move(s.task), s.expect_quick, now)) ++wakes;
    }
  }
  tasks.clear();
  for (; wakes > 0; --wakes) wake_.notify_one();
}

bool WorkerPool::QueueLocked(Task task, bool expect_quick,
                             std::chrono::steady_clock::time_point now) {
  queue_.push_back(Item{std::move(task), expect_quick, now});
  // A quick task is left to the workers already draining, unless the
  // queue has grown beyond what they clear in a moment (a thundering herd).
  const bool backlog = queue_.size() > kBacklogPerWorker * static_cast<std::size_t>(draining_);
  return (!expect_quick || draining_ == 0 || backlog) && WakeOneLocked();
}

bool WorkerPool::WakeIfStalled(std::chrono::steady_clock::duration patience) {
  bool wake = false;
  bool queued = false;
  {
    std::lock_guard lock(mutex_);
    queued = !queue_.empty();
    wake = queued && std::chrono::steady_clock::now() - queue_.front().queued_at > patience &&
           WakeOneLocked();
  }
  if (wake) wake_.notify_one();
  return queued;
}

bool WorkerPool::WakeOneLocked() {
  if (sleeping_ == 0) return false;
  // The woken worker counts as draining from now, so the tasks submitted
  // before it gets going do not wake more workers.
  --sleeping_;
  ++draining_;
  ++wake_tickets_;
  return true;
}

void WorkerPool::Join() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::Work() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) {
        --draining_;
        return;
      }
      --draining_;
      lock.unlock();
      if (on_idle_) on_idle_();
      lock.lock();
      ++sleeping_;
      wake_.wait(lock, [this] { return stopping_ || wake_tickets_ > 0; });
      if (wake_tickets_ > 0) {
        --wake_tickets_;  // WakeOneLocked counted this worker as draining
      } else {
        --sleeping_;  // stopping
        ++draining_;
      }
      continue;
    }
    Item item = std::move(queue_.front());
    queue_.pop_front();
    if (!item.quick) {
      // This one may take a while: the tasks behind it need another worker.
      --draining_;
      if (!queue_.empty() && draining_ == 0 && WakeOneLocked()) wake_.notify_one();
    }
    lock.unlock();
    item.task();
    item.task = nullptr;  // whatever it holds is released off the lock
    lock.lock();
    if (!item.quick) ++draining_;
  }
}

}  // namespace scheduler
