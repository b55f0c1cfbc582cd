//===- SafeTensorsFuzz.cpp - the safetensors reader on any bytes ----------===//
//
// Opens the input as a .safetensors file and, when it is accepted, reads
// every tensor as floats: a malformed file must be an error, never a crash,
// an out-of-bounds read or a hang.
//
//===----------------------------------------------------------------------===//

#include "support/SafeTensors.h"
#include "test/fuzz/FuzzInput.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = kiln::fuzz::asFile(data, size, "model.safetensors");
  auto store = kiln::WeightStore::openFile(path);
  if (!store.ok())
    return 0;
  auto file = kiln::SafeTensorsFile::open(path);
  if (!file.ok())
    __builtin_trap(); // the store accepted what the file reader refuses
  for (const auto &[name, view] : (*file)->tensors())
    if (view.bytes <= (1u << 20))
      (void)view.toFloat();
  return 0;
}
