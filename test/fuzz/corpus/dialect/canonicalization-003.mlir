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
