// RUN: kiln-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @cast_to_same_type
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>)
func.func @cast_to_same_type(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK-NOT: kiln.cast
  // CHECK: return %[[X]]
  %0 = kiln.cast %x : tensor<?x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// A widening that is undone returns the input.
// CHECK-LABEL: func.func @cast_widen_and_back
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xbf16>)
func.func @cast_widen_and_back(%x: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  // CHECK-NOT: kiln.cast
  // CHECK: return %[[X]]
  %0 = kiln.cast %x : tensor<?x8xbf16> -> tensor<?x8xf32>
  %1 = kiln.cast %0 : tensor<?x8xf32> -> tensor<?x8xbf16>
  return %1 : tensor<?x8xbf16>
}

// -----

// f16 -> f32 is exact, so f16 -> f32 -> bf16 is one rounding: f16 -> bf16.
// CHECK-LABEL: func.func @cast_exact_chain
// CHECK-SAME: (%[[X:.+]]: tensor<4xf16>)
func.func @cast_exact_chain(%x: tensor<4xf16>) -> tensor<4xbf16> {
  // CHECK: %[[C:.+]] = kiln.cast %[[X]] : tensor<4xf16> -> tensor<4xbf16>
  // CHECK-NEXT: return %[[C]]
  %0 = kiln.cast %x : tensor<4xf16> -> tensor<4xf32>
  %1 = kiln.cast %0 : tensor<4xf32> -> tensor<4xbf16>
  return %1 : tensor<4xbf16>
}

// -----

// f32 -> bf16 rounds, so the chain back to f32 must stay.
// CHECK-LABEL: func.func @cast_rounding_chain_kept
func.func @cast_rounding_chain_kept(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[R:.+]] = kiln.cast %{{.+}} : tensor<4xf32> -> tensor<4xbf16>
  // CHECK: %[[W:.+]] = kiln.cast %[[R]] : tensor<4xbf16> -> tensor<4xf32>
  // CHECK: return %[[W]]
  %0 = kiln.cast %x : tensor<4xf32> -> tensor<4xbf16>
  %1 = kiln.cast %0 : tensor<4xbf16> -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_of_transpose
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x12x64xf32>)
func.func @transpose_of_transpose(%x: tensor<?x?x12x64xf32>) -> tensor<?x?x12x64xf32> {
  // CHECK-NOT: kiln.transpose
  // CHECK: return %[[X]]
  %0 = kiln.transpose %x [0, 2, 1, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  %1 = kiln.transpose %0 [0, 2, 1, 3] : tensor<?x12x?x64xf32> -> tensor<?x?x12x64xf32>
  return %1 : tensor<?x?x12x64xf32>
}

// -----

// Two permutations compose into one: result dim i is x's dim p[q[i]].
// CHECK-LABEL: func.func @transpose_compose
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>)
func.func @transpose_compose(%x: tensor<2x3x4xf32>) -> tensor<3x2x4xf32> {
  // CHECK: %[[T:.+]] = kiln.transpose %[[X]] [1, 0, 2] : tensor<2x3x4xf32> -> tensor<3x2x4xf32>
  // CHECK-NEXT: return %[[T]]
  %0 = kiln.transpose %x [1, 2, 0] : tensor<2x3x4xf32> -> tensor<3x4x2xf32>
  %1 = kiln.transpose %0 [0, 2, 1] : tensor<3x4x2xf32> -> tensor<3x2x4xf32>
  return %1 : tensor<3x2x4xf32>
}

// -----

// CHECK-LABEL: func.func @identity_transpose
// CHECK-SAME: (%[[X:.+]]: tensor<?x4xf32>)
func.func @identity_transpose(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // CHECK-NEXT: return %[[X]]
  %0 = kiln.transpose %x [0, 1] : tensor<?x4xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_of_reshape
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x768xf32>)
func.func @reshape_of_reshape(%x: tensor<?x?x768xf32>) -> tensor<?x?x12x2x32xf32> {
  // CHECK: %[[R:.+]] = kiln.reshape %[[X]] : tensor<?x?x768xf32> -> tensor<?x?x12x2x32xf32>
  // CHECK-NEXT: return %[[R]]
  %0 = kiln.reshape %x : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  %1 = kiln.reshape %0 : tensor<?x?x12x64xf32> -> tensor<?x?x12x2x32xf32>
  return %1 : tensor<?x?x12x2x32xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_round_trip
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x768xf32>)
func.func @reshape_round_trip(%x: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
  // CHECK-NEXT: return %[[X]]
  %0 = kiln.reshape %x : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  %1 = kiln.reshape %0 : tensor<?x?x12x64xf32> -> tensor<?x?x768xf32>
  return %1 : tensor<?x?x768xf32>
}

