//===- BisectTest.cpp - kiln-bisect finds the step that went wrong --------===//

#include "compiler/Bisect.h"
#include "test/support/CompiledFixture.h"

#include <gtest/gtest.h>

#include <string>

namespace {

kiln::BisectOptions options(const std::string &fixture,
                            const std::string &quantize = "none") {
  kiln::CompileOptions compile;
  compile.maxBatch = 2;
  compile.maxSeq = 32;
  compile.quantize = quantize;
  auto path = kiln::test::compiledFixture(fixture, compile);
  EXPECT_TRUE(path.ok()) << path.status();
  kiln::BisectOptions o;
  o.modelDir = std::string(KILN_GOLDEN_DIR) + "/" + fixture;
  o.artifact = path.ok() ? *path : "";
  o.request.inputIds = {{79, 13, 27, 58, 19}, {89, 33, 59}};
  return o;
}

TEST(BisectTest, CleanArtifactHasNoWrongStep) {
  for (const std::string fixture : {"gpt2_tiny", "llama_gqa", "bert_tiny"}) {
    auto report = kiln::bisect(options(fixture));
    ASSERT_TRUE(report.ok()) << fixture << ": " << report.status();
    EXPECT_EQ(report->firstWrong, -1) << fixture;
    EXPECT_GT(report->steps.size(), 10u) << fixture;
    for (const kiln::StepError &s : report->steps)
      EXPECT_LE(s.relative, 1e-5) << fixture << " step " << s.index << " ("
                                  << s.kind << ": " << s.ops << ")";
  }
}

TEST(BisectTest, QuantizedArtifactHasNoWrongStep) {
  // The dequantizing gemms against the interpreter's reading of the
  // quantized weights; gpt2_outlier's guardrail keeps one layer in float,
  // which the rebuilt step list must too.
  for (const auto &[fixture, scheme] :
       {std::pair{"gpt2_outlier", "w8a16"}, std::pair{"llama_gqa", "w4a16"},
        std::pair{"llama_gqa", "w8a8"}, std::pair{"gpt2_outlier", "w8a8"}}) {
    auto report = kiln::bisect(options(fixture, scheme));
    ASSERT_TRUE(report.ok()) << fixture << ": " << report.status();
    EXPECT_EQ(report->firstWrong, -1) << fixture;
    for (const kiln::StepError &s : report->steps)
      EXPECT_LE(s.relative, 1e-5) << fixture << " step " << s.index << " ("
                                  << s.kind << ": " << s.ops << ")";
  }
}

TEST(BisectTest, NamesAPlantedWrongStep) {
  // One kernel step of the prefill computes a wrong result (every value
  // off by 1%); the steps after it inherit the error, the ones before do
  // not.
  kiln::BisectOptions o = options("llama_gqa");
  const size_t planted = 9;
  o.plant = [&](const std::string &, size_t step,
                const std::vector<kiln::rt::StepBuffer> &results) {
    if (step != planted)
      return;
    const kiln::rt::StepBuffer &b = results.front();
    int64_t n = 1;
    for (int64_t d : b.dims)
      n *= d;
    if (b.dtype == kiln::rt::DType::F32)
      for (int64_t i = 0; i < n; ++i)
        static_cast<float *>(b.data)[i] *= 1.01f;
  };
  auto report = kiln::bisect(o);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->firstWrong, static_cast<int64_t>(planted));
  const kiln::StepError &wrong = report->steps[planted];
  EXPECT_GT(wrong.relative, 5e-3);
  EXPECT_FALSE(wrong.ops.empty());
  // The step names the layer it computes (the graph builder's locations,
  // through fusion and outlining, recorded in the artifact).
  EXPECT_NE(wrong.location.find("model.layers.0.mlp"), std::string::npos)
      << wrong.location;
  for (size_t i = 0; i < planted; ++i)
    EXPECT_LE(report->steps[i].relative, 1e-5) << "step " << i;
}

TEST(BisectTest, RefusesWhatItCannotCompare) {
  kiln::BisectOptions o = options("gpt2_tiny");
  o.modelDir = std::string(KILN_GOLDEN_DIR) + "/llama_gqa";
  auto report = kiln::bisect(o);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("does not match"), std::string::npos)
      << report.status();
  o = options("gpt2_tiny");
  o.artifact = "/nonexistent.kiln";
  EXPECT_FALSE(kiln::bisect(o).ok());
}

} // namespace
