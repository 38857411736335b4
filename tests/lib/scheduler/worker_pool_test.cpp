#include "scheduler/worker_pool.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("worker pool: every task runs, and on_idle follows the work", "[scheduler][pool]") {
  std::atomic<int> done{0};
  std::atomic<int> idle{0};
  scheduler::WorkerPool pool(4, [&] { ++idle; });
  for (int i = 0; i < 10000; ++i) pool.Submit([&] { ++done; }, i % 3 != 0);
  // A worker that runs out of work says so before it sleeps.
  for (int i = 0; i < 500 && (done < 10000 || idle == 0); ++i) std::this_thread::sleep_for(2ms);
  CHECK(done == 10000);
  CHECK(idle >= 1);
  pool.Join();
}

TEST_CASE("worker pool: a slow task does not hold up the tasks behind it", "[scheduler][pool]") {
  scheduler::WorkerPool pool(2, nullptr);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> quick_ran;
  // Both look quick, but the first blocks: the second must still run soon,
  // once the loop notices the queue stalling.
  pool.Submit([released] { released.wait(); }, true);
  std::this_thread::sleep_for(20ms);  // the first is running
  pool.Submit([&] { quick_ran.set_value(); }, true);
  auto quick = quick_ran.get_future();
  bool ran = false;
  for (int i = 0; i < 100 && !ran; ++i) {
    pool.WakeIfStalled(2ms);
    ran = quick.wait_for(5ms) == std::future_status::ready;
  }
  CHECK(ran);
  release.set_value();
  pool.Join();
}

TEST_CASE("worker pool: a task that may be slow gets a worker of its own", "[scheduler][pool]") {
  scheduler::WorkerPool pool(2, nullptr);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> second_ran;
  pool.Submit([released] { released.wait(); }, false);
  pool.Submit([&] { second_ran.set_value(); }, false);
  // No WakeIfStalled here: the second was not expected to be quick.
  CHECK(second_ran.get_future().wait_for(2s) == std::future_status::ready);
  release.set_value();
}

TEST_CASE("worker pool: a batch is submitted whole, each task woken for as on its own",
          "[scheduler][pool]") {
  scheduler::WorkerPool pool(3, nullptr);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> blocked{0};
  std::atomic<int> quick{0};
  std::vector<scheduler::WorkerPool::Submission> batch;
  // Two that may be slow, each with a worker of its own, then quick ones for the third.
  for (int i = 0; i < 2; ++i) {
    batch.push_back({[&, released] {
                       ++blocked;
                       released.wait();
                     },
                     false});
  }
  for (int i = 0; i < 100; ++i) batch.push_back({[&] { ++quick; }, true});
  pool.Submit(batch);
  CHECK(batch.empty());
  // No WakeIfStalled: the quick ones need no help while both slow ones block.
  for (int i = 0; i < 1000 && (blocked < 2 || quick < 100); ++i) std::this_thread::sleep_for(2ms);
  CHECK(blocked == 2);
  CHECK(quick == 100);
  release.set_value();
  pool.Join();
}
