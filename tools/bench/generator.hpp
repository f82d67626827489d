// fieldsync-bench's case-management data generator: a worker's caseload (clients, cases,
// visits, notes, tasks, referrals with names, dates, addresses, languages and prose) and later
// field edits of that caseload, all as local writes for a client::Replica. Seeded: the same
// seed, device index and counts give the same writes, whatever thread asks and in what order.
//
// Ownership: plans are plain values. Threading: the generator holds only its seed and may be
// used from any number of threads at once; apply() runs on the replica's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::bench {

// One local write: a put of field edits, or a progress note (Replica::add_note, whose record
// id the replica draws).
struct Write {
  enum class Kind { put, note };
  Kind kind = Kind::put;
  std::string collection;  // put
  std::string id;          // put: the record; note: the case
  std::vector<client::FieldEdit> edits;
  std::string text;  // note
};

// What a device holds of its own caseload, for choosing edits later.
struct Caseload {
  std::vector<std::string> clients, cases, visits, tasks, referrals;
};

struct DevicePlan {
  std::vector<Write> writes;
  Caseload caseload;
  std::size_t records = 0;  // records the writes create (a note is one)
};

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : seed_(seed) {}

  // `cases` new cases of `worker` (device number `device`), each with its client, 1-2 visits,
  // 1-2 notes of 100-600 characters, sometimes a task or a referral: about 5.5 records per
  // case. Record ids start with `id_prefix` (empty on a fresh store), then the device number.
  DevicePlan caseload(std::size_t device, const std::string& worker, const std::string& id_prefix,
                      std::size_t cases) const;
  // `n` edits of one field each of records in `caseload`: a case's status or risk, a visit's
  // outcome, a task's status, a referral's status, a client's contact or address. `round`
  // gives later rounds other values.
  std::vector<Write> edits(std::size_t device, const Caseload& caseload, std::size_t n,
                           std::size_t round) const;

 private:
  std::uint64_t seed_;
};

// Makes the write in the replica (one local transaction).
Status apply(client::Replica& replica, const Write& write);

}  // namespace fieldsync::bench
