// Replays fuzz inputs without libFuzzer (the gcc build's regression tests): runs
// LLVMFuzzerTestOneInput on every file in the directories (or files) named on the command
// line, in name order, skipping README files and dot-files. A failed check or a crash names
// the input on stderr; an unreadable or missing path fails the run.
//   fuzz_replay_frame tests/fuzz/corpus/frame tests/fuzz/crashes/frame
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

// The input being run, for the signal handler (async-signal-safe: a fixed buffer and write).
char g_current[4096];

void on_fatal_signal(int sig) {
  const char head[] = "\nfuzz replay: input crashed or failed a check: ";
  (void)!::write(STDERR_FILENO, head, sizeof head - 1);
  (void)!::write(STDERR_FILENO, g_current, std::strlen(g_current));
  (void)!::write(STDERR_FILENO, "\n", 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

bool skipped(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.empty() || name[0] == '.' || name.rfind("README", 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_fatal_signal);
  std::size_t total = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    std::error_code ec;
    std::vector<fs::path> inputs;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::directory_iterator(arg, ec))
        if (entry.is_regular_file() && !skipped(entry.path())) inputs.push_back(entry.path());
    } else if (fs::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "fuzz replay: no such file or directory: %s\n", argv[i]);
      return 1;
    }
    if (ec) {
      std::fprintf(stderr, "fuzz replay: cannot read %s: %s\n", argv[i], ec.message().c_str());
      return 1;
    }
    std::sort(inputs.begin(), inputs.end());
    for (const auto& path : inputs) {
      std::ifstream in(path, std::ios::binary);
      std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      if (in.bad()) {
        std::fprintf(stderr, "fuzz replay: cannot read %s\n", path.c_str());
        return 1;
      }
      std::snprintf(g_current, sizeof g_current, "%s", path.c_str());
      // A copy of exactly the input's size, so that reads past its end are caught (ASan).
      std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
      LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
      ++total;
    }
    std::printf("fuzz replay: %zu input(s) from %s\n", inputs.size(), argv[i]);
  }
  std::printf("fuzz replay: %zu input(s) passed\n", total);
  return 0;
}
