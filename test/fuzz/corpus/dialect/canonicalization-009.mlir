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
