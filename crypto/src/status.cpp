// Names of the error registry's codes, as they appear on the wire and in the CLI.
#include "fieldsync/status.hpp"

#include <array>

namespace fieldsync {
namespace {
constexpr std::array<std::string_view, 34> kNames = {"ok",
                                                     "malformed_frame",
                                                     "frame_too_large",
                                                     "unsupported_version",
                                                     "unexpected_message",
                                                     "unknown_collection",
                                                     "unknown_field",
                                                     "wrong_type",
                                                     "invalid_id",
                                                     "append_only",
                                                     "deleted",
                                                     "not_found",
                                                     "storage",
                                                     "unreachable",
                                                     "refused",
                                                     "invalid_argument",
                                                     "internal",
                                                     "wrong_passphrase",
                                                     "tampered",
                                                     "locked",
                                                     "busy",
                                                     "unknown_device",
                                                     "revoked",
                                                     "bad_signature",
                                                     "code_invalid",
                                                     "code_expired",
                                                     "code_used",
                                                     "out_of_scope",
                                                     "forbidden",
                                                     "lease_expired",
                                                     "untrusted_server",
                                                     "chain_broken",
                                                     "disk_full",
                                                     "changed"};
}  // namespace

std::string_view code_name(Code c) {
  auto i = static_cast<std::size_t>(c);
  return i < kNames.size() ? kNames[i] : "internal";
}

Code code_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<Code>(i);
  return Code::internal;
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace fieldsync
