// `${VAR}` references in config values, filled in from the environment.
//
//   ${NAME}            the variable's value; an error when it is not set
//   ${NAME:-fallback}  the value, or `fallback` when it is unset or empty
//   $$                 a literal '$'
// A '$' followed by anything else is kept as written ("cost $5"), so values
// that merely contain a dollar sign need no escaping.
//
// The environment is read through an injected lookup so that tests (and a
// reload that must see the same variables) never depend on the real one.
// Pure functions; any thread, provided the lookup is.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace config {

// Returns the value of an environment variable, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Reads the process environment with getenv.
EnvLookup ProcessEnvironment();

// Expands every reference in `text`. Fails with an InvalidArgument error that
// names the first problem: an unset variable without a fallback, a reference
// that is never closed, or a malformed name.
core::Result<std::string> ExpandVariables(std::string_view text, const EnvLookup& lookup);

}  // namespace config
