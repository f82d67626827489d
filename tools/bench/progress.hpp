// fieldsync-bench's progress bar on stderr: the phase's name, a bar, done/total with a unit
// and the phase's elapsed seconds, redrawn in place with \r every 100 ms and cleared at the
// end. Drawn only when enabled and stderr is a terminal; otherwise every call does nothing.
//
// Ownership: a Progress owns its drawing thread, joined (and the line cleared) by clear() or
// the destructor. Threading: add() and phase() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace fieldsync::bench {

class Progress {
 public:
  explicit Progress(bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // A new phase: `total` of `unit` to do (0: unknown, only the count is shown). `source`,
  // when given, is polled for the count done instead of add().
  void phase(const std::string& name, std::uint64_t total, const std::string& unit,
             std::function<std::uint64_t()> source = {});
  void add(std::uint64_t n = 1) { done_.fetch_add(n, std::memory_order_relaxed); }
  // Stops drawing and clears the line (also before printing results).
  void clear();

 private:
  void draw();
  bool enabled_;
  std::mutex mutex_;  // guards the phase's name, unit, source and start
  std::string name_, unit_;
  std::function<std::uint64_t()> source_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<std::uint64_t> done_{0}, total_{0};
  std::size_t width_ = 0;  // of the last line drawn
  std::jthread thread_;
};

}  // namespace fieldsync::bench
