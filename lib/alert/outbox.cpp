#include "alert/outbox.h"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

namespace alert {
namespace {

constexpr auto kMaxBackoff = std::chrono::minutes(10);
// An alert not delivered within a day is news nobody can act on any more.
constexpr auto kGiveUpAfter = std::chrono::hours(24);
// Deliveries taken from the store at a time.
constexpr int kBatch = 16;
// Even with nothing due, look at the store this often (a delivery made due
// by something this process did not see).
constexpr auto kIdlePoll = std::chrono::seconds(60);

// Exponential backoff with full jitter: a random wait up to first x 2^(n-1),
// capped at 10 min, so deliveries failing together do not retry together.
core::Duration Backoff(core::Duration first, int attempts, std::mt19937_64& random) {
  core::Duration ceiling = first;
  for (int i = 1; i < attempts && ceiling < kMaxBackoff; ++i) ceiling *= 2;
  ceiling = std::min<core::Duration>(ceiling, kMaxBackoff);
  std::uniform_int_distribution<core::Duration::rep> pick(ceiling.count() / 10, ceiling.count());
  return core::Duration(pick(random));
}

bool SameChannel(const config::ChannelConfig& a, const config::ChannelConfig& b) {
  return a.settings == b.settings && a.ca_file == b.ca_file && a.timeout == b.timeout;
}

}  // namespace

class AlertOutbox::Worker {
 public:
  Worker(std::string name, config::ChannelConfig config, std::unique_ptr<Channel> channel,
         store::RunRecorder& recorder, const scheduler::Clock& clock, OutcomeCounter count,
         core::Duration first_backoff)
      : name_(std::move(name)),
        config_(std::move(config)),
        channel_(std::move(channel)),
        recorder_(recorder),
        clock_(clock),
        count_(std::move(count)),
        first_backoff_(first_backoff),
        random_(std::random_device{}()) {
    health_.name = name_;
    thread_ = std::thread([this] { Run(); });
  }
  ~Worker() {
    Retire();
    if (thread_.joinable()) thread_.join();
  }

  const config::ChannelConfig& config() const { return config_; }
  bool done() const { return done_.load(); }

  void Wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    wake_.notify_one();
  }
  void Retire() {
    stopping_.store(true);
    Wake();
  }
  ChannelHealth Health() const {
    std::lock_guard lock(mutex_);
    return health_;
  }

 private:
  void Run();
  void DeliverOne(const store::StoredAlert& stored, store::AlertDelivery delivery,
                  bool& channel_down);
  // Blocks this thread (never the loop) until the recorder has answered.
  template <typename T>
  std::optional<T> Ask(std::function<core::Result<T>(store::RunStore&)> query);

  const std::string name_;
  const config::ChannelConfig config_;
  const std::unique_ptr<Channel> channel_;
  store::RunRecorder& recorder_;
  const scheduler::Clock& clock_;
  const OutcomeCounter count_;
  const core::Duration first_backoff_;
  std::mt19937_64 random_;  // worker thread only
  std::atomic<bool> stopping_{false};
  std::atomic<bool> done_{false};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = true;  // look once at start: deliveries left from before
  ChannelHealth health_;

  std::thread thread_;  // last: starts once everything above exists
};

template <typename T>
std::optional<T> AlertOutbox::Worker::Ask(std::function<core::Result<T>(store::RunStore&)> query) {
  auto answer = std::make_shared<std::promise<core::Result<T>>>();
  std::future<core::Result<T>> future = answer->get_future();
  recorder_.Query([answer, query = std::move(query)](store::RunStore& store) {
    answer->set_value(query(store));
  });
  core::Result<T> result = future.get();
  if (!result) {
    spdlog::error("alert channel {}: reading the outbox: {}", name_, result.error().message);
    return std::nullopt;
  }
  return std::move(*result);
}

void AlertOutbox::Worker::Run() {
  while (!stopping_.load()) {
    const core::TimePoint now = clock_.Now();
    const std::string channel = name_;
    auto due = Ask<std::vector<std::pair<store::StoredAlert, store::AlertDelivery>>>(
        [channel, now](store::RunStore& store) {
          return store.DueDeliveries(channel, now, kBatch);
        });
    bool channel_down = false;
    if (due) {
      for (auto& [stored, delivery] : *due) {
        if (stopping_.load() || channel_down) break;
        DeliverOne(stored, std::move(delivery), channel_down);
      }
      // A full batch may have more behind it; a down channel waits.
      if (!channel_down && due->size() == static_cast<std::size_t>(kBatch)) continue;
    }
    if (stopping_.load()) break;

    auto next = Ask<std::optional<core::TimePoint>>(
        [channel](store::RunStore& store) { return store.NextDeliveryDue(channel); });
    core::TimePoint until = clock_.Now() + kIdlePoll;
    if (next && *next) until = std::min(until, **next);
    std::unique_lock lock(mutex_);
    clock_.WaitUntil(wake_, lock, until, [this] { return woken_ || stopping_.load(); });
    woken_ = false;
  }
  done_.store(true);
}

