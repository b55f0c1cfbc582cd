func.func @rope_llama3_factor(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{rope_llama3 factor must be positive, got 0}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 llama3_scaling <factor = 0.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8192> : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}
