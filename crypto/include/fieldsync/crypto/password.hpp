// Password hashes for people who log in to the server (the dashboard): Argon2id through
// libsodium's crypto_pwhash_str. The hash string carries the algorithm, its parameters and
// the salt, so it verifies on its own and a later, stronger level does not break old ones.
//
// Thread safety: safe to call from any thread. Each call costs the KDF's memory and time
// (64 MiB and a fraction of a second at the interactive level).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::crypto {

// The encoded hash of `password` ("$argon2id$v=19$m=...,t=...,p=1$salt$hash"). Code::internal
// when the KDF cannot run (out of memory).
Result<std::string> hash_password(std::span<const std::uint8_t> password, const KdfLimits& limits);
// Whether `password` matches `hash`; false also for a hash that is not one.
bool verify_password(const std::string& hash, std::span<const std::uint8_t> password);

}  // namespace fieldsync::crypto
