// Sizes in the config: byte counts with an optional unit, parsed once by the
// config loader like durations (see time.h).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/result.h"

namespace core {

// "4096", "512KiB", "64MiB", "4GiB", "1TiB" (powers of 1024), "500kB", "20MB",
// "1GB", "2TB" (powers of 1000), "100B". Units are case-sensitive; a space
// between the number and its unit is allowed. A fraction is accepted only
// when it comes to a whole number of bytes ("1.5GiB", "0.5KiB", but not
// "1.5B" or "0.1KiB"). Negative sizes and sizes past 2^64 - 1 bytes are
// refused. A wrong unit comes back with a suggestion ("did you mean 'MB' or
// 'MiB'?"). The error message reads "bad size '<text>': <reason>".
Result<std::uint64_t> ParseSize(std::string_view text);

}  // namespace core
