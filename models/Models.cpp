//===- Models.cpp - dispatch to the model families ------------------------===//

#include "models/Models.h"

namespace kiln {

absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildModel(mlir::MLIRContext &context, const ModelConfig &config,
           const WeightStore &weights, mlir::Type planType) {
  GraphBuilder g(context, weights);
  if (planType)
    g.setPlanOnly(planType);
  switch (config.family) {
  case Family::Gpt2:
    buildGpt2(g, config);
    break;
  case Family::Bert:
  case Family::Roberta:
    buildBert(g, config);
    break;
  case Family::T5:
    buildT5(g, config);
    break;
  case Family::Llama:
    buildLlama(g, config);
    break;
  }
  return g.finish();
}

Activation toKilnActivation(HfActivation activation) {
  switch (activation) {
  case HfActivation::Relu:
    return Activation::Relu;
  case HfActivation::GeluErf:
    return Activation::GeluErf;
  case HfActivation::GeluTanh:
    return Activation::GeluTanh;
  case HfActivation::Silu:
    return Activation::Silu;
  }
  return Activation::None;
}

std::vector<std::pair<std::string, mlir::Type>>
decoderInputs(GraphBuilder &g, int64_t seqLen, int64_t numLayers,
              int64_t cacheWidth) {
  std::vector<std::pair<std::string, mlir::Type>> inputs = {
      {"input_ids", g.i64({kDyn, seqLen})}, {"positions", g.i64({kDyn})}};
  for (int64_t l = 0; l < numLayers; ++l) {
    inputs.push_back(
        {"k_cache." + std::to_string(l), g.f32({kDyn, kDyn, cacheWidth})});
    inputs.push_back(
        {"v_cache." + std::to_string(l), g.f32({kDyn, kDyn, cacheWidth})});
  }
  return inputs;
}

mlir::Value decoderPositionIds(GraphBuilder &g, mlir::Value ids,
                               mlir::Value positions) {
  return g.add(g.reshape(positions, {kDyn, 1}), g.iota(ids, 1));
}

GraphBuilder::AttentionOptions
decoderAttention(const ModelConfig &config,
                 const std::vector<mlir::Value> &args, int64_t layer,
                 size_t firstCache, mlir::Value positions) {
  GraphBuilder::AttentionOptions options;
  options.numHeads = config.numHeads;
  options.numKvHeads = config.numKvHeads;
  options.mask = MaskKind::Causal;
  options.kCache = args[firstCache + 2 * layer];
  options.vCache = args[firstCache + 2 * layer + 1];
  options.positions = positions;
  return options;
}

void addCaches(std::vector<std::pair<std::string, mlir::Value>> &caches,
               int64_t layer, const GraphBuilder::AttentionResult &attention) {
  caches.push_back({"k_cache." + std::to_string(layer), attention.kCache});
  caches.push_back({"v_cache." + std::to_string(layer), attention.vCache});
}

void endDecoder(
    GraphBuilder &g, mlir::Value logits,
    const std::vector<std::pair<std::string, mlir::Value>> &caches) {
  std::vector<std::pair<std::string, mlir::Value>> outputs = {
      {"logits", logits}};
  outputs.insert(outputs.end(), caches.begin(), caches.end());
  g.endFunction(outputs);
}

} // namespace kiln
