// Turns config text into one YAML document that is safe to read: syntax
// checked, free of duplicate keys, with `${VAR}` references expanded.
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

#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/config_source.h"
#include "config/env_expansion.h"

namespace config {

// The document's root node (Null for an empty file), or nullopt when the text
// is not YAML at all. Problems are reported to `source` either way.
std::optional<YAML::Node> ParseDocument(const std::string& text, ConfigSource& source,
                                        const EnvLookup& env);

}  // namespace config
