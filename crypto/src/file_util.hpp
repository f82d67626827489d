// Small POSIX file helpers for the key envelope and the re-key swap (internal to crypto/).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fieldsync/status.hpp"

namespace fieldsync::crypto::detail {

// The whole file; Code::not_found when it does not exist, Code::storage on other errors.
Result<std::vector<std::uint8_t>> read_file(const std::string& path);
// Replaces `path` atomically: writes `path`.tmp with mode `mode`, fsyncs it, renames it over
// `path`, and fsyncs the directory.
Status write_file_atomic(const std::string& path, std::span<const std::uint8_t> bytes,
                         unsigned mode = 0600);
// rename(2) followed by an fsync of the target's directory.
Status rename_durable(const std::string& from, const std::string& to);
Status fsync_path(const std::string& path);
Status fsync_parent_dir(const std::string& path);
bool file_exists(const std::string& path);
// Removes `path` if it exists.
Status remove_file(const std::string& path);

}  // namespace fieldsync::crypto::detail
