//===- NpyFuzz.cpp - the .npy reader on any bytes -------------------------===//

#include "support/Npy.h"
#include "test/fuzz/FuzzInput.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto array = kiln::readNpy(kiln::fuzz::asFile(data, size, "input.npy"));
  if (array.ok()) {
    size_t n = 1;
    for (int64_t d : array->shape)
      n *= static_cast<size_t>(d);
    if (n != array->values.size())
      __builtin_trap(); // shape and values disagree
  }
  return 0;
}
