// fieldsync-bench's simulated field devices: one encrypted client::Replica per team worker,
// enrolled in bulk; their caseloads and edits written offline from the generator; and sync
// rounds in which every device runs client::SyncClient::sync_once at the same moment (one
// thread per device, released together by a latch) over a real WebSocket to the server,
// counting the bytes on the wire (wire_counter.hpp).
//
// Ownership: a Fleet owns its devices' replicas (files in the directory it was given) and
// their wire tallies. Threading: call a Fleet from one thread at a time; it starts and joins
// its own threads inside each call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/generator.hpp"
#include "bench/programme.hpp"
#include "bench/progress.hpp"
#include "bench/wire_counter.hpp"
#include "fieldsync/client/replica.hpp"
#include "fieldsync/client/sync_client.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::bench {

struct Device {
  std::size_t index = 0;
  std::string user;
  std::unique_ptr<client::Replica> replica;
  WireTally tally;
  Caseload caseload;
  std::size_t pending_ops = 0;  // in the outbox after the last writes, before the next sync
};

// What a round of local writes produced, over every device.
struct Written {
  std::size_t writes = 0;
  std::size_t records = 0;        // records created
  std::size_t ops = 0;            // operations in the outboxes (a set add is an op of its own)
  double mean_op_bytes = 0;       // the mean op's JSON as a push carries it (sync::to_json)
  std::vector<sync::Op> pending;  // every device's outbox, device after device
};

// One sync round of every device at once.
struct Round {
  std::size_t devices = 0;
  std::size_t acked = 0;             // operations acknowledged (SyncOutcome::pushed)
  std::size_t pulled = 0;            // log entries pulled back by the devices
  std::size_t snapshot_records = 0;  // records received whole
  double seconds_to_last_ack = 0;    // from the start to the last device's last ack
  double seconds_all_synced = 0;     // from the start to the last sync_once returning
  double client_cpu_seconds = 0;     // the bench process's CPU time (all devices) meanwhile
  WireCounts wire;                   // this round's, every device's connections
};

// "up_to_date", or "refused: code: message" for a sync that did not end well.
std::string describe(const client::SyncOutcome& outcome);

// Syncs `replica` once with `url`, counting in `tally`: an error naming `who` unless the sync
// ended up to date with nothing rejected.
Result<client::SyncOutcome> sync_device(client::Replica& replica, WireTally& tally,
                                        const std::string& url, const std::string& who);

class Fleet {
 public:
  // Makes and enrols one device per worker of `team`, replicas under `dir`, several at once.
  static Result<std::unique_ptr<Fleet>> enrol(server::Directory& directory, const Team& team,
                                              const std::string& dir, const std::string& url,
                                              Progress& progress);
  // Each device writes its caseload of `cases` cases offline.
  Result<Written> create_caseloads(const Generator& generator, const std::string& id_prefix,
                                   std::size_t cases, Progress& progress);
  // Each device writes `edits` field edits of its own records offline (`round` varies them).
  Result<Written> make_edits(const Generator& generator, std::size_t edits, std::size_t round,
                             Progress& progress);
  // Every device syncs at once; an error names the first device that failed, or one whose
  // acknowledged operations differ from what it had pending.
  Result<Round> sync_all(const std::string& phase, Progress& progress);

  std::size_t size() const { return devices_.size(); }

 private:
  explicit Fleet(std::string url) : url_(std::move(url)) {}
  // Runs `work(device)` for every device on a few threads; the first error wins.
  Status for_each_device(const std::function<Status(Device&)>& work);
  // Reads the outboxes: the ops pending per device, their count and mean encoded size.
  Result<Written> count_outboxes();

  std::string url_;
  std::vector<std::unique_ptr<Device>> devices_;
};

}  // namespace fieldsync::bench
