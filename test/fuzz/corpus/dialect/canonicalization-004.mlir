// CHECK-LABEL: func.func @transpose_of_transpose
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x12x64xf32>)
func.func @transpose_of_transpose(%x: tensor<?x?x12x64xf32>) -> tensor<?x?x12x64xf32> {
  // CHECK-NOT: kiln.transpose
  // CHECK: return %[[X]]
  %0 = kiln.transpose %x [0, 2, 1, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  %1 = kiln.transpose %0 [0, 2, 1, 3] : tensor<?x12x?x64xf32> -> tensor<?x?x12x64xf32>
  return %1 : tensor<?x?x12x64xf32>
}
