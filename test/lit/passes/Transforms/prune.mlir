// RUN: kiln-opt %s --kiln-prune-weights="n=2 m=4" --split-input-file 2>/dev/null | FileCheck %s --check-prefix=NM
// RUN: kiln-opt %s --kiln-prune-weights="n=2 m=4" --split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=NMREMARK
// Idempotent, and the result verifies and round-trips.
// RUN: kiln-opt %s --kiln-prune-weights="n=2 m=4" --split-input-file 2>/dev/null | kiln-opt --kiln-prune-weights="n=2 m=4" --split-input-file --verify-each 2>/dev/null | FileCheck %s --check-prefix=NM
// RUN: kiln-opt %s --kiln-prune-weights=fraction=0.5 --split-input-file | FileCheck %s --check-prefix=FRACTION
// RUN: kiln-opt %s --kiln-prune-weights=threshold=0.02 --split-input-file | FileCheck %s --check-prefix=THRESHOLD
// RUN: kiln-opt %s --kiln-prune-weights="fraction=0.5 exclude=h.0.mlp.c_fc.weight" --split-input-file | FileCheck %s --check-prefix=EXCLUDE
// RUN: kiln-opt %s --kiln-prune-structured=ffn=0.5 --split-input-file 2>/dev/null | FileCheck %s --check-prefix=FFN
// RUN: kiln-opt %s --kiln-prune-structured=ffn=0.5 --split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=FFNREMARK
// RUN: kiln-opt %s --kiln-prune-structured=ffn=0.5 --kiln-prune-weights="n=2 m=4" --split-input-file 2>/dev/null | FileCheck %s --check-prefix=BOTH
// RUN: not kiln-opt %s --kiln-prune-weights="n=4 m=4" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADNM
// RUN: not kiln-opt %s --kiln-prune-weights=fraction=1 --split-input-file 2>&1 | FileCheck %s --check-prefix=BADFRACTION
// RUN: not kiln-opt %s --kiln-prune-structured=ffn=-0.5 --split-input-file 2>&1 | FileCheck %s --check-prefix=BADFFN

// BADNM: kiln-prune-weights: n:m needs 0 < n < m, got 4:4
// BADFRACTION: kiln-prune-weights: fraction must be in [0, 1) and threshold finite and >= 0
// BADFFN: kiln-prune-structured: ffn must be in [0, 1), got -5.000000e-01

