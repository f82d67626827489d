// Scanning a sealed WAL for authentic commit frames.
#include "wal_format.hpp"

#include <sodium.h>

#include <cstring>
#include <vector>

namespace fieldsync::crypto::detail {

bool authentic_commit_after(const ReadAt& read, std::int64_t file_size, const KeyMaterial& key,
                            std::int64_t frame) {
  const std::int64_t frame_bytes = kWalFrameHeaderBytes + key.page_size;
  std::uint8_t header[kWalHeaderBytes];
  if (!read(0, header, sizeof header)) return false;
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(frame_bytes));
  bool found = false;
  for (std::int64_t k = frame + 1; !found; ++k) {
    std::int64_t off = kWalHeaderBytes + k * frame_bytes;
    if (off + frame_bytes > file_size || !read(off, buf.data(), buf.size())) break;
    if (std::memcmp(buf.data() + 8, header + 16, 8) != 0) break;  // an older generation
    if (be32(buf.data() + 4) == 0) continue;                      // not a commit frame
    found = key.open(buf.data() + kWalFrameHeaderBytes, be32(buf.data()));
  }
  sodium_memzero(buf.data(), buf.size());
  return found;
}

}  // namespace fieldsync::crypto::detail
