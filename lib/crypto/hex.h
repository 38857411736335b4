// Hex encoding of bytes (digests, signatures) for headers, logs and files.
// Pure functions; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace crypto {

// Lowercase hex, two characters per byte.
std::string Hex(const void* data, std::size_t size);
inline std::string Hex(std::string_view bytes) { return Hex(bytes.data(), bytes.size()); }
template <std::size_t N>
std::string Hex(const std::array<unsigned char, N>& bytes) {
  return Hex(bytes.data(), N);
}

// The bytes of a hex string (either case); nullopt for an odd length or a
// character that is not a hex digit.
std::optional<std::string> FromHex(std::string_view hex);

}  // namespace crypto
