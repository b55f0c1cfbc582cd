// CHECK-LABEL: func.func @reshape_of_reshape
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x768xf32>)
func.func @reshape_of_reshape(%x: tensor<?x?x768xf32>) -> tensor<?x?x12x2x32xf32> {
  // CHECK: %[[R:.+]] = kiln.reshape %[[X]] : tensor<?x?x768xf32> -> tensor<?x?x12x2x32xf32>
  // CHECK-NEXT: return %[[R]]
  %0 = kiln.reshape %x : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  %1 = kiln.reshape %0 : tensor<?x?x12x64xf32> -> tensor<?x?x12x2x32xf32>
  return %1 : tensor<?x?x12x2x32xf32>
}
