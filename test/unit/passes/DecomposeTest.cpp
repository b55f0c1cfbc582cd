//===- DecomposeTest.cpp - --kiln-decompose through the C++ pass API ------===//
//
// Runs the decompose pass from a PassManager (as kilnc and the interpreter
// will) over every composite and checks that only verified primitives
// remain.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "test/support/KilnTestUtil.h"

#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {

constexpr const char *kComposites = R"(
func.func @composites(%x: tensor<?x?x512xf32>, %pos: tensor<?x?xi64>,
                      %kc: tensor<?x64x128xf32>, %step: tensor<?xi64>,
                      %mask: tensor<?x?xi64>, %qp: tensor<?xi64>)
    -> (tensor<?x?x512xf32>, tensor<?x64x128xf32>) {
  %w = kiln.param "w" : tensor<512x512xf32>
  %wkv = kiln.param "wkv" : tensor<128x512xf32>
  %t = kiln.param "rel" : tensor<32x4xf32>
  %h = kiln.linear %x, %w layout out_in activation silu
      : (tensor<?x?x512xf32>, tensor<512x512xf32>) -> tensor<?x?x512xf32>
  %kv = kiln.linear %x, %wkv layout out_in
      : (tensor<?x?x512xf32>, tensor<128x512xf32>) -> tensor<?x?x128xf32>
  %q = kiln.rotary %h, %pos heads 4 theta 1.0e+04
      : tensor<?x?x512xf32>, tensor<?x?xi64>
  %bias = kiln.relative_position_bias %t, %qp, %qp bidirectional buckets 32
      max_distance 128 : tensor<32x4xf32>, tensor<?xi64>, tensor<?xi64>
      -> tensor<1x4x?x?xf32>
  %a = kiln.attention %q, %kv, %kv heads 4 kv_heads 1 mask padding
      key_mask %mask bias %bias scale 1.0
      : (tensor<?x?x512xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>,
         tensor<?x?xi64>, tensor<1x4x?x?xf32>) -> tensor<?x?x512xf32>
  %o, %k2, %v2 = kiln.attention %a, %kv, %kv heads 4 kv_heads 1
      mask causal cache(%kc, %kc, %step)
      : (tensor<?x?x512xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>,
         tensor<?x64x128xf32>, tensor<?x64x128xf32>, tensor<?xi64>)
      -> (tensor<?x?x512xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>)
  return %o, %k2 : tensor<?x?x512xf32>, tensor<?x64x128xf32>
}
)";

TEST(KilnDecompose, LeavesOnlyVerifiedPrimitives) {
  MLIRContext context;
  kiln::test::loadDialects(context);
  auto parsed = kiln::test::parseKiln(context, kComposites);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ModuleOp module = parsed->get();
  auto fn = cast<func::FuncOp>(module.getBody()->front());
  FunctionType before = fn.getFunctionType();

  PassManager pm(&context);
  pm.addPass(kiln::createKilnDecompose());
  ASSERT_TRUE(succeeded(pm.run(module)));

  int composites = 0, causalMasks = 0, cacheWrites = 0, softmaxes = 0;
  module.walk([&](Operation *op) {
    if (isa<kiln::LinearOp, kiln::AttentionOp, kiln::RotaryOp,
            kiln::RelativePositionBiasOp>(op))
      ++composites;
    causalMasks += isa<kiln::CausalMaskOp>(op);
    cacheWrites += isa<kiln::CacheWriteOp>(op);
    softmaxes += isa<kiln::SoftmaxOp>(op);
  });
  EXPECT_EQ(composites, 0);
  EXPECT_EQ(causalMasks, 1);
  EXPECT_EQ(cacheWrites, 2);
  EXPECT_EQ(softmaxes, 2);
  EXPECT_EQ(fn.getFunctionType(), before);
  EXPECT_EQ(kiln::test::verifyMessages(module), "");
}

} // namespace
