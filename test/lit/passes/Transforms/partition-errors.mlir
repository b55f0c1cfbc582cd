// RUN: kiln-opt %s --kiln-partition=tp=2 --split-input-file --verify-diagnostics

func.func @heads(%x: tensor<?x?x12xf32>) -> tensor<?x?x12xf32> {
  %w = kiln.param "q" : tensor<12x12xf32>
  %q = kiln.linear %x, %w layout out_in : (tensor<?x?x12xf32>, tensor<12x12xf32>) -> tensor<?x?x12xf32>
  // expected-error @+1 {{kiln-partition: --tp 2 does not divide the 3 attention heads}}
  %o = kiln.attention %q, %q, %q heads 3 kv_heads 3 mask none : (tensor<?x?x12xf32>, tensor<?x?x12xf32>, tensor<?x?x12xf32>) -> tensor<?x?x12xf32>
  return %o : tensor<?x?x12xf32>
}

// -----

func.func @ffn(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  %w1 = kiln.param "fc1" : tensor<8x5xf32>
  %m = kiln.linear %x, %w1 layout in_out activation relu : (tensor<?x?x8xf32>, tensor<8x5xf32>) -> tensor<?x?x5xf32>
  %w2 = kiln.param "fc2" : tensor<5x8xf32>
  // expected-error @+1 {{kiln-partition: --tp 2 does not divide the FFN width 5}}
  %h = kiln.linear %m, %w2 residual %x layout in_out : (tensor<?x?x5xf32>, tensor<5x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %h : tensor<?x?x8xf32>
}

// -----

func.func @not_a_projection(%q: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  // expected-error @+1 {{kiln-partition: an attention operand does not come from a projection}}
  %o = kiln.attention %q, %q, %q heads 2 kv_heads 2 mask none : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}

// -----

// expected-error @+1 {{kiln-partition: the module is partitioned already}}
module attributes {kiln.tensor_parallel = 2 : i64} {
  func.func @twice(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    return %x : tensor<?x8xf32>
  }
}

// -----

func.func @output_not_projected(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  %w = kiln.param "qkv" : tensor<8x8xf32>
  %q = kiln.linear %x, %w layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  %wk = kiln.param "k" : tensor<8x8xf32>
  %k = kiln.linear %x, %wk layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  %wv = kiln.param "v" : tensor<8x8xf32>
  %v = kiln.linear %x, %wv layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  // expected-error @+1 {{kiln-partition: the attention output is not read by a linear}}
  %o = kiln.attention %q, %k, %v heads 2 kv_heads 2 mask none : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %o : tensor<?x?x8xf32>
}
