// SHA-256 and HMAC-SHA256 on OpenSSL 3's EVP interface, and a comparison of
// secrets that takes the same time however much of a guess is right.
//
// Sha256 hashes content that arrives in pieces (a multi-GiB backup read in
// chunks) without holding it; the one-shot functions are for what is already
// in memory (a request body, a token).
//
// Any thread; one Sha256 object is used by one thread at a time. A Sha256
// owns its OpenSSL digest context. Failure: OpenSSL failing to hash means
// memory or the library is gone, which is no expected failure; it throws
// std::runtime_error, as for any bug or exhausted resource.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace crypto {

using Digest = std::array<unsigned char, 32>;

// Incremental SHA-256: Update() any number of times, then Finish() once.
// Move-only.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  void Update(const void* data, std::size_t size);
  // The digest of everything given so far. After Finish(), Update() and
  // Finish() start over on an empty message.
  Digest Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

Digest Sha256Of(std::string_view data);
// The lowercase hex SHA-256 of `data` ("e3b0c442..." for "").
std::string Sha256Hex(std::string_view data);
// The lowercase hex SHA-256 of a file, read in pieces (memory stays flat).
// Blocking. A file that cannot be opened or read is an Error (kIo, not
// retryable) naming it.
core::Result<std::string> Sha256OfFile(const std::filesystem::path& file);

// HMAC-SHA256 (RFC 2104) of `message` under `key`; keys of any length.
Digest HmacSha256(std::string_view key, std::string_view message);
std::string HmacSha256Hex(std::string_view key, std::string_view message);

// Equal without revealing, through timing, how much of `guess` was right:
// both sides are hashed first, so not even the lengths are compared directly.
// For tokens and signatures received from outside.
bool SameSecret(std::string_view guess, std::string_view secret);

}  // namespace crypto
