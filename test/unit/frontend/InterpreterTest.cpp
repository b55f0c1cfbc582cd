//===- InterpreterTest.cpp - interpreter primitives on hand-checked values //
//
// The golden tests reach the interpreter through whole models; this checks
// the primitives no model uses, and the rounding rules, against values
// worked out by hand.
//
//===----------------------------------------------------------------------===//

#include "frontend/Interpreter.h"
#include "test/support/KilnTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

using kiln::HostTensor;

class InterpreterTest : public ::testing::Test {
protected:
  InterpreterTest() { kiln::test::loadDialects(context_); }

  /// Parses `source` (one function @f) and runs it on `args`.
  absl::StatusOr<std::vector<HostTensor>>
  evaluate(const std::string &source, const std::vector<HostTensor> &args) {
    auto parsed = kiln::test::parseKiln(context_, source);
    if (!parsed.ok())
      return parsed.status();
    module_ = std::move(*parsed);
    kiln::Interpreter interpreter(*emptyWeights(),
                                  kiln::InterpreterPrecision::F32);
    return interpreter.run(module_->lookupSymbol<mlir::func::FuncOp>("f"),
                           args);
  }

  std::vector<HostTensor> run(const std::string &source,
                              const std::vector<HostTensor> &args) {
    auto result = evaluate(source, args);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : std::vector<HostTensor>{};
  }

  HostTensor tensor(std::vector<int64_t> shape, std::vector<double> values) {
    HostTensor t;
    t.shape = std::move(shape);
    t.values = std::move(values);
    return t;
  }

  /// An empty weight store: these functions use no parameters.
  const kiln::WeightStore *emptyWeights() {
    if (!empty_) {
      // One file per process: ctest runs these tests side by side, and one
      // truncating the file while another opened it failed that one.
      std::string path = ::testing::TempDir() + "/kiln-empty-" +
                         std::to_string(::getpid()) + ".safetensors";
      FILE *f = std::fopen(path.c_str(), "wb");
      uint64_t length = 2;
      std::fwrite(&length, 8, 1, f);
      std::fwrite("{}", 1, 2, f);
      std::fclose(f);
      auto store = kiln::WeightStore::openFile(path);
      std::remove(path.c_str()); // the store keeps what it opened
      EXPECT_TRUE(store.ok()) << store.status();
      empty_ = std::move(*store);
    }
    return empty_.get();
  }

  mlir::MLIRContext context_;
  mlir::OwningOpRef<mlir::ModuleOp> module_;
  std::unique_ptr<kiln::WeightStore> empty_;
};

TEST_F(InterpreterTest, Reductions) {
  auto out = run(R"(
    func.func @f(%x: tensor<2x3xf32>) -> (tensor<2xf32>, tensor<2x1xf32>, tensor<3xf32>, tensor<2xf32>) {
      %s = kiln.reduce sum %x dims [1] : tensor<2x3xf32> -> tensor<2xf32>
      %m = kiln.reduce mean %x dims [1] keep_dims : tensor<2x3xf32> -> tensor<2x1xf32>
      %a = kiln.reduce max %x dims [0] : tensor<2x3xf32> -> tensor<3xf32>
      %i = kiln.reduce min %x dims [1] : tensor<2x3xf32> -> tensor<2xf32>
      return %s, %m, %a, %i : tensor<2xf32>, tensor<2x1xf32>, tensor<3xf32>, tensor<2xf32>
    })",
                 {tensor({2, 3}, {1, -2, 3, 4, 5, -6})});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].values, (std::vector<double>{2, 3}));
  EXPECT_EQ(out[1].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_NEAR(out[1].values[0], 2.0 / 3.0, 1e-7);
  EXPECT_EQ(out[2].values, (std::vector<double>{4, 5, 3}));
  EXPECT_EQ(out[3].values, (std::vector<double>{-2, -6}));
}

TEST_F(InterpreterTest, UnaryAndBinaryMath) {
  auto out = run(R"(
    func.func @f(%x: tensor<3xf32>, %y: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
      %e = kiln.exp %x : tensor<3xf32>
      %s = kiln.sqrt %y : tensor<3xf32>
      %r = kiln.rsqrt %y : tensor<3xf32>
      %m = kiln.max %x, %y : tensor<3xf32>
      return %e, %s, %r, %m : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
    })",
                 {tensor({3}, {0, 1, NAN}), tensor({3}, {4, 0.25, 9})});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].values[0], 1.0);
  EXPECT_EQ(out[0].values[1], static_cast<double>(std::exp(1.0f)));
  EXPECT_EQ(out[1].values, (std::vector<double>{2, 0.5, 3}));
  EXPECT_EQ(out[2].values[0], 0.5);
  EXPECT_EQ(out[3].values[0], 4);
  EXPECT_TRUE(std::isnan(out[3].values[2])) << "max must propagate NaN";
}

