//===- TokenizerFuzz.cpp - tokenizer.json and text on any bytes -----------===//
//
// The input is a tokenizer.json, then, after a NUL byte if there is one, a
// text to encode with it. A tokenizer that is read must encode any valid
// UTF-8 (and refuse anything else with an error) to ids inside its
// vocabulary, and decode them again: no crash, no hang, no id out of range.
//
//===----------------------------------------------------------------------===//

#include "support/Tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const auto *nul = static_cast<const uint8_t *>(std::memchr(data, 0, size));
  size_t jsonSize = nul ? static_cast<size_t>(nul - data) : size;
  std::string_view json(reinterpret_cast<const char *>(data), jsonSize);
  auto tokenizer = kiln::Tokenizer::parse(json, "tokenizer.json");
  if (!tokenizer.ok() || !nul)
    return 0;
  std::string_view text(reinterpret_cast<const char *>(nul + 1),
                        size - jsonSize - 1);
  auto ids = (*tokenizer)->encode(text);
  if (!ids.ok())
    return 0;
  for (int64_t id : *ids)
    if (id < 0 || id >= (*tokenizer)->vocabSize())
      __builtin_trap(); // an id outside the vocabulary
  auto decoded = (*tokenizer)->decode(*ids, /*skipSpecialTokens=*/false);
  if (!decoded.ok())
    __builtin_trap(); // its own ids did not decode
  return 0;
}
