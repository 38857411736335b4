#include "crypto/sha256.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "crypto/hex.h"

namespace {

std::string Bytes(std::string_view hex) { return crypto::FromHex(hex).value(); }

}  // namespace

TEST_CASE("SHA-256 of the NIST example messages", "[crypto]") {
  CHECK(crypto::Sha256Hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(crypto::Sha256Hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(crypto::Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("SHA-256 streamed in chunks equals the one-shot digest", "[crypto]") {
  // The million-'a' message, fed in uneven pieces as a file read would.
  const std::string chunk(999, 'a');
  crypto::Sha256 hash;
  std::size_t fed = 0;
  while (fed + chunk.size() <= 1'000'000) {
    hash.Update(chunk);
    fed += chunk.size();
  }
  hash.Update(std::string(1'000'000 - fed, 'a'));
  const crypto::Digest streamed = hash.Finish();
  CHECK(crypto::Hex(streamed) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(streamed == crypto::Sha256Of(std::string(1'000'000, 'a')));

  // Finish starts over.
  hash.Update("abc");
  CHECK(crypto::Hex(hash.Finish()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(crypto::Hex(hash.Finish()) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  crypto::Sha256 moved = std::move(hash);
  moved.Update(std::string_view("ab"));
  moved.Update("c", 1);
  CHECK(crypto::Hex(moved.Finish()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("HMAC-SHA256 matches RFC 4231", "[crypto]") {
  struct Case {
    const char* name;
    std::string key;
    std::string data;
    std::string mac;  // hex
  };
  const std::string key131(131, '\xaa');
  const Case cases[] = {
      {"case 1", std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"case 2", "Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"case 3", std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"case 4", Bytes("0102030405060708090a0b0c0d0e0f10111213141516171819"),
       std::string(50, '\xcd'), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {"case 6", key131, "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {"case 7", key131,
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
      // Not in the RFC: an empty key and message (a webhook secret may be "").
      {"empty", "", "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(crypto::HmacSha256Hex(c.key, c.data) == c.mac);
    CHECK(crypto::Hex(crypto::HmacSha256(c.key, c.data)) == c.mac);
  }
}

TEST_CASE("SameSecret compares secrets of any length", "[crypto]") {
  CHECK(crypto::SameSecret("s3cret", "s3cret"));
  CHECK(crypto::SameSecret("", ""));
  CHECK_FALSE(crypto::SameSecret("s3cre", "s3cret"));
  CHECK_FALSE(crypto::SameSecret("s3cret!", "s3cret"));
  CHECK_FALSE(crypto::SameSecret("S3cret", "s3cret"));
  CHECK_FALSE(crypto::SameSecret("", "s3cret"));
}

TEST_CASE("hex encodes and decodes", "[crypto]") {
  CHECK(crypto::Hex(std::string_view("\x00\x7f\x80\xff", 4)) == "007f80ff");
  CHECK(crypto::Hex("") == "");
  CHECK(crypto::FromHex("007F80ff") == std::string("\x00\x7f\x80\xff", 4));
  CHECK(crypto::FromHex("") == std::string());
  CHECK_FALSE(crypto::FromHex("abc").has_value());
  CHECK_FALSE(crypto::FromHex("zz").has_value());
}

TEST_CASE("SHA-256 of a file equals the digest of its content; a missing file is named",
          "[crypto]") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("jobsd-sha256-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string content(200000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31);
  std::ofstream(dir / "data.bin", std::ios::binary) << content;
  CHECK(crypto::Sha256OfFile(dir / "data.bin").value() == crypto::Sha256Hex(content));
  std::ofstream(dir / "empty.bin", std::ios::binary).flush();
  CHECK(crypto::Sha256OfFile(dir / "empty.bin").value() == crypto::Sha256Hex(""));
  const auto missing = crypto::Sha256OfFile(dir / "missing.bin");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == core::ErrorKind::kIo);
  CHECK_THAT(missing.error().message, Catch::Contains("missing.bin"));
  const auto folder = crypto::Sha256OfFile(dir);
  CHECK_FALSE(folder);  // a folder opens but cannot be read
  std::filesystem::remove_all(dir);
}
