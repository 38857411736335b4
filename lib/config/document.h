// Turns config text into one YAML document that is safe to read: syntax
// checked, free of duplicate keys, with `${VAR}` references expanded. The
// document is a YamlTree built from yaml-cpp's parser events; the items of
// the top-level `jobs:` list can be handed over one by one while the text is
// parsed (JobsStream), so that a big config is read job by job instead of
// as one tree.
//
// yaml-cpp accepts duplicate keys silently (later lookups see the first one)
// and knows nothing of environment variables, so this pass walks the whole
// tree once before any typed reading. It rewrites scalar values in place
// (keys are left as written) and reports each problem at its position:
//   - YAML syntax errors (yaml-cpp stops at the first one)
//   - more than one document in the file
//   - a key that is not a plain string, or appears twice in one mapping
//   - a `${VAR}` that cannot be expanded
// A `${...}` reference may stand unquoted inside a flow collection, as the
// documented example writes it (`{type: slack, webhook_url: ${URL}}`), even
// though YAML proper would end the scalar at the '}'. The braces of such
// references are swapped for placeholder bytes of the same length before
// parsing (so positions stay right) and swapped back in every scalar after.
//
// yaml-cpp's exceptions end here: garbage input yields diagnostics, never a
// throw. Single thread.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "config/config_source.h"
#include "config/env_expansion.h"
#include "config/yaml_tree.h"

namespace config {

// Hands over the items of the first top-level `jobs:` key while parsing, each
// already checked and expanded like the rest of the document. An item is
// dropped from the tree once on_item returns (unless it holds an anchor), so
// the root returned at the end lacks those items.
struct JobsStream {
  // The list starts; `before` holds the top-level entries that precede it.
  std::function<void(YamlNode before)> on_start;
  std::function<void(YamlNode item, std::size_t index)> on_item;
};

// The document's root node (Null for an empty file), or nullopt when the text
// is not YAML at all. Problems are reported to `source` either way. Nodes go
// into `tree`, which must outlive every use of them.
//
// libyaml reads a large text when it can vouch for the result (see
// document.cpp), yaml-cpp otherwise; small configs, where speed does not
// matter, always go to yaml-cpp. With a `stream`, libyaml is tried only when
// `redo_with_yaml_cpp` is given: should libyaml give up after jobs were handed
// over, it is set and nullopt returned, and the caller starts over with a
// fresh tree and without it.
enum class YamlParser {
  kAuto,          // libyaml for large texts (64 KiB and more) where it may
  kYamlCpp,       // yaml-cpp only
  kLibyamlFirst,  // libyaml wherever it may (tests that compare the two)
};
std::optional<YamlNode> ParseDocument(const std::string& text, YamlTree& tree, ConfigSource& source,
                                      const EnvLookup& env, const JobsStream* stream = nullptr,
                                      bool* redo_with_yaml_cpp = nullptr,
                                      YamlParser parser = YamlParser::kAuto);

}  // namespace config
