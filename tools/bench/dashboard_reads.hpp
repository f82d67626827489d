// fieldsync-bench's dashboard phase: the team lead signs in to the running server's
// dashboard (a password set through the directory) and reads the caseload, as the open page
// does on every change the team makes. Each read is timed from the request to the whole
// answer; the first also records the listing in the audit trail (once per 5 minutes per
// sign-in), so the figures keep it apart.
//
// Ownership: nothing outlives the call. Threading: runs on the calling thread (plain
// blocking sockets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fieldsync/server/directory.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::bench {

struct DashboardReads {
  std::size_t cases = 0;  // rows in the lead's caseload
  std::size_t bytes = 0;  // the answer's body
  double first_ms = 0;    // the first read (it also records the listing)
  double median_ms = 0;   // the median of the later reads
  double max_ms = 0;      // the slowest of the later reads
};

// Sets a password for `lead` (the bench's own lead) in `directory`, signs in at host:port
// over plain HTTP and reads /api/caseload 1 + `reads` times.
Result<DashboardReads> dashboard_reads(server::Directory& directory, const std::string& lead,
                                       const std::string& host, std::uint16_t port, int reads);

}  // namespace fieldsync::bench
