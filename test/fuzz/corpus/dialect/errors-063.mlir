func.func @attention_batch(%q: tensor<2x?x768xf32>, %k: tensor<3x?x768xf32>) {
  // expected-error @+1 {{batch sizes differ: query [2, ?, 768], [3, ?, 768]}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 12 mask none
      : (tensor<2x?x768xf32>, tensor<3x?x768xf32>, tensor<3x?x768xf32>) -> tensor<2x?x768xf32>
  return
}
