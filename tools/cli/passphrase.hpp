// Where the fieldsync CLI gets passphrases: from the environment variable named by
// --passphrase-env (for scripts and tests), or else typed at the terminal without echo.
// The text goes straight into locked memory (crypto::SecureBuffer); ordinary copies are wiped.
#pragma once

#include <string>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/secure_buffer.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::cli {

// New passphrases are at least this long.
inline constexpr std::size_t kMinPassphraseLength = 8;

// The value of `env_var` when it is given (an error when it is not set or empty), else the
// answer to `prompt` on the terminal (an error when there is no terminal).
Result<crypto::SecureBuffer> read_passphrase(const std::string& env_var, const std::string& prompt);
// As read_passphrase; at the terminal the passphrase is asked twice and must match. Shorter
// than kMinPassphraseLength is refused either way.
Result<crypto::SecureBuffer> read_new_passphrase(const std::string& env_var,
                                                 const std::string& prompt);
// "interactive" (default, libsodium's interactive Argon2id level) or "minimum" (tests only).
Result<crypto::KdfLimits> parse_kdf(const std::string& name);

}  // namespace fieldsync::cli
