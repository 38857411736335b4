// Reads typed values out of one YAML mapping and reports every problem.
//
// Each accessor names a key, converts its value and returns it, or returns
// nullopt when the key is absent or its value is wrong. A wrong value is
// reported to the ConfigSource at the value's position with its key path,
// e.g. `jobs.backup.timeout: expected a duration like 30s or 1h30m, got 'abc'`,
// so callers never format errors for type problems and can simply fall back
// to a default with value_or().
//
// The reader remembers every key it was asked about. Finish() then reports
// each key of the mapping that nobody asked for, with a suggestion when it is
// close to a known one: `unknown key 'timout' (did you mean 'timeout'?)`. So
// ask for every key the section may contain, including those that only matter
// in some combinations, before finishing. The destructor finishes a reader
// that was not finished explicitly.
//
//   MapReader& with = ...;  // a job type's `with:`
//   settings.duration = with.Duration("duration", Need::kRequired).value_or(core::Duration{});
//   settings.result = with.Enum<Outcome>("result", {{"ok", Outcome::kOk}, {"failed",
//   Outcome::kFailed}})
//                         .value_or(Outcome::kOk);
//
// An explicit null (`key:` with nothing after it) counts as an empty mapping
// or list, but as a missing value for scalars. Values have already had
// `${VAR}` references expanded (see document.h).
//
// Single thread; a reader must not outlive its ConfigSource.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config_source.h"
#include "core/time.h"

namespace config {

// Whether an absent key is a problem ("missing required key 'x'").
enum class Need { kOptional, kRequired };

class MapReader {
 public:
  // Reads `node`, whose key path is `path` ("" at the top level). A node that
  // is neither a mapping nor null is reported ("expected a mapping") and read
  // as empty. `where` positions "missing key" reports when `node` itself has
  // no position (an absent or null section); it defaults to the node's own.
  MapReader(YamlNode node, std::string path, const ConfigSource& source,
            std::optional<YAML::Mark> where = std::nullopt);
  MapReader(MapReader&& other);
  MapReader& operator=(MapReader&& other);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;
  ~MapReader();

  const std::string& path() const { return path_; }
  // Later reports use the new path; e.g. a job entry is "jobs[3]" until its
  // name is known, then "jobs.backup".
  void set_path(std::string path) { path_ = std::move(path); }
  const ConfigSource& source() const { return *source_; }
  // The mapping's position (for reports about the section as a whole).
  YAML::Mark mark() const { return where_; }
  // The mapping as parsed (Null when the section is absent).
  const YamlNode& node() const { return node_; }

  // True when the key is present, even with a null value. Counts as asking
  // for the key.
  bool Has(std::string_view key);
  // Accepts the key without reading it, so Finish() does not call it unknown.
  void Allow(std::string_view key);

