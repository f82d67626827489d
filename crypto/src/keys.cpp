// Key envelopes: creating, unwrapping and rewrapping a database's DEK.
//
// Envelope file "<db>.keys", 136 bytes, integers big-endian:
//
//   envelope   := header wrapped
//   header     := magic:"FSYNCKEY" version:u8=1 kdf:u8 reserve:u8=40 zero:u8
//                 page_size:u32 db_id:16 opslimit:u64 memlimit:u64 salt:16 nonce:24
//   wrapped    := ciphertext:32 tag:16       (XChaCha20-Poly1305-IETF of the DEK)
//
//   kdf 1: KEK = Argon2id13(passphrase, salt, opslimit, memlimit)
//   kdf 2: KEK = the 32-byte key file; opslimit = memlimit = 0
//   AD of the wrap = the whole header (88 bytes): no field can change without failing the
//   unwrap, which therefore also reports a tampered envelope as a wrong passphrase.
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <span>
#include <vector>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/random.hpp"
#include "file_util.hpp"
#include "key_material.hpp"

namespace fieldsync::crypto {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'Y', 'N', 'C', 'K', 'E', 'Y'};
constexpr std::uint8_t kEnvelopeVersion = 1;
constexpr std::size_t kHeaderBytes = 88;
constexpr std::size_t kEnvelopeBytes = kHeaderBytes + 32 + 16;
constexpr std::size_t kKeyBytes = 32;
// Caps on stored Argon2 costs, so that an edited envelope cannot make opening exhaust memory.
constexpr std::uint64_t kMaxOpslimit = 32;
constexpr std::uint64_t kMaxMemlimit = std::uint64_t{4} << 30;

struct Envelope {
  Credential::Kind kdf = Credential::Kind::passphrase;
  std::uint32_t page_size = 0;
  DbId db_id{};
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
  std::array<std::uint8_t, 16> salt{};
  std::array<std::uint8_t, 24> nonce{};
  std::array<std::uint8_t, kKeyBytes + 16> wrapped{};
};

