// CHECK-LABEL: func.func @cast_to_same_type
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>)
func.func @cast_to_same_type(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK-NOT: kiln.cast
  // CHECK: return %[[X]]
  %0 = kiln.cast %x : tensor<?x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
