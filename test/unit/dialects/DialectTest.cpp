//===- DialectTest.cpp - kiln IR built through the C++ API ----------------===//
//
// Builds kiln IR with OpBuilder (the way the frontend will), checks inferred
// result types on dynamic shapes, checks that broken invariants are reported
// by the verifier with the expected message, and exercises folds.
//
//===----------------------------------------------------------------------===//

#include "test/support/KilnTestUtil.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mlir;
using namespace kiln;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

class KilnDialectTest : public ::testing::Test {
protected:
  KilnDialectTest() : builder(UnknownLoc::get(&context), &context) {
    test::loadDialects(context);
    module = ModuleOp::create(builder.getLoc());
    builder.setInsertionPointToEnd(module->getBody());
  }

  /// A function taking `inputs`; the builder inserts into its body.
  func::FuncOp beginFunction(ArrayRef<Type> inputs) {
    auto fn =
        func::FuncOp::create(builder, "f", builder.getFunctionType(inputs, {}));
    builder.setInsertionPointToStart(fn.addEntryBlock());
    return fn;
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type element = nullptr) {
    return RankedTensorType::get(shape,
                                 element ? element : builder.getF32Type());
  }

  Value param(StringRef name, ArrayRef<int64_t> shape) {
    return ParamOp::create(builder, tensor(shape), name);
  }

  MLIRContext context;
  ImplicitLocOpBuilder builder;
  OwningOpRef<ModuleOp> module;
};

TEST_F(KilnDialectTest, Gpt2AttentionBlockInfersDynamicShapes) {
  auto fn = beginFunction({tensor({kDyn, kDyn}, builder.getI64Type())});
  Value ids = fn.getArgument(0);
  Value wte = param("wte.weight", {50257, 768});
  Value hidden = EmbeddingOp::create(builder, wte, ids);
  EXPECT_EQ(hidden.getType(), tensor({kDyn, kDyn, 768}));

  Value positions =
      IotaOp::create(builder, tensor({kDyn}, builder.getI64Type()), ids, 1);
  Value wpe = param("wpe.weight", {1024, 768});
  hidden = AddOp::create(builder, hidden,
                         EmbeddingOp::create(builder, wpe, positions));
  EXPECT_EQ(hidden.getType(), tensor({kDyn, kDyn, 768}));

  Value ln = LayerNormOp::create(builder, hidden, param("ln_1.weight", {768}),
                                 param("ln_1.bias", {768}),
                                 builder.getF64FloatAttr(1e-5));
  Value qkv = LinearOp::create(builder, ln, param("c_attn.weight", {768, 2304}),
                               param("c_attn.bias", {2304}), Value(),
                               WeightLayout::InOut, Activation::None);
  EXPECT_EQ(qkv.getType(), tensor({kDyn, kDyn, 2304}));
  Value q = SliceOp::create(builder, qkv, 2, 0, 768, 1);
  Value k = SliceOp::create(builder, qkv, 2, 768, 1536, 1);
  Value v = SliceOp::create(builder, qkv, 2, 1536, 2304, 1);
  auto attention = AttentionOp::create(
      builder, q, k, v, /*key_mask=*/Value(), /*bias=*/Value(),
      /*k_cache=*/Value(), /*v_cache=*/Value(), /*positions=*/Value(), 12, 12,
      MaskKind::Causal, /*scale=*/nullptr);
  EXPECT_EQ(attention.getResult().getType(), tensor({kDyn, kDyn, 768}));
  EXPECT_TRUE(attention.getUpdatedCaches().empty());
  EXPECT_EQ(attention.getHeadDim(), 64);
  EXPECT_DOUBLE_EQ(attention.getScaleOrDefault(), 0.125);
  func::ReturnOp::create(builder, ValueRange{});
  fn.setType(builder.getFunctionType(fn.getArgumentTypes(), {}));

  EXPECT_EQ(test::verifyMessages(*module), "");
}

