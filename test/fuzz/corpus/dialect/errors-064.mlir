func.func @attention_kv_length(%q: tensor<?x?x768xf32>, %k: tensor<?x4x768xf32>, %v: tensor<?x5x768xf32>) {
  // expected-error @+1 {{key and value lengths differ: [?, 4, 768] vs [?, 5, 768]}}
  %0 = kiln.attention %q, %k, %v heads 12 kv_heads 12 mask none
      : (tensor<?x?x768xf32>, tensor<?x4x768xf32>, tensor<?x5x768xf32>) -> tensor<?x?x768xf32>
  return
}
