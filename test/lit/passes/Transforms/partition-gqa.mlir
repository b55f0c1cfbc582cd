// RUN: kiln-opt %s --kiln-partition=tp=4 | FileCheck %s

// Grouped-query attention with fewer kv heads than ranks: 4 query heads
// over 4 ranks, 2 kv heads each read by the 2 ranks of its group
// (replicas = 2); rotary and the caches take the rank's heads; T5's
// relative-position table split by heads.
// CHECK-LABEL: func.func @gqa
// CHECK-SAME: %arg2: tensor<?x?x4xf32>
// CHECK: kiln.param "q.weight" shard <axis = 0, sections = 1, parts = 4, replicas = 1> : tensor<4x16xf32>
// CHECK: kiln.param "k.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 2> : tensor<4x16xf32>
// CHECK: kiln.param "v.weight" shard <axis = 0, sections = 1, parts = 2, replicas = 2> : tensor<4x16xf32>
// CHECK: kiln.rotary {{.+}} heads 1 theta
// CHECK: kiln.rotary {{.+}} heads 1 theta
// CHECK: kiln.param "bias_table" shard <axis = 1, sections = 1, parts = 4, replicas = 1> : tensor<8x1xf32>
// CHECK: kiln.relative_position_bias {{.+}} -> tensor<1x1x?x?xf32>
// CHECK: kiln.attention {{.+}} heads 1 kv_heads 1 mask causal bias {{.+}} cache({{.+}}) {kiln.kv_heads = "replicated"}
// CHECK: kiln.param "o.weight" shard <axis = 1, sections = 1, parts = 4, replicas = 1> : tensor<16x4xf32>
// CHECK: kiln.all_reduce {{.+}} ranks 4
func.func @gqa(%x: tensor<?x?x16xf32>, %p: tensor<?x?xi64>, %kc: tensor<?x?x8xf32>, %vc: tensor<?x?x8xf32>, %pos: tensor<?xi64>, %qp: tensor<?xi64>, %kp: tensor<?xi64>) -> (tensor<?x?x16xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %wq = kiln.param "q.weight" : tensor<16x16xf32>
  %q = kiln.linear %x, %wq layout out_in : (tensor<?x?x16xf32>, tensor<16x16xf32>) -> tensor<?x?x16xf32>
  %wk = kiln.param "k.weight" : tensor<8x16xf32>
  %k = kiln.linear %x, %wk layout out_in : (tensor<?x?x16xf32>, tensor<8x16xf32>) -> tensor<?x?x8xf32>
  %wv = kiln.param "v.weight" : tensor<8x16xf32>
  %v = kiln.linear %x, %wv layout out_in : (tensor<?x?x16xf32>, tensor<8x16xf32>) -> tensor<?x?x8xf32>
  %qr = kiln.rotary %q, %p heads 4 theta 1.0e+04 : tensor<?x?x16xf32>, tensor<?x?xi64>
  %kr = kiln.rotary %k, %p heads 2 theta 1.0e+04 : tensor<?x?x8xf32>, tensor<?x?xi64>
  %t = kiln.param "bias_table" : tensor<8x4xf32>
  %b = kiln.relative_position_bias %t, %qp, %kp buckets 8 max_distance 16 : tensor<8x4xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x4x?x?xf32>
  %o, %kc2, %vc2 = kiln.attention %qr, %kr, %v heads 4 kv_heads 2 mask causal bias %b cache(%kc, %vc, %pos) : (tensor<?x?x16xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<1x4x?x?xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?xi64>) -> (tensor<?x?x16xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  %wo = kiln.param "o.weight" : tensor<16x16xf32>
  %h = kiln.linear %o, %wo residual %x layout out_in : (tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return %h, %kc2, %vc2 : tensor<?x?x16xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}
