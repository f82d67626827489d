// Row helpers shared by the replica's source files: meta values, record states, outbox ops
// (internal to client_core).
//
// Thread safety: each call uses the connection it is given, from the Replica's one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/value.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::client {

Result<boost::json::value> parse_json(const std::string& text, std::string_view what);
Result<std::optional<std::string>> get_meta(crypto::Database& db, std::string_view key);
Status set_meta(crypto::Database& db, std::string_view key, std::string_view value);
Result<std::uint64_t> get_meta_uint(crypto::Database& db, std::string_view key);
Result<sync::Hlc> get_meta_hlc(crypto::Database& db);
Result<std::optional<sync::RecordState>> load_state(crypto::Database& db,
                                                    const std::string& collection,
                                                    const std::string& id);
// Saves the state with its materialised fields, conflict counts and scope item.
Status save_state(crypto::Database& db, const sync::CollectionSpec& spec, const std::string& id,
                  const sync::RecordState& state);

// load_state and save_state with their statements prepared once, for a batch of records in
// one transaction (a pulled page, a snapshot frame). Borrows the database, which must outlive
// it; one thread at a time.
class StateRows {
 public:
  static Result<StateRows> prepare(crypto::Database& db);
  Result<std::optional<sync::RecordState>> load(const std::string& collection,
                                                const std::string& id);
  Status save(const sync::CollectionSpec& spec, const std::string& id,
              const sync::RecordState& state);

 private:
  StateRows(crypto::Statement load, crypto::Statement save)
      : load_(std::move(load)), save_(std::move(save)) {}
  crypto::Statement load_;
  crypto::Statement save_;
};
Result<sync::Op> parse_op(const std::string& text);

}  // namespace fieldsync::client
