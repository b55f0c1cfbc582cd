// CHECK-LABEL: func.func @full_slice
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>)
func.func @full_slice(%x: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>) {
  // CHECK: %[[S:.+]] = kiln.slice %[[X]] dim 1 [0 : 32]
  // CHECK-NEXT: return %[[X]], %[[S]]
  %0 = kiln.slice %x dim 1 [0 : 64] : tensor<?x64xf32> -> tensor<?x64xf32>
  %1 = kiln.slice %x dim 1 [0 : 32] : tensor<?x64xf32> -> tensor<?x32xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x32xf32>
}
