#include "crypto/sha256.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "crypto/hex.h"

namespace crypto {

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
  ~Context() { EVP_MD_CTX_free(md); }
};

namespace {

[[noreturn]] void OpensslFailed(const char* what) {
  throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

void Start(EVP_MD_CTX* md) {
  if (EVP_DigestInit_ex(md, EVP_sha256(), nullptr) != 1) OpensslFailed("SHA-256 init");
}

}  // namespace

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  context_->md = EVP_MD_CTX_new();
  if (context_->md == nullptr) OpensslFailed("EVP_MD_CTX_new");
  Start(context_->md);
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::string_view data) { Update(data.data(), data.size()); }

void Sha256::Update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(context_->md, data, size) != 1) OpensslFailed("SHA-256 update");
}

Digest Sha256::Finish() {
  Digest digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_->md, digest.data(), &length) != 1 || length != digest.size()) {
    OpensslFailed("SHA-256 final");
  }
  Start(context_->md);
  return digest;
}

Digest Sha256Of(std::string_view data) {
  Digest digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    OpensslFailed("SHA-256");
  }
  return digest;
}

std::string Sha256Hex(std::string_view data) { return Hex(Sha256Of(data)); }

core::Result<std::string> Sha256OfFile(const std::filesystem::path& file) {
  auto failed = [&](const char* what) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo,
                    std::string(what) + " " + file.string() + ": " + std::strerror(errno), false});
  };
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failed("cannot open");
  Sha256 sha;
  std::array<char, 64 * 1024> buffer;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      auto error = failed("cannot read");
      ::close(fd);
      return error;
    }
    if (n == 0) break;
    sha.Update(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return Hex(sha.Finish());
}

Digest HmacSha256(std::string_view key, std::string_view message) {
  Digest digest{};
  std::size_t length = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                digest.data(), digest.size(), &length) == nullptr ||
      length != digest.size()) {
    OpensslFailed("HMAC-SHA256");
  }
  return digest;
}

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  return Hex(HmacSha256(key, message));
}

bool SameSecret(std::string_view guess, std::string_view secret) {
  const Digest a = Sha256Of(guess);
  const Digest b = Sha256Of(secret);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace crypto
