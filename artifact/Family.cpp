//===- Family.cpp - the model families Kiln builds ------------------------===//

#include "artifact/Family.h"

#include "absl/strings/str_cat.h"

#include <string>

namespace kiln {

const char *familyName(Family family) {
  switch (family) {
  case Family::Gpt2:
    return "gpt2";
  case Family::Llama:
    return "llama";
  case Family::Bert:
    return "bert";
  case Family::Roberta:
    return "roberta";
  case Family::T5:
    return "t5";
  }
  return "?";
}

absl::StatusOr<Family> parseFamily(const std::string &name) {
  for (Family f :
       {Family::Gpt2, Family::Llama, Family::Bert, Family::Roberta, Family::T5})
    if (name == familyName(f))
      return f;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model family '", name, "'"));
}

} // namespace kiln