// -----

// Combining these would need [B, H, S, D] -> [B, Hkv, G*S, D], which is not
// a valid reshape with dynamic dims: both stay.
// CHECK-LABEL: func.func @reshape_chain_kept
func.func @reshape_chain_kept(%x: tensor<?x12x?x64xf32>) -> tensor<?x4x?x64xf32> {
  // CHECK: %[[A:.+]] = kiln.reshape %{{.+}} : tensor<?x12x?x64xf32> -> tensor<?x4x3x?x64xf32>
  // CHECK: %[[B:.+]] = kiln.reshape %[[A]] : tensor<?x4x3x?x64xf32> -> tensor<?x4x?x64xf32>
  // CHECK: return %[[B]]
  %0 = kiln.reshape %x : tensor<?x12x?x64xf32> -> tensor<?x4x3x?x64xf32>
  %1 = kiln.reshape %0 : tensor<?x4x3x?x64xf32> -> tensor<?x4x?x64xf32>
  return %1 : tensor<?x4x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_constant
func.func @reshape_constant() -> tensor<2x2xf32> {
  // CHECK: %[[C:.+]] = kiln.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
  // CHECK-NEXT: return %[[C]]
  %c = kiln.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %0 = kiln.reshape %c : tensor<4xf32> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @full_slice
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>)
func.func @full_slice(%x: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>) {
  // CHECK: %[[S:.+]] = kiln.slice %[[X]] dim 1 [0 : 32]
  // CHECK-NEXT: return %[[X]], %[[S]]
  %0 = kiln.slice %x dim 1 [0 : 64] : tensor<?x64xf32> -> tensor<?x64xf32>
  %1 = kiln.slice %x dim 1 [0 : 32] : tensor<?x64xf32> -> tensor<?x32xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x32xf32>
}

// -----

// CHECK-LABEL: func.func @single_concat
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>)
func.func @single_concat(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // CHECK-NEXT: return %[[X]]
  %0 = kiln.concat %x dim 1 : tensor<?x64xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// x * 1 and x - 0 are x exactly; x + 0 is not folded (it turns -0 into +0),
// and a constant that broadcasts x to a larger shape is kept.
// CHECK-LABEL: func.func @arith_identities
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>)
func.func @arith_identities(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<4x8xf32>) {
  %one = kiln.constant dense<1.0> : tensor<f32>
  %zero = kiln.constant dense<0.0> : tensor<f32>
  %ones = kiln.constant dense<1.0> : tensor<4x8xf32>
  %0 = kiln.mul %one, %x : tensor<f32>, tensor<?x8xf32> -> tensor<?x8xf32>
  %1 = kiln.sub %x, %zero : tensor<?x8xf32>, tensor<f32> -> tensor<?x8xf32>
  // CHECK: %[[ADD:.+]] = kiln.add %[[X]], %{{.+}} : tensor<?x8xf32>, tensor<f32> -> tensor<?x8xf32>
  %2 = kiln.add %x, %zero : tensor<?x8xf32>, tensor<f32> -> tensor<?x8xf32>
  // CHECK: %[[WIDE:.+]] = kiln.mul %[[X]], %{{.+}} : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %3 = kiln.mul %x, %ones : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  // CHECK: return %[[X]], %[[X]], %[[ADD]], %[[WIDE]]
  return %0, %1, %2, %3 : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<4x8xf32>
}

// -----

// Unused pure ops disappear.
// CHECK-LABEL: func.func @dead_code
func.func @dead_code(%x: tensor<?x8xf32>) {
  // CHECK-NEXT: return
  %0 = kiln.param "w" : tensor<8x8xf32>
  %1 = kiln.matmul %x, %0 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return
}
