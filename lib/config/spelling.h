// Did-you-mean suggestions for misspelt keys, job names and job types.
//
// Pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace config {

// The edit distance between `a` and `b` counting insertions, deletions,
// substitutions and swaps of neighbouring characters ("timout", "tiemout" and
// "timeoutt" are all 1 away from "timeout").
std::size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if one is close enough to be a plausible
// typo: at most 1 edit for short words, up to a third of the length for
// longer ones. Ties go to the earlier candidate.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace config
