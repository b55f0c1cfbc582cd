//===- Family.h - the model families Kiln builds --------------------------===//
//
// One enum for the frontend (which family a config.json describes), the
// artifact (its model table) and the runtime (which entry points a request
// calls).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ARTIFACT_FAMILY_H
#define KILN_ARTIFACT_FAMILY_H

#include "absl/status/statusor.h"

#include <string>

namespace kiln {

enum class Family { Gpt2, Llama, Bert, Roberta, T5 };

/// The names used in artifacts and messages ("gpt2", "llama", ...).
const char *familyName(Family family);
absl::StatusOr<Family> parseFamily(const std::string &name);

inline bool isDecoderOnly(Family f) {
  return f == Family::Gpt2 || f == Family::Llama;
}
inline bool isEncoderOnly(Family f) {
  return f == Family::Bert || f == Family::Roberta;
}

} // namespace kiln

#endif // KILN_ARTIFACT_FAMILY_H
