// fieldsync-bench's programme: one team with a lead and one worker per simulated device, made
// straight in the store's directory (opened as fieldsync-admin opens it: the store file, the
// server's audit key DATA_DIR/audit.key, made when the store has none yet), and devices
// enrolled in bulk: a new encrypted replica per device, an enrolment code made and redeemed in
// the directory with the replica's device id and public key, and the replica told whom it is
// enrolled for, as `fieldsync enroll` would do over a connection.
//
// Replicas are encrypted as on a real device, but their passphrase is stretched with
// crypto::KdfLimits::minimum() (not a device's interactive limits) so that making hundreds of
// them takes seconds; the KDF runs only when a replica is opened, never during a sync.
//
// Ownership: the Directory and the replicas returned belong to the caller. Threading: the
// Directory may be used from any thread; enrol() may run on several threads at once for
// different replicas.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::bench {

struct Team {
  std::string name;
  std::string lead;
  std::vector<std::string> workers;  // one per device
};

// Opens (and creates or migrates, as the server does) the store in `data_dir` and its
// directory, with the server's audit key.
Result<std::unique_ptr<server::Directory>> open_directory(const std::string& data_dir);

// Adds team `bench<tag>` with lead `lead<tag>` and `workers` workers `w0001<tag>`, ...
// (`tag` empty on a fresh store; a run tag when benching a server that may hold earlier
// runs, so that each run's lead sees that run's caseload only).
Result<Team> set_up_team(server::Directory& directory, const std::string& tag, std::size_t workers,
                         std::int64_t now_ms);

// A new encrypted replica at `path` (KdfLimits::minimum(), see above), enrolled for `user`
// through the directory with the server at `url`.
Result<std::unique_ptr<client::Replica>> enrolled_replica(server::Directory& directory,
                                                          const std::string& path,
                                                          const std::string& user,
                                                          const std::string& url);

// The passphrase credential every bench replica is made with.
crypto::Credential bench_credential();

}  // namespace fieldsync::bench
