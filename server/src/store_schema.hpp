// The tables of the server's store, created for a new store and migrated from older formats
// (internal to fieldsync::server; the contract is in store_file.hpp).
#pragma once

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::server {

// In one BEGIN IMMEDIATE transaction on the writable connection `db`: creates every table
// of an empty file, migrates a store of an older format to kStoreFormat, or checks that the
// file is a fieldsync store of the current format. Code::storage otherwise.
Status init_schema(crypto::Database& db);

}  // namespace fieldsync::server
