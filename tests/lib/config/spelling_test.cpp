#include "config/spelling.h"

#include <catch2/catch.hpp>

namespace config {
namespace {

TEST_CASE("EditDistance counts swaps as one edit", "[config]") {
  CHECK(EditDistance("", "") == 0);
  CHECK(EditDistance("abc", "") == 3);
  CHECK(EditDistance("timout", "timeout") == 1);
  CHECK(EditDistance("tiemout", "timeout") == 1);
  CHECK(EditDistance("timeoutt", "timeout") == 1);
  CHECK(EditDistance("kitten", "sitting") == 3);
  CHECK(EditDistance("late", "stale") == 3);
}

TEST_CASE("ClosestMatch suggests only plausible typos", "[config]") {
  const std::vector<std::string> keys = {"timeout", "every", "cron", "retries", "jitter"};
  CHECK(ClosestMatch("timout", keys) == "timeout");
  CHECK(ClosestMatch("evrey", keys) == "every");
  CHECK(ClosestMatch("corn", keys) == "cron");
  CHECK(ClosestMatch("retires", keys) == "retries");
  CHECK_FALSE(ClosestMatch("colour", keys));
  CHECK_FALSE(ClosestMatch("c", {"a", "b"}));          // a full replacement is no typo
  CHECK_FALSE(ClosestMatch("timeout", {"timeout"}));   // itself is no suggestion
  CHECK(ClosestMatch("ab", {"abc", "abd"}) == "abc");  // ties: the first
}

}  // namespace
}  // namespace config
