// Scores that do not match the block: one clear error each.
// RUN: not kiln-opt %s --kiln-prune-structured="ffn=0.5 heads=0.5" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADSCORES
// RUN: not kiln-opt %s --kiln-prune-structured=heads=1.5 --split-input-file 2>&1 | FileCheck %s --check-prefix=BADHEADS
// BADHEADS: kiln-prune-structured: heads must be in [0, 1), got 1.500000e+00
// BADSCORES: error: kiln.neuron_scores has 3 scores for 8 neurons
// BADSCORES: error: kiln.head_scores has 3 scores for 2 key/value heads
func.func @wrong_neuron_scores(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w1 = kiln.param "h.0.mlp.c_fc.weight" : tensor<4x8xf32>
  %h = kiln.linear %x, %w1 layout in_out activation relu : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %w2 = kiln.param "h.0.mlp.c_proj.weight" : tensor<8x4xf32>
  %y = kiln.linear %h, %w2 layout in_out {kiln.neuron_scores = array<f32: 1., 2., 3.>} : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

func.func @wrong_head_scores(%x: tensor<?x?x4xf32>) -> tensor<?x?x4xf32> {
  %wq = kiln.param "layers.0.q.weight" : tensor<4x4xf32>
  %q = kiln.linear %x, %wq layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  %wk = kiln.param "layers.0.k.weight" : tensor<4x4xf32>
  %k = kiln.linear %x, %wk layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  %wv = kiln.param "layers.0.v.weight" : tensor<4x4xf32>
  %v = kiln.linear %x, %wv layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  %o = kiln.attention %q, %k, %v heads 2 kv_heads 2 mask causal {kiln.head_scores = array<f32: 1., 2., 3.>} : (tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  %wo = kiln.param "layers.0.o.weight" : tensor<4x4xf32>
  %y = kiln.linear %o, %wo layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}
