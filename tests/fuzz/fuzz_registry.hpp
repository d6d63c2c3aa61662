#pragma once
// A tiny registry of fuzz targets for the g++ replay driver (replay_main.cpp).
//
// Each tests/fuzz/<target>_fuzz.cpp defines a uniquely named entry point
// (`portcullis_fuzz_<target>`). Built as a libFuzzer executable, CMake defines
// PORTCULLIS_FUZZ_TARGET_<TARGET> and the file defines LLVMFuzzerTestOneInput for
// that target only; built into `fuzz_replay` (all targets in one binary), it
// registers itself here instead, so several targets never clash over the one
// LLVMFuzzerTestOneInput symbol. The replay driver runs target <name> on every
// file under corpus/<name>/.
//
// Usage in a target file:
//   PORTCULLIS_FUZZ_TARGET(frame_decoder, portcullis_fuzz_frame_decoder)

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace portcullis::fuzz {

using entry_point = int (*)(const std::uint8_t* data, std::size_t size);

struct target {
  std::string_view name;  // also the corpus subdirectory name
  entry_point run;
};

/// All registered targets (function-local static: safe to use from static initialisers).
inline std::vector<target>& registry() {
  static std::vector<target> targets;
  return targets;
}

struct registrar {
  registrar(std::string_view name, entry_point run) { registry().push_back({name, run}); }
};

}  // namespace portcullis::fuzz

#define PORTCULLIS_FUZZ_REGISTER(name, fn) \
  namespace {                              \
  const ::portcullis::fuzz::registrar portcullis_fuzz_registrar_##name{#name, &fn}; \
  }
