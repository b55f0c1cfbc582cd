// Unused pure ops disappear.
// CHECK-LABEL: func.func @dead_code
func.func @dead_code(%x: tensor<?x8xf32>) {
  // CHECK-NEXT: return
  %0 = kiln.param "w" : tensor<8x8xf32>
  %1 = kiln.matmul %x, %0 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return
}
