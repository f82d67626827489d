// The idle watcher: sleeps until the idle deadline (or a stop), and locks the replica when no
// use has happened since. use() holds the mutex for the whole body, so locking waits for it.
#include "fieldsync/client/idle_lock.hpp"

namespace fieldsync::client {

IdleLock::IdleLock(Replica& replica, std::chrono::milliseconds idle_after)
    : replica_(replica),
      idle_after_(idle_after),
      last_use_(std::chrono::steady_clock::now()),
      watcher_([this](const std::stop_token& stop) { watch(stop); }) {}

IdleLock::~IdleLock() {
  watcher_.request_stop();
  wake_.notify_all();
}

Status IdleLock::use(const std::function<Status(Replica&)>& body) {
  std::unique_lock lock(mu_);
  if (replica_.locked())
    return {Code::locked, "the replica " + replica_.path() +
                              " was locked after being idle; unlock it with its passphrase"};
  Status s = body(replica_);
  last_use_ = std::chrono::steady_clock::now();
  wake_.notify_all();
  return s;
}

Status IdleLock::unlock(const crypto::Credential& credential) {
  std::unique_lock lock(mu_);
  Status s = replica_.unlock(credential);
  last_use_ = std::chrono::steady_clock::now();
  wake_.notify_all();
  return s;
}

void IdleLock::lock_now() {
  std::unique_lock lock(mu_);
  replica_.lock();
}

bool IdleLock::locked() const {
  std::unique_lock lock(mu_);
  return replica_.locked();
}

void IdleLock::watch(const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    if (replica_.locked()) {
      wake_.wait(lock, stop, [&] { return !replica_.locked(); });
      continue;
    }
    const auto deadline = last_use_ + idle_after_;
    if (std::chrono::steady_clock::now() >= deadline) {
      replica_.lock();
      continue;
    }
    wake_.wait_until(lock, stop, deadline, [&] { return last_use_ + idle_after_ != deadline; });
  }
}

}  // namespace fieldsync::client
