//===- SpieceFuzz.cpp - a SentencePiece model file on any bytes -----------===//
//
// The input is a spiece.model (a SentencePiece ModelProto), read as Kiln
// reads a model folder without tokenizer.json (tokenizerJson): any bytes
// give an error or a tokenizer.json, which must then parse, and encode and
// decode a text with ids inside its vocabulary. No crash, no hang.
//
//===----------------------------------------------------------------------===//

#include "support/Tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view model(reinterpret_cast<const char *>(data), size);
  auto json = kiln::tokenizerJsonFromSentencePiece(
      model, R"({"tokenizer_class": "T5Tokenizer", "extra_ids": 2})",
      "spiece.model");
  if (!json.ok())
    return 0;
  auto tokenizer = kiln::Tokenizer::parse(*json, "spiece.model");
  if (!tokenizer.ok())
    __builtin_trap(); // what Kiln wrote, it must read
  auto ids = (*tokenizer)->encode("Hello, <extra_id_0> World! Caf\xc3\xa9  x");
  if (!ids.ok())
    __builtin_trap();
  for (int64_t id : *ids)
    if (id < 0 || id >= (*tokenizer)->vocabSize())
      __builtin_trap();
  if (!(*tokenizer)->decode(*ids, /*skipSpecialTokens=*/false).ok())
    __builtin_trap();
  return 0;
}
