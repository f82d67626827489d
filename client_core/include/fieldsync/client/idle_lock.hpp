// Locks a replica after it has not been used for a while, as health-record practice asks of
// unattended devices: a watcher thread calls Replica::lock() once `idle_after` has passed since
// the last use ended, which closes the database and wipes its page key from memory. The app
// then asks the user for the passphrase and calls unlock().
//
// Ownership: borrows the Replica, which must outlive the IdleLock; while the IdleLock exists,
// use the replica only through use(). Thread safety: every member may be called from any
// thread; use() runs one body at a time, and the replica is never locked during a body (a
// long sync is not cut off).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::client {

class IdleLock {
 public:
  IdleLock(Replica& replica, std::chrono::milliseconds idle_after);
  ~IdleLock();  // stops the watcher; leaves the replica as it is
  IdleLock(const IdleLock&) = delete;
  IdleLock& operator=(const IdleLock&) = delete;

  // Runs `body` with the replica and restarts the idle time when it returns. Code::locked
  // (without running it) when the replica is locked.
  Status use(const std::function<Status(Replica&)>& body);
  // Reopens a locked replica (see Replica::unlock) and restarts the idle time.
  Status unlock(const crypto::Credential& credential);
  // Locks at once (the user pressed "lock").
  void lock_now();
  bool locked() const;

 private:
  void watch(const std::stop_token& stop);

  Replica& replica_;
  const std::chrono::milliseconds idle_after_;
  mutable std::mutex mu_;
  std::condition_variable_any wake_;
  std::chrono::steady_clock::time_point last_use_;
  std::jthread watcher_;  // last: started after the members it reads
};

}  // namespace fieldsync::client