// A GPT-2 MLP (in_out weights: input features along dim 0) and an LM head
// tied to the embedding table. The block's weights are pruned (n:m groups
// along dim 0); the tied table and the head, outside the blocks, are not.
// With ffn=0.5 the 8 neurons keep the 4 best-scoring (1, 3, 5, 7): c_fc's output
// columns and bias, c_proj's input rows; the activation shrinks with them.
// NM-LABEL: func.func @gpt2_mlp
// NM-DAG: kiln.param "h.0.mlp.c_fc.weight" prune <n = 2, m = 4, axis = 0> : tensor<4x8xf32>
// NM-DAG: kiln.param "h.0.mlp.c_proj.weight" prune <n = 2, m = 4, axis = 0> : tensor<8x4xf32>
// NM-DAG: kiln.param "h.0.mlp.c_fc.bias" : tensor<8xf32>
// NM-DAG: kiln.param "wte.weight" : tensor<16x4xf32>
// FRACTION-LABEL: func.func @gpt2_mlp
// FRACTION-DAG: kiln.param "h.0.mlp.c_fc.weight" prune <fraction = 5.000000e-01> : tensor<4x8xf32>
// FRACTION-DAG: kiln.param "h.0.mlp.c_proj.weight" prune <fraction = 5.000000e-01> : tensor<8x4xf32>
// THRESHOLD-DAG: kiln.param "h.0.mlp.c_fc.weight" prune <threshold = 2.000000e-02> : tensor<4x8xf32>
// EXCLUDE-DAG: kiln.param "h.0.mlp.c_fc.weight" : tensor<4x8xf32>
// EXCLUDE-DAG: kiln.param "h.0.mlp.c_proj.weight" prune <fraction = 5.000000e-01>
// FFN-LABEL: func.func @gpt2_mlp
// FFN-DAG: %[[FC:.+]] = kiln.param "h.0.mlp.c_fc.weight" keep <axis = 1, indices = [1, 3, 5, 7]> : tensor<4x4xf32>
// FFN-DAG: %[[B:.+]] = kiln.param "h.0.mlp.c_fc.bias" keep <axis = 0, indices = [1, 3, 5, 7]> : tensor<4xf32>
// FFN: %[[H:.+]] = kiln.linear %{{.+}}, %[[FC]] bias %[[B]] layout in_out activation gelu_tanh : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
// FFN: %[[PROJ:.+]] = kiln.param "h.0.mlp.c_proj.weight" keep <axis = 0, indices = [1, 3, 5, 7]> : tensor<4x4xf32>
// FFN: kiln.linear %[[H]], %[[PROJ]] residual %{{.+}} layout in_out : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// FFN-NOT: kiln.neuron_scores
// BOTH-LABEL: func.func @gpt2_mlp
// BOTH-DAG: kiln.param "h.0.mlp.c_fc.weight" keep <axis = 1, indices = [1, 3, 5, 7]> prune <n = 2, m = 4, axis = 0> : tensor<4x4xf32>
// BOTH-DAG: kiln.param "h.0.mlp.c_proj.weight" keep <axis = 0, indices = [1, 3, 5, 7]> prune <n = 2, m = 4, axis = 0> : tensor<4x4xf32>
func.func @gpt2_mlp(%x: tensor<?x4xf32>, %ids: tensor<?xi64>) -> (tensor<?x4xf32>, tensor<?x16xf32>) {
  %table = kiln.param "wte.weight" : tensor<16x4xf32>
  %e = kiln.embedding %table[%ids] : tensor<16x4xf32>, tensor<?xi64> -> tensor<?x4xf32>
  %w1 = kiln.param "h.0.mlp.c_fc.weight" : tensor<4x8xf32>
  %b1 = kiln.param "h.0.mlp.c_fc.bias" : tensor<8xf32>
  %h = kiln.linear %e, %w1 bias %b1 layout in_out activation gelu_tanh : (tensor<?x4xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %w2 = kiln.param "h.0.mlp.c_proj.weight" : tensor<8x4xf32>
  %y = kiln.linear %h, %w2 residual %x layout in_out {kiln.neuron_scores = array<f32: 1., 9., 2., 8., 3., 7., 0., 6.>} : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %head = kiln.param "wte.weight" : tensor<16x4xf32>
  %logits = kiln.linear %y, %head layout out_in : (tensor<?x4xf32>, tensor<16x4xf32>) -> tensor<?x16xf32>
  return %y, %logits : tensor<?x4xf32>, tensor<?x16xf32>
}

// -----

// A gated MLP (out_in weights: input features along dim 1): gate and up
// keep the same output rows, down the same input columns, the product
// shrinks. 12 neurons at ffn=0.5 keep 6, rounded up to 8.
// NM-LABEL: func.func @gated_mlp
// NM-DAG: kiln.param "layers.3.mlp.gate_proj.weight" prune <n = 2, m = 4, axis = 1> : tensor<12x8xf32>
// NM-DAG: kiln.param "layers.3.mlp.down_proj.weight" prune <n = 2, m = 4, axis = 1> : tensor<8x12xf32>
// FFN-LABEL: func.func @gated_mlp
// FFN: kiln.param "layers.3.mlp.gate_proj.weight" keep <axis = 0, indices = [0, 2, 4, 6, 8, 9, 10, 11]> : tensor<8x8xf32>
// FFN: kiln.param "layers.3.mlp.up_proj.weight" keep <axis = 0, indices = [0, 2, 4, 6, 8, 9, 10, 11]> : tensor<8x8xf32>
// FFN: kiln.mul %{{.+}}, %{{.+}} : tensor<?x8xf32>
// FFN: kiln.param "layers.3.mlp.down_proj.weight" keep <axis = 1, indices = [0, 2, 4, 6, 8, 9, 10, 11]> : tensor<8x8xf32>
func.func @gated_mlp(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = kiln.param "layers.3.mlp.gate_proj.weight" : tensor<12x8xf32>
  %g = kiln.linear %x, %wg layout out_in activation silu : (tensor<?x8xf32>, tensor<12x8xf32>) -> tensor<?x12xf32>
  %wu = kiln.param "layers.3.mlp.up_proj.weight" : tensor<12x8xf32>
  %u = kiln.linear %x, %wu layout out_in : (tensor<?x8xf32>, tensor<12x8xf32>) -> tensor<?x12xf32>
  %p = kiln.mul %g, %u : tensor<?x12xf32>
  %wd = kiln.param "layers.3.mlp.down_proj.weight" : tensor<8x12xf32>
  %y = kiln.linear %p, %wd layout out_in {kiln.neuron_scores = array<f32: 5., 1., 5., 1., 5., 1., 5., 1., 2., 2., 2., 2.>} : (tensor<?x12xf32>, tensor<8x12xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// n:m needs m to divide the input features: 6 does not take 2:4. A block
// without scores is left whole.
// NMREMARK: remark: weight 'h.1.attn.c_proj.weight' stays dense: 4 does not divide its 6 input features
// NM-LABEL: func.func @indivisible
// NM: kiln.param "h.1.attn.c_proj.weight" : tensor<6x8xf32>
// FFNREMARK: remark: FFN block left whole: its output projection has no kiln.neuron_scores
func.func @indivisible(%x: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %w = kiln.param "h.1.attn.c_proj.weight" : tensor<6x8xf32>
  %y = kiln.linear %x, %w layout in_out activation relu : (tensor<?x6xf32>, tensor<6x8xf32>) -> tensor<?x8xf32>
  %w2 = kiln.param "h.1.mlp.c_proj.weight" : tensor<8x6xf32>
  %z = kiln.linear %y, %w2 layout in_out : (tensor<?x8xf32>, tensor<8x6xf32>) -> tensor<?x6xf32>
  return %z : tensor<?x6xf32>
}

// -----

// Heads. GPT-2's merged projection read through three slices, with kv
// caches: 3 heads of 2 features; heads=0.5 removes floor(0.5 * 3) = 1,
// the lowest-scoring head 1. The merged weight and bias keep q, k and v's
// columns of heads 0 and 2, the slices move, the output projection keeps
// those rows, and the caches (the entry's arguments and results) narrow.
// HEADS-LABEL: func.func @gpt2_attention
// HEADS-SAME: %{{.+}}: tensor<?x?x4xf32>, %{{.+}}: tensor<?x?x4xf32>
// HEADS-SAME: -> (tensor<?x?x6xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>)
// HEADS: kiln.param "h.0.attn.c_attn.weight" keep <axis = 1, indices = [0, 1, 4, 5, 6, 7, 10, 11, 12, 13, 16, 17]> : tensor<6x12xf32>
// HEADS: kiln.param "h.0.attn.c_attn.bias" keep <axis = 0, indices = [0, 1, 4, 5, 6, 7, 10, 11, 12, 13, 16, 17]> : tensor<12xf32>
// HEADS: kiln.slice %{{.+}} dim 2 [0 : 4]
// HEADS: kiln.slice %{{.+}} dim 2 [4 : 8]
// HEADS: kiln.slice %{{.+}} dim 2 [8 : 12]
// HEADS: kiln.attention {{.+}} heads 2 kv_heads 2 mask causal cache
// HEADS: kiln.param "h.0.attn.c_proj.weight" keep <axis = 0, indices = [0, 1, 4, 5]> : tensor<4x6xf32>
// HEADS-NOT: kiln.head_scores
// RUN: kiln-opt %s --kiln-prune-structured=heads=0.5 --split-input-file 2>/dev/null | FileCheck %s --check-prefix=HEADS
// RUN: kiln-opt %s --kiln-prune-structured=heads=0.5 --split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=HEADSREMARK
func.func @gpt2_attention(%x: tensor<?x?x6xf32>, %kc: tensor<?x?x6xf32>, %vc: tensor<?x?x6xf32>, %pos: tensor<?xi64>) -> (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) {
  %w = kiln.param "h.0.attn.c_attn.weight" : tensor<6x18xf32>
  %b = kiln.param "h.0.attn.c_attn.bias" : tensor<18xf32>
  %qkv = kiln.linear %x, %w bias %b layout in_out : (tensor<?x?x6xf32>, tensor<6x18xf32>, tensor<18xf32>) -> tensor<?x?x18xf32>
  %q = kiln.slice %qkv dim 2 [0 : 6] : tensor<?x?x18xf32> -> tensor<?x?x6xf32>
  %k = kiln.slice %qkv dim 2 [6 : 12] : tensor<?x?x18xf32> -> tensor<?x?x6xf32>
  %v = kiln.slice %qkv dim 2 [12 : 18] : tensor<?x?x18xf32> -> tensor<?x?x6xf32>
  %o, %kc2, %vc2 = kiln.attention %q, %k, %v heads 3 kv_heads 3 mask causal cache(%kc, %vc, %pos) {kiln.head_scores = array<f32: 3., 1., 2.>} : (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?xi64>) -> (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>)
  %wo = kiln.param "h.0.attn.c_proj.weight" : tensor<6x6xf32>
  %y = kiln.linear %o, %wo residual %x layout in_out : (tensor<?x?x6xf32>, tensor<6x6xf32>, tensor<?x?x6xf32>) -> tensor<?x?x6xf32>
  return %y, %kc2, %vc2 : tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>
}

// -----

// Grouped-query attention through rotary embeddings: 4 query heads in 2
// groups of 2 (head dim 2); heads=0.5 keeps the better group, 1, whole:
// query heads 2 and 3, key/value head 1.
// HEADS-LABEL: func.func @gqa
// HEADS: kiln.param "layers.0.self_attn.q_proj.weight" keep <axis = 0, indices = [4, 5, 6, 7]> : tensor<4x8xf32>
// HEADS: kiln.param "layers.0.self_attn.k_proj.weight" keep <axis = 0, indices = [2, 3]> : tensor<2x8xf32>
// HEADS: kiln.param "layers.0.self_attn.v_proj.weight" keep <axis = 0, indices = [2, 3]> : tensor<2x8xf32>
// HEADS: kiln.rotary %{{.+}}, %{{.+}} heads 2 theta
// HEADS: kiln.rotary %{{.+}}, %{{.+}} heads 1 theta
// HEADS: kiln.attention {{.+}} heads 2 kv_heads 1 mask causal
// HEADS: kiln.param "layers.0.self_attn.o_proj.weight" keep <axis = 1, indices = [4, 5, 6, 7]> : tensor<8x4xf32>
func.func @gqa(%x: tensor<?x?x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x8xf32> {
  %wq = kiln.param "layers.0.self_attn.q_proj.weight" : tensor<8x8xf32>
  %q = kiln.linear %x, %wq layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  %wk = kiln.param "layers.0.self_attn.k_proj.weight" : tensor<4x8xf32>
  %k = kiln.linear %x, %wk layout out_in : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x4xf32>
  %wv = kiln.param "layers.0.self_attn.v_proj.weight" : tensor<4x8xf32>
  %v = kiln.linear %x, %wv layout out_in : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x4xf32>
  %qr = kiln.rotary %q, %pos heads 4 theta 1.000000e+04 : tensor<?x?x8xf32>, tensor<?x?xi64>
  %kr = kiln.rotary %k, %pos heads 2 theta 1.000000e+04 : tensor<?x?x4xf32>, tensor<?x?xi64>
  %o = kiln.attention %qr, %kr, %v heads 4 kv_heads 2 mask causal {kiln.head_scores = array<f32: 1., 2.>} : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  %wo = kiln.param "layers.0.self_attn.o_proj.weight" : tensor<8x8xf32>
  %y = kiln.linear %o, %wo layout out_in : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// An attention whose projection has another reader is left whole.
// HEADSREMARK: remark: attention heads left whole: not a block of plain projections
// HEADS-LABEL: func.func @shared_projection
// HEADS: kiln.attention {{.+}} heads 2 kv_heads 2 mask causal
func.func @shared_projection(%x: tensor<?x?x4xf32>) -> (tensor<?x?x4xf32>, tensor<?x?x4xf32>) {
  %w = kiln.param "layers.0.q.weight" : tensor<4x4xf32>
  %q = kiln.linear %x, %w layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  %o = kiln.attention %q, %q, %q heads 2 kv_heads 2 mask causal {kiln.head_scores = array<f32: 1., 2.>} : (tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  %wo = kiln.param "layers.0.o.weight" : tensor<4x4xf32>
  %y = kiln.linear %o, %wo layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  return %y, %q : tensor<?x?x4xf32>, tensor<?x?x4xf32>
}

// -----

// T5's self-attention: one relative-position bias shared by the layers.
// Each block that loses a head gets its own bias op over its kept heads'
// table columns (layer 0 keeps heads 0 and 2, layer 1 heads 1 and 2);
// layer 2, without scores, keeps every head and the shared op.
// HEADSREMARK: remark: attention heads left whole: no kiln.head_scores
// HEADS-LABEL: func.func @t5_shared_bias
// HEADS-DAG: %[[T:.+]] = kiln.param "block.0.rel.weight" : tensor<8x3xf32>
// HEADS-DAG: %[[T0:.+]] = kiln.param "block.0.rel.weight" keep <axis = 1, indices = [0, 2]> : tensor<8x2xf32>
// HEADS-DAG: %[[T1:.+]] = kiln.param "block.0.rel.weight" keep <axis = 1, indices = [1, 2]> : tensor<8x2xf32>
// HEADS-DAG: %[[B:.+]] = kiln.relative_position_bias %[[T]], %[[P:.+]], %[[P]] bidirectional buckets 8 max_distance 16 : tensor<8x3xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x3x?x?xf32>
// HEADS-DAG: %[[B0:.+]] = kiln.relative_position_bias %[[T0]], %[[P]], %[[P]] bidirectional {{.+}} -> tensor<1x2x?x?xf32>
// HEADS-DAG: %[[B1:.+]] = kiln.relative_position_bias %[[T1]], %[[P]], %[[P]] bidirectional {{.+}} -> tensor<1x2x?x?xf32>
// HEADS: kiln.attention {{.+}} heads 2 kv_heads 2 mask none bias %[[B0]]
// HEADS: kiln.attention {{.+}} heads 2 kv_heads 2 mask none bias %[[B1]]
// HEADS: kiln.attention {{.+}} heads 3 kv_heads 3 mask none bias %[[B]]
func.func @t5_shared_bias(%x: tensor<?x?x6xf32>, %pos: tensor<?xi64>) -> (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) {
  %t = kiln.param "block.0.rel.weight" : tensor<8x3xf32>
  %b = kiln.relative_position_bias %t, %pos, %pos bidirectional buckets 8 max_distance 16 : tensor<8x3xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x3x?x?xf32>
  %wq0 = kiln.param "block.0.q.weight" : tensor<6x6xf32>
  %q0 = kiln.linear %x, %wq0 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wk0 = kiln.param "block.0.k.weight" : tensor<6x6xf32>
  %k0 = kiln.linear %x, %wk0 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wv0 = kiln.param "block.0.v.weight" : tensor<6x6xf32>
  %v0 = kiln.linear %x, %wv0 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %a0 = kiln.attention %q0, %k0, %v0 heads 3 kv_heads 3 mask none bias %b scale 1.0 {kiln.head_scores = array<f32: 3., 1., 2.>} : (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<1x3x?x?xf32>) -> tensor<?x?x6xf32>
  %wo0 = kiln.param "block.0.o.weight" : tensor<6x6xf32>
  %y0 = kiln.linear %a0, %wo0 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wq1 = kiln.param "block.1.q.weight" : tensor<6x6xf32>
  %q1 = kiln.linear %y0, %wq1 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wk1 = kiln.param "block.1.k.weight" : tensor<6x6xf32>
  %k1 = kiln.linear %y0, %wk1 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wv1 = kiln.param "block.1.v.weight" : tensor<6x6xf32>
  %v1 = kiln.linear %y0, %wv1 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %a1 = kiln.attention %q1, %k1, %v1 heads 3 kv_heads 3 mask none bias %b scale 1.0 {kiln.head_scores = array<f32: 1., 3., 2.>} : (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<1x3x?x?xf32>) -> tensor<?x?x6xf32>
  %wo1 = kiln.param "block.1.o.weight" : tensor<6x6xf32>
  %y1 = kiln.linear %a1, %wo1 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wq2 = kiln.param "block.2.q.weight" : tensor<6x6xf32>
  %q2 = kiln.linear %y1, %wq2 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wk2 = kiln.param "block.2.k.weight" : tensor<6x6xf32>
  %k2 = kiln.linear %y1, %wk2 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %wv2 = kiln.param "block.2.v.weight" : tensor<6x6xf32>
  %v2 = kiln.linear %y1, %wv2 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  %a2 = kiln.attention %q2, %k2, %v2 heads 3 kv_heads 3 mask none bias %b scale 1.0 : (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<1x3x?x?xf32>) -> tensor<?x?x6xf32>
  %wo2 = kiln.param "block.2.o.weight" : tensor<6x6xf32>
  %y2 = kiln.linear %a2, %wo2 layout out_in : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
  return %y0, %y1, %y2 : tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>
}

// -----

// A bias other than T5's relative-position bias cannot be narrowed by
// head: the block is left whole.
// HEADSREMARK: remark: attention heads left whole: not a block of plain projections (a bias other than
// HEADS-LABEL: func.func @other_bias
// HEADS: kiln.attention {{.+}} heads 2 kv_heads 2 mask none bias
func.func @other_bias(%x: tensor<?x?x4xf32>, %b: tensor<1x2x?x?xf32>) -> tensor<?x?x4xf32> {
  %wq = kiln.param "layers.0.q.weight" : tensor<4x4xf32>
  %q = kiln.linear %x, %wq layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  %wk = kiln.param "layers.0.k.weight" : tensor<4x4xf32>
  %k = kiln.linear %x, %wk layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  %wv = kiln.param "layers.0.v.weight" : tensor<4x4xf32>
  %v = kiln.linear %x, %wv layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  %o = kiln.attention %q, %k, %v heads 2 kv_heads 2 mask none bias %b scale 1.0 {kiln.head_scores = array<f32: 1., 2.>} : (tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<1x2x?x?xf32>) -> tensor<?x?x4xf32>
  %wo = kiln.param "layers.0.o.weight" : tensor<4x4xf32>
  %y = kiln.linear %o, %wo layout out_in : (tensor<?x?x4xf32>, tensor<4x4xf32>) -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}

// -----

// Activation-aware (Wanda): a linear's kiln.input_norms become the prune
// attribute's scale, and the pass removes the norms. The FFN pass narrows
// the down projection's norms to its kept neurons first (BOTH).
// NM-LABEL: func.func @input_norms
// NM: kiln.param "h.0.mlp.c_fc.weight" prune <n = 2, m = 4, axis = 0, scale = array<f32: 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00>> : tensor<4x8xf32>
// NM: kiln.param "h.0.mlp.c_proj.weight" prune <n = 2, m = 4, axis = 0, scale = array<f32: 8.000000e+00, 7.000000e+00, 6.000000e+00, 5.000000e+00, 4.000000e+00, 3.000000e+00, 2.000000e+00, 1.000000e+00>> : tensor<8x4xf32>
// NM-NOT: kiln.input_norms
// FRACTION-LABEL: func.func @input_norms
// FRACTION: kiln.param "h.0.mlp.c_fc.weight" prune <fraction = 5.000000e-01, axis = 0, scale = array<f32: 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00>> : tensor<4x8xf32>
// BOTH-LABEL: func.func @input_norms
// BOTH: kiln.param "h.0.mlp.c_proj.weight" keep <axis = 0, indices = [0, 1, 2, 3]> prune <n = 2, m = 4, axis = 0, scale = array<f32: 8.000000e+00, 7.000000e+00, 6.000000e+00, 5.000000e+00>> : tensor<4x4xf32>
// BOTH-NOT: kiln.input_norms
func.func @input_norms(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w1 = kiln.param "h.0.mlp.c_fc.weight" : tensor<4x8xf32>
  %h = kiln.linear %x, %w1 layout in_out activation gelu_tanh {kiln.input_norms = array<f64: 1., 2., 3., 4.>} : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %w2 = kiln.param "h.0.mlp.c_proj.weight" : tensor<8x4xf32>
  %y = kiln.linear %h, %w2 residual %x layout in_out {kiln.input_norms = array<f64: 8., 7., 6., 5., 4., 3., 2., 1.>, kiln.neuron_scores = array<f32: 9., 8., 7., 6., 1., 1., 1., 1.>} : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}
