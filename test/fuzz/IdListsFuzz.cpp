//===- IdListsFuzz.cpp - --input-ids parsing on any text ------------------===//

#include "tools/common/IdLists.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  auto lists = kiln::parseIdLists(text, "--input-ids");
  if (lists.ok())
    for (const auto &list : *lists)
      if (list.empty())
        __builtin_trap(); // an accepted empty sequence
  return 0;
}
