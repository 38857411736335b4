// Password hashing with Argon2id (RFC 9106) on Debian's libargon2, in the
// PHC string format that every Argon2 library reads back:
//
//   $argon2id$v=19$m=19456,t=2,p=1$<salt, base64>$<hash, base64>
//
// The string carries its own cost and salt, so a stored hash keeps verifying
// after the default cost is raised; store it as is.
//
// The password is a secret: the caller must never log it, put it in an error
// or keep it longer than the call. Nothing here does: no message this file
// makes contains the password or the hash.
//
// Cost: each HashPassword and VerifyPassword allocates memory_kib KiB for the
// length of the call (19 MiB by default) and keeps a core busy for tens of
// milliseconds; the cost of a verify is the one written in `encoded`. Several
// at once need that much memory each, so bound how many run together (a login
// endpoint should not start one per request without a limit), and verify
// only hashes this program wrote: a hostile string can ask for gigabytes.
//
// Pure functions; any thread, blocking (CPU and memory): worker pool only,
// never the loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace crypto {

// OWASP's minimum for Argon2id (the Password Storage Cheat Sheet): 19 MiB, 2
// passes, one lane.
struct Argon2Cost {
  std::uint32_t memory_kib = 19456;
  std::uint32_t iterations = 2;
  std::uint32_t parallelism = 1;
};

// The PHC string of `password` under a fresh random 16-byte salt (getrandom)
// and `cost`, with a 32-byte hash. A bad cost (no iterations, no lanes,
// memory below 8 KiB per lane) is kInvalidArgument; memory that cannot be
// allocated is kInternal, retryable. An empty password is hashed like any
// other: whether to allow one is the caller's rule.
core::Result<std::string> HashPassword(std::string_view password, const Argon2Cost& cost = {});

// Whether `password` matches `encoded` (a string HashPassword made, or any
// Argon2id PHC string). False for a wrong password and for a malformed or
// non-Argon2id string alike; the comparison takes the same time however much
// of the hash matches.
bool VerifyPassword(std::string_view encoded, std::string_view password);

}  // namespace crypto
