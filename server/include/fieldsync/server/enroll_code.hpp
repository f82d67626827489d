// Enrolment codes: short one-time codes a person reads off an admin's screen and types on a
// new device. 12 characters from a 32-symbol alphabet without 0, 1, I and O (60 random bits),
// shown in groups of four: "7KQM-2XHD-R9TB". Typing is forgiving: case, dashes and spaces are
// ignored. The server keeps only a keyed hash of each code (Directory).
//
// Thread safety: pure functions; `random` is the caller's to share safely.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::server {

inline constexpr std::string_view kEnrollCodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
inline constexpr std::size_t kEnrollCodeChars = 12;

// A new code in canonical form (12 characters, no dashes).
std::string make_enroll_code(crypto::Random& random);
// The canonical form grouped for people: "XXXX-XXXX-XXXX".
std::string format_enroll_code(std::string_view canonical);
// The canonical form of what someone typed (lower case, dashes and spaces allowed); nullopt
// when it is not 12 characters of the alphabet.
std::optional<std::string> normalize_enroll_code(std::string_view typed);

}  // namespace fieldsync::server
