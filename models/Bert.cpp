//===- Bert.cpp - BERT and RoBERTa encoders and their heads ---------------===//
//
// transformers' BertModel / RobertaModel (post-norm encoder, absolute
// positions, token types, pooler), the masked-LM heads and the
// sequence-classification heads. RoBERTa differs in its position ids (past
// the padding index, counting only real tokens), its LM head (fixed erf
// GELU) and its classification head (dense + tanh + out_proj on token 0).
//
//===----------------------------------------------------------------------===//

#include "models/Models.h"

namespace kiln {

void buildBert(GraphBuilder &g, const ModelConfig &c) {
  const bool roberta = c.family == Family::Roberta;
  g.setWeightPrefix(roberta ? "roberta." : "bert.");
  const int64_t H = c.hiddenSize, V = c.vocabSize, I = c.intermediateSize;
  const double eps = c.normEps;
  const Activation act = toKilnActivation(c.activation);
  auto dense = [&](mlir::Value x, const std::string &name, int64_t out,
                   int64_t in, Activation a = Activation::None,
                   mlir::Value residual = nullptr) {
    return g.linear(x, g.param(name + ".weight", {out, in}),
                    g.param(name + ".bias", {out}), WeightLayout::OutIn, a,
                    residual);
  };
  auto layerNorm = [&](mlir::Value x, const std::string &name, int64_t n) {
    return g.layerNorm(x, g.param(name + ".weight", {n}),
                       g.param(name + ".bias", {n}), eps);
  };

  auto args =
      g.beginFunction("forward", {{"input_ids", g.i64({kDyn, kDyn})},
                                  {"token_type_ids", g.i64({kDyn, kDyn})},
                                  {"attention_mask", g.i64({kDyn, kDyn})}});
  mlir::Value ids = args[0], tokenTypes = args[1], mask = args[2];

  g.at("embeddings");
  mlir::Value positionIds;
  if (!roberta) {
    positionIds = g.iota(ids, 1);
  } else {
    // create_position_ids_from_input_ids: cumsum(ids != pad) * (ids != pad)
    // + pad. The cumulative sum is a product with a triangular [S, S]
    // matrix of (j <= i), exact in f32 for any real length.
    mlir::Value pad = g.scalar(c.padIdOrZero(), g.builder().getI64Type());
    mlir::Value real = g.cast(g.compare(ComparePredicate::NE, ids, pad),
                              g.builder().getF32Type());
    mlir::Value s = g.iota(ids, 1);
    mlir::Value upper =
        g.cast(g.compare(ComparePredicate::LE, g.reshape(s, {kDyn, 1}),
                         g.reshape(s, {1, kDyn})),
               g.builder().getF32Type());
    mlir::Value count = g.mul(g.matmul(real, upper), real);
    positionIds = g.add(g.cast(count, g.builder().getI64Type()), pad);
  }
  mlir::Value h =
      g.embedding(g.param("embeddings.word_embeddings.weight", {V, H}), ids);
  h = g.add(h, g.embedding(g.param("embeddings.position_embeddings.weight",
                                   {c.maxPositions, H}),
                           positionIds));
  h = g.add(h, g.embedding(g.param("embeddings.token_type_embeddings.weight",
                                   {c.typeVocabSize, H}),
                           tokenTypes));
  h = layerNorm(h, "embeddings.LayerNorm", H);

  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    g.at(p + "attention");
    GraphBuilder::AttentionOptions options;
    options.numHeads = options.numKvHeads = c.numHeads;
    options.mask = MaskKind::Padding;
    options.keyMask = mask;
    mlir::Value a =
        g.attention(dense(h, p + "attention.self.query", H, H),
                    dense(h, p + "attention.self.key", H, H),
                    dense(h, p + "attention.self.value", H, H), options)
            .output;
    h = layerNorm(
        dense(a, p + "attention.output.dense", H, H, Activation::None, h),
        p + "attention.output.LayerNorm", H);
    g.at(p + "intermediate");
    mlir::Value m = dense(h, p + "intermediate.dense", I, H, act);
    h = layerNorm(dense(m, p + "output.dense", H, I, Activation::None, h),
                  p + "output.LayerNorm", H);
  }

  g.at("head");
  auto firstToken = [&](mlir::Value x) {
    return g.reshape(g.slice(x, 1, 0, 1), {kDyn, H});
  };
  auto pooler = [&]() {
    return g.tanh(dense(firstToken(h), "pooler.dense", H, H));
  };
  std::string wordEmbeddings = "embeddings.word_embeddings.weight";
  switch (c.architecture) {
  case Architecture::BertModel:
  case Architecture::RobertaModel:
    g.endFunction({{"last_hidden_state", h}, {"pooler_output", pooler()}});
    break;
  case Architecture::BertForMaskedLM: {
    mlir::Value x = dense(h, "cls.predictions.transform.dense", H, H, act);
    x = layerNorm(x, "cls.predictions.transform.LayerNorm", H);
    mlir::Value decoder =
        c.tieWordEmbeddings ? g.param(wordEmbeddings, {V, H})
                            : g.param("cls.predictions.decoder.weight", {V, H});
    mlir::Value logits = g.linear(
        x, decoder,
        g.paramAny({"cls.predictions.bias", "cls.predictions.decoder.bias"},
                   {V}),
        WeightLayout::OutIn);
    g.endFunction({{"logits", logits}});
    break;
  }
  case Architecture::RobertaForMaskedLM: {
    mlir::Value x = dense(h, "lm_head.dense", H, H, Activation::GeluErf);
    x = layerNorm(x, "lm_head.layer_norm", H);
    mlir::Value decoder = c.tieWordEmbeddings
                              ? g.param(wordEmbeddings, {V, H})
                              : g.param("lm_head.decoder.weight", {V, H});
    mlir::Value logits = g.linear(
        x, decoder, g.paramAny({"lm_head.bias", "lm_head.decoder.bias"}, {V}),
        WeightLayout::OutIn);
    g.endFunction({{"logits", logits}});
    break;
  }
  case Architecture::BertForSequenceClassification:
    g.endFunction({{"logits", dense(pooler(), "classifier", c.numLabels, H)}});
    break;
  case Architecture::RobertaForSequenceClassification: {
    mlir::Value x = g.tanh(dense(firstToken(h), "classifier.dense", H, H));
    g.endFunction(
        {{"logits", dense(x, "classifier.out_proj", c.numLabels, H)}});
    break;
  }
  default:
    g.fail("not a BERT or RoBERTa architecture");
    g.endFunction({{"last_hidden_state", h}});
    break;
  }
}

} // namespace kiln
