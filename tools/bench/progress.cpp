// fieldsync-bench's progress bar (see progress.hpp).
#include "bench/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

namespace fieldsync::bench {
namespace {

constexpr std::size_t kBarWidth = 28;
constexpr auto kRedraw = std::chrono::milliseconds(100);

}  // namespace

Progress::Progress(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO) == 1) {
  if (!enabled_) return;
  start_ = std::chrono::steady_clock::now();
  thread_ = std::jthread([this](const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      draw();
      std::this_thread::sleep_for(kRedraw);
    }
  });
}

Progress::~Progress() { clear(); }

void Progress::phase(const std::string& name, std::uint64_t total, const std::string& unit,
                     std::function<std::uint64_t()> source) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  name_ = name;
  unit_ = unit;
  source_ = std::move(source);
  start_ = std::chrono::steady_clock::now();
  done_.store(0);
  total_.store(total);
}

void Progress::draw() {
  std::string name, unit;
  std::uint64_t done = 0;
  bool source_or_count = false;  // a count to show
  double seconds = 0;
  {
    std::lock_guard lock(mutex_);
    if (name_.empty()) return;
    name = name_;
    unit = unit_;
    done = source_ ? source_() : done_.load(std::memory_order_relaxed);
    source_or_count = source_ || !unit_.empty();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  const std::uint64_t total = total_.load(std::memory_order_relaxed);
  std::string line = "  " + name;
  line.resize(std::max<std::size_t>(line.size() + 1, 12), ' ');
  if (total > 0) {
    const std::size_t filled = std::min<std::size_t>(kBarWidth, done * kBarWidth / total);
    line += "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "] ";
    line += std::to_string(std::min(done, total)) + "/" + std::to_string(total);
  } else if (source_or_count) {
    line += std::to_string(done);
  }
  std::array<char, 32> s{};
  std::snprintf(s.data(), s.size(), "  %.1f s", seconds);
  line += (unit.empty() ? "" : " " + unit) + s.data();
  const std::size_t width = line.size();
  if (width < width_) line += std::string(width_ - width, ' ');
  width_ = width;
  std::fputs(("\r" + line).c_str(), stderr);
  std::fflush(stderr);
}

void Progress::clear() {
  if (!enabled_ || !thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
  std::fputs(("\r" + std::string(width_, ' ') + "\r").c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace fieldsync::bench