TEST_F(KilnDialectTest, CachedGroupedQueryAttentionReturnsCaches) {
  auto fn = beginFunction({tensor({kDyn, 1, 4096}), tensor({kDyn, 1, 1024}),
                           tensor({kDyn, 2048, 1024}),
                           tensor({kDyn}, builder.getI64Type())});
  Value q = fn.getArgument(0), kv = fn.getArgument(1),
        cache = fn.getArgument(2), pos = fn.getArgument(3);
  auto attention =
      AttentionOp::create(builder, q, kv, kv, Value(), Value(), cache, cache,
                          pos, 32, 8, MaskKind::Causal, nullptr);
  ASSERT_EQ(attention.getUpdatedCaches().size(), 2u);
  EXPECT_EQ(attention.getUpdatedCaches()[0].getType(), cache.getType());
  EXPECT_EQ(attention.getHeadDim(), 128);
  func::ReturnOp::create(builder, ValueRange{});
  EXPECT_EQ(test::verifyMessages(*module), "");
}

TEST_F(KilnDialectTest, VerifierRejectsMismatchedLinearWeight) {
  beginFunction({});
  Value x = param("x", {2, 5, 768});
  Value w = param("w", {512, 3072});
  // The explicit-result-type builder bypasses inference, as a buggy frontend
  // would; the verifier must catch it.
  LinearOp::create(builder, tensor({2, 5, 3072}), x, w, Value(), Value(),
                   WeightLayout::InOut, Activation::None);
  func::ReturnOp::create(builder, ValueRange{});
  std::string messages = test::verifyMessages(*module);
  EXPECT_NE(messages.find("'kiln.linear' op input features 768 differ from "
                          "the weight's in_features 512"),
            std::string::npos)
      << messages;
}

TEST_F(KilnDialectTest, VerifierRejectsBadHeadCounts) {
  beginFunction({});
  Value q = param("q", {1, 4, 768});
  Value k = param("k", {1, 4, 768});
  AttentionOp::create(builder, TypeRange{tensor({1, 4, 768})}, q, k, k, Value(),
                      Value(), Value(), Value(), Value(), 12, 5, MaskKind::None,
                      nullptr);
  func::ReturnOp::create(builder, ValueRange{});
  std::string messages = test::verifyMessages(*module);
  EXPECT_NE(messages.find("num_heads (12) must be a multiple of num_kv_heads "
                          "(5)"),
            std::string::npos)
      << messages;
}

TEST_F(KilnDialectTest, VerifierRejectsWrongDeclaredResultType) {
  beginFunction({});
  Value a = param("a", {4, 8});
  Value b = param("b", {8, 3});
  MatmulOp::create(builder, tensor({4, 4}), a, b, false, false);
  func::ReturnOp::create(builder, ValueRange{});
  std::string messages = test::verifyMessages(*module);
  EXPECT_NE(messages.find("inferred type(s) 'tensor<4x3xf32>' are "
                          "incompatible with return type(s)"),
            std::string::npos)
      << messages;
}

TEST_F(KilnDialectTest, TransposeOfTransposeFolds) {
  auto fn = beginFunction({tensor({kDyn, kDyn, 12, 64})});
  Value x = fn.getArgument(0);
  auto first = TransposeOp::create(builder, x, ArrayRef<int64_t>{0, 2, 1, 3});
  auto second = TransposeOp::create(builder, first.getResult(),
                                    ArrayRef<int64_t>{0, 2, 1, 3});
  SmallVector<OpFoldResult> folded;
  ASSERT_TRUE(succeeded(second->fold(folded)));
  ASSERT_EQ(folded.size(), 1u);
  EXPECT_EQ(dyn_cast<Value>(folded[0]), x);
}

