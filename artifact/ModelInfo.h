//===- ModelInfo.h - what running a model needs to know of it -------------===//
//
// The model table of an artifact's manifest as the runtime's driver reads
// it (vocabulary, pad and eos ids, position limit, decoder start), and its
// mapping to and from the manifest.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ARTIFACT_MODELINFO_H
#define KILN_ARTIFACT_MODELINFO_H

#include "artifact/Artifact_generated.h"
#include "artifact/Family.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct ModelInfo {
  Family family = Family::Gpt2;
  std::string architecture;
  int64_t vocabSize = 0;
  int64_t typeVocabSize = 0;
  int64_t padId = 0;
  std::vector<int64_t> eosIds;
  int64_t positionLimit = 0; // longest sequence the model indexes; 0: none
  int64_t decoderStartId = -1;

  bool isDecoderOnly() const { return kiln::isDecoderOnly(family); }
  bool isEncoderOnly() const { return kiln::isEncoderOnly(family); }
};

/// The model table of an artifact's manifest, and back.
std::unique_ptr<artifact::ModelT> toArtifact(const ModelInfo &model);
absl::StatusOr<ModelInfo> fromArtifact(const artifact::ModelT *model);

} // namespace kiln

#endif // KILN_ARTIFACT_MODELINFO_H
