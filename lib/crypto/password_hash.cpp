#include "crypto/password_hash.h"

#include <argon2.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace crypto {
namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

std::string CostText(const Argon2Cost& cost) {
  return "m=" + std::to_string(cost.memory_kib) + ",t=" + std::to_string(cost.iterations) +
         ",p=" + std::to_string(cost.parallelism);
}

// A salt must never repeat; without the kernel's randomness there is no safe
// fallback, and getrandom(2) only fails for a bug (bad flags) or on a kernel
// older than 3.17.
std::array<unsigned char, kSaltBytes> RandomSalt() {
  std::array<unsigned char, kSaltBytes> salt{};
  std::size_t filled = 0;
  while (filled < salt.size()) {
    const ssize_t n = ::getrandom(salt.data() + filled, salt.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    }
    filled += std::size_t(n);
  }
  return salt;
}

}  // namespace

core::Result<std::string> HashPassword(std::string_view password, const Argon2Cost& cost) {
  // Checked here for messages that say which number is wrong; libargon2
  // would refuse them too.
  if (cost.iterations < 1 || cost.parallelism < 1 ||
      cost.memory_kib < std::uint64_t(8) * cost.parallelism) {
    return core::Unexpected(core::InvalidArgument(
        "password hash: bad Argon2id cost " + CostText(cost) +
        ": iterations and parallelism must be at least 1 and memory at least 8 KiB per lane"));
  }
  const auto salt = RandomSalt();
  std::string encoded(argon2_encodedlen(cost.iterations, cost.memory_kib, cost.parallelism,
                                        kSaltBytes, kHashBytes, Argon2_id),
                      '\0');
  const int status = argon2id_hash_encoded(cost.iterations, cost.memory_kib, cost.parallelism,
                                           password.data(), password.size(), salt.data(),
                                           salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (status != ARGON2_OK) {
    const bool memory = status == ARGON2_MEMORY_ALLOCATION_ERROR;
    return core::Unexpected(core::Error{
        memory ? core::ErrorKind::kInternal : core::ErrorKind::kInvalidArgument,
        "password hash: Argon2id " + CostText(cost) + ": " + argon2_error_message(status), memory});
  }
  // argon2_encodedlen counts the terminating NUL and is an upper bound.
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool VerifyPassword(std::string_view encoded, std::string_view password) {
  // libargon2 reads a C string; an embedded NUL would cut it short.
  if (encoded.find('\0') != std::string_view::npos) return false;
  const std::string text(encoded);
  return argon2id_verify(text.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace crypto
