//===- HfConfig.h - Hugging Face config.json / generation_config.json -----===//
//
// Reads the fields `transformers` uses for each supported family, with its
// defaults where a field is absent, and refuses what Kiln does not
// implement (unknown model_type or architecture, other activations, other
// rope scalings, ...) with one message naming the file and the field.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_HFCONFIG_H
#define KILN_FRONTEND_HFCONFIG_H

#include "artifact/Family.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// The `architectures[0]` classes Kiln builds.
enum class Architecture {
  Gpt2LMHead,
  BertModel,
  BertForMaskedLM,
  BertForSequenceClassification,
  RobertaModel,
  RobertaForMaskedLM,
  RobertaForSequenceClassification,
  T5ForConditionalGeneration,
  LlamaForCausalLM,
};

const char *architectureName(Architecture arch);

/// Activations, by transformers' ACT2FN names.
enum class HfActivation { Relu, GeluErf, GeluTanh, Silu };

/// Llama 3.x rope_scaling (rope_type "llama3").
struct Llama3RopeScaling {
  double factor, lowFreqFactor, highFreqFactor;
  int64_t originalMaxPositionEmbeddings;
};

struct ModelConfig {
  std::string dir; // the folder, for messages
  Family family;
  Architecture architecture;

  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  int64_t intermediateSize = 0;
  int64_t maxPositions = 0; // 0: no learned/declared limit
  double normEps = 0;
  HfActivation activation = HfActivation::GeluTanh;
  bool tieWordEmbeddings = true;

  // BERT / RoBERTa.
  int64_t typeVocabSize = 0;
  int64_t numLabels = 0;

  // T5.
  int64_t numDecoderLayers = 0;
  int64_t relativeBuckets = 0;
  int64_t relativeMaxDistance = 0;
  bool gatedFeedForward = false;
  /// Multiply the decoder output by d_model^-0.5 before the lm_head
  /// (transformers 5 `scale_decoder_outputs`; before it, tied embeddings).
  bool scaleDecoderOutputs = true;

  // Llama.
  double ropeTheta = 0;
  std::optional<Llama3RopeScaling> ropeScaling;
  bool attentionBias = false;
  bool mlpBias = false;

  // Token ids (from generation_config.json when present, else config.json).
  std::vector<int64_t> eosIds;
  std::optional<int64_t> padId;
  std::optional<int64_t> bosId;
  std::optional<int64_t> decoderStartId;

  bool isDecoderOnly() const { return kiln::isDecoderOnly(family); }
  /// Pad id used to right-pad input batches.
  int64_t padIdOrZero() const { return padId.value_or(0); }
};

/// Reads `dir/config.json` (and `dir/generation_config.json` if present).
absl::StatusOr<ModelConfig> loadModelConfig(const std::string &dir);

} // namespace kiln

#endif // KILN_FRONTEND_HFCONFIG_H
