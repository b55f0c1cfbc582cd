//===- ConfigFuzz.cpp - the config.json reader on any bytes ---------------===//
//
// The input is a model folder's config.json: any JSON (or not), any
// architecture, any numbers. An unusable config must be an error naming
// the field, never a crash, and an accepted one must be self-consistent.
//
//===----------------------------------------------------------------------===//

#include "frontend/HfConfig.h"
#include "test/fuzz/FuzzInput.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = kiln::fuzz::asFile(data, size, "config.json");
  std::string dir = path.substr(0, path.rfind('/'));
  auto config = kiln::loadModelConfig(dir);
  if (config.ok() && (config->numHeads <= 0 || config->hiddenSize <= 0 ||
                      config->vocabSize <= 0))
    __builtin_trap(); // accepted a model that cannot be built
  return 0;
}
