#include "config/map_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "config/spelling.h"
#include "core/size.h"

namespace config {
namespace {

// Secrets are short; the cap keeps a mistaken path such as /dev/zero from
// stalling the load.
constexpr std::size_t kMaxSecretBytes = 1 << 20;

std::string Quote(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string Join(const std::vector<std::string_view>& words, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += separator;
    out += words[i];
  }
  return out;
}

std::string FormatNumber(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

std::string IntRangeText(std::int64_t min, std::int64_t max) {
  constexpr std::int64_t kNoLimit = 1'000'000'000'000'000;
  if (min <= -kNoLimit && max >= kNoLimit) return "an integer";
  if (max >= kNoLimit) return "an integer of at least " + std::to_string(min);
  return "an integer between " + std::to_string(min) + " and " + std::to_string(max);
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<double> ParseDouble(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
      !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "true") return true;
  if (lower == "false") return false;
  return std::nullopt;
}

bool IsAbsent(const YamlNode& node) { return node.IsNull(); }

}  // namespace

MapReader::MapReader(YamlNode node, std::string path, const ConfigSource& source,
                     std::optional<YAML::Mark> where)
    : source_(&source), node_(std::move(node)), path_(std::move(path)) {
  where_ = where && (node_.Mark().is_null() || IsAbsent(node_)) ? *where : node_.Mark();
  if (node_.IsMap()) {
    entries_.reserve(node_.size());
    for (const YamlItem& entry : node_) {
      // Non-string keys were reported when the document was parsed.
      if (!entry.first.IsScalar()) continue;
      entries_.push_back(Entry{entry.first.Scalar(), entry.first, entry.second});
    }
  } else if (!IsAbsent(node_)) {
    source_->Report(node_.Mark(), path_, "expected a mapping, got " + Describe(node_));
  }
}

MapReader::MapReader(MapReader&& other)
    : source_(other.source_),
      node_(std::move(other.node_)),
      where_(other.where_),
      entries_(std::move(other.entries_)),
      path_(std::move(other.path_)),
      known_(std::move(other.known_)),
      finished_(other.finished_) {
  other.finished_ = true;
}

MapReader& MapReader::operator=(MapReader&& other) {
  if (this != &other) {
    Finish();
    source_ = other.source_;
    node_ = std::move(other.node_);
    where_ = other.where_;
    entries_ = std::move(other.entries_);
    path_ = std::move(other.path_);
    known_ = std::move(other.known_);
    finished_ = other.finished_;
    other.finished_ = true;
  }
  return *this;
}

MapReader::~MapReader() { Finish(); }

const MapReader::Entry* MapReader::Find(std::string_view key, Need need) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  for (const Entry& entry : entries_) {
    if (entry.key == key) return &entry;
  }
  if (need == Need::kRequired) ReportHere("missing required key " + Quote(key));
  return nullptr;
}

YAML::Mark MapReader::ValueMark(const Entry& entry) {
  // A null value's position is wherever the next token starts, often the next
  // line; the key is where the reader looks.
  // A value set by --set has no position at all and is reported without one.
  return IsAbsent(entry.value) ? entry.key_node.Mark() : entry.value.Mark();
}

std::optional<std::string> MapReader::Scalar(const Entry& entry, std::string_view what) {
  if (entry.value.IsScalar()) return entry.value.Scalar();
  ReportValue(entry, JoinPath(path_, entry.key),
              "expected " + std::string(what) + ", got " + Describe(entry.value));
  return std::nullopt;
}

bool MapReader::Has(std::string_view key) { return Find(key, Need::kOptional) != nullptr; }

void MapReader::Allow(std::string_view key) { Find(key, Need::kOptional); }

std::optional<std::string> MapReader::String(std::string_view key, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  return Scalar(*entry, "a string");
}

std::optional<std::string> MapReader::Secret(std::string_view key, Need need) {
  const std::string file_key = std::string(key) + "_file";
  const Entry* direct = Find(key, Need::kOptional);
  const Entry* from_file = Find(file_key, Need::kOptional);
  if (direct != nullptr && from_file != nullptr) {
    source_->Report(from_file->key_node.Mark(), JoinPath(path_, file_key),
                    "set either " + Quote(key) + " or " + Quote(file_key) + ", not both");
    return std::nullopt;
  }
  std::optional<std::string> value;
  if (direct != nullptr) value = Scalar(*direct, "a string");
  if (from_file != nullptr) value = ReadSecretFile(*from_file);
  if (value) {
    source_->NoteSecret(*value);
    return value;
  }
  if (direct != nullptr || from_file != nullptr) return std::nullopt;
  if (need == Need::kRequired) {
    ReportHere("missing required key " + Quote(key) + " (or " + Quote(file_key) + ")");
  }
  return std::nullopt;
}

std::optional<std::string> MapReader::ReadSecretFile(const Entry& entry) {
  const std::optional<std::string> name = Scalar(entry, "a file name");
  if (!name) return std::nullopt;
  const std::string where = JoinPath(path_, entry.key);
  if (name->empty()) {
    ReportValue(entry, where, "expected a file name, got ''");
    return std::nullopt;
  }
  const std::filesystem::path file = source_->Resolve(*name);
  core::Result<std::string> read = ReadTextFile(file, kMaxSecretBytes);
  if (!read) {
    ReportValue(entry, where,
                "cannot read secret file '" + file.string() + "': " + read.error().message);
    return std::nullopt;
  }
  std::string text = std::move(*read);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::optional<std::int64_t> MapReader::Int(std::string_view key, std::int64_t min, std::int64_t max,
                                           Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  const std::string what = IntRangeText(min, max);
  const std::optional<std::string> text = Scalar(*entry, what);
  if (!text) return std::nullopt;
  const std::optional<std::int64_t> value = ParseInt(*text);
  if (!value || *value < min || *value > max) {
    ReportValue(*entry, JoinPath(path_, entry->key), "expected " + what + ", got " + Quote(*text));
    return std::nullopt;
  }
  return value;
}

std::optional<double> MapReader::Double(std::string_view key, double min, double max, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  const std::string what = "a number between " + FormatNumber(min) + " and " + FormatNumber(max);
  const std::optional<std::string> text = Scalar(*entry, what);
  if (!text) return std::nullopt;
  const std::optional<double> value = ParseDouble(*text);
  if (!value || *value < min || *value > max) {
    ReportValue(*entry, JoinPath(path_, entry->key), "expected " + what + ", got " + Quote(*text));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> MapReader::Bool(std::string_view key, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  const std::optional<std::string> text = Scalar(*entry, "true or false");
  if (!text) return std::nullopt;
  const std::optional<bool> value = ParseBool(*text);
  if (!value) {
    ReportValue(*entry, JoinPath(path_, entry->key), "expected true or false, got " + Quote(*text));
  }
  return value;
}

std::optional<core::Duration> MapReader::Duration(std::string_view key, Need need) {
  constexpr std::string_view kWhat = "a duration like 30s or 1h30m";
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  const std::optional<std::string> text = Scalar(*entry, kWhat);
  if (!text) return std::nullopt;
  core::Result<core::Duration> value = core::ParseDuration(*text);
  if (!value) {
    std::string message = "expected " + std::string(kWhat) + ", got " + Quote(*text);
    if (ParseInt(*text))
      message += " (a number needs a unit: " + std::string(core::kDurationUnits) + ")";
    ReportValue(*entry, JoinPath(path_, entry->key), std::move(message));
    return std::nullopt;
  }
  return *value;
}

std::optional<std::uint64_t> MapReader::Size(std::string_view key, Need need) {
  constexpr std::string_view kWhat = "a size like 512KiB, 64MiB or 4096";
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  const std::optional<std::string> text = Scalar(*entry, kWhat);
  if (!text) return std::nullopt;
  core::Result<std::uint64_t> value = core::ParseSize(*text);
  if (!value) {
    // ParseSize says "bad size '<text>': <reason>"; the report keeps the reason.
    const std::string& error = value.error().message;
    const std::string prefix = "bad size " + Quote(*text) + ": ";
    std::string message = "expected " + std::string(kWhat) + ", got " + Quote(*text);
    if (error.starts_with(prefix)) message += ": " + error.substr(prefix.size());
    ReportValue(*entry, JoinPath(path_, entry->key), std::move(message));
    return std::nullopt;
  }
  return *value;
}

std::optional<std::filesystem::path> MapReader::Path(std::string_view key, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  const std::optional<std::string> text = Scalar(*entry, "a path");
  if (!text) return std::nullopt;
  if (text->empty()) {
    ReportValue(*entry, JoinPath(path_, entry->key), "expected a path, got ''");
    return std::nullopt;
  }
  return source_->Resolve(*text);
}

std::optional<std::vector<std::string>> MapReader::StringList(std::string_view key, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  if (IsAbsent(entry->value)) return std::vector<std::string>{};
  const std::string where = JoinPath(path_, entry->key);
  if (!entry->value.IsSequence()) {
    ReportValue(*entry, where, "expected a list of strings, got " + Describe(entry->value));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  std::size_t index = 0;
  for (const YamlNode& item : entry->value) {
    if (item.IsScalar()) {
      out.push_back(item.Scalar());
    } else {
      ok = false;
      ReportAt(item, where + "[" + std::to_string(index) + "]",
               "expected a string, got " + Describe(item));
    }
    ++index;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<std::int64_t>> MapReader::IntList(std::string_view key, std::int64_t min,
                                                            std::int64_t max, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  if (IsAbsent(entry->value)) return std::vector<std::int64_t>{};
  const std::string where = JoinPath(path_, entry->key);
  const std::string what = IntRangeText(min, max);
  if (!entry->value.IsSequence()) {
    ReportValue(*entry, where, "expected a list of integers, got " + Describe(entry->value));
    return std::nullopt;
  }
  std::vector<std::int64_t> out;
  bool ok = true;
  std::size_t index = 0;
  for (const YamlNode& item : entry->value) {
    const std::optional<std::int64_t> value =
        item.IsScalar() ? ParseInt(item.Scalar()) : std::nullopt;
    if (value && *value >= min && *value <= max) {
      out.push_back(*value);
    } else {
      ok = false;
      ReportAt(item, where + "[" + std::to_string(index) + "]",
               "expected " + what + ", got " + Describe(item));
    }
    ++index;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> MapReader::StringMap(std::string_view key,
                                                                       Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  if (IsAbsent(entry->value)) return std::map<std::string, std::string>{};
  const std::string where = JoinPath(path_, entry->key);
  if (!entry->value.IsMap()) {
    ReportValue(*entry, where,
                "expected a mapping of names to strings, got " + Describe(entry->value));
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  bool ok = true;
  for (const YamlItem& item : entry->value) {
    if (!item.first.IsScalar()) continue;  // reported when the document was parsed
    if (item.second.IsScalar()) {
      out.emplace(item.first.Scalar(), item.second.Scalar());
    } else {
      ok = false;
      const YAML::Mark mark = IsAbsent(item.second) ? item.first.Mark() : item.second.Mark();
      source_->Report(mark, JoinPath(where, item.first.Scalar()),
                      "expected a string, got " + Describe(item.second));
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::size_t> MapReader::Choice(std::string_view key,
                                             const std::vector<std::string_view>& words,
                                             Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  const std::string what = "one of " + Join(words, ", ");
  const std::optional<std::string> text = Scalar(*entry, what);
  if (!text) return std::nullopt;
  const auto found = std::find(words.begin(), words.end(), *text);
  if (found == words.end()) {
    ReportValue(*entry, JoinPath(path_, entry->key), "expected " + what + ", got " + Quote(*text));
    return std::nullopt;
  }
  return static_cast<std::size_t>(found - words.begin());
}

std::optional<MapReader> MapReader::Map(std::string_view key, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  if (!entry->value.IsMap() && !IsAbsent(entry->value)) {
    ReportValue(*entry, JoinPath(path_, entry->key),
                "expected a mapping, got " + Describe(entry->value));
    return std::nullopt;
  }
  return MapReader(entry->value, JoinPath(path_, entry->key), *source_, entry->key_node.Mark());
}

MapReader MapReader::MapOrEmpty(std::string_view key) {
  std::optional<MapReader> reader = Map(key);
  if (reader) return std::move(*reader);
  return MapReader(YamlNode(), JoinPath(path_, key), *source_, where_);
}

std::optional<std::vector<MapReader>> MapReader::MapList(std::string_view key, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  std::vector<MapReader> out;
  if (IsAbsent(entry->value)) return out;
  const std::string where = JoinPath(path_, entry->key);
  if (!entry->value.IsSequence()) {
    ReportValue(*entry, where, "expected a list of mappings, got " + Describe(entry->value));
    return std::nullopt;
  }
  out.reserve(entry->value.size());
  std::size_t index = 0;
  for (const YamlNode& item : entry->value) {
    const std::string item_path = where + "[" + std::to_string(index++) + "]";
    if (item.IsMap()) {
      out.emplace_back(item, item_path, *source_);
    } else {
      ReportAt(item, item_path, "expected a mapping, got " + Describe(item));
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, MapReader>>> MapReader::NamedMaps(
    std::string_view key, Need need) {
  std::optional<MapReader> outer = Map(key, need);
  if (!outer) return std::nullopt;
  std::vector<std::pair<std::string, MapReader>> out;
  for (const Entry& entry : outer->entries_) {
    const std::string item_path = JoinPath(outer->path_, entry.key);
    if (entry.value.IsMap() || IsAbsent(entry.value)) {
      out.emplace_back(entry.key,
                       MapReader(entry.value, item_path, *source_, entry.key_node.Mark()));
    } else {
      ReportValue(entry, item_path, "expected a mapping, got " + Describe(entry.value));
    }
  }
  // Every key of the outer mapping is a name, so none is unknown.
  outer->finished_ = true;
  return out;
}

std::optional<YamlNode> MapReader::Node(std::string_view key, Need need) {
  const Entry* entry = Find(key, need);
  if (entry == nullptr) return std::nullopt;
  return entry->value;
}

void MapReader::Report(std::string_view key, std::string message) {
  const Entry* entry = Find(key, Need::kOptional);
  if (entry == nullptr) {
    ReportHere(std::move(message));
    return;
  }
  ReportValue(*entry, JoinPath(path_, key), std::move(message));
}

void MapReader::ReportValue(const Entry& entry, std::string path, std::string message) {
  if (entry.value.unusable()) return;
  source_->Report(ValueMark(entry), std::move(path), std::move(message));
}

void MapReader::ReportHere(std::string message) {
  source_->Report(where_, path_, std::move(message));
}

void MapReader::ReportAt(const YamlNode& node, std::string path, std::string message) {
  if (node.unusable()) return;
  source_->Report(node.Mark().is_null() ? where_ : node.Mark(), std::move(path),
                  std::move(message));
}

void MapReader::Finish() {
  if (finished_) return;
  finished_ = true;
  for (const Entry& entry : entries_) {
    if (std::find(known_.begin(), known_.end(), entry.key) != known_.end()) continue;
    std::string message = "unknown key " + Quote(entry.key);
    if (std::optional<std::string> guess = ClosestMatch(entry.key, known_)) {
      message += " (did you mean " + Quote(*guess) + "?)";
    }
    source_->Report(entry.key_node.Mark(), JoinPath(path_, entry.key), std::move(message));
  }
}

}  // namespace config
