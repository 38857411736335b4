// Counters, gauges and histograms with labels, and their Prometheus text
// exposition (format 0.0.4).
//
// A family (one metric name, its help text and label names) is registered
// once; `With(label values)` gives the series for those values, creating it
// on first use. The reference stays valid for the registry's life, so hot
// paths look a series up once and keep it.
//
// Any thread may update a series or render the registry: series values are
// atomics, and each family guards its map of series with a mutex taken only
// to add a series or to render. Values that belong to the moment of the
// scrape (a job's next run, say) are not kept here: the caller writes them
// with an Exposition after Render.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace metrics {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Add(double amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed buckets (upper bounds, ascending; +Inf is
// implied) and keeps their sum.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double value);

  // One consistent-enough reading: each field is read atomically, and the
  // cumulative counts are made monotonic for the exposition.
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    std::uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double>& bounds_;                     // owned by the family
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, +Inf last
  std::atomic<double> sum_{0};
};

// Writes the text format: HELP/TYPE headers and samples with escaped label
// values. Registry::Render uses it, and so do callers adding values computed
// at scrape time.
class Exposition {
 public:
  explicit Exposition(std::string& out) : out_(out) {}
  void Header(std::string_view name, std::string_view help, std::string_view type);
  void Sample(std::string_view name, const std::vector<std::string>& label_names,
              const LabelValues& label_values, double value);
  // One extra label after the family's own (a histogram's `le`).
  void Sample(std::string_view name, const std::vector<std::string>& label_names,
              const LabelValues& label_values, std::string_view extra_name,
              std::string_view extra_value, double value);

 private:
  void Labels(const std::vector<std::string>& names, const LabelValues& values,
              std::string_view extra_name, std::string_view extra_value);
  void Value(double value);
  std::string& out_;
};

template <typename Series>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // The series for these label values (as many as the family has label names).
  Series& With(const LabelValues& values) {
    std::lock_guard lock(mutex_);
    auto it = series_.find(values);
    if (it == series_.end()) it = series_.emplace(values, MakeSeries()).first;
    return *it->second;
  }
  void Render(Exposition& out) const;

  const std::string& name() const { return name_; }

 private:
  std::unique_ptr<Series> MakeSeries() const {
    if constexpr (std::is_same_v<Series, Histogram>) {
      return std::make_unique<Histogram>(bounds_);
    } else {
      return std::make_unique<Series>();
    }
  }

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<LabelValues, std::unique_ptr<Series>> series_;
};

template <>
void Family<Counter>::Render(Exposition& out) const;
template <>
void Family<Gauge>::Render(Exposition& out) const;
template <>
void Family<Histogram>::Render(Exposition& out) const;

class Registry {
 public:
  // Registration happens while the daemon is set up, before other threads
  // touch the registry. Names follow Prometheus conventions (the caller's
  // responsibility); a duplicate name is a bug and throws.
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  // Appends every family, in registration order, in the text format.
  void Render(std::string& out) const;

 private:
  void Claim(const std::string& name);
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  // Render order: (kind, index into its vector).
  std::vector<std::pair<int, std::size_t>> order_;
};

// The content type of the text format, for the HTTP answer.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace metrics