void put_be(std::uint8_t* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

std::uint64_t get_be(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

std::array<std::uint8_t, kEnvelopeBytes> encode(const Envelope& e) {
  std::array<std::uint8_t, kEnvelopeBytes> b{};
  std::uint8_t* p = b.data();
  std::memcpy(p, kMagic, 8);
  p[8] = kEnvelopeVersion;
  p[9] = static_cast<std::uint8_t>(e.kdf);
  p[10] = static_cast<std::uint8_t>(detail::kReservedBytes);
  p[11] = 0;
  put_be(p + 12, e.page_size, 4);
  std::memcpy(p + 16, e.db_id.data(), 16);
  put_be(p + 32, e.opslimit, 8);
  put_be(p + 40, e.memlimit, 8);
  std::memcpy(p + 48, e.salt.data(), 16);
  std::memcpy(p + 64, e.nonce.data(), 24);
  std::memcpy(p + kHeaderBytes, e.wrapped.data(), e.wrapped.size());
  return b;
}

Status malformed(const std::string& path, const std::string& why) {
  return Status(Code::tampered, "key envelope '" + path + "' is malformed: " + why);
}

Result<Envelope> decode(std::span<const std::uint8_t> b, const std::string& path) {
  if (b.size() != kEnvelopeBytes) return malformed(path, "wrong size");
  if (std::memcmp(b.data(), kMagic, 8) != 0) return malformed(path, "bad magic");
  if (b[8] != kEnvelopeVersion) return malformed(path, "unknown version");
  if (b[10] != detail::kReservedBytes || b[11] != 0) return malformed(path, "bad reserve");
  Envelope e;
  if (b[9] != 1 && b[9] != 2) return malformed(path, "unknown kdf");
  e.kdf = static_cast<Credential::Kind>(b[9]);
  e.page_size = static_cast<std::uint32_t>(get_be(b.data() + 12, 4));
  if (!detail::valid_page_size(e.page_size)) return malformed(path, "bad page size");
  std::memcpy(e.db_id.data(), b.data() + 16, 16);
  e.opslimit = get_be(b.data() + 32, 8);
  e.memlimit = get_be(b.data() + 40, 8);
  std::memcpy(e.salt.data(), b.data() + 48, 16);
  std::memcpy(e.nonce.data(), b.data() + 64, 24);
  std::memcpy(e.wrapped.data(), b.data() + kHeaderBytes, e.wrapped.size());
  return e;
}

Status check_limits(const Envelope& e, const std::string& path) {
  if (e.kdf == Credential::Kind::key_file)
    return e.opslimit == 0 && e.memlimit == 0 ? Status::ok() : malformed(path, "bad limits");
  if (e.opslimit < crypto_pwhash_OPSLIMIT_MIN || e.opslimit > kMaxOpslimit ||
      e.memlimit < crypto_pwhash_MEMLIMIT_MIN || e.memlimit > kMaxMemlimit)
    return malformed(path, "Argon2 limits out of range");
  return Status::ok();
}

// KEK for `e` from `cred`; an empty buffer when Argon2 fails (out of memory).
SecureBuffer derive_kek(const Envelope& e, const Credential& cred) {
  if (cred.kind() == Credential::Kind::key_file) return SecureBuffer::copy_of(cred.secret().span());
  SecureBuffer kek(kKeyBytes);
  const auto* pass = reinterpret_cast<const char*>(cred.secret().data());
  if (crypto_pwhash(kek.data(), kek.size(), pass, cred.secret().size(), e.salt.data(), e.opslimit,
                    static_cast<std::size_t>(e.memlimit), crypto_pwhash_ALG_ARGON2ID13) != 0)
    return {};
  return kek;
}

// Fills the salt, limits and nonce of `e` for `cred` and wraps `dek` into it.
Status wrap(Envelope& e, const Credential& cred, const SecureBuffer& dek) {
  e.kdf = cred.kind();
  randombytes_buf(e.salt.data(), e.salt.size());
  randombytes_buf(e.nonce.data(), e.nonce.size());
  e.opslimit = e.kdf == Credential::Kind::passphrase ? cred.limits().opslimit : 0;
  e.memlimit = e.kdf == Credential::Kind::passphrase ? cred.limits().memlimit : 0;
  SecureBuffer kek = derive_kek(e, cred);
  if (kek.empty()) return Status(Code::internal, "Argon2id failed (out of memory?)");
  auto header = encode(e);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
      e.wrapped.data(), e.wrapped.data() + kKeyBytes, nullptr, dek.data(), kKeyBytes, header.data(),
      kHeaderBytes, nullptr, e.nonce.data(), kek.data());
  return Status::ok();
}

Result<SecureBuffer> unwrap(const Envelope& e, const Credential& cred, const std::string& path) {
  if (e.kdf != cred.kind())
    return Status(Code::wrong_passphrase,
                  e.kdf == Credential::Kind::passphrase
                      ? "this database is unlocked by a passphrase, not a key file"
                      : "this database is unlocked by a key file, not a passphrase");
  if (cred.kind() == Credential::Kind::key_file && cred.secret().size() != kKeyBytes)
    return Status(Code::invalid_argument, "a key must be 32 bytes");
  if (Status s = check_limits(e, path); !s) return s;
  SecureBuffer kek = derive_kek(e, cred);
  if (kek.empty()) return Status(Code::internal, "Argon2id failed (out of memory?)");
  auto header = encode(e);
  SecureBuffer dek(kKeyBytes);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          dek.data(), nullptr, e.wrapped.data(), kKeyBytes, e.wrapped.data() + kKeyBytes,
          header.data(), kHeaderBytes, e.nonce.data(), kek.data()) != 0)
    return Status(Code::wrong_passphrase, cred.kind() == Credential::Kind::passphrase
                                              ? "wrong passphrase for '" + path + "'"
                                              : "the key file does not unlock '" + path + "'");
  return dek;
}

Result<Envelope> load(const std::string& db_path) {
  std::string path = envelope_path(db_path);
  auto bytes = detail::read_file(path);
  if (!bytes) {
    if (bytes.status().code() == Code::not_found)
      return Status(Code::not_found, "no key envelope '" + path + "' for '" + db_path + "'");
    return bytes.status();
  }
  return decode(*bytes, path);
}

Status store(const std::string& db_path, const Envelope& e) {
  auto bytes = encode(e);
  return detail::write_file_atomic(envelope_path(db_path), bytes);
}

Result<DatabaseKey> unlock(const std::string& db_path, const Credential& cred) {
  auto e = load(db_path);
  if (!e) return e.status();
  auto dek = unwrap(*e, cred, envelope_path(db_path));
  if (!dek) return dek.status();
  return DatabaseKey(detail::make_key_material(e->db_id, e->page_size, dek->span()));
}

// True when the first page of `db_path` authenticates under `key`.
bool page_one_matches(const std::string& db_path, const DatabaseKey& key) {
  auto bytes = detail::read_file(db_path);
  if (!bytes || bytes->size() < key.page_size()) return false;
  bool ok = key.material()->open(bytes->data(), 1);
  sodium_memzero(bytes->data(), bytes->size());
  return ok;
}

// A crash during rekey leaves "<db>.rekey.keys" behind. If "<db>.rekey" is still there the
// swap had not begun: discard both. Otherwise the database was already swapped in when its
// page 1 opens under the new envelope: install that envelope.
Status recover_rekey(const std::string& db_path, const Credential& cred) {
  std::string tmp_db = detail::rekey_path(db_path);
  std::string tmp_env = envelope_path(tmp_db);
  if (!detail::file_exists(tmp_env)) return Status::ok();
  if (!detail::file_exists(tmp_db)) {
    auto next = unlock(tmp_db, cred);
    if (next && page_one_matches(db_path, *next))
      return detail::rename_durable(tmp_env, envelope_path(db_path));
  }
  for (const char* suffix : {"", "-journal", "-wal", "-shm"})
    if (Status s = detail::remove_file(tmp_db + suffix); !s) return s;
  return detail::remove_file(tmp_env);
}

