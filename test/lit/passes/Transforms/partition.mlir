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

// Tied embeddings, vocabulary-parallel: the table (the module's largest,
// 21 rows) padded to 22 and cut in two parts of 11 rows, one slot read by
// the lookup and the head. Each rank looks up id % 11 in its part; the
// parts' rows are gathered and each id keeps its part's (id / 11). Ids
// past the vocabulary are looked up as themselves, so the lookup reports
// them. The head's logits are gathered and the padding column sliced
// off. The position table (8 rows) stays whole.
// CHECK-LABEL: func.func @tied_head
// CHECK: %[[T:.+]] = kiln.param "wte.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 1, pad = 1> : tensor<11x16xf32>
// CHECK: %[[N:.+]] = kiln.constant dense<11> : tensor<i64>
// CHECK: %[[PART:.+]] = kiln.div %arg0, %[[N]]
// CHECK: %[[M:.+]] = kiln.mul %[[PART]], %[[N]]
// CHECK: %[[R:.+]] = kiln.sub %arg0, %[[M]]
// CHECK: %[[V:.+]] = kiln.constant dense<21> : tensor<i64>
// CHECK: %[[IN:.+]] = kiln.compare lt %arg0, %[[V]]
// CHECK: %[[LOCAL:.+]] = kiln.select %[[IN]], %[[R]], %arg0
// CHECK: %[[E:.+]] = kiln.embedding %[[T]][%[[LOCAL]]] : tensor<11x16xf32>, tensor<?x?xi64> -> tensor<?x?x16xf32>
// CHECK: %[[G:.+]] = kiln.all_gather %[[E]] ranks 2 : tensor<?x?x16xf32> -> tensor<?x?x32xf32>
// CHECK: %[[C:.+]] = kiln.reshape %[[G]] : tensor<?x?x32xf32> -> tensor<?x?x2x16xf32>
// CHECK: %[[COL:.+]] = kiln.reshape %[[PART]] : tensor<?x?xi64> -> tensor<?x?x1xi64>
// CHECK: %[[HIT:.+]] = kiln.compare eq %[[COL]], %{{.+}} : tensor<?x?x1xi64>, tensor<2xi64> -> tensor<?x?x2xi1>
// CHECK: %[[HIT4:.+]] = kiln.reshape %[[HIT]] : tensor<?x?x2xi1> -> tensor<?x?x2x1xi1>
// CHECK: %[[PICK:.+]] = kiln.select %[[HIT4]], %[[C]], %{{.+}} : tensor<?x?x2x1xi1>, tensor<?x?x2x16xf32>, tensor<f32> -> tensor<?x?x2x16xf32>
// CHECK: %[[EMB:.+]] = kiln.reduce sum %[[PICK]] dims [2] : tensor<?x?x2x16xf32> -> tensor<?x?x16xf32>
// CHECK: kiln.param "wpe.weight" : tensor<8x16xf32>
// CHECK: kiln.add %[[EMB]]
// CHECK: %[[H:.+]] = kiln.param "wte.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 1, pad = 1> : tensor<11x16xf32>
// CHECK: %[[L:.+]] = kiln.linear %{{.+}}, %[[H]] layout out_in : (tensor<?x?x16xf32>, tensor<11x16xf32>) -> tensor<?x?x11xf32>
// CHECK: %[[LG:.+]] = kiln.all_gather %[[L]] ranks 2 : tensor<?x?x11xf32> -> tensor<?x?x22xf32>
// CHECK: %[[LOGITS:.+]] = kiln.slice %[[LG]] dim 2 [0 : 21] : tensor<?x?x22xf32> -> tensor<?x?x21xf32>
// CHECK: return %[[LOGITS]]
func.func @tied_head(%ids: tensor<?x?xi64>, %pos: tensor<?x?xi64>) -> tensor<?x?x21xf32> {
  %t = kiln.param "wte.weight" : tensor<21x16xf32>
  %e = kiln.embedding %t[%ids] : tensor<21x16xf32>, tensor<?x?xi64> -> tensor<?x?x16xf32>
  %wp = kiln.param "wpe.weight" : tensor<8x16xf32>
  %p = kiln.embedding %wp[%pos] : tensor<8x16xf32>, tensor<?x?xi64> -> tensor<?x?x16xf32>
  %x = kiln.add %e, %p : tensor<?x?x16xf32>, tensor<?x?x16xf32> -> tensor<?x?x16xf32>
  %h = kiln.param "wte.weight" : tensor<21x16xf32>
  %l = kiln.linear %x, %h layout out_in : (tensor<?x?x16xf32>, tensor<21x16xf32>) -> tensor<?x?x21xf32>
  return %l : tensor<?x?x21xf32>
}

// -----

// A vocabulary table something else reads too (here a linear whose
// result is not returned) stays whole, and so does the head tied to it.
// CHECK-LABEL: func.func @table_read_elsewhere
// CHECK-NOT: shard
// CHECK-NOT: all_gather
func.func @table_read_elsewhere(%ids: tensor<?x?xi64>) -> tensor<?x?x20xf32> {
  %t = kiln.param "wte.weight" : tensor<20x16xf32>
  %e = kiln.embedding %t[%ids] : tensor<20x16xf32>, tensor<?x?xi64> -> tensor<?x?x16xf32>
  %h = kiln.param "wte.weight" : tensor<20x16xf32>
  %l = kiln.linear %e, %h layout out_in : (tensor<?x?x16xf32>, tensor<20x16xf32>) -> tensor<?x?x20xf32>
  %r = kiln.relu %l : tensor<?x?x20xf32>
  return %r : tensor<?x?x20xf32>
}
