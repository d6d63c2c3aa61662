// Corpus replay driver (g++, no libFuzzer): runs every committed corpus file
// through its fuzz target in the normal test run (STYLE §c41).
//
// Usage: fuzz_replay <corpus-root>            runs target <name> on every file
//                                              under <corpus-root>/<name>/ (recursive)
//        fuzz_replay <target> <dir-or-file>... runs one target on the given inputs
// Prints "N passed, 0 failed" and exits 0. A failing input aborts the process
// (the targets abort on a broken invariant); the SIGABRT/SIGSEGV handler first
// names the input, and the exit status is non-zero. A corpus subdirectory
// without a registered target is an error too (a target file went missing).

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

#include <unistd.h>

#include "fuzz_registry.hpp"

namespace {

namespace fs = std::filesystem;

// The input being run, for the crash handler (a fixed buffer: signal-safe to read).
char current_input[4096] = "";

extern "C" void on_fatal_signal(int sig) {
  static const char prefix[] = "fuzz_replay: crashed on input: ";
  (void)!::write(STDERR_FILENO, prefix, sizeof prefix - 1);
  (void)!::write(STDERR_FILENO, current_input, std::strlen(current_input));
  (void)!::write(STDERR_FILENO, "\n", 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

const portcullis::fuzz::target* find_target(std::string_view name) {
  for (const auto& t : portcullis::fuzz::registry()) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

std::vector<fs::path> inputs_under(const fs::path& p) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(p)) {
    files.push_back(p);
    return files;
  }
  for (const auto& entry : fs::recursive_directory_iterator(p)) {
    if (entry.is_regular_file()) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::size_t run_files(const portcullis::fuzz::target& t, const fs::path& where) {
  std::size_t passed = 0;
  for (const auto& file : inputs_under(where)) {
    std::snprintf(current_input, sizeof current_input, "[%.*s] %s", static_cast<int>(t.name.size()),
                  t.name.data(), file.c_str());
    std::ifstream in(file, std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    t.run(bytes.data(), bytes.size());
    ++passed;
  }
  return passed;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGABRT, on_fatal_signal);
  std::signal(SIGSEGV, on_fatal_signal);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus-root> | <target> <input>...\n", argv[0]);
    return 2;
  }
  std::size_t passed = 0;
  std::size_t failed = 0;
  if (argc == 2) {
    const fs::path root = argv[1];
    for (const auto& dir : fs::directory_iterator(root)) {
      if (!dir.is_directory()) {
        continue;
      }
      const auto name = dir.path().filename().string();
      const auto* t = find_target(name);
      if (t == nullptr) {
        std::fprintf(stderr, "fuzz_replay: no target registered for corpus %s\n", dir.path().c_str());
        ++failed;
        continue;
      }
      const auto n = run_files(*t, dir.path());
      std::printf("%s: %zu inputs\n", name.c_str(), n);
      passed += n;
    }
  } else {
    const auto* t = find_target(argv[1]);
    if (t == nullptr) {
      std::fprintf(stderr, "fuzz_replay: unknown target %s\n", argv[1]);
      return 2;
    }
    for (int i = 2; i < argc; ++i) {
      passed += run_files(*t, argv[i]);
    }
  }
  std::printf("%zu passed, %zu failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
