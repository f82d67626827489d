// The parts of SQLite's WAL file format the encrypting VFS and `check` need (internal).
//
//   wal    := header:32 frame*
//   header := magic:u32 version:u32 page_size:u32 ckpt_seq:u32 salt:8 checksum:8
//   frame  := frame_header:24 page:page_size
//   frame_header := pgno:u32 commit_size:u32 (0 unless a commit frame) salt:8 checksum:8
#pragma once

#include <cstdint>
#include <functional>

#include "key_material.hpp"

namespace fieldsync::crypto::detail {

inline constexpr std::int64_t kWalHeaderBytes = 32;
inline constexpr std::int64_t kWalFrameHeaderBytes = 24;

inline std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

// Reads exactly n bytes at offset; false when the file is shorter or on error.
using ReadAt = std::function<bool(std::int64_t offset, std::uint8_t* buf, std::size_t n)>;

// True when some frame after `frame` carries the WAL header's salts, is a commit frame and
// authenticates: then `frame` belonged to a committed transaction and cannot be a torn tail.
bool authentic_commit_after(const ReadAt& read, std::int64_t file_size, const KeyMaterial& key,
                            std::int64_t frame);

}  // namespace fieldsync::crypto::detail
