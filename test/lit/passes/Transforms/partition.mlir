// RUN: kiln-opt %s --kiln-partition=tp=2 --split-input-file | FileCheck %s
// The result verifies and round-trips.
// RUN: kiln-opt %s --kiln-partition=tp=2 --split-input-file | kiln-opt --verify-each --split-input-file | FileCheck %s

// GPT-2's block: the fused c_attn split by sections (each rank's q, k and
// v heads side by side, the slices moved to them), the output projection
// and c_proj row-parallel with an all_reduce, then bias and residual once.
// CHECK-LABEL: func.func @gpt2_block
// CHECK-SAME: %arg1: tensor<?x?x4xf32>
// CHECK-DAG: %[[B:.+]] = kiln.param "c_attn.bias" shard <axis = 0, sections = 3, parts = 2, replicas = 1> : tensor<12xf32>
// CHECK-DAG: %[[W:.+]] = kiln.param "c_attn.weight" shard <axis = 1, sections = 3, parts = 2, replicas = 1> : tensor<8x12xf32>
// CHECK: %[[QKV:.+]] = kiln.linear %arg0, %[[W]] bias %[[B]] layout in_out
// CHECK-SAME: -> tensor<?x?x12xf32>
// CHECK: %[[Q:.+]] = kiln.slice %[[QKV]] dim 2 [0 : 4]
// CHECK: %[[K:.+]] = kiln.slice %[[QKV]] dim 2 [4 : 8]
// CHECK: %[[V:.+]] = kiln.slice %[[QKV]] dim 2 [8 : 12]
// CHECK: %[[O:.+]], %{{.+}}:2 = kiln.attention %[[Q]], %[[K]], %[[V]] heads 1 kv_heads 1 mask causal cache(%arg1, %arg2, %arg3) {kiln.kv_heads = "split"}
// CHECK: %[[PW:.+]] = kiln.param "c_proj.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 1> : tensor<4x8xf32>
// CHECK: %[[P:.+]] = kiln.linear %[[O]], %[[PW]] layout in_out : (tensor<?x?x4xf32>, tensor<4x8xf32>) -> tensor<?x?x8xf32>
// CHECK: %[[S:.+]] = kiln.all_reduce %[[P]] ranks 2 : tensor<?x?x8xf32>
// CHECK: %[[SB:.+]] = kiln.add %[[S]], %{{.+}} : tensor<?x?x8xf32>, tensor<8xf32>
// CHECK: kiln.add %[[SB]], %arg0 : tensor<?x?x8xf32>
func.func @gpt2_block(%x: tensor<?x?x8xf32>, %kc: tensor<?x?x8xf32>, %vc: tensor<?x?x8xf32>, %pos: tensor<?xi64>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %b = kiln.param "c_attn.bias" : tensor<24xf32>
  %w = kiln.param "c_attn.weight" : tensor<8x24xf32>
  %qkv = kiln.linear %x, %w bias %b layout in_out : (tensor<?x?x8xf32>, tensor<8x24xf32>, tensor<24xf32>) -> tensor<?x?x24xf32>
  %q = kiln.slice %qkv dim 2 [0 : 8] : tensor<?x?x24xf32> -> tensor<?x?x8xf32>
  %k = kiln.slice %qkv dim 2 [8 : 16] : tensor<?x?x24xf32> -> tensor<?x?x8xf32>
  %v = kiln.slice %qkv dim 2 [16 : 24] : tensor<?x?x24xf32> -> tensor<?x?x8xf32>
  %o, %kc2, %vc2 = kiln.attention %q, %k, %v heads 2 kv_heads 2 mask causal cache(%kc, %vc, %pos) : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?xi64>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  %pb = kiln.param "c_proj.bias" : tensor<8xf32>
  %pw = kiln.param "c_proj.weight" : tensor<8x8xf32>
  %h = kiln.linear %o, %pw bias %pb residual %x layout in_out : (tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %h, %kc2, %vc2 : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

// A SwiGLU MLP: gate and up column-parallel, down row-parallel; an untied
// LM head vocabulary-parallel with its logits gathered.
// CHECK-LABEL: func.func @swiglu_head
// CHECK: kiln.param "gate.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 1> : tensor<8x16xf32>
// CHECK: kiln.linear {{.+}} activation silu : {{.+}} -> tensor<?x?x8xf32>
// CHECK: kiln.param "up.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 1> : tensor<8x16xf32>
// CHECK: kiln.mul {{.+}} : tensor<?x?x8xf32>
// CHECK: kiln.param "down.weight" shard <axis = 1, sections = 1, parts = 2, replicas = 1> : tensor<16x8xf32>
// CHECK: %[[D:.+]] = kiln.linear
// CHECK: %[[R:.+]] = kiln.all_reduce %[[D]] ranks 2
// CHECK: %[[H:.+]] = kiln.add %[[R]], %arg0
// CHECK: kiln.param "lm_head.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 1> : tensor<10x16xf32>
// CHECK: %[[L:.+]] = kiln.linear %[[H]], {{.+}} -> tensor<?x?x10xf32>
// CHECK: %[[G:.+]] = kiln.all_gather %[[L]] ranks 2 : tensor<?x?x10xf32> -> tensor<?x?x20xf32>
// CHECK: return %[[G]]
func.func @swiglu_head(%x: tensor<?x?x16xf32>) -> tensor<?x?x20xf32> {
  %wg = kiln.param "gate.weight" : tensor<16x16xf32>
  %g = kiln.linear %x, %wg layout out_in activation silu : (tensor<?x?x16xf32>, tensor<16x16xf32>) -> tensor<?x?x16xf32>
  %wu = kiln.param "up.weight" : tensor<16x16xf32>
  %u = kiln.linear %x, %wu layout out_in : (tensor<?x?x16xf32>, tensor<16x16xf32>) -> tensor<?x?x16xf32>
  %m = kiln.mul %g, %u : tensor<?x?x16xf32>
  %wd = kiln.param "down.weight" : tensor<16x16xf32>
  %h = kiln.linear %m, %wd residual %x layout out_in : (tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %wl = kiln.param "lm_head.weight" : tensor<20x16xf32>
  %l = kiln.linear %h, %wl layout out_in : (tensor<?x?x16xf32>, tensor<20x16xf32>) -> tensor<?x?x20xf32>
  return %l : tensor<?x?x20xf32>
}

// -----

// A head whose weight is also an embedding table (tied) stays whole.
// CHECK-LABEL: func.func @tied_head
// CHECK-NOT: shard
// CHECK-NOT: all_gather
func.func @tied_head(%ids: tensor<?x?xi64>) -> tensor<?x?x20xf32> {
  %t = kiln.param "wte.weight" : tensor<20x16xf32>
  %e = kiln.embedding %t[%ids] : tensor<20x16xf32>, tensor<?x?xi64> -> tensor<?x?x16xf32>
  %h = kiln.param "wte.weight" : tensor<20x16xf32>
  %l = kiln.linear %e, %h layout out_in : (tensor<?x?x16xf32>, tensor<20x16xf32>) -> tensor<?x?x20xf32>
  return %l : tensor<?x?x20xf32>
}
