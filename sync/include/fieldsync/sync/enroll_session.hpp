// The device side of enrolment as a sans-I/O exchange: one enroll frame out (the device id,
// its Ed25519 public key, the one-time code an admin handed out), one answer in: enrolled
// (the user the device now belongs to) or a fatal error naming the code's problem.
//
// Thread safety: none; one thread at a time.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::sync {

class EnrollSession {
 public:
  EnrollSession(std::string device, const crypto::PublicKey& key, std::string code);

  std::string start() const;
  // nullopt: not an answer yet (keep reading); otherwise the outcome, after which the server
  // closes the connection.
  std::optional<Result<Enrolled>> on_frame(std::string_view frame) const;

 private:
  Enroll enroll_;
};

}  // namespace fieldsync::sync
