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
