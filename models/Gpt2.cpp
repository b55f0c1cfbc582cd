//===- Gpt2.cpp - GPT2LMHeadModel -----------------------------------------===//
//
// transformers' GPT2LMHeadModel: learned positions, pre-norm blocks with
// Conv1D weights stored [in, out] (used as stored), fused c_attn split into
// q/k/v, tanh GELU, final layer norm, lm_head tied to wte.
//
//===----------------------------------------------------------------------===//

#include "models/Models.h"

namespace kiln {

void buildGpt2(GraphBuilder &g, const ModelConfig &c) {
  g.setWeightPrefix("transformer.");
  const int64_t H = c.hiddenSize, V = c.vocabSize, I = c.intermediateSize;
  const double eps = c.normEps;
  auto layerNorm = [&](mlir::Value x, const std::string &name) {
    return g.layerNorm(x, g.param(name + ".weight", {H}),
                       g.param(name + ".bias", {H}), eps);
  };

  for (bool decode : {false, true}) {
    auto args =
        g.beginFunction(decode ? "decode" : "prefill",
                        decoderInputs(g, decode ? 1 : kDyn, c.numLayers, H));
    mlir::Value ids = args[0], positions = args[1];
    g.at("embeddings");
    mlir::Value positionIds = decoderPositionIds(g, ids, positions);
    mlir::Value h = g.add(
        g.embedding(g.param("wte.weight", {V, H}), ids),
        g.embedding(g.param("wpe.weight", {c.maxPositions, H}), positionIds));
    std::vector<std::pair<std::string, mlir::Value>> caches;
    for (int64_t l = 0; l < c.numLayers; ++l) {
      std::string p = "h." + std::to_string(l) + ".";
      g.at(p + "attn");
      mlir::Value x = layerNorm(h, p + "ln_1");
      mlir::Value qkv = g.linear(
          x, g.param(p + "attn.c_attn.weight", {H, 3 * H}),
          g.param(p + "attn.c_attn.bias", {3 * H}), WeightLayout::InOut);
      mlir::Value q = g.slice(qkv, 2, 0, H);
      mlir::Value k = g.slice(qkv, 2, H, 2 * H);
      mlir::Value v = g.slice(qkv, 2, 2 * H, 3 * H);
      auto attention = g.attention(
          q, k, v, decoderAttention(c, args, l, /*firstCache=*/2, positions));
      addCaches(caches, l, attention);
      h = g.linear(attention.output, g.param(p + "attn.c_proj.weight", {H, H}),
                   g.param(p + "attn.c_proj.bias", {H}), WeightLayout::InOut,
                   Activation::None, h);
      g.at(p + "mlp");
      x = layerNorm(h, p + "ln_2");
      x = g.linear(x, g.param(p + "mlp.c_fc.weight", {H, I}),
                   g.param(p + "mlp.c_fc.bias", {I}), WeightLayout::InOut,
                   toKilnActivation(c.activation));
      h = g.linear(x, g.param(p + "mlp.c_proj.weight", {I, H}),
                   g.param(p + "mlp.c_proj.bias", {H}), WeightLayout::InOut,
                   Activation::None, h);
    }
    g.at("ln_f");
    h = layerNorm(h, "ln_f");
    mlir::Value head = c.tieWordEmbeddings ? g.param("wte.weight", {V, H})
                                           : g.param("lm_head.weight", {V, H});
    endDecoder(g, g.linear(h, head, nullptr, WeightLayout::OutIn), caches);
  }
}

} // namespace kiln
