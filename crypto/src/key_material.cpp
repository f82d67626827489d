// Page sealing with XChaCha20-Poly1305-IETF (libsodium, detached tags).
#include "key_material.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::crypto::detail {
namespace {

using PageAd = std::array<std::uint8_t, 16 + 1 + 4>;

PageAd page_ad(const DbId& db_id, std::uint32_t pgno) {
  PageAd ad{};
  std::memcpy(ad.data(), db_id.data(), db_id.size());
  ad[16] = kPageFormat;
  ad[17] = static_cast<std::uint8_t>(pgno >> 24);
  ad[18] = static_cast<std::uint8_t>(pgno >> 16);
  ad[19] = static_cast<std::uint8_t>(pgno >> 8);
  ad[20] = static_cast<std::uint8_t>(pgno);
  return ad;
}

}  // namespace

void KeyMaterial::seal(const std::uint8_t* plain, std::uint32_t pgno, std::uint8_t* out) const {
  const std::size_t body = page_size - kReservedBytes;
  std::uint8_t* nonce = out + body;
  std::uint8_t* tag = nonce + kNonceBytes;
  randombytes_buf(nonce, kNonceBytes);
  PageAd ad = page_ad(db_id, pgno);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out, tag, nullptr, plain, body, ad.data(),
                                                      ad.size(), nullptr, nonce, page_key.data());
}

bool KeyMaterial::open(std::uint8_t* page, std::uint32_t pgno) const {
  const std::size_t body = page_size - kReservedBytes;
  std::uint8_t* nonce = page + body;
  std::uint8_t* tag = nonce + kNonceBytes;
  PageAd ad = page_ad(db_id, pgno);
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
      page, nullptr, page, body, tag, ad.data(), ad.size(), nonce, page_key.data());
  if (rc != 0) {
    sodium_memzero(page, page_size);
    return false;
  }
  sodium_memzero(nonce, kReservedBytes);
  return true;
}

std::shared_ptr<const KeyMaterial> make_key_material(const DbId& db_id, std::uint32_t page_size,
                                                     std::span<const std::uint8_t> dek) {
  init_sodium();
  auto m = std::make_shared<KeyMaterial>();
  m->db_id = db_id;
  m->page_size = page_size;
  m->page_key = SecureBuffer(crypto_kdf_KEYBYTES);
  crypto_kdf_derive_from_key(m->page_key.data(), m->page_key.size(), 1, "fspages1", dek.data());
  m->page_key.make_read_only();
  return m;
}

bool valid_page_size(std::uint32_t page_size) {
  return page_size >= 1024 && page_size <= 65536 && (page_size & (page_size - 1)) == 0;
}

}  // namespace fieldsync::crypto::detail