  // Any scalar, as text.
  std::optional<std::string> String(std::string_view key, Need need = Need::kOptional);
  // A string that may instead come from a file: `password: x` or
  // `password_file: /run/secrets/pw` (docker secrets). The file's trailing
  // newlines are dropped; a relative path resolves against the config folder.
  // Setting both keys, or naming a file that cannot be read, is reported.
  std::optional<std::string> Secret(std::string_view key, Need need = Need::kOptional);
  // A whole number in [min, max].
  std::optional<std::int64_t> Int(std::string_view key, std::int64_t min, std::int64_t max,
                                  Need need = Need::kOptional);
  // A number in [min, max].
  std::optional<double> Double(std::string_view key, double min, double max,
                               Need need = Need::kOptional);
  // true or false (any letter case).
  std::optional<bool> Bool(std::string_view key, Need need = Need::kOptional);
  // A duration with units ("30s", "1h30m"; see core::ParseDuration).
  std::optional<core::Duration> Duration(std::string_view key, Need need = Need::kOptional);
  // A size in bytes: a plain count or a number with a unit ("512KiB",
  // "64MiB", "1GB"; see core::ParseSize).
  std::optional<std::uint64_t> Size(std::string_view key, Need need = Need::kOptional);
  // A non-empty path, made absolute against the config file's folder.
  std::optional<std::filesystem::path> Path(std::string_view key, Need need = Need::kOptional);
  // A list of scalars; each wrong item is reported at its own position.
  std::optional<std::vector<std::string>> StringList(std::string_view key,
                                                     Need need = Need::kOptional);
  // A list of whole numbers, each in [min, max].
  std::optional<std::vector<std::int64_t>> IntList(std::string_view key, std::int64_t min,
                                                   std::int64_t max, Need need = Need::kOptional);
  // A mapping whose keys the user chooses (environment variables, HTTP
  // headers) to scalar values.
  std::optional<std::map<std::string, std::string>> StringMap(std::string_view key,
                                                              Need need = Need::kOptional);
  // One of a fixed set of words, as its index in `words`; a wrong word is
  // reported with the choices ("expected one of skip, queue, allow, got 'x'").
  std::optional<std::size_t> Choice(std::string_view key,
                                    const std::vector<std::string_view>& words,
                                    Need need = Need::kOptional);
  // One of a fixed set of words, mapped to an enum value.
  template <typename E>
  std::optional<E> Enum(std::string_view key,
                        std::initializer_list<std::pair<std::string_view, E>> choices,
                        Need need = Need::kOptional) {
    std::vector<std::string_view> words;
    for (const auto& choice : choices) words.push_back(choice.first);
    const std::optional<std::size_t> index = Choice(key, words, need);
    if (!index) return std::nullopt;
    return (choices.begin() + *index)->second;
  }

  // A nested mapping with its own reader (path "<this>.<key>"). Absent or
  // not a mapping: nullopt (the latter reported).
  std::optional<MapReader> Map(std::string_view key, Need need = Need::kOptional);
  // Like Map, but an absent section yields an empty reader positioned at
  // this mapping, so required keys inside it are still reported.
  MapReader MapOrEmpty(std::string_view key);
  // A list of mappings, one reader per item (path "<key>[i]"); items that are
  // not mappings are reported and left out.
  std::optional<std::vector<MapReader>> MapList(std::string_view key, Need need = Need::kOptional);
  // A mapping from names the user chooses to mappings (alert channels), one
  // reader per entry (path "<key>.<name>").
  std::optional<std::vector<std::pair<std::string, MapReader>>> NamedMaps(
      std::string_view key, Need need = Need::kOptional);
  // The raw node, for values read elsewhere (a job's `with:`).
  std::optional<YamlNode> Node(std::string_view key, Need need = Need::kOptional);

  // Reports a problem with the key's value, at its position (at this mapping
  // when the key is absent): for checks that span keys or need context.
  void Report(std::string_view key, std::string message);
  // Reports a problem with the mapping as a whole.
  void ReportHere(std::string message);
  // Reports `message` at an arbitrary node under this mapping (a list item,
  // an entry of a nested mapping), with its full key path.
  void ReportAt(const YamlNode& node, std::string path, std::string message);

  // Reports every key nobody asked for. Idempotent.
  void Finish();
  // Finishes without reporting: another reader of the same mapping does.
  void FinishQuietly() { finished_ = true; }

 private:
  struct Entry {
    std::string key;
    YamlNode key_node;
    YamlNode value;
  };

  // The entry for `key`, remembering that it was asked for; reports a missing
  // required key. Null when absent.
  const Entry* Find(std::string_view key, Need need);
  // A scalar value, or nullopt after reporting "expected <what>, got ...".
  std::optional<std::string> Scalar(const Entry& entry, std::string_view what);
  // Where to report a problem with this entry's value.
  static YAML::Mark ValueMark(const Entry& entry);
  // Reports a problem with an entry's value, unless the value is one whose
  // ${VAR} expansion already failed (see ConfigSource::MarkUnusable).
  void ReportValue(const Entry& entry, std::string path, std::string message);
  std::optional<std::string> ReadSecretFile(const Entry& entry);

  // Set once in the constructor.
  const ConfigSource* source_;
  YamlNode node_;
  YAML::Mark where_;
  std::vector<Entry> entries_;

  std::string path_;
  std::vector<std::string> known_;  // keys asked for, in order (for suggestions)
  bool finished_ = false;
};

}  // namespace config
