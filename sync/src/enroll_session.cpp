// The device side of enrolment (enroll_session.hpp).
#include "fieldsync/sync/enroll_session.hpp"

#include <utility>

namespace fieldsync::sync {

EnrollSession::EnrollSession(std::string device, const crypto::PublicKey& key, std::string code)
    : enroll_{std::move(device), crypto::to_hex(key), std::move(code), kProtocolVersion} {}

std::string EnrollSession::start() const { return encode(enroll_); }

std::optional<Result<Enrolled>> EnrollSession::on_frame(std::string_view frame) const {
  auto m = decode(frame);
  if (!m) return Result<Enrolled>(m.status());
  if (const auto* e = std::get_if<Enrolled>(&*m)) return Result<Enrolled>(*e);
  if (const auto* err = std::get_if<Error>(&*m)) {
    if (!err->fatal) return std::nullopt;
    return Result<Enrolled>(Status(err->code, err->message));
  }
  return Result<Enrolled>(
      Status(Code::unexpected_message, "the server answered an enroll with something else"));
}

}  // namespace fieldsync::sync
