//===- Llama.cpp - LlamaForCausalLM ---------------------------------------===//
//
// transformers' LlamaForCausalLM: RMSNorm pre-norm blocks, rotary
// embeddings (rope_theta, optional llama3 rope_scaling) on q and k,
// grouped-query attention (num_key_value_heads), SwiGLU MLP, final norm, and
// an untied or tied lm_head.
//
//===----------------------------------------------------------------------===//

#include "models/Models.h"

namespace kiln {

void buildLlama(GraphBuilder &g, const ModelConfig &c) {
  g.setWeightPrefix("model.");
  const int64_t H = c.hiddenSize, V = c.vocabSize, I = c.intermediateSize;
  const int64_t D = c.headDim;
  const int64_t qWidth = c.numHeads * D, kvWidth = c.numKvHeads * D;
  RopeLlama3ScalingAttr scaling;
  if (c.ropeScaling)
    scaling = RopeLlama3ScalingAttr::get(
        g.builder().getContext(), c.ropeScaling->factor,
        c.ropeScaling->lowFreqFactor, c.ropeScaling->highFreqFactor,
        c.ropeScaling->originalMaxPositionEmbeddings);
  auto proj = [&](mlir::Value x, const std::string &name, int64_t out,
                  int64_t in, bool hasBias, Activation act = Activation::None,
                  mlir::Value residual = nullptr) {
    mlir::Value bias = hasBias ? g.param(name + ".bias", {out}) : nullptr;
    return g.linear(x, g.param(name + ".weight", {out, in}), bias,
                    WeightLayout::OutIn, act, residual);
  };

  for (bool decode : {false, true}) {
    auto args = g.beginFunction(
        decode ? "decode" : "prefill",
        decoderInputs(g, decode ? 1 : kDyn, c.numLayers, kvWidth));
    mlir::Value ids = args[0], positions = args[1];
    g.at("embed_tokens");
    mlir::Value positionIds = decoderPositionIds(g, ids, positions);
    mlir::Value h = g.embedding(g.param("embed_tokens.weight", {V, H}), ids);
    std::vector<std::pair<std::string, mlir::Value>> caches;
    for (int64_t l = 0; l < c.numLayers; ++l) {
      std::string p = "layers." + std::to_string(l) + ".";
      g.at(p + "self_attn");
      mlir::Value x =
          g.rmsNorm(h, g.param(p + "input_layernorm.weight", {H}), c.normEps);
      mlir::Value q =
          proj(x, p + "self_attn.q_proj", qWidth, H, c.attentionBias);
      mlir::Value k =
          proj(x, p + "self_attn.k_proj", kvWidth, H, c.attentionBias);
      mlir::Value v =
          proj(x, p + "self_attn.v_proj", kvWidth, H, c.attentionBias);
      q = g.rotary(q, positionIds, c.numHeads, c.ropeTheta, scaling);
      k = g.rotary(k, positionIds, c.numKvHeads, c.ropeTheta, scaling);
      auto attention = g.attention(
          q, k, v, decoderAttention(c, args, l, /*firstCache=*/2, positions));
      addCaches(caches, l, attention);
      h = proj(attention.output, p + "self_attn.o_proj", H, qWidth,
               c.attentionBias, Activation::None, h);
      g.at(p + "mlp");
      x = g.rmsNorm(h, g.param(p + "post_attention_layernorm.weight", {H}),
                    c.normEps);
      mlir::Value gate = proj(x, p + "mlp.gate_proj", I, H, c.mlpBias,
                              toKilnActivation(c.activation));
      mlir::Value up = proj(x, p + "mlp.up_proj", I, H, c.mlpBias);
      h = proj(g.mul(gate, up), p + "mlp.down_proj", H, I, c.mlpBias,
               Activation::None, h);
    }
    g.at("norm");
    h = g.rmsNorm(h, g.param("norm.weight", {H}), c.normEps);
    mlir::Value head = c.tieWordEmbeddings
                           ? g.param("embed_tokens.weight", {V, H})
                           : g.param("lm_head.weight", {V, H});
    endDecoder(g, g.linear(h, head, nullptr, WeightLayout::OutIn), caches);
  }
}

} // namespace kiln
