//===- ModelTokenizer.h - the tokenizer kilnc embedded in an artifact -----===//

#ifndef KILN_RUNTIME_MODELTOKENIZER_H
#define KILN_RUNTIME_MODELTOKENIZER_H

#include "artifact/Artifact.h"
#include "support/Tokenizer.h"

#include "absl/status/statusor.h"

#include <memory>

namespace kiln::rt {

/// The tokenizer kilnc embedded in `artifact`; FailedPrecondition, saying
/// why, when it has none.
absl::StatusOr<std::unique_ptr<Tokenizer>>
modelTokenizer(const Artifact &artifact);

} // namespace kiln::rt

#endif // KILN_RUNTIME_MODELTOKENIZER_H