/// Grouped-query attention with as many kv heads as queries per kv head
/// merges [B, 2, 2, Sq, D] into [B, 2, 2 * Sq, D], which dynamic B and Sq
/// make readable two ways; the left-to-right reading is meant, and the
/// verifier, the shapes and the lowering agree on it.
TEST_F(KilnDialectTest, AmbiguousDynamicReshapeReadsLeftToRight) {
  auto fn = beginFunction({tensor({kDyn, 2, 2, kDyn, 16})});
  auto merge = ReshapeOp::create(builder, tensor({kDyn, 2, kDyn, 16}),
                                 fn.getArgument(0));
  EXPECT_TRUE(succeeded(verify(merge)));
  EXPECT_EQ(reshapeResultDims(merge, {3, 2, 2, 5, 16}),
            (SmallVector<int64_t>{3, 2, 10, 16}));
  auto split =
      ReshapeOp::create(builder, tensor({kDyn, 2, 2, kDyn, 16}), merge);
  EXPECT_TRUE(succeeded(verify(split)));
  EXPECT_EQ(reshapeResultDims(split, {3, 2, 10, 16}),
            (SmallVector<int64_t>{3, 2, 2, 5, 16}));
  auto groups = reshapeGrouping({kDyn, 2, 2, kDyn, 16}, {kDyn, 2, kDyn, 16});
  ASSERT_TRUE(groups.has_value());
  EXPECT_EQ(groups->size(), 4u);
  EXPECT_EQ((*groups)[2], (ReassociationIndices{2, 3}));
  // Still refused: a dynamic dim split into two dynamic parts.
  EXPECT_FALSE(isValidReshape(tensor({kDyn, 768}), tensor({kDyn, kDyn, 768})));
}

TEST_F(KilnDialectTest, RotaryInverseFrequencies) {
  auto fn = beginFunction(
      {tensor({kDyn, kDyn, 256}), tensor({kDyn, kDyn}, builder.getI64Type())});
  auto plain =
      RotaryOp::create(builder, fn.getArgument(0), fn.getArgument(1),
                       /*num_heads=*/builder.getI64IntegerAttr(2),
                       builder.getF64FloatAttr(1e4), RopeLlama3ScalingAttr());
  SmallVector<float> invFreq = plain.computeInverseFrequencies();
  ASSERT_EQ(invFreq.size(), 64u);
  EXPECT_FLOAT_EQ(invFreq[0], 1.0f);
  EXPECT_NEAR(invFreq[1], std::pow(1e4, -2.0 / 128), 1e-7);
  EXPECT_NEAR(invFreq[63], std::pow(1e4, -126.0 / 128), 1e-9);

  // Llama 3: long wavelengths divided by factor, short ones unchanged.
  auto scaling =
      RopeLlama3ScalingAttr::get(&context, 8.0, 1.0, 4.0, /*original=*/64);
  auto scaled = RotaryOp::create(builder, fn.getArgument(0), fn.getArgument(1),
                                 builder.getI64IntegerAttr(2),
                                 builder.getF64FloatAttr(1e4), scaling);
  SmallVector<float> invScaled = scaled.computeInverseFrequencies();
  const double pi = 3.14159265358979323846;
  int seenLow = 0, seenHigh = 0, seenMedium = 0;
  for (size_t i = 0; i < invFreq.size(); ++i) {
    double wavelen = 2 * pi / invFreq[i];
    if (wavelen < 64 / 4.0) {
      EXPECT_FLOAT_EQ(invScaled[i], invFreq[i]) << i;
      ++seenHigh;
    } else if (wavelen > 64 / 1.0) {
      EXPECT_FLOAT_EQ(invScaled[i], invFreq[i] / 8) << i;
      ++seenLow;
    } else {
      EXPECT_LE(invScaled[i], invFreq[i]) << i;
      EXPECT_GE(invScaled[i], invFreq[i] / 8) << i;
      ++seenMedium;
    }
  }
  EXPECT_GT(seenLow, 0);
  EXPECT_GT(seenHigh, 0);
  EXPECT_GT(seenMedium, 0);
}

TEST(KilnParse, MalformedIrIsAStatusWithTheMessage) {
  MLIRContext context;
  test::loadDialects(context);
  absl::StatusOr<OwningOpRef<ModuleOp>> parsed = test::parseKiln(context, R"(
    func.func @f(%x: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
      %y = kiln.softmax %x dim 3 : tensor<?x?x768xf32>
      return %y : tensor<?x?x768xf32>
    })");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find(
                "'kiln.softmax' op dim 3 is out of range for rank 3"),
            std::string::npos)
      << parsed.status().message();

  parsed = test::parseKiln(context, R"(
    func.func @f(%x: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
      %y = kiln.softmax %x dim 2 : tensor<?x?x768xf32>
      return %y : tensor<?x?x768xf32>
    })");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
}

} // namespace
