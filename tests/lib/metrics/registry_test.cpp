#include "metrics/registry.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <thread>

namespace {

std::string Render(const metrics::Registry& registry) {
  std::string out;
  registry.Render(out);
  return out;
}

}  // namespace

TEST_CASE("counters and gauges render in the text format with their labels", "[metrics]") {
  metrics::Registry registry;
  auto& runs = registry.AddCounter("jobsd_runs_total", "Runs that ended.", {"job", "status"});
  auto& up = registry.AddGauge("jobsd_up", "Whether it is up.");
  runs.With({"backup", "ok"}).Add();
  runs.With({"backup", "ok"}).Add(2);
  runs.With({"aq", "failed"}).Add();
  up.With({}).Set(1);

  CHECK(Render(registry) ==
        "# HELP jobsd_runs_total Runs that ended.\n"
        "# TYPE jobsd_runs_total counter\n"
        "jobsd_runs_total{job=\"aq\",status=\"failed\"} 1\n"
        "jobsd_runs_total{job=\"backup\",status=\"ok\"} 3\n"
        "# HELP jobsd_up Whether it is up.\n"
        "# TYPE jobsd_up gauge\n"
        "jobsd_up 1\n");
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
  metrics::Registry registry;
  auto& c = registry.AddCounter("x_total", "a \\ help\ntext", {"path"});
  c.With({"C:\\dir \"q\"\nnext"}).Add();
  CHECK(Render(registry) ==
        "# HELP x_total a \\\\ help\\ntext\n"
        "# TYPE x_total counter\n"
        "x_total{path=\"C:\\\\dir \\\"q\\\"\\nnext\"} 1\n");
}

TEST_CASE("histograms are cumulative with +Inf, sum and count", "[metrics]") {
  metrics::Registry registry;
  auto& h = registry.AddHistogram("d_seconds", "Durations.", {"job"}, {0.1, 1});
  auto& one = h.With({"a"});
  one.Observe(0.05);
  one.Observe(0.1);  // on the bound: counted in le="0.1"
  one.Observe(0.5);
  one.Observe(7);
  CHECK(Render(registry) ==
        "# HELP d_seconds Durations.\n"
        "# TYPE d_seconds histogram\n"
        "d_seconds_bucket{job=\"a\",le=\"0.1\"} 2\n"
        "d_seconds_bucket{job=\"a\",le=\"1\"} 3\n"
        "d_seconds_bucket{job=\"a\",le=\"+Inf\"} 4\n"
        "d_seconds_sum{job=\"a\"} 7.65\n"
        "d_seconds_count{job=\"a\"} 4\n");
}

TEST_CASE("values: integers plain, fractions exact, NaN and infinities spelled out", "[metrics]") {
  std::string out;
  metrics::Exposition text(out);
  text.Sample("a", {}, {}, 1795389037.89256);
  text.Sample("b", {}, {}, 12);
  text.Sample("c", {}, {}, std::numeric_limits<double>::quiet_NaN());
  text.Sample("d", {}, {}, -std::numeric_limits<double>::infinity());
  text.Sample("e", {}, {}, 1e20);
  CHECK(out == "a 1795389037.89256\nb 12\nc NaN\nd -Inf\ne 1e+20\n");
}

TEST_CASE("a metric name registered twice is refused", "[metrics]") {
  metrics::Registry registry;
  registry.AddCounter("x_total", "x");
  CHECK_THROWS(registry.AddGauge("x_total", "again"));
}

TEST_CASE("series are updated from many threads without losing counts", "[metrics]") {
  metrics::Registry registry;
  auto& c = registry.AddCounter("n_total", "n", {"job"});
  auto& h = registry.AddHistogram("h", "h", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.With({"j" + std::to_string(i % 3)}).Add();
        h.With({}).Observe(t);
      }
    });
  }
  std::string during;
  registry.Render(during);  // rendering while others write is allowed
  for (auto& t : threads) t.join();
  const double total = c.With({"j0"}).value() + c.With({"j1"}).value() + c.With({"j2"}).value();
  CHECK(total == 40000);
  const auto snapshot = h.With({}).Read();
  CHECK(snapshot.count == 40000);
  CHECK(snapshot.cumulative[0] == 20000);  // threads 0 and 1 observe <= 1
  CHECK(snapshot.sum == 10000 * (0 + 1 + 2 + 3));
}
