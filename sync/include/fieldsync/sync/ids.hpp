// Identifiers that are unique without coordination.
//  - A device id is 16 random bytes, written as 32 lowercase hex digits.
//  - An operation id is "<device id>.<counter>", the counter counting up from 1 on each
//    device: unique as long as device ids are, and ordered per device.
//  - Record ids are chosen by the caller: 1-64 characters of A-Za-z0-9._-.
// Randomness comes in through crypto::Random so that tests can be deterministic.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::sync {

using crypto::Random;

std::string new_device_id(Random& random);
// A random id usable as a record id (for notes and other generated records): 20 hex chars.
std::string new_record_id(Random& random);
std::string make_op_id(std::string_view device_id, std::uint64_t counter);

bool is_valid_device_id(std::string_view id);
bool is_valid_record_id(std::string_view id);
// Splits "<device>.<counter>"; nullopt when malformed.
std::optional<std::pair<std::string, std::uint64_t>> parse_op_id(std::string_view id);

std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace fieldsync::sync