void AlertOutbox::Worker::DeliverOne(const store::StoredAlert& stored,
                                     store::AlertDelivery delivery, bool& channel_down) {
  const core::TimePoint now = clock_.Now();
  auto alert = AlertFromJson(stored.body);
  const config::Severity severity = alert ? alert->severity : config::Severity::kWarning;
  DeliveryResult result;
  if (!alert) {
    result.response = "unreadable alert in the outbox: " + alert.error().message;
    delivery.state = store::DeliveryState::kRejected;
  } else if (now - stored.raised_at > kGiveUpAfter) {
    result.response = "not delivered within " + core::FormatDuration(kGiveUpAfter) +
                      "; last answer: " + delivery.response;
    delivery.state = store::DeliveryState::kExpired;
  } else {
    alert->id = stored.id;
    Delivery attempt{*alert, delivery.delivery_id, delivery.attempts + 1,
                     [this] { return stopping_.load(); }};
    result = channel_->Deliver(attempt);
    if (stopping_.load() && result.outcome == DeliveryResult::Outcome::kRetry) {
      return;  // abandoned by a stop or reload: the next start tries again
    }
    ++delivery.attempts;
    switch (result.outcome) {
      case DeliveryResult::Outcome::kDelivered:
        delivery.state = store::DeliveryState::kDelivered;
        break;
      case DeliveryResult::Outcome::kRejected:
        delivery.state = store::DeliveryState::kRejected;
        break;
      case DeliveryResult::Outcome::kRetry: {
        core::Duration wait = Backoff(first_backoff_, delivery.attempts, random_);
        if (result.retry_after) wait = std::max(wait, *result.retry_after);
        delivery.next_attempt_at = now + wait;
        channel_down = true;
        break;
      }
    }
  }
  delivery.last_attempt_at = now;
  delivery.response = result.response;
  // The metric's results are the states' names, with "retry" for pending.
  const std::string_view outcome = delivery.state == store::DeliveryState::kPending
                                       ? std::string_view("retry")
                                       : store::ToString(delivery.state);
  recorder_.Write([delivery](store::RunStore& store) {
    if (auto ok = store.UpdateDelivery(delivery); !ok) {
      spdlog::error("state store: recording delivery {} of alert {}: {}", delivery.delivery_id,
                    delivery.alert_id, ok.error().message);
    }
  });
  count_(name_, severity, outcome);

  {
    std::lock_guard lock(mutex_);
    if (delivery.state == store::DeliveryState::kDelivered) {
      health_.failures_in_a_row = 0;
      health_.last_delivered_at = now;
    } else {
      ++health_.failures_in_a_row;
      health_.last_failed_at = now;
      health_.last_error = result.response;
    }
  }
  if (delivery.state == store::DeliveryState::kDelivered) {
    spdlog::info("alert={} channel={} delivered attempt={} delivery={}: {}", stored.id, name_,
                 delivery.attempts, delivery.delivery_id, result.response);
  } else if (delivery.state == store::DeliveryState::kPending) {
    spdlog::warn("alert={} channel={} attempt={} failed, retry at {}: {}", stored.id, name_,
                 delivery.attempts, core::FormatRfc3339(delivery.next_attempt_at), result.response);
  } else {
    spdlog::error("alert={} channel={} {} after {} attempts: {}", stored.id, name_, outcome,
                  delivery.attempts, result.response);
  }
}

AlertOutbox::AlertOutbox(store::RunRecorder& recorder, const scheduler::Clock& clock,
                         ChannelFactory make_channel, OutcomeCounter count,
                         core::Duration first_backoff)
    : recorder_(recorder),
      clock_(clock),
      make_channel_(std::move(make_channel)),
      count_(std::move(count)),
      first_backoff_(first_backoff) {}

AlertOutbox::~AlertOutbox() { Stop(); }

void AlertOutbox::SetChannels(const std::map<std::string, config::ChannelConfig>& channels) {
  // Joining only finished workers keeps this from ever waiting on a channel.
  std::erase_if(retired_, [](const std::shared_ptr<Worker>& worker) { return worker->done(); });
  std::lock_guard lock(mutex_);
  for (auto it = workers_.begin(); it != workers_.end();) {
    const auto wanted = channels.find(it->first);
    if (wanted != channels.end() && SameChannel(wanted->second, it->second->config())) {
      ++it;
      continue;
    }
    it->second->Retire();
    retired_.push_back(std::move(it->second));
    it = workers_.erase(it);
  }
  for (const auto& [name, channel] : channels) {
    if (workers_.count(name) != 0) continue;
    workers_.emplace(name, std::make_shared<Worker>(name, channel, make_channel_(channel),
                                                    recorder_, clock_, count_, first_backoff_));
  }
}

void AlertOutbox::Wake() {
  std::lock_guard lock(mutex_);
  for (const auto& [name, worker] : workers_) worker->Wake();
}

void AlertOutbox::Stop() {
  std::map<std::string, std::shared_ptr<Worker>> workers;
  {
    std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& [name, worker] : workers) worker->Retire();
  for (auto& worker : retired_) worker->Retire();
  workers.clear();  // joins
  retired_.clear();
}

std::vector<ChannelHealth> AlertOutbox::Health() const {
  std::lock_guard lock(mutex_);
  std::vector<ChannelHealth> all;
  for (const auto& [name, worker] : workers_) all.push_back(worker->Health());
  return all;
}

}  // namespace alert
