// Argon2id hashing at small costs (m=1024, t=1) to keep the tests fast; the
// defaults are checked once, for the prefix they write.
#include "crypto/password_hash.h"

#include <catch2/catch.hpp>

namespace crypto {
namespace {

const Argon2Cost kCheap{1024, 1, 1};

TEST_CASE("password: a hash verifies its password and no other", "[password]") {
  auto hash = HashPassword("correct horse battery staple", kCheap);
  REQUIRE(hash);
  CHECK(VerifyPassword(*hash, "correct horse battery staple"));
  CHECK_FALSE(VerifyPassword(*hash, "correct horse battery stapler"));
  CHECK_FALSE(VerifyPassword(*hash, "Correct horse battery staple"));
  CHECK_FALSE(VerifyPassword(*hash, ""));
  CHECK(hash->find("correct") == std::string::npos);
}

TEST_CASE("password: the salt is fresh, so one password hashes differently", "[password]") {
  auto first = HashPassword("secret", kCheap);
  auto second = HashPassword("secret", kCheap);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first != *second);
  CHECK(VerifyPassword(*first, "secret"));
  CHECK(VerifyPassword(*second, "secret"));
}

TEST_CASE("password: the encoded string carries the cost", "[password]") {
  auto cheap = HashPassword("x", kCheap);
  REQUIRE(cheap);
  CHECK(cheap->rfind("$argon2id$v=19$m=1024,t=1,p=1$", 0) == 0);
  // 16 bytes of salt and 32 of hash, base64 without padding.
  const auto salt_at = cheap->find('$', 28) + 1;
  const auto hash_at = cheap->find('$', salt_at) + 1;
  CHECK(hash_at - salt_at - 1 == 22);
  CHECK(cheap->size() - hash_at == 43);

  auto lanes = HashPassword("x", Argon2Cost{2048, 2, 2});
  REQUIRE(lanes);
  CHECK(lanes->rfind("$argon2id$v=19$m=2048,t=2,p=2$", 0) == 0);
  CHECK(VerifyPassword(*lanes, "x"));

  auto owasp = HashPassword("x");
  REQUIRE(owasp);
  CHECK(owasp->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
  CHECK(VerifyPassword(*owasp, "x"));
}

TEST_CASE("password: a bad cost is an error that does not show the password", "[password]") {
  for (const Argon2Cost& cost : {Argon2Cost{15, 1, 2}, Argon2Cost{7, 1, 1}, Argon2Cost{1024, 0, 1},
                                 Argon2Cost{1024, 1, 0}}) {
    auto hash = HashPassword("hunter2", cost);
    REQUIRE_FALSE(hash);
    CHECK(hash.error().kind == core::ErrorKind::kInvalidArgument);
    CHECK_FALSE(hash.error().retryable);
    CHECK(hash.error().message.find("hunter2") == std::string::npos);
    CHECK(hash.error().message.find("m=" + std::to_string(cost.memory_kib)) != std::string::npos);
  }
  CHECK(HashPassword("x", Argon2Cost{16, 1, 2}));  // 8 KiB per lane is enough
}

TEST_CASE("password: an empty password hashes; the caller decides whether to allow it",
          "[password]") {
  auto hash = HashPassword("", kCheap);
  REQUIRE(hash);
  CHECK(VerifyPassword(*hash, ""));
  CHECK_FALSE(VerifyPassword(*hash, " "));
}

TEST_CASE("password: malformed or foreign hashes never verify", "[password]") {
  auto hash = HashPassword("pw", kCheap);
  REQUIRE(hash);
  std::string flipped = *hash;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  std::string argon2i = *hash;
  argon2i.replace(0, 9, "$argon2i");
  for (const std::string& bad :
       {std::string(), std::string("pw"), std::string("$argon2id$"), hash->substr(0, 40), flipped,
        argon2i, *hash + std::string("\0x", 2), *hash + "$"}) {
    INFO(bad);
    CHECK_FALSE(VerifyPassword(bad, "pw"));
  }
}

}  // namespace
}  // namespace crypto
