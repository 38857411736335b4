#include "core/size.h"

#include <catch2/catch.hpp>

#include <cstdint>

TEST_CASE("sizes parse as byte counts or with units", "[core]") {
  struct Case {
    const char* text;
    std::uint64_t expected;
  };
  const Case cases[] = {
      {"0", 0},
      {"4096", 4096},
      {"100B", 100},
      {"512KiB", 512ULL << 10},
      {"64MiB", 64ULL << 20},
      {"4GiB", 4ULL << 30},
      {"1TiB", 1ULL << 40},
      {"500kB", 500'000},
      {"20MB", 20'000'000},
      {"1GB", 1'000'000'000},
      {"2TB", 2'000'000'000'000},
      {"64 MiB", 64ULL << 20},
      {"1.5GiB", 1536ULL << 20},
      {"0.5KiB", 512},
      {"2.50MB", 2'500'000},
      {"1.0", 1},
      {"0.0009765625MiB", 1024},
      {"18446744073709551615", 18446744073709551615ULL},
      {"18446744073709551615B", 18446744073709551615ULL},
      {"16777215.5TiB", 18446743523953737728ULL},
      {"007KiB", 7ULL << 10},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const auto size = core::ParseSize(c.text);
    REQUIRE(size);
    CHECK(*size == c.expected);
  }
}

TEST_CASE("bad sizes say what is wrong", "[core]") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty size"},
      {"abc", "bad size 'abc': expected a byte count or a number with a unit, like 512KiB"},
      {"-5MiB", "bad size '-5MiB': a size cannot be negative"},
      {"+5MiB", "expected a byte count or a number with a unit"},
      {".5KiB", "expected a byte count or a number with a unit"},
      {"5.KiB", "expected digits after the point"},
      {"1.5B", "bad size '1.5B': not a whole number of bytes"},
      {"0.1KiB", "not a whole number of bytes"},
      {"1.5", "not a whole number of bytes"},
      {"18446744073709551616", "too large"},
      {"99999999999999999999999", "too large"},
      {"16777216TiB", "too large"},
      {"18446744073709551615.5KiB", "too large"},
      {"1.0000000000000000000000001KiB", "too many digits after the point"},
      {"5mb", "unknown unit 'mb' (did you mean 'MB' or 'MiB'?)"},
      {"5KB", "unknown unit 'KB' (did you mean 'kB' or 'KiB'?)"},
      {"5G", "unknown unit 'G' (did you mean 'GB' or 'GiB'?)"},
      {"5kib", "unknown unit 'kib' (did you mean 'KiB'?)"},
      {"5b", "unknown unit 'b' (did you mean 'B'?)"},
      {"5 bytes", "unknown unit 'bytes' (units: B kB MB GB TB KiB MiB GiB TiB)"},
      {"5MiB ", "unknown unit 'MiB '"},
      {"5PiB", "unknown unit 'PiB'"},
      {"1,5GiB", "unknown unit ',5GiB'"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const auto size = core::ParseSize(c.text);
    REQUIRE_FALSE(size);
    CHECK_THAT(size.error().message, Catch::Contains(c.message));
  }
}
