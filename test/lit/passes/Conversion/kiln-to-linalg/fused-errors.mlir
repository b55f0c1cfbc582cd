// RUN: kiln-opt %s --split-input-file --verify-diagnostics --kiln-to-linalg

// A region holding an op one fused kernel cannot compute (a softmax
// reduces over a dim) is refused: kiln-fuse never forms one, a hand-written
// one is one error.
func.func @softmax_inside(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'kiln.fused' op cannot derive the sizes of its results}}
  %0 = kiln.fused(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %s = kiln.softmax %a dim 1 : tensor<4x8xf32>
    kiln.yield %s : tensor<4x8xf32>
  }
  return %0 : tensor<4x8xf32>
}

// -----

// An embedding reads its table from the region's inputs only.
func.func @table_inside(%ids: tensor<4xi64>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'kiln.fused' op holds an op the fused lowering cannot compute}}
  %0 = kiln.fused(%ids) : (tensor<4xi64>) -> tensor<4x2xf32> {
  ^bb0(%i: tensor<4xi64>):
    %t = kiln.constant dense<1.0> : tensor<3x2xf32>
    %e = kiln.embedding %t[%i] : tensor<3x2xf32>, tensor<4xi64> -> tensor<4x2xf32>
    kiln.yield %e : tensor<4x2xf32>
  }
  return %0 : tensor<4x2xf32>
}
