// RUN: kiln-opt %s --split-input-file "--kiln-plan-memory=max-batch=2 max-seq=16" | FileCheck %s

// Every dim is an expression over the entry's symbols (here the batch,
// symbol 0 = dim 0 of argument 0). At batch 2 every [?, 8] f32 buffer is
// 64 bytes. %a and %b are live until
// the add, so %c goes after them; %a and %b are dead when %d is made, so %d
// reuses offset 0. The arena is 3 buffers.
// CHECK: #[[$BATCH:.+]] = affine_map<()[s0] -> (s0, 8)>
// CHECK-LABEL: func.func @liveness
// CHECK-SAME: attributes {kiln.arena_bytes = 192 : i64, kiln.cache_bytes = 0 : i64, kiln.symbols = ["#0:0"], kiln.weight_bytes = 0 : i64}
// CHECK: kiln.exp %{{.+}} {kiln.arena = array<i64: 0>, kiln.dims = [#[[$BATCH]]]}
// CHECK: kiln.exp %{{.+}} {kiln.arena = array<i64: 64>, kiln.dims = [#[[$BATCH]]]}
// CHECK: kiln.add %{{.+}}, %{{.+}} {kiln.arena = array<i64: 128>, kiln.dims = [#[[$BATCH]]]}
// CHECK: kiln.exp %{{.+}} {kiln.arena = array<i64: 0>, kiln.dims = [#[[$BATCH]]]}
func.func @liveness(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = kiln.exp %x : tensor<?x8xf32>
  %b = kiln.exp %a : tensor<?x8xf32>
  %c = kiln.add %a, %b : tensor<?x8xf32>
  %d = kiln.exp %c : tensor<?x8xf32>
  return %d : tensor<?x8xf32>
}

// -----

// Sizes come from the maximum shapes: every [?, ?, 8] f32 tensor is
// [2, 16, 8], 1024 bytes. The matmul and the attention output are both live
// at the attention; the attention's updated caches are the cache arguments
// (-1: written in place); weights (8x8 f32) and caches are counted apart.
// The symbols are every dynamic argument dim; the caches' dims are their
// own argument's symbols.
// CHECK: #[[$X:.+]] = affine_map<()[s0, s1, s2, s3, s4, s5, s6] -> (s0, s1, 8)>
// CHECK: #[[$K:.+]] = affine_map<()[s0, s1, s2, s3, s4, s5, s6] -> (s2, s3, 8)>
// CHECK: #[[$V:.+]] = affine_map<()[s0, s1, s2, s3, s4, s5, s6] -> (s4, s5, 8)>
// CHECK-LABEL: func.func @decoder_step
// CHECK-SAME: kiln.arena_bytes = 2048 : i64, kiln.cache_bytes = 2048 : i64, kiln.symbols = ["#0:0", "#0:1", "k_cache.0:0", "k_cache.0:1", "v_cache.0:0", "v_cache.0:1", "#3:0"], kiln.weight_bytes = 256 : i64
// CHECK: kiln.param "w"
// CHECK-NOT: kiln.arena
// CHECK: kiln.matmul %{{.+}}, %{{.+}} {kiln.arena = array<i64: 0>, kiln.dims = [#[[$X]]]}
// CHECK: kiln.attention {{.+}} {kiln.arena = array<i64: 1024, -1, -1>, kiln.dims = [#[[$X]], #[[$K]], #[[$V]]]}
func.func @decoder_step(%x: tensor<?x?x8xf32>, %kc: tensor<?x?x8xf32> {kiln.name = "k_cache.0"},
                        %vc: tensor<?x?x8xf32> {kiln.name = "v_cache.0"}, %pos: tensor<?xi64>)
    -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) {
  %w = kiln.param "w" : tensor<8x8xf32>
  %h = kiln.matmul %x, %w : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
  %o, %k2, %v2 = kiln.attention %h, %h, %h heads 2 kv_heads 2 mask causal cache(%kc, %vc, %pos)
      : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?xi64>)
      -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  return %o, %k2, %v2 : tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}

// -----

// Reshapes multiply merged dims and divide split ones; concat adds.
// CHECK: #[[$MERGED:.+]] = affine_map<()[s0, s1] -> (s0 * s1, 64)>
// CHECK: #[[$SPLIT:.+]] = affine_map<()[s0, s1] -> ((s0 * s1) floordiv 2, 2, 64)>
// CHECK: #[[$JOINED:.+]] = affine_map<()[s0, s1] -> (s0, s1 * 2, 64)>
// CHECK-LABEL: func.func @shape_rules
// CHECK: kiln.reshape {{.+}} kiln.dims = [#[[$MERGED]]]
// CHECK: kiln.reshape {{.+}} kiln.dims = [#[[$SPLIT]]]
// CHECK: kiln.concat {{.+}} kiln.dims = [#[[$JOINED]]]
func.func @shape_rules(%x: tensor<?x?x64xf32>) -> (tensor<?x2x64xf32>, tensor<?x?x64xf32>) {
  %m = kiln.reshape %x : tensor<?x?x64xf32> -> tensor<?x64xf32>
  %s = kiln.reshape %m : tensor<?x64xf32> -> tensor<?x2x64xf32>
  %c = kiln.concat %x, %x dim 1 : tensor<?x?x64xf32>, tensor<?x?x64xf32> -> tensor<?x?x64xf32>
  return %s, %c : tensor<?x2x64xf32>, tensor<?x?x64xf32>
}
