//===- ConfigFuzz.cpp - the config.json readers on any bytes --------------===//
//
// The input is a model folder's config.json, then, after a NUL byte if
// there is one, its generation_config.json: any JSON (or not), any
// architecture, any numbers. An unusable config must be an error naming
// the field, never a crash, and an accepted one must be self-consistent.
//
//===----------------------------------------------------------------------===//

#include "frontend/HfConfig.h"
#include "test/fuzz/FuzzInput.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const auto *nul = static_cast<const uint8_t *>(std::memchr(data, 0, size));
  size_t configSize = nul ? static_cast<size_t>(nul - data) : size;
  std::string path = kiln::fuzz::asFile(data, configSize, "config.json");
  std::string dir = path.substr(0, path.rfind('/'));
  std::string generation = dir + "/generation_config.json";
  if (nul)
    kiln::fuzz::asFile(nul + 1, size - configSize - 1,
                       "generation_config.json");
  else
    std::remove(generation.c_str());
  auto config = kiln::loadModelConfig(dir);
  if (config.ok() && (config->numHeads <= 0 || config->hiddenSize <= 0 ||
                      config->vocabSize <= 0))
    __builtin_trap(); // accepted a model that cannot be built
  return 0;
}
