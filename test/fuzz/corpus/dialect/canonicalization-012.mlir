// CHECK-LABEL: func.func @single_concat
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>)
func.func @single_concat(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // CHECK-NEXT: return %[[X]]
  %0 = kiln.concat %x dim 1 : tensor<?x64xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}
