#include "core/size.h"

#include <cctype>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace core {
namespace {

// Wide enough for a 20-digit count times the largest unit (2^40), and for
// a 24-digit fraction times it, so no product below can overflow.
__extension__ typedef unsigned __int128 Wide;

struct Unit {
  std::string_view name;
  std::uint64_t bytes;
};

constexpr Unit kUnits[] = {
    {"B", 1},
    {"kB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {"TB", 1000ULL * 1000 * 1000 * 1000},
    {"KiB", 1ULL << 10},
    {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},
    {"TiB", 1ULL << 40},
};
constexpr std::string_view kUnitList = "B kB MB GB TB KiB MiB GiB TiB";
// More digits after the point than any real size needs; it also bounds the
// fraction so that the products stay inside Wide.
constexpr std::size_t kMaxFractionDigits = 24;

std::string Quote(std::string_view text) { return fmt::format("'{}'", text); }

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Units that the user probably meant by `name`: the same letters in another
// case ("mb" -> MB), the binary unit of the same prefix ("KB" -> KiB) and
// units that start with it ("G" -> GB, GiB).
std::string Suggest(std::string_view name) {
  const std::string lower = Lower(name);
  std::vector<std::string_view> picks;
  for (const Unit& unit : kUnits) {
    const std::string candidate = Lower(unit.name);
    const bool binary_of_same_prefix =
        lower.size() == 2 && lower[1] == 'b' && candidate == std::string{lower[0]} + "ib";
    if (candidate == lower || binary_of_same_prefix || candidate.starts_with(lower)) {
      picks.push_back(unit.name);
    }
  }
  if (picks.empty()) return " (units: " + std::string(kUnitList) + ")";
  std::string out = " (did you mean ";
  for (std::size_t i = 0; i < picks.size(); ++i) {
    if (i > 0) out += i + 1 == picks.size() ? " or " : ", ";
    out += Quote(picks[i]);
  }
  return out + "?)";
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<std::uint64_t> ParseSize(std::string_view text) {
  if (text.empty()) return Unexpected(InvalidArgument("empty size"));
  const auto fail = [&](std::string_view reason) {
    return Unexpected(InvalidArgument("bad size " + Quote(text) + ": " + std::string(reason)));
  };
  if (text.front() == '-') return fail("a size cannot be negative");
  if (!IsDigit(text.front())) {
    return fail("expected a byte count or a number with a unit, like 512KiB, 64MiB, 4GiB");
  }

  constexpr Wide kMax = std::numeric_limits<std::uint64_t>::max();
  std::size_t pos = 0;
  Wide whole = 0;
  for (; pos < text.size() && IsDigit(text[pos]); ++pos) {
    whole = whole * 10 + static_cast<unsigned>(text[pos] - '0');
    if (whole > kMax) return fail("too large (the most is 18446744073709551615 bytes)");
  }
  std::string_view fraction;
  if (pos < text.size() && text[pos] == '.') {
    const std::size_t first = ++pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    fraction = text.substr(first, pos - first);
    if (fraction.empty()) return fail("expected digits after the point");
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    if (fraction.size() > kMaxFractionDigits) return fail("too many digits after the point");
  }
  while (pos < text.size() && text[pos] == ' ') ++pos;

  const std::string_view name = text.substr(pos);
  std::uint64_t unit = 1;
  if (!name.empty()) {
    const Unit* found = nullptr;
    for (const Unit& candidate : kUnits) {
      if (candidate.name == name) found = &candidate;
    }
    if (found == nullptr) return fail("unknown unit " + Quote(name) + Suggest(name));
    unit = found->bytes;
  }

  Wide total = whole * unit;
  if (!fraction.empty()) {
    Wide numerator = 0;
    Wide denominator = 1;
    for (const char c : fraction) {
      numerator = numerator * 10 + static_cast<unsigned>(c - '0');
      denominator *= 10;
    }
    numerator *= unit;
    if (numerator % denominator != 0) return fail("not a whole number of bytes");
    total += numerator / denominator;
  }
  if (total > kMax) return fail("too large (the most is 18446744073709551615 bytes)");
  return static_cast<std::uint64_t>(total);
}

}  // namespace core
