// Every tool's main(): runs the real one and turns an exception that escaped it into
// "error: ..." on stderr and exit code 1, so no tool ends in std::terminate.
#pragma once

#include <exception>
#include <iostream>

namespace fieldsync::tools {

inline int guarded_main(int (*run)(int, char**), int argc, char** argv) noexcept {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "error: unexpected failure\n";
  }
  return 1;
}

}  // namespace fieldsync::tools
