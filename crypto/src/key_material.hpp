// The page key of one database and the page sealing it is used for (internal to crypto/).
//
// A sealed page of `page_size` bytes:
//   [0, ps-40)        XChaCha20-Poly1305-IETF ciphertext of SQLite's usable page area
//   [ps-40, ps-16)    nonce, 24 random bytes, new on every write
//   [ps-16, ps)       Poly1305 tag
//   AD = db_id (16) || format version (1) || page number (4, big-endian)
// On open the reserved 40 bytes are handed back to SQLite as zeros.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/secure_buffer.hpp"

namespace fieldsync::crypto::detail {

inline constexpr std::size_t kNonceBytes = 24;
inline constexpr std::size_t kTagBytes = 16;
inline constexpr std::size_t kReservedBytes = kNonceBytes + kTagBytes;
inline constexpr std::uint8_t kPageFormat = 1;

struct KeyMaterial {
  DbId db_id{};
  std::uint32_t page_size = 0;
  SecureBuffer page_key;  // 32 bytes, read-only after construction

  // Seals page `pgno`: `plain` and `out` are page_size bytes and may not overlap.
  void seal(const std::uint8_t* plain, std::uint32_t pgno, std::uint8_t* out) const;
  // Opens page `pgno` in place. False (and the page zeroed) when authentication fails.
  bool open(std::uint8_t* page, std::uint32_t pgno) const;
};

// Derives the page key from `dek` (32 bytes).
std::shared_ptr<const KeyMaterial> make_key_material(const DbId& db_id, std::uint32_t page_size,
                                                     std::span<const std::uint8_t> dek);

// True for a page size the format allows (a power of two in 1024..65536).
bool valid_page_size(std::uint32_t page_size);

}  // namespace fieldsync::crypto::detail

namespace fieldsync::crypto::detail {

// Where `rekey` builds the database with the new DEK ("<db>.rekey", envelope "<db>.rekey.keys")
// before swapping it in; open_key finishes or discards what a crash left there.
inline std::string rekey_path(const std::string& db_path) { return db_path + ".rekey"; }

}  // namespace fieldsync::crypto::detail
