//===- HfConfig.cpp - Hugging Face config readers -------------------------===//
//
// One reader per family. Defaults are transformers' (GPT2Config, BertConfig,
// RobertaConfig, T5Config, LlamaConfig); the size fields (vocab, width,
// depth, heads) are required, since guessing them only moves the error to a
// confusing weight-shape mismatch.
//
//===----------------------------------------------------------------------===//

#include "frontend/HfConfig.h"

#include "support/Files.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <nlohmann/json.hpp>

namespace kiln {

namespace {

using Json = nlohmann::json;

/// Typed access to a JSON object that remembers the first error.
class Fields {
public:
  Fields(const Json &json, std::string path)
      : json_(json), path_(std::move(path)) {}

  const absl::Status &status() const { return status_; }
  bool has(const char *name) const {
    auto it = json_.find(name);
    return it != json_.end() && !it->is_null();
  }

  int64_t requiredInt(const char *name) {
    if (!has(name)) {
      fail(absl::StrCat("missing required field \"", name, "\""));
      return 0;
    }
    return intOr(name, 0);
  }
  int64_t positiveInt(const char *name) {
    int64_t value = requiredInt(name);
    if (status_.ok() && value <= 0)
      fail(absl::StrCat("\"", name, "\" must be positive, got ", value));
    return value;
  }
  int64_t intOr(const char *name, int64_t fallback) {
    if (!has(name))
      return fallback;
    const Json &v = json_[name];
    if (!v.is_number_integer()) {
      fail(absl::StrCat("\"", name, "\" must be an integer"));
      return fallback;
    }
    return v.get<int64_t>();
  }
  std::optional<int64_t> optionalInt(const char *name) {
    if (!has(name))
      return std::nullopt;
    return intOr(name, 0);
  }
  double numberOr(const char *name, double fallback) {
    if (!has(name))
      return fallback;
    const Json &v = json_[name];
    if (!v.is_number()) {
      fail(absl::StrCat("\"", name, "\" must be a number"));
      return fallback;
    }
    return v.get<double>();
  }
  bool boolOr(const char *name, bool fallback) {
    if (!has(name))
      return fallback;
    const Json &v = json_[name];
    if (!v.is_boolean()) {
      fail(absl::StrCat("\"", name, "\" must be true or false"));
      return fallback;
    }
    return v.get<bool>();
  }
  std::string stringOr(const char *name, const std::string &fallback) {
    if (!has(name))
      return fallback;
    const Json &v = json_[name];
    if (!v.is_string()) {
      fail(absl::StrCat("\"", name, "\" must be a string"));
      return fallback;
    }
    return v.get<std::string>();
  }
  /// An int or a list of ints (eos_token_id may be either).
  std::vector<int64_t> intList(const char *name) {
    std::vector<int64_t> out;
    if (!has(name))
      return out;
    const Json &v = json_[name];
    if (v.is_number_integer())
      return {v.get<int64_t>()};
    if (!v.is_array()) {
      fail(absl::StrCat("\"", name, "\" must be an integer or a list"));
      return out;
    }
    for (const Json &e : v) {
      if (!e.is_number_integer()) {
        fail(absl::StrCat("\"", name, "\" must hold integers"));
        return {};
      }
      out.push_back(e.get<int64_t>());
    }
    return out;
  }
  const Json *object(const char *name) {
    if (!has(name))
      return nullptr;
    const Json &v = json_[name];
    if (!v.is_object()) {
      fail(absl::StrCat("\"", name, "\" must be an object"));
      return nullptr;
    }
    return &v;
  }
  void fail(const std::string &message) {
    if (status_.ok())
      status_ = absl::InvalidArgumentError(absl::StrCat(path_, ": ", message));
  }

private:
  const Json &json_;
  std::string path_;
  absl::Status status_;
};

std::optional<HfActivation> parseActivation(const std::string &name) {
  if (name == "relu")
    return HfActivation::Relu;
  if (name == "gelu")
    return HfActivation::GeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    return HfActivation::GeluTanh;
  if (name == "silu" || name == "swish")
    return HfActivation::Silu;
  return std::nullopt;
}

void readActivation(Fields &f, ModelConfig &c, const char *field,
                    const std::string &fallback) {
  std::string name = f.stringOr(field, fallback);
  if (auto act = parseActivation(name))
    c.activation = *act;
  else
    f.fail(absl::StrCat("unsupported activation \"", field, "\": \"", name,
                        "\" (Kiln implements relu, gelu, gelu_new, "
                        "gelu_pytorch_tanh, silu)"));
}

void readGpt2(Fields &f, ModelConfig &c) {
  c.vocabSize = f.positiveInt("vocab_size");
  c.hiddenSize = f.positiveInt("n_embd");
  c.numLayers = f.positiveInt("n_layer");
  c.numHeads = f.positiveInt("n_head");
  c.numKvHeads = c.numHeads;
  c.maxPositions = f.intOr("n_positions", 1024);
  c.intermediateSize = f.intOr("n_inner", 4 * c.hiddenSize);
  c.normEps = f.numberOr("layer_norm_epsilon", 1e-5);
  c.tieWordEmbeddings = f.boolOr("tie_word_embeddings", true);
  readActivation(f, c, "activation_function", "gelu_new");
  if (!f.boolOr("scale_attn_weights", true))
    f.fail("\"scale_attn_weights\": false is not supported");
  if (f.boolOr("scale_attn_by_inverse_layer_idx", false))
    f.fail("\"scale_attn_by_inverse_layer_idx\": true is not supported");
  if (f.boolOr("add_cross_attention", false))
    f.fail("\"add_cross_attention\": true is not supported");
  c.bosId = f.optionalInt("bos_token_id").value_or(50256);
  c.eosIds = f.intList("eos_token_id");
  if (!f.has("eos_token_id"))
    c.eosIds = {50256};
}

void readBert(Fields &f, ModelConfig &c, bool roberta) {
  c.vocabSize = f.positiveInt("vocab_size");
  c.hiddenSize = f.positiveInt("hidden_size");
  c.numLayers = f.positiveInt("num_hidden_layers");
  c.numHeads = f.positiveInt("num_attention_heads");
  c.numKvHeads = c.numHeads;
  c.intermediateSize = f.intOr("intermediate_size", 3072);
  c.maxPositions = f.intOr("max_position_embeddings", 512);
  c.typeVocabSize = f.intOr("type_vocab_size", 2);
  c.normEps = f.numberOr("layer_norm_eps", 1e-12);
  readActivation(f, c, "hidden_act", "gelu");
  std::string positions = f.stringOr("position_embedding_type", "absolute");
  if (positions != "absolute")
    f.fail(absl::StrCat("unsupported \"position_embedding_type\": \"",
                        positions, "\" (only \"absolute\")"));
  c.padId = f.optionalInt("pad_token_id").value_or(roberta ? 1 : 0);
  c.numLabels = f.intOr("num_labels", 0);
  if (const Json *labels = f.object("id2label"))
    c.numLabels = static_cast<int64_t>(labels->size());
  if (c.numLabels == 0)
    c.numLabels = 2; // transformers' default id2label has two labels
  c.tieWordEmbeddings = f.boolOr("tie_word_embeddings", true);
}

void readT5(Fields &f, ModelConfig &c) {
  c.vocabSize = f.positiveInt("vocab_size");
  c.hiddenSize = f.positiveInt("d_model");
  c.numLayers = f.positiveInt("num_layers");
  c.numHeads = f.positiveInt("num_heads");
  c.numKvHeads = c.numHeads;
  c.headDim = f.intOr("d_kv", 64);
  c.intermediateSize = f.intOr("d_ff", 2048);
  c.numDecoderLayers = f.intOr("num_decoder_layers", c.numLayers);
  c.relativeBuckets = f.intOr("relative_attention_num_buckets", 32);
  c.relativeMaxDistance = f.intOr("relative_attention_max_distance", 128);
  c.normEps = f.numberOr("layer_norm_epsilon", 1e-6);
  c.tieWordEmbeddings = f.boolOr("tie_word_embeddings", true);
  c.scaleDecoderOutputs =
      f.boolOr("scale_decoder_outputs", c.tieWordEmbeddings);
  // As T5Config: "gated-gelu" means gated gelu_new.
  std::string proj = f.stringOr("feed_forward_proj", "relu");
  std::string act = proj;
  if (proj.rfind("gated-", 0) == 0) {
    c.gatedFeedForward = true;
    act = proj.substr(6);
  }
  if (proj == "gated-gelu")
    act = "gelu_new";
  if (auto parsed = parseActivation(act))
    c.activation = *parsed;
  else
    f.fail(absl::StrCat("unsupported \"feed_forward_proj\": \"", proj, "\""));
  if (c.relativeMaxDistance <= 0 || c.relativeBuckets < 4)
    f.fail("relative attention needs at least 4 buckets and a positive "
           "max distance");
  c.padId = f.optionalInt("pad_token_id").value_or(0);
  c.eosIds = f.intList("eos_token_id");
  if (!f.has("eos_token_id"))
    c.eosIds = {1};
  c.decoderStartId = f.optionalInt("decoder_start_token_id");
}

void readLlama(Fields &f, ModelConfig &c) {
  c.vocabSize = f.positiveInt("vocab_size");
  c.hiddenSize = f.positiveInt("hidden_size");
  c.numLayers = f.positiveInt("num_hidden_layers");
  c.numHeads = f.positiveInt("num_attention_heads");
  c.numKvHeads = f.intOr("num_key_value_heads", c.numHeads);
  c.intermediateSize = f.intOr("intermediate_size", 11008);
  c.maxPositions = f.intOr("max_position_embeddings", 2048);
  c.normEps = f.numberOr("rms_norm_eps", 1e-6);
  c.tieWordEmbeddings = f.boolOr("tie_word_embeddings", false);
  c.attentionBias = f.boolOr("attention_bias", false);
  c.mlpBias = f.boolOr("mlp_bias", false);
  if (f.has("head_dim"))
    c.headDim = f.intOr("head_dim", 0);
  readActivation(f, c, "hidden_act", "silu");
  c.ropeTheta = f.numberOr("rope_theta", 10000.0);

  // Rope settings: `rope_scaling` (transformers 4.x) or `rope_parameters`
  // (transformers 5.x, which also carries rope_theta).
  const Json *rope = f.object("rope_parameters");
  if (!rope)
    rope = f.object("rope_scaling");
  if (rope) {
    Fields r(*rope, c.dir + "/config.json rope settings");
    std::string type = r.stringOr("rope_type", r.stringOr("type", "default"));
    if (r.has("rope_theta"))
      c.ropeTheta = r.numberOr("rope_theta", c.ropeTheta);
    if (type == "llama3") {
      Llama3RopeScaling s;
      s.factor = r.numberOr("factor", 0);
      s.lowFreqFactor = r.numberOr("low_freq_factor", 0);
      s.highFreqFactor = r.numberOr("high_freq_factor", 0);
      s.originalMaxPositionEmbeddings =
          r.intOr("original_max_position_embeddings", 0);
      if (!(s.factor > 0) || !(s.lowFreqFactor > 0) ||
          !(s.highFreqFactor > s.lowFreqFactor) ||
          s.originalMaxPositionEmbeddings <= 0)
        r.fail("llama3 rope scaling needs factor > 0, 0 < low_freq_factor < "
               "high_freq_factor and original_max_position_embeddings > 0");
      c.ropeScaling = s;
    } else if (type != "default") {
      r.fail(absl::StrCat("unsupported rope type \"", type,
                          "\" (Kiln implements default and llama3)"));
    }
    if (!r.status().ok())
      f.fail(std::string(r.status().message()));
  }
  c.bosId = f.optionalInt("bos_token_id");
  c.padId = f.optionalInt("pad_token_id");
  c.eosIds = f.intList("eos_token_id");
}

struct ArchitectureEntry {
  const char *name;
  Architecture arch;
  Family family;
};
constexpr ArchitectureEntry kArchitectures[] = {
    {"GPT2LMHeadModel", Architecture::Gpt2LMHead, Family::Gpt2},
    {"BertModel", Architecture::BertModel, Family::Bert},
    {"BertForMaskedLM", Architecture::BertForMaskedLM, Family::Bert},
    {"BertForSequenceClassification",
     Architecture::BertForSequenceClassification, Family::Bert},
    {"RobertaModel", Architecture::RobertaModel, Family::Roberta},
    {"RobertaForMaskedLM", Architecture::RobertaForMaskedLM, Family::Roberta},
    {"RobertaForSequenceClassification",
     Architecture::RobertaForSequenceClassification, Family::Roberta},
    {"T5ForConditionalGeneration", Architecture::T5ForConditionalGeneration,
     Family::T5},
    {"LlamaForCausalLM", Architecture::LlamaForCausalLM, Family::Llama},
};

} // namespace

const char *architectureName(Architecture arch) {
  for (const ArchitectureEntry &e : kArchitectures)
    if (e.arch == arch)
      return e.name;
  return "?";
}

absl::StatusOr<ModelConfig> loadModelConfig(const std::string &dir) {
  std::string path = dir + "/config.json";
  auto json = readJsonObject(path);
  if (!json.ok())
    return json.status();
  Fields f(*json, path);
  ModelConfig c;
  c.dir = dir;

  if (!f.has("model_type"))
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": missing required field \"model_type\""));
  std::string modelType = f.stringOr("model_type", "");
  static const std::pair<const char *, std::pair<Family, Architecture>>
      kFamilies[] = {
          {"gpt2", {Family::Gpt2, Architecture::Gpt2LMHead}},
          {"bert", {Family::Bert, Architecture::BertModel}},
          {"roberta", {Family::Roberta, Architecture::RobertaModel}},
          {"t5", {Family::T5, Architecture::T5ForConditionalGeneration}},
          {"llama", {Family::Llama, Architecture::LlamaForCausalLM}},
      };
  bool known = false;
  for (const auto &[name, entry] : kFamilies) {
    if (modelType == name) {
      c.family = entry.first;
      c.architecture = entry.second;
      known = true;
    }
  }
  if (!known)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown model_type \"", modelType,
                     "\" (Kiln builds gpt2, bert, roberta, t5 and llama)"));

  if (f.has("architectures")) {
    const Json &archs = (*json)["architectures"];
    if (!archs.is_array() || archs.empty() || !archs[0].is_string())
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": \"architectures\" must be a non-empty list of names"));
    std::string name = archs[0].get<std::string>();
    const ArchitectureEntry *found = nullptr;
    for (const ArchitectureEntry &e : kArchitectures)
      if (name == e.name && e.family == c.family)
        found = &e;
    if (!found)
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": unsupported architecture \"", name,
                       "\" for model_type \"", modelType, "\""));
    c.architecture = found->arch;
  }

  switch (c.family) {
  case Family::Gpt2:
    readGpt2(f, c);
    break;
  case Family::Bert:
  case Family::Roberta:
    readBert(f, c, c.family == Family::Roberta);
    break;
  case Family::T5:
    readT5(f, c);
    break;
  case Family::Llama:
    readLlama(f, c);
    break;
  }
  if (!f.status().ok())
    return f.status();
  if (c.headDim == 0) {
    if (c.hiddenSize % c.numHeads != 0)
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": hidden size ", c.hiddenSize,
                       " is not divisible by the ", c.numHeads, " heads"));
    c.headDim = c.hiddenSize / c.numHeads;
  }
  if (c.numKvHeads <= 0 || c.numHeads % c.numKvHeads != 0)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", c.numHeads, " attention heads are not a multiple of ",
        c.numKvHeads, " key/value heads"));
  if (c.family == Family::Llama && c.headDim % 2 != 0)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": rotary embeddings need an even head_dim, got ", c.headDim));

  // generation_config.json overrides the token ids when present.
  std::string genPath = dir + "/generation_config.json";
  if (isRegularFile(genPath)) {
    auto gen = readJsonObject(genPath);
    if (!gen.ok())
      return gen.status();
    Fields g(*gen, genPath);
    if (g.has("eos_token_id"))
      c.eosIds = g.intList("eos_token_id");
    if (g.has("pad_token_id"))
      c.padId = g.optionalInt("pad_token_id");
    if (g.has("bos_token_id"))
      c.bosId = g.optionalInt("bos_token_id");
    if (g.has("decoder_start_token_id"))
      c.decoderStartId = g.optionalInt("decoder_start_token_id");
    if (!g.status().ok())
      return g.status();
  }
  if (c.family == Family::T5 && !c.decoderStartId)
    c.decoderStartId = c.padIdOrZero();
  return c;
}

} // namespace kiln
