//===- T5.cpp - T5ForConditionalGeneration --------------------------------===//
//
// transformers' T5ForConditionalGeneration: shared embeddings, RMS layer
// norms without bias, unscaled attention with bucketed relative-position
// bias (computed by the first layer of each stack and shared by all its
// layers; bidirectional in the encoder, causal in the decoder), relu or
// gated feed-forward, and the tied lm_head scaled by d_model^-0.5.
//
//===----------------------------------------------------------------------===//

#include "models/Models.h"

#include <cmath>

namespace kiln {

namespace {

struct T5Builder {
  GraphBuilder &g;
  const ModelConfig &c;
  int64_t D, inner;

  mlir::Value norm(mlir::Value x, const std::string &name) {
    return g.rmsNorm(x, g.param(name + ".weight", {D}), c.normEps);
  }
  mlir::Value proj(mlir::Value x, const std::string &name, int64_t out,
                   int64_t in, mlir::Value residual = nullptr) {
    return g.linear(x, g.param(name + ".weight", {out, in}), nullptr,
                    WeightLayout::OutIn, Activation::None, residual);
  }
  mlir::Value feedForward(mlir::Value h, const std::string &p) {
    mlir::Value x = norm(h, p + "layer_norm");
    Activation act = toKilnActivation(c.activation);
    const int64_t F = c.intermediateSize;
    mlir::Value hidden;
    if (c.gatedFeedForward) {
      mlir::Value gate =
          g.linear(x, g.param(p + "DenseReluDense.wi_0.weight", {F, D}),
                   nullptr, WeightLayout::OutIn, act);
      hidden = g.mul(gate, proj(x, p + "DenseReluDense.wi_1", F, D));
    } else {
      hidden = g.linear(x, g.param(p + "DenseReluDense.wi.weight", {F, D}),
                        nullptr, WeightLayout::OutIn, act);
    }
    return proj(hidden, p + "DenseReluDense.wo", D, F, h);
  }
  GraphBuilder::AttentionOptions options(MaskKind mask) {
    GraphBuilder::AttentionOptions o;
    o.numHeads = o.numKvHeads = c.numHeads;
    o.mask = mask;
    o.scale = 1.0; // T5 does not scale Q K^T
    return o;
  }
  mlir::Value biasTable(const std::string &stack) {
    return g.param(stack + ".block.0.layer.0.SelfAttention."
                           "relative_attention_bias.weight",
                   {c.relativeBuckets, c.numHeads});
  }
  mlir::Value sharedEmbedding() {
    return g.paramAny({"shared.weight", "encoder.embed_tokens.weight",
                       "decoder.embed_tokens.weight"},
                      {c.vocabSize, D});
  }

  void encode() {
    auto args =
        g.beginFunction("encode", {{"input_ids", g.i64({kDyn, kDyn})},
                                   {"attention_mask", g.i64({kDyn, kDyn})}});
    mlir::Value ids = args[0], mask = args[1];
    g.at("encoder.embed_tokens");
    mlir::Value h = g.embedding(sharedEmbedding(), ids);
    mlir::Value positions = g.iota(ids, 1);
    mlir::Value bias = g.relativePositionBias(
        biasTable("encoder"), positions, positions, /*bidirectional=*/true,
        c.relativeBuckets, c.relativeMaxDistance);
    for (int64_t l = 0; l < c.numLayers; ++l) {
      std::string p = "encoder.block." + std::to_string(l) + ".layer.";
      g.at("encoder.block." + std::to_string(l));
      mlir::Value x = norm(h, p + "0.layer_norm");
      std::string a = p + "0.SelfAttention.";
      auto o = options(MaskKind::Padding);
      o.keyMask = mask;
      o.bias = bias;
      mlir::Value attention =
          g.attention(proj(x, a + "q", inner, D), proj(x, a + "k", inner, D),
                      proj(x, a + "v", inner, D), o)
              .output;
      h = proj(attention, a + "o", D, inner, h);
      h = feedForward(h, p + "1.");
    }
    g.at("encoder.final_layer_norm");
    g.endFunction(
        {{"encoder_last_hidden_state", norm(h, "encoder.final_layer_norm")}});
  }

  void decode() {
    std::vector<std::pair<std::string, mlir::Type>> inputs = {
        {"decoder_input_ids", g.i64({kDyn, kDyn})},
        {"encoder_hidden_states", g.f32({kDyn, kDyn, D})},
        {"attention_mask", g.i64({kDyn, kDyn})},
        {"positions", g.i64({kDyn})}};
    for (int64_t l = 0; l < c.numDecoderLayers; ++l) {
      inputs.push_back(
          {"k_cache." + std::to_string(l), g.f32({kDyn, kDyn, inner})});
      inputs.push_back(
          {"v_cache." + std::to_string(l), g.f32({kDyn, kDyn, inner})});
    }
    auto args = g.beginFunction("decode", inputs);
    mlir::Value ids = args[0], encoder = args[1], mask = args[2],
                positions = args[3];
    g.at("decoder.embed_tokens");
    mlir::Value h = g.embedding(sharedEmbedding(), ids);
    // The decoder steps all sequences together: query positions are
    // positions[0] + s; keys are every cache row.
    mlir::Value queryPositions =
        g.add(g.slice(positions, 0, 0, 1), g.iota(ids, 1));
    mlir::Value keyPositions = g.iota(args[4], 1);
    mlir::Value bias = g.relativePositionBias(
        biasTable("decoder"), queryPositions, keyPositions,
        /*bidirectional=*/false, c.relativeBuckets, c.relativeMaxDistance);
    std::vector<std::pair<std::string, mlir::Value>> caches;
    for (int64_t l = 0; l < c.numDecoderLayers; ++l) {
      std::string p = "decoder.block." + std::to_string(l) + ".layer.";
      g.at("decoder.block." + std::to_string(l));
      mlir::Value x = norm(h, p + "0.layer_norm");
      std::string a = p + "0.SelfAttention.";
      auto self = decoderAttention(c, args, l, /*firstCache=*/4, positions);
      self.bias = bias;
      self.scale = 1.0; // T5 does not scale Q K^T
      auto attention =
          g.attention(proj(x, a + "q", inner, D), proj(x, a + "k", inner, D),
                      proj(x, a + "v", inner, D), self);
      addCaches(caches, l, attention);
      h = proj(attention.output, a + "o", D, inner, h);

      x = norm(h, p + "1.layer_norm");
      std::string e = p + "1.EncDecAttention.";
      auto cross = options(MaskKind::Padding);
      cross.keyMask = mask;
      mlir::Value crossOut =
          g.attention(proj(x, e + "q", inner, D),
                      proj(encoder, e + "k", inner, D),
                      proj(encoder, e + "v", inner, D), cross)
              .output;
      h = proj(crossOut, e + "o", D, inner, h);
      h = feedForward(h, p + "2.");
    }
    g.at("decoder.final_layer_norm");
    h = norm(h, "decoder.final_layer_norm");
    if (c.scaleDecoderOutputs)
      h = g.mul(h, g.scalar(std::pow(static_cast<double>(D), -0.5)));
    mlir::Value logits =
        c.tieWordEmbeddings
            ? g.linear(h, sharedEmbedding(), nullptr, WeightLayout::OutIn)
            : proj(h, "lm_head", c.vocabSize, D);
    endDecoder(g, logits, caches);
  }
};

} // namespace

void buildT5(GraphBuilder &g, const ModelConfig &c) {
  T5Builder t5{g, c, c.hiddenSize, c.numHeads * c.headDim};
  t5.encode();
  t5.decode();
}

} // namespace kiln
