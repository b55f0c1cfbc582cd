func.func @reshape_element_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'kiln.reshape' op input element type 'f32' differs from result element type 'f16'}}
  %0 = kiln.reshape %x : tensor<4x8xf32> -> tensor<32xf16>
  return
}
