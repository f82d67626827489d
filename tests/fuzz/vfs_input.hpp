// The input format of the encrypted-VFS fuzz target, shared with its seed maker:
//   input := envelope:136 db_len:u32 (big-endian; top bit: the tail is a rollback journal,
//            not a WAL) db:db_len tail
// A short input is all envelope; db_len is clamped to what is there. Every file is unlocked
// with the one fixed key below (a key-file credential, so no Argon2 per run).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fieldsync/crypto/keys.hpp"

namespace fieldsync::fuzz {

inline constexpr std::size_t kEnvelopeBytes = 136;
inline constexpr std::uint32_t kJournalFlag = 0x80000000u;

struct VfsInput {
  std::string_view envelope;
  std::string_view db;
  std::string_view tail;  // the -wal or -journal file; empty: none
  bool journal = false;
};

inline VfsInput split_vfs_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  VfsInput in;
  in.envelope = all.substr(0, kEnvelopeBytes);
  if (size < kEnvelopeBytes + 4) return in;
  const auto* p = data + kEnvelopeBytes;
  const std::uint32_t word =
      std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
  in.journal = (word & kJournalFlag) != 0;
  const std::string_view rest = all.substr(kEnvelopeBytes + 4);
  const std::size_t db_len = std::min<std::size_t>(word & ~kJournalFlag, rest.size());
  in.db = rest.substr(0, db_len);
  in.tail = rest.substr(db_len);
  return in;
}

inline std::string pack_vfs_input(std::string_view envelope, std::string_view db,
                                  std::string_view tail, bool journal) {
  std::string out(envelope);
  const std::uint32_t word = static_cast<std::uint32_t>(db.size()) | (journal ? kJournalFlag : 0);
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((word >> shift) & 0xff);
  out += db;
  out += tail;
  return out;
}

// The fixed key-file credential every input is opened with.
inline crypto::Credential fuzz_credential() {
  std::vector<std::uint8_t> key(32);
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0x5a ^ (i * 7));
  return crypto::Credential::raw_key(crypto::SecureBuffer::copy_of(key));
}

}  // namespace fieldsync::fuzz