TEST_F(InterpreterTest, IntegerDivisionTruncatesAndCastsRound) {
  auto out = run(
      R"(
    func.func @f(%a: tensor<4xi64>, %x: tensor<3xf32>) -> (tensor<4xi64>, tensor<3xbf16>, tensor<3xi64>, tensor<3xf16>) {
      %c = kiln.constant dense<2> : tensor<i64>
      %d = kiln.div %a, %c : tensor<4xi64>, tensor<i64> -> tensor<4xi64>
      %b = kiln.cast %x : tensor<3xf32> -> tensor<3xbf16>
      %i = kiln.cast %x : tensor<3xf32> -> tensor<3xi64>
      %h = kiln.cast %x : tensor<3xf32> -> tensor<3xf16>
      return %d, %b, %i, %h : tensor<4xi64>, tensor<3xbf16>, tensor<3xi64>, tensor<3xf16>
    })",
      {tensor({4}, {7, -7, 1, -1}), tensor({3}, {1.00390625, -2.7, 70000})});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].values, (std::vector<double>{3, -3, 0, 0}));
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: to even.
  EXPECT_EQ(out[1].values[0], 1.0);
  EXPECT_EQ(out[1].values[1], -2.703125);
  EXPECT_EQ(out[2].values, (std::vector<double>{1, -2, 70000}));
  EXPECT_EQ(out[3].values[1], -2.69921875);
  EXPECT_TRUE(std::isinf(out[3].values[2])) << "70000 overflows f16";
}

TEST_F(InterpreterTest, CausalMaskWithOffsets) {
  auto out = run(
      R"(
    func.func @f(%s: tensor<2x2x4xf32>, %p: tensor<2xi64>) -> tensor<2x2x4xf32> {
      %m = kiln.causal_mask %s offsets %p : tensor<2x2x4xf32>, tensor<2xi64>
      return %m : tensor<2x2x4xf32>
    })",
      {tensor({2, 2, 4}, std::vector<double>(16, 1.0)), tensor({2}, {0, 2})});
  ASSERT_EQ(out.size(), 1u);
  double low = -std::numeric_limits<float>::max();
  // Sequence 0 at offset 0: query i sees keys j <= i.
  EXPECT_EQ(out[0].values[0 * 4 + 1], low);
  EXPECT_EQ(out[0].values[1 * 4 + 1], 1.0);
  EXPECT_EQ(out[0].values[1 * 4 + 2], low);
  // Sequence 1 at offset 2: query 1 sees keys 0..3.
  EXPECT_EQ(out[0].values[8 + 1 * 4 + 3], 1.0);
  EXPECT_EQ(out[0].values[8 + 0 * 4 + 3], low);
}

TEST_F(InterpreterTest, RunTimeErrorsNameTheOp) {
  absl::Status s = evaluate(R"(
    func.func @f(%t: tensor<4x2xf32>, %i: tensor<3xi64>) -> tensor<3x2xf32> {
      %e = kiln.embedding %t[%i] : tensor<4x2xf32>, tensor<3xi64> -> tensor<3x2xf32>
      return %e : tensor<3x2xf32>
    })",
                            {tensor({4, 2}, std::vector<double>(8, 0)),
                             tensor({3}, {0, 4, 1})})
                       .status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'kiln.embedding': id 4 is outside the table's "
                             "4 rows"),
            std::string::npos)
      << s;

  s = evaluate(
          R"(
    func.func @f(%c: tensor<1x2x1xf32>, %u: tensor<1x1x1xf32>, %p: tensor<1xi64>) -> tensor<1x2x1xf32> {
      %w = kiln.cache_write %c[%p] = %u : tensor<1x2x1xf32>, tensor<1x1x1xf32>, tensor<1xi64>
      return %w : tensor<1x2x1xf32>
    })",
          {tensor({1, 2, 1}, {0, 0}), tensor({1, 1, 1}, {5}), tensor({1}, {2})})
          .status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("kv cache overflow: sequence 0 writes rows "
                             "[2, 3) of a cache of 2"),
            std::string::npos)
      << s;
}

TEST_F(InterpreterTest, ArgumentsAndRunTimeShapesAreChecked) {
  const char *source = R"(
    func.func @f(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>) -> tensor<?x4xf32> {
      %s = kiln.add %a, %b : tensor<?x4xf32>
      return %s : tensor<?x4xf32>
    })";
  absl::Status s =
      evaluate(source, {tensor({2, 4}, std::vector<double>(8, 1))}).status();
  EXPECT_NE(s.message().find("@f takes 2 arguments, got 1"), std::string::npos)
      << s;
  s = evaluate(source, {tensor({2, 4}, std::vector<double>(8, 1)),
                        tensor({2, 3}, std::vector<double>(6, 1))})
          .status();
  EXPECT_NE(s.message().find("@f argument 1 has shape [2, 3], which does not "
                             "fit its type"),
            std::string::npos)
      << s;
  // Dynamic dims that disagree only at run time.
  s = evaluate(source, {tensor({2, 4}, std::vector<double>(8, 1)),
                        tensor({3, 4}, std::vector<double>(12, 1))})
          .status();
  EXPECT_NE(s.message().find("'kiln.add': shapes [2, 4] and [3, 4] do not "
                             "broadcast"),
            std::string::npos)
      << s;
}

} // namespace
