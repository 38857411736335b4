#include "metrics/registry.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace metrics {

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

void Exposition::Header(std::string_view name, std::string_view help, std::string_view type) {
  // HELP text escapes backslash and newline (not quotes).
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (const char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void Exposition::Sample(std::string_view name, const std::vector<std::string>& label_names,
                        const LabelValues& label_values, double value) {
  Sample(name, label_names, label_values, {}, {}, value);
}

void Exposition::Sample(std::string_view name, const std::vector<std::string>& label_names,
                        const LabelValues& label_values, std::string_view extra_name,
                        std::string_view extra_value, double value) {
  out_ += name;
  Labels(label_names, label_values, extra_name, extra_value);
  out_ += ' ';
  Value(value);
  out_ += '\n';
}

void Exposition::Labels(const std::vector<std::string>& names, const LabelValues& values,
                        std::string_view extra_name, std::string_view extra_value) {
  if (names.empty() && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto label = [&](std::string_view name, std::string_view value) {
    if (!first) out_ += ',';
    first = false;
    out_ += name;
    out_ += "=\"";
    for (const char c : value) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '"') {
        out_ += "\\\"";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    label(names[i], i < values.size() ? std::string_view(values[i]) : std::string_view());
  }
  if (!extra_name.empty()) label(extra_name, extra_value);
  out_ += '}';
}

void Exposition::Value(double value) {
  if (std::isnan(value)) {
    out_ += "NaN";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? "+Inf" : "-Inf";
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    fmt::format_to(std::back_inserter(out_), "{}", static_cast<std::int64_t>(value));
  } else {
    // Shortest text that reads back to the same double.
    fmt::format_to(std::back_inserter(out_), "{}", value);
  }
}

namespace {

std::string BoundText(double bound) {
  if (std::isinf(bound)) return "+Inf";
  return fmt::format("{}", bound);
}

}  // namespace

template <>
void Family<Counter>::Render(Exposition& out) const {
  out.Header(name_, help_, "counter");
  std::lock_guard lock(mutex_);
  for (const auto& [labels, series] : series_)
    out.Sample(name_, label_names_, labels, series->value());
}

template <>
void Family<Gauge>::Render(Exposition& out) const {
  out.Header(name_, help_, "gauge");
  std::lock_guard lock(mutex_);
  for (const auto& [labels, series] : series_)
    out.Sample(name_, label_names_, labels, series->value());
}

template <>
void Family<Histogram>::Render(Exposition& out) const {
  out.Header(name_, help_, "histogram");
  const std::string bucket = name_ + "_bucket";
  const std::string sum = name_ + "_sum";
  const std::string count = name_ + "_count";
  std::vector<std::string> bound_texts;
  for (const double b : bounds_) bound_texts.push_back(BoundText(b));
  bound_texts.emplace_back("+Inf");
  std::lock_guard lock(mutex_);
  for (const auto& [labels, series] : series_) {
    const Histogram::Snapshot s = series->Read();
    for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
      out.Sample(bucket, label_names_, labels, "le", bound_texts[i],
                 static_cast<double>(s.cumulative[i]));
    }
    out.Sample(sum, label_names_, labels, s.sum);
    out.Sample(count, label_names_, labels, static_cast<double>(s.count));
  }
}

void Registry::Claim(const std::string& name) {
  for (const std::string& taken : names_) {
    if (taken == name) throw std::logic_error("metric registered twice: " + name);
  }
  names_.push_back(name);
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  Claim(name);
  counters_.push_back(
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(label_names)));
  order_.emplace_back(0, counters_.size() - 1);
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  Claim(name);
  gauges_.push_back(
      std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(label_names)));
  order_.emplace_back(1, gauges_.size() - 1);
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  Claim(name);
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(label_names), std::move(bounds)));
  order_.emplace_back(2, histograms_.size() - 1);
  return *histograms_.back();
}

void Registry::Render(std::string& out) const {
  Exposition exposition(out);
  for (const auto& [kind, index] : order_) {
    switch (kind) {
      case 0:
        counters_[index]->Render(exposition);
        break;
      case 1:
        gauges_[index]->Render(exposition);
        break;
      default:
        histograms_[index]->Render(exposition);
        break;
    }
  }
}

}  // namespace metrics
