// Locked, guarded memory for keys and passphrases.
//
// A SecureBuffer owns bytes allocated with libsodium's sodium_malloc: the pages are mlock'ed
// (kept out of swap where the system allows it), excluded from core dumps on Linux, and fenced
// by guard pages. The bytes are wiped when the buffer is freed. Move-only.
//
// Thread safety: a plain value; one thread at a time per buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fieldsync::crypto {

class SecureBuffer {
 public:
  SecureBuffer() = default;
  // `size` zero bytes; throws std::bad_alloc when locked memory cannot be allocated.
  explicit SecureBuffer(std::size_t size);
  // A copy of `bytes`.
  static SecureBuffer copy_of(std::span<const std::uint8_t> bytes);
  // Takes a passphrase typed or read into an ordinary string: copies it and wipes `text`
  // (best effort: copies the string made earlier, e.g. on reallocation, are out of reach).
  static SecureBuffer take(std::string& text);

  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  ~SecureBuffer();

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<std::uint8_t> span() { return {data_, size_}; }
  std::span<const std::uint8_t> span() const { return {data_, size_}; }
  // Makes the bytes read-only (a write then faults); for keys after they are set up.
  void make_read_only();

 private:
  void release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace fieldsync::crypto
