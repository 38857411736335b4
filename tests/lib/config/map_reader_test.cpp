#include "config/map_reader.h"

#include <catch2/catch.hpp>

#include <chrono>

#include "config/document.h"
#include "tests/lib/config/config_test_support.h"

namespace config {
namespace {

using namespace std::chrono_literals;

// Parses `yaml` and hands a reader over its top level (path "with", as a job
// type would see it) to `read`; returns what was reported.
template <typename Read>
std::string Reports(const std::string& yaml, Read read,
                    const std::filesystem::path& folder = "/srv/jobsd") {
  Diagnostics diagnostics;
  ConfigSource source("t.yaml", folder, diagnostics);
  YamlTree tree;
  const std::optional<YamlNode> root = ParseDocument(yaml, tree, source, ProcessEnvironment());
  REQUIRE(root);
  {
    MapReader reader(*root, "with", source);
    read(reader);
  }
  return diagnostics.ToString();
}

TEST_CASE("MapReader reads typed values", "[config]") {
  const std::string yaml =
      "s: text\nn: 42\nd: 0.25\nb: TRUE\nt: 1h30m\np: data/x\nlist: [a, b]\nints: [1, 2]\n"
      "map: {K: v}\nmode: queue\nnested: {x: 1}\nitems: [{a: 1}, {a: 2}]\n"
      "named: {one: {a: 1}, two: {a: 2}}\n";
  const std::string reports = Reports(yaml, [](MapReader& r) {
    CHECK(r.String("s") == "text");
    CHECK(r.Int("n", 0, 100) == 42);
    CHECK(r.Double("d", 0, 1) == 0.25);
    CHECK(r.Bool("b") == true);
    CHECK(r.Duration("t") == 90min);
    CHECK(r.Path("p") == std::filesystem::path("/srv/jobsd/data/x"));
    CHECK(r.StringList("list") == std::vector<std::string>{"a", "b"});
    CHECK(r.IntList("ints", 1, 2) == std::vector<std::int64_t>{1, 2});
    CHECK(r.StringMap("map") == std::map<std::string, std::string>{{"K", "v"}});
    enum class Mode { kSkip, kQueue };
    CHECK(r.Enum<Mode>("mode", {{"skip", Mode::kSkip}, {"queue", Mode::kQueue}}) == Mode::kQueue);
    std::optional<MapReader> nested = r.Map("nested");
    REQUIRE(nested);
    CHECK(nested->path() == "with.nested");
    CHECK(nested->Int("x", 0, 9) == 1);
    std::optional<std::vector<MapReader>> items = r.MapList("items");
    REQUIRE(items);
    REQUIRE(items->size() == 2);
    CHECK((*items)[1].path() == "with.items[1]");
    CHECK((*items)[1].Int("a", 0, 9) == 2);
    (*items)[0].Allow("a");
    auto named = r.NamedMaps("named");
    REQUIRE(named);
    REQUIRE(named->size() == 2);
    CHECK((*named)[1].first == "two");
    CHECK((*named)[1].second.path() == "with.named.two");
    for (auto& [name, reader] : *named) reader.Allow("a");
    // Absent keys are nullopt without a report.
    CHECK_FALSE(r.String("absent"));
    CHECK_FALSE(r.Map("absent_map"));
    CHECK_FALSE(r.Has("absent"));
    CHECK(r.Has("s"));
  });
  CHECK(reports == "");
}

TEST_CASE("MapReader reports wrong values at their position", "[config]") {
  const std::string yaml =
      "n: 1001\nm: x\nd: 2\nb: yes\nt: abc\np: ''\nlist: a\nlist2: [a, [b]]\n"
      "ints: [1, x]\nmap: [1]\nmode: sometimes\nnested: 3\nitems: [1, {a: 1}]\nempty:\n";
  const std::string reports = Reports(yaml, [](MapReader& r) {
    CHECK_FALSE(r.Int("n", 1, 1000));
    CHECK_FALSE(r.Int("m", -5, 1'000'000'000'000'000'000));
    CHECK_FALSE(r.Double("d", 0, 1));
    CHECK_FALSE(r.Bool("b"));
    CHECK_FALSE(r.Duration("t"));
    CHECK_FALSE(r.Path("p"));
    CHECK_FALSE(r.StringList("list"));
    CHECK_FALSE(r.StringList("list2"));
    CHECK_FALSE(r.IntList("ints", 0, 9));
    CHECK_FALSE(r.StringMap("map"));
    CHECK_FALSE(r.Choice("mode", {"skip", "queue", "allow"}));
    CHECK_FALSE(r.Map("nested"));
    std::optional<std::vector<MapReader>> items = r.MapList("items");
    REQUIRE(items);
    CHECK(items->size() == 1);
    (*items)[0].Allow("a");
    CHECK_FALSE(r.String("empty"));
    CHECK_FALSE(r.String("required", Need::kRequired));
  });
  CHECK(reports ==
        "t.yaml:1:4: with.n: expected an integer between 1 and 1000, got '1001'\n"
        "t.yaml:2:4: with.m: expected an integer of at least -5, got 'x'\n"
        "t.yaml:3:4: with.d: expected a number between 0 and 1, got '2'\n"
        "t.yaml:4:4: with.b: expected true or false, got 'yes'\n"
        "t.yaml:5:4: with.t: expected a duration like 30s or 1h30m, got 'abc'\n"
        "t.yaml:6:4: with.p: expected a path, got ''\n"
        "t.yaml:7:7: with.list: expected a list of strings, got 'a'\n"
        "t.yaml:8:12: with.list2[1]: expected a string, got a list\n"
        "t.yaml:9:11: with.ints[1]: expected an integer between 0 and 9, got 'x'\n"
        "t.yaml:10:6: with.map: expected a mapping of names to strings, got a list\n"
        "t.yaml:11:7: with.mode: expected one of skip, queue, allow, got 'sometimes'\n"
        "t.yaml:12:9: with.nested: expected a mapping, got '3'\n"
        "t.yaml:13:9: with.items[0]: expected a mapping, got '1'\n"
        "t.yaml:14:1: with.empty: expected a string, got nothing\n"
        "t.yaml:1:1: with: missing required key 'required'\n");
}

TEST_CASE("MapReader reads sizes and reports bad ones at their position", "[config]") {
  const std::string yaml =
      "a: 64MiB\nb: 4096\nc: 1.5GiB\nd: 5mb\ne: -1KiB\nf: 1.5B\ng: [1]\nh: 20000000TB\n";
  const std::string reports = Reports(yaml, [](MapReader& r) {
    CHECK(r.Size("a") == 64u << 20);
    CHECK(r.Size("b") == 4096u);
    CHECK(r.Size("c") == 1536u << 20);
    CHECK_FALSE(r.Size("d"));
    CHECK_FALSE(r.Size("e"));
    CHECK_FALSE(r.Size("f"));
    CHECK_FALSE(r.Size("g"));
    CHECK_FALSE(r.Size("h"));
    CHECK_FALSE(r.Size("absent"));
    CHECK_FALSE(r.Size("required", Need::kRequired));
  });
  CHECK(reports ==
        "t.yaml:4:4: with.d: expected a size like 512KiB, 64MiB or 4096, got '5mb': unknown unit "
        "'mb' (did you mean 'MB' or 'MiB'?)\n"
        "t.yaml:5:4: with.e: expected a size like 512KiB, 64MiB or 4096, got '-1KiB': a size "
        "cannot be negative\n"
        "t.yaml:6:4: with.f: expected a size like 512KiB, 64MiB or 4096, got '1.5B': not a whole "
        "number of bytes\n"
        "t.yaml:7:4: with.g: expected a size like 512KiB, 64MiB or 4096, got a list\n"
        "t.yaml:8:4: with.h: expected a size like 512KiB, 64MiB or 4096, got '20000000TB': too "
        "large (the most is 18446744073709551615 bytes)\n"
        "t.yaml:1:1: with: missing required key 'required'\n");
}

TEST_CASE("MapReader reports unknown keys with a suggestion when finished", "[config]") {
  const std::string reports = Reports("timout: 5m\nzzz: 1\nretries: 3\n", [](MapReader& r) {
    r.Duration("timeout");
    r.Int("retries", 0, 9);
    // The destructor finishes the reader.
  });
  CHECK(reports ==
        "t.yaml:1:1: with.timout: unknown key 'timout' (did you mean 'timeout'?)\n"
        "t.yaml:2:1: with.zzz: unknown key 'zzz'\n");

  CHECK(Reports("a: 1\n", [](MapReader& r) {
          r.Finish();
          r.Finish();  // idempotent
        }) == "t.yaml:1:1: with.a: unknown key 'a'\n");
}

TEST_CASE("MapReader null and absent sections", "[config]") {
  const std::string reports = Reports("section:\nlist:\nmap:\n", [](MapReader& r) {
    std::optional<MapReader> section = r.Map("section");
    REQUIRE(section);                                       // a null section reads as empty ...
    CHECK_FALSE(section->Int("x", 0, 1, Need::kRequired));  // ... positioned at its key
    CHECK(r.StringList("list") == std::vector<std::string>{});
    CHECK(r.StringMap("map") == std::map<std::string, std::string>{});
    MapReader absent = r.MapOrEmpty("absent");
    CHECK(absent.path() == "with.absent");
    absent.String("y", Need::kRequired);
  });
  CHECK(reports ==
        "t.yaml:1:1: with.section: missing required key 'x'\n"
        "t.yaml:1:1: with.absent: missing required key 'y'\n");
}

TEST_CASE("MapReader::Secret reads the value or the *_file", "[config]") {
  testing::TempDir dir;
  dir.Write("pw", "hunter2\n\n");
  dir.Write("empty", "");
  const std::string reports = Reports(
      "password_file: pw\nempty_file: empty\ninline: x\nca_file: certs/ca.pem\n"
      "both: a\nboth_file: pw\nmissing_file: nope\n",
      [&dir](MapReader& r) {
        CHECK(r.Secret("password") == "hunter2");
        CHECK(r.Secret("empty") == "");
        CHECK(r.Secret("inline") == "x");
        // Asked for as a path, a *_file key is just a path.
        CHECK(r.Path("ca_file") == dir.path() / "certs/ca.pem");
        CHECK_FALSE(r.Secret("both"));
        CHECK_FALSE(r.Secret("missing"));
        CHECK_FALSE(r.Secret("token", Need::kRequired));
        CHECK_FALSE(r.Secret("optional"));
      },
      dir.path());
  CHECK(reports ==
        "t.yaml:6:1: with.both_file: set either 'both' or 'both_file', not both\n"
        "t.yaml:7:15: with.missing_file: cannot read secret file '" +
            (dir.path() / "nope").string() +
            "': No such file or directory\n"
            "t.yaml:1:1: with: missing required key 'token' (or 'token_file')\n");
}

TEST_CASE("MapReader::Report and ReportAt place problems found by the caller", "[config]") {
  const std::string reports = Reports("a: 1\nb: [x, y]\n", [](MapReader& r) {
    r.Report("a", "a is odd");
    r.Report("absent", "needs absent");
    const YamlNode b = *r.Node("b");
    r.ReportAt(b[1], "with.b[1]", "y is wrong");
    r.set_path("renamed");
    r.ReportHere("as a whole");
  });
  CHECK(reports ==
        "t.yaml:1:4: with.a: a is odd\n"
        "t.yaml:1:1: with: needs absent\n"
        "t.yaml:2:8: with.b[1]: y is wrong\n"
        "t.yaml:1:1: renamed: as a whole\n");
}

TEST_CASE("Diagnostic::ToString", "[config]") {
  CHECK(Diagnostic{"f.yaml", 3, 7, "jobs.a.every", "bad"}.ToString() ==
        "f.yaml:3:7: jobs.a.every: bad");
  CHECK(Diagnostic{"f.yaml", 3, 7, "", "bad"}.ToString() == "f.yaml:3:7: bad");
  CHECK(Diagnostic{"f.yaml", 3, 0, "x", "bad"}.ToString() == "f.yaml:3: x: bad");
  CHECK(Diagnostic{"f.yaml", 0, 0, "", "unreadable"}.ToString() == "f.yaml: unreadable");
  CHECK(Diagnostic{"f.yaml", 0, 0, "x.y", "bad"}.ToString() == "f.yaml: x.y: bad");
}

}  // namespace
}  // namespace config