bool group_or_other_readable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0;
}

Result<SecureBuffer> parse_key_file(std::vector<std::uint8_t>& raw, const std::string& path) {
  if (raw.size() == kKeyBytes) return SecureBuffer::copy_of(raw);
  auto first = std::find_if_not(raw.begin(), raw.end(), [](auto c) { return std::isspace(c); });
  auto last = std::find_if_not(raw.rbegin(), raw.rend(), [](auto c) { return std::isspace(c); });
  std::size_t len = first < last.base() ? static_cast<std::size_t>(last.base() - first) : 0;
  SecureBuffer key(kKeyBytes);
  std::size_t out = 0;
  if (len != 2 * kKeyBytes ||
      sodium_hex2bin(key.data(), key.size(), reinterpret_cast<const char*>(&*first), len, nullptr,
                     &out, nullptr) != 0 ||
      out != kKeyBytes)
    return Status(Code::invalid_argument,
                  "key file '" + path + "' must hold 32 raw bytes or 64 hex digits");
  return key;
}

}  // namespace

KdfLimits KdfLimits::interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}
KdfLimits KdfLimits::minimum() { return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN}; }

Credential Credential::passphrase(SecureBuffer passphrase, KdfLimits limits) {
  return Credential(Kind::passphrase, std::move(passphrase), limits);
}

Credential Credential::raw_key(SecureBuffer key) {
  return Credential(Kind::key_file, std::move(key), {});
}

Result<Credential> Credential::from_key_file(const std::string& path) {
  if (group_or_other_readable(path))
    return Status(Code::invalid_argument,
                  "key file '" + path + "' is readable by group or others (chmod 600 it)");
  auto raw = detail::read_file(path);
  if (!raw) return raw.status();
  auto key = parse_key_file(*raw, path);
  sodium_memzero(raw->data(), raw->size());
  if (!key) return key.status();
  return raw_key(std::move(*key));
}

DatabaseKey::DatabaseKey(std::shared_ptr<const detail::KeyMaterial> material)
    : material_(std::move(material)) {}
const DbId& DatabaseKey::db_id() const { return material_->db_id; }
std::uint32_t DatabaseKey::page_size() const { return material_->page_size; }

std::string envelope_path(const std::string& db_path) { return db_path + ".keys"; }

Result<DatabaseKey> create_key(const std::string& db_path, const Credential& credential,
                               const KeyOptions& options) {
  init_sodium();
  if (!detail::valid_page_size(options.page_size))
    return Status(Code::invalid_argument, "page size must be a power of two in 1024..65536");
  if (detail::file_exists(db_path) || detail::file_exists(envelope_path(db_path)))
    return Status(Code::invalid_argument, "'" + db_path + "' or its key envelope already exists");
  Envelope e;
  e.page_size = options.page_size;
  randombytes_buf(e.db_id.data(), e.db_id.size());
  SecureBuffer dek(kKeyBytes);
  randombytes_buf(dek.data(), dek.size());
  if (Status s = wrap(e, credential, dek); !s) return s;
  if (Status s = store(db_path, e); !s) return s;
  return DatabaseKey(detail::make_key_material(e.db_id, e.page_size, dek.span()));
}

Result<DatabaseKey> open_key(const std::string& db_path, const Credential& credential) {
  init_sodium();
  if (Status s = recover_rekey(db_path, credential); !s) return s;
  return unlock(db_path, credential);
}

Status change_credential(const std::string& db_path, const Credential& current,
                         const Credential& next) {
  init_sodium();
  auto e = load(db_path);
  if (!e) return e.status();
  auto dek = unwrap(*e, current, envelope_path(db_path));
  if (!dek) return dek.status();
  if (Status s = wrap(*e, next, *dek); !s) return s;
  return store(db_path, *e);
}

Status write_key_file(const std::string& path) {
  init_sodium();
  if (detail::file_exists(path))
    return Status(Code::invalid_argument, "key file '" + path + "' already exists");
  SecureBuffer key(kKeyBytes);
  randombytes_buf(key.data(), key.size());
  SecureBuffer hex(2 * kKeyBytes + 1);
  sodium_bin2hex(reinterpret_cast<char*>(hex.data()), hex.size(), key.data(), key.size());
  hex.data()[2 * kKeyBytes] = '\n';
  return detail::write_file_atomic(path, hex.span(), 0600);
}

}  // namespace fieldsync::crypto
