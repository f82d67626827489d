// Errors as values for every fieldsync library (it sits in the lowest layer, crypto, so that
// all can use it): one registry of error codes for the whole protocol and every boundary.
// Expected failures (bad input, refused writes, unreachable peers) are returned as Status or
// Result<T>; asserts are kept for programmer errors.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace fieldsync {

// The registry. Values are stable: they travel in error frames and in the outbox's reasons.
// Add at the end; never renumber.
enum class Code : int {
  ok = 0,
  malformed_frame = 1,      // not valid JSON, or a required key missing / of the wrong type
  frame_too_large = 2,      // over the protocol's frame size limit
  unsupported_version = 3,  // the peer speaks a protocol version we do not
  unexpected_message = 4,   // a message that is not valid in the session's current state
  unknown_collection = 5,
  unknown_field = 6,
  wrong_type = 7,   // a value of the wrong type for its field
  invalid_id = 8,   // a record id outside 1-64 chars of A-Za-z0-9._-
  append_only = 9,  // an edit or delete of an append-only record
  deleted = 10,     // an edit of a record that is already deleted (locally)
  not_found = 11,
  storage = 12,           // the store failed (I/O error, corrupt file; a full disk: disk_full)
  unreachable = 13,       // the server could not be reached in time
  refused = 14,           // the server refused this device
  invalid_argument = 15,  // a caller error at an API or command-line boundary
  internal = 16,
  wrong_passphrase = 17,  // the passphrase or key file does not unlock the database's key
  tampered = 18,          // an encrypted database or its key envelope failed authentication
  locked = 19,            // the replica is locked (idle): unlock it with the passphrase
  busy = 20,              // another process holds what this operation needs exclusively
  unknown_device = 21,    // the server has no enrolled device with this id
  revoked = 22,           // the device was revoked: refused, and told to wipe its replica
  bad_signature = 23,     // an authentication answer or signature does not verify
  code_invalid = 24,      // an enrolment code that does not exist (or was mistyped)
  code_expired = 25,      // an enrolment code past its expiry
  code_used = 26,         // an enrolment code that was already redeemed
  out_of_scope = 27,      // a record outside the writer's scope (its cases and shares)
  forbidden = 28,         // the user's role does not allow this
  lease_expired = 29,     // the device has not checked in within its offline lease
  untrusted_server = 30,  // the server's TLS certificate did not verify
  chain_broken = 31,      // a push does not continue the chain the server holds for the device
  disk_full = 32,  // the disk under a database is full: nothing more is stored until space is freed
  changed = 33,    // what a decision was based on changed since it was read: read it again
};

// Whether `c` says that a store itself failed (storage, disk_full), as opposed to refusing
// its input: such a failure rolls the whole transaction back, and is never recorded as an
// operation's refusal (the operation is sent again later).
inline bool is_store_failure(Code c) { return c == Code::storage || c == Code::disk_full; }

// The wire and CLI name of a code ("unknown_field", ...).
std::string_view code_name(Code c);
// Parses a name written by code_name; unknown names map to Code::internal.
Code code_from_name(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::ok; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "unknown_field: cases has no field 'colour'"
  std::string to_string() const;

 private:
  Code code_ = Code::ok;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}       // NOLINT(google-explicit-constructor)
  Result(Status error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  // The error; an ok Status when there is a value. The reference lives as long as the Result.
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace fieldsync
