//===- ModelTokenizer.cpp - the tokenizer kilnc embedded in an artifact ---===//

#include "runtime/ModelTokenizer.h"

#include "artifact/Artifact.h"
#include "support/Tokenizer.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <cstdint>
#include <memory>
#include <string_view>

namespace kiln::rt {

absl::StatusOr<std::unique_ptr<Tokenizer>>
modelTokenizer(const Artifact &artifact) {
  int32_t blob = artifact.manifest().tokenizer;
  if (blob < 0)
    return absl::FailedPreconditionError(absl::StrCat(
        artifact.path(),
        " has no tokenizer (kilnc embeds the model folder's tokenizer.json "
        "when Kiln reads its kind: WordPiece, byte-level BPE and Unigram "
        "today): give "
        "token ids"));
  const auto *data = reinterpret_cast<const char *>(artifact.blobData(blob));
  return Tokenizer::parse(
      std::string_view(data, artifact.manifest().blobs[blob]->size),
      artifact.path() + ": its tokenizer");
}

} // namespace kiln::rt
