//===- Models.h - Hugging Face model families as kiln graphs --------------===//
//
// buildModel() turns a model folder's config and weights into a module of
// entry functions. The entry points, their inputs and their outputs are the
// contract with the interpreter and the runtime:
//
//   GPT-2, Llama   @prefill(input_ids [B,S], positions [B], k_cache.0,
//                           v_cache.0, ...) -> (logits [B,S,V], k_cache.0,
//                           v_cache.0, ...)
//                  @decode: the same with input_ids [B,1].
//                  positions[b] is where sequence b's tokens start (0 for a
//                  prompt); caches are [B, max_seq, kv_heads * head_dim].
//   BERT, RoBERTa  @forward(input_ids, token_type_ids, attention_mask: all
//                  [B,S]) -> the architecture's outputs: last_hidden_state
//                  and pooler_output (bare model) or logits (heads).
//   T5             @encode(input_ids, attention_mask) ->
//                           encoder_last_hidden_state [B,S,D]
//                  @decode(decoder_input_ids [B,S], encoder_hidden_states,
//                          attention_mask, positions [B], k_cache.0,
//                          v_cache.0, ...) -> (logits, caches...)
//
// Every argument and result carries its name as `kiln.name`.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_MODELS_H
#define KILN_MODELS_MODELS_H

#include "frontend/GraphBuilder.h"
#include "frontend/HfConfig.h"

namespace kiln {

/// With `planType`, a plan-only graph: no tensor is read from `weights`,
/// every param has that element type (GraphBuilder::setPlanOnly).
absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildModel(mlir::MLIRContext &context, const ModelConfig &config,
           const WeightStore &weights, mlir::Type planType = nullptr);

// One per family (models/<Family>.cpp), called by buildModel.
void buildGpt2(GraphBuilder &g, const ModelConfig &config);
void buildBert(GraphBuilder &g, const ModelConfig &config);
void buildT5(GraphBuilder &g, const ModelConfig &config);
void buildLlama(GraphBuilder &g, const ModelConfig &config);

/// The kiln epilogue activation of a config's activation.
Activation toKilnActivation(HfActivation activation);

/// Inputs of a decoder entry point: ids [B, seqLen], positions [B], and one
/// k and v cache per layer.
std::vector<std::pair<std::string, mlir::Type>>
decoderInputs(GraphBuilder &g, int64_t seqLen, int64_t numLayers,
              int64_t cacheWidth);

/// Position ids [B, S] of a decoder entry point: positions[b] + s.
mlir::Value decoderPositionIds(GraphBuilder &g, mlir::Value ids,
                               mlir::Value positions);

/// Attention options of layer `layer` of a decoder entry point made with
/// decoderInputs (causal, with that layer's caches at `firstCache`).
GraphBuilder::AttentionOptions
decoderAttention(const ModelConfig &config,
                 const std::vector<mlir::Value> &args, int64_t layer,
                 size_t firstCache, mlir::Value positions);

/// Collects a layer's updated caches under the names decoderInputs uses.
void addCaches(std::vector<std::pair<std::string, mlir::Value>> &caches,
               int64_t layer, const GraphBuilder::AttentionResult &attention);

/// Ends a decoder entry point: logits, then the updated caches.
void endDecoder(GraphBuilder &g, mlir::Value logits,
                const std::vector<std::pair<std::string, mlir::Value>> &caches);

} // namespace kiln

#endif // KILN_MODELS_MODELS_H
