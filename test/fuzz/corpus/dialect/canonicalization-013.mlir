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
