// SecureBuffer: sodium_malloc'ed memory, wiped by sodium_free.
#include "fieldsync/crypto/secure_buffer.hpp"

#include <sodium.h>

#include <cstring>
#include <new>
#include <utility>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::crypto {

SecureBuffer::SecureBuffer(std::size_t size) {
  if (size == 0) return;
  init_sodium();
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size));
  if (!data_) throw std::bad_alloc();
  size_ = size;
  sodium_memzero(data_, size_);
}

SecureBuffer SecureBuffer::copy_of(std::span<const std::uint8_t> bytes) {
  SecureBuffer b(bytes.size());
  if (!bytes.empty()) std::memcpy(b.data_, bytes.data(), bytes.size());
  return b;
}

SecureBuffer SecureBuffer::take(std::string& text) {
  SecureBuffer b = copy_of({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  sodium_memzero(text.data(), text.size());
  text.clear();
  return b;
}

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecureBuffer::~SecureBuffer() { release(); }

void SecureBuffer::make_read_only() {
  if (data_) sodium_mprotect_readonly(data_);
}

void SecureBuffer::release() {
  if (!data_) return;
  sodium_mprotect_readwrite(data_);
  sodium_free(data_);  // wipes before unmapping
  data_ = nullptr;
  size_ = 0;
}

}  // namespace fieldsync::crypto
