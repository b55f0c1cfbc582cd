//===- ModelInfo.cpp - what running a model needs to know of it -----------===//

#include "artifact/ModelInfo.h"
#include "artifact/Family.h"

#include <memory>

namespace kiln {

std::unique_ptr<artifact::ModelT> toArtifact(const ModelInfo &m) {
  auto t = std::make_unique<artifact::ModelT>();
  t->family = familyName(m.family);
  t->architecture = m.architecture;
  t->vocab_size = m.vocabSize;
  t->type_vocab_size = m.typeVocabSize;
  t->pad_id = m.padId;
  t->eos_ids = m.eosIds;
  t->position_limit = m.positionLimit;
  t->decoder_start_id = m.decoderStartId;
  return t;
}

absl::StatusOr<ModelInfo> fromArtifact(const artifact::ModelT *t) {
  if (!t)
    return absl::InvalidArgumentError("damaged: the manifest has no model");
  auto family = parseFamily(t->family);
  if (!family.ok())
    return family.status();
  ModelInfo m;
  m.family = *family;
  m.architecture = t->architecture;
  m.vocabSize = t->vocab_size;
  m.typeVocabSize = t->type_vocab_size;
  m.padId = t->pad_id;
  m.eosIds = t->eos_ids;
  m.positionLimit = t->position_limit;
  m.decoderStartId = t->decoder_start_id;
  if (m.vocabSize < 1 || (m.family == Family::T5 && m.decoderStartId < 0))
    return absl::InvalidArgumentError("damaged: the model table is invalid");
  return m;
}

} // namespace kiln
