// kiln-decompose writes attention out as ops; kiln-match-attention gives
// back the original op (heads, kv heads, mask kind, scale, key mask and
// bias recovered from the ops).
// RUN: kiln-opt %s --split-input-file --kiln-decompose --kiln-match-attention --canonicalize | FileCheck %s
// Idempotent: nothing left to match the second time.
// RUN: kiln-opt %s --split-input-file --kiln-decompose --kiln-match-attention --kiln-match-attention --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @causal
// CHECK-NEXT: %[[A:.+]] = kiln.attention %arg0, %arg1, %arg2 heads 12 kv_heads 12 mask causal : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
// CHECK-NEXT: return %[[A]]
func.func @causal(%q: tensor<?x?x768xf32>, %k: tensor<?x?x768xf32>, %v: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
  %0 = kiln.attention %q, %k, %v heads 12 kv_heads 12 mask causal
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return %0 : tensor<?x?x768xf32>
}

// -----

// CHECK-LABEL: func.func @gqa
// CHECK-NEXT: %[[A:.+]] = kiln.attention %arg0, %arg1, %arg1 heads 8 kv_heads 2 mask none :
// CHECK-NEXT: return %[[A]]
func.func @gqa(%q: tensor<?x?x512xf32>, %kv: tensor<?x?x128xf32>) -> tensor<?x?x512xf32> {
  %0 = kiln.attention %q, %kv, %kv heads 8 kv_heads 2 mask none
      : (tensor<?x?x512xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>) -> tensor<?x?x512xf32>
  return %0 : tensor<?x?x512xf32>
}

// -----

// CHECK-LABEL: func.func @padding_and_bias
// CHECK-NEXT: %[[A:.+]] = kiln.attention %arg0, %arg0, %arg0 heads 4 kv_heads 4 mask padding key_mask %arg1 bias %arg2 scale 1.000000e+00 :
// CHECK-NEXT: return %[[A]]
func.func @padding_and_bias(%q: tensor<?x?x256xf32>, %mask: tensor<?x?xi64>, %bias: tensor<1x4x?x?xf32>) -> tensor<?x?x256xf32> {
  %0 = kiln.attention %q, %q, %q heads 4 kv_heads 4 mask padding key_mask %mask bias %bias scale 1.0
      : (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?xi64>, tensor<1x4x?x?xf32>) -> tensor<?x?x256xf32>
  return %0 : tensor<?x?x256xf32>
}

// -----

// CHECK-LABEL: func.func @causal_padding_scaled
// CHECK-NEXT: %[[A:.+]] = kiln.attention %arg0, %arg1, %arg1 heads 4 kv_heads 1 mask causal_padding key_mask %arg2 scale 5.000000e-01 :
// CHECK-NEXT: return %[[A]]
func.func @causal_padding_scaled(%q: tensor<?x?x64xf32>, %kv: tensor<?x?x16xf32>, %mask: tensor<?x?xi64>) -> tensor<?x?x64xf32> {
  %0 = kiln.attention %q, %kv, %kv heads 4 kv_heads 1 mask causal_padding key_mask %mask scale 0.5
      : (tensor<?x?x64xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?xi64>) -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// Attention over a kv cache: the cache writes and the offset causal mask
// become the attention's cache operands again, and its updated caches are
// what the function returns.
// CHECK-LABEL: func.func @cached
// CHECK-NEXT: %[[O:.+]], %[[C:.+]]:2 = kiln.attention %arg0, %arg1, %arg2 heads 8 kv_heads 2 mask causal cache(%arg3, %arg4, %arg5) :
// CHECK-NEXT: return %[[O]], %[[C]]#0, %[[C]]#1
// CHECK-NOT: kiln.cache_write
func.func @cached(%q: tensor<?x1x512xf32>, %k: tensor<?x1x128xf32>, %v: tensor<?x1x128xf32>,
                  %kc: tensor<?x64x128xf32>, %vc: tensor<?x64x128xf32>, %pos: tensor<?xi64>)
    -> (tensor<?x1x512xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>) {
  %o, %k2, %v2 = kiln.attention %q, %k, %v heads 8 kv_heads 2 mask causal cache(%kc, %vc, %pos)
      : (tensor<?x1x512xf32>, tensor<?x1x128xf32>, tensor<?x1x128xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>, tensor<?xi64>)
      -> (tensor<?x1x512xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>)
  return %o, %k2, %v2 : tensor<?x1x512xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>
}

// -----

// A softmax over the wrong dim is not attention.
// CHECK-LABEL: func.func @not_attention
// CHECK-NOT: kiln.attention
func.func @not_attention(%x: tensor<2x8x4x16xf32>, %y: tensor<2x8x4x16xf32>) -> tensor<2x4x128xf32> {
  %s = kiln.matmul %x, %y transpose_rhs : tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x8x4x4xf32>
  %p = kiln.softmax %s dim 2 : tensor<2x8x4x4xf32>
  %o = kiln.matmul %p, %y : tensor<2x8x4x4xf32>, tensor<2x8x4x16xf32> -> tensor<2x8x4x16xf32>
  %t = kiln.transpose %o [0, 2, 1, 3] : tensor<2x8x4x16xf32> -> tensor<2x4x8x16xf32>
  %r = kiln.reshape %t : tensor<2x4x8x16xf32> -> tensor<2x4x128xf32>
  return %r : tensor<2x4x128xf32>
}

// -----

// Cached, with padding and a bias (T5's decoder self-attention over its
// cache): key mask [B, S_max], bias [1, H, Sq, S_max].
// CHECK-LABEL: func.func @cached_padding_bias
// CHECK-NEXT: %[[O:.+]], %[[C:.+]]:2 = kiln.attention %arg0, %arg1, %arg2 heads 4 kv_heads 4 mask causal_padding key_mask %arg6 bias %arg7 cache(%arg3, %arg4, %arg5) scale 1.000000e+00 :
// CHECK-NEXT: return %[[O]], %[[C]]#0, %[[C]]#1
func.func @cached_padding_bias(%q: tensor<?x?x32xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x32xf32>,
                  %kc: tensor<?x16x32xf32>, %vc: tensor<?x16x32xf32>, %pos: tensor<?xi64>,
                  %mask: tensor<?x16xi64>, %bias: tensor<1x4x?x16xf32>)
    -> (tensor<?x?x32xf32>, tensor<?x16x32xf32>, tensor<?x16x32xf32>) {
  %o, %k2, %v2 = kiln.attention %q, %k, %v heads 4 kv_heads 4 mask causal_padding key_mask %mask bias %bias cache(%kc, %vc, %pos) scale 1.0
      : (tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x16xi64>, tensor<1x4x?x16xf32>, tensor<?x16x32xf32>, tensor<?x16x32xf32>, tensor<?xi64>)
      -> (tensor<?x?x32xf32>, tensor<?x16x32xf32>, tensor<?x16x32xf32>)
  return %o, %k2, %v2 : tensor<?x?x32xf32>, tensor<?x16x32xf32>, tensor<?x16x32xf32>
}

// -----

// An offset causal mask over keys that are not cache writes is not a
// cached attention: nothing is matched.
// CHECK-LABEL: func.func @offsets_without_cache
// CHECK-NOT: kiln.attention
// CHECK: kiln.causal_mask
func.func @offsets_without_cache(%arg0: tensor<?x?x32xf32>, %arg1: tensor<?x?x32xf32>, %arg2: tensor<?x?x32xf32>, %pos: tensor<?xi64>) -> tensor<?x?x32xf32> {
  %0 = kiln.constant dense<0.353553385> : tensor<f32>
  %1 = kiln.reshape %arg0 : tensor<?x?x32xf32> -> tensor<?x?x4x8xf32>
  %2 = kiln.transpose %1 [0, 2, 1, 3] : tensor<?x?x4x8xf32> -> tensor<?x4x?x8xf32>
  %3 = kiln.reshape %arg1 : tensor<?x?x32xf32> -> tensor<?x?x4x8xf32>
  %4 = kiln.transpose %3 [0, 2, 1, 3] : tensor<?x?x4x8xf32> -> tensor<?x4x?x8xf32>
  %5 = kiln.reshape %arg2 : tensor<?x?x32xf32> -> tensor<?x?x4x8xf32>
  %6 = kiln.transpose %5 [0, 2, 1, 3] : tensor<?x?x4x8xf32> -> tensor<?x4x?x8xf32>
  %7 = kiln.matmul %2, %4 transpose_rhs : tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32> -> tensor<?x4x?x?xf32>
  %8 = kiln.mul %7, %0 : tensor<?x4x?x?xf32>, tensor<f32> -> tensor<?x4x?x?xf32>
  %9 = kiln.reshape %8 : tensor<?x4x?x?xf32> -> tensor<?x4x1x?x?xf32>
  %10 = kiln.causal_mask %9 offsets %pos : tensor<?x4x1x?x?xf32>, tensor<?xi64>
  %11 = kiln.softmax %10 dim 4 : tensor<?x4x1x?x?xf32>
  %12 = kiln.reshape %11 : tensor<?x4x1x?x?xf32> -> tensor<?x4x?x?xf32>
  %13 = kiln.matmul %12, %6 : tensor<?x4x?x?xf32>, tensor<?x4x?x8xf32> -> tensor<?x4x?x8xf32>
  %14 = kiln.transpose %13 [0, 2, 1, 3] : tensor<?x4x?x8xf32> -> tensor<?x?x4x8xf32>
  %15 = kiln.reshape %14 : tensor<?x?x4x8xf32> -> tensor<?x?x32xf32>
  return %15 : tensor<?x?x32xf32>
}

// -----

// Grouped-query attention with as many kv heads as queries per kv head:
// kiln-decompose's grouping reshape [?, 2, 2, ?, 16] -> [?, 2, ?, 16] has two
// readings with dynamic dims; the left-to-right one is meant, so the
// decomposed form verifies and matches back.
// CHECK-LABEL: func.func @gqa_group_equals_kv_heads
// CHECK-NEXT: %[[A:.+]] = kiln.attention %arg0, %arg1, %arg2 heads 4 kv_heads 2 mask causal :
// CHECK-NEXT: return %[[A]]
func.func @gqa_group_equals_kv_heads(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x32xf32>) -> tensor<?x?x64xf32> {
  %0 = kiln.attention %q, %k, %v heads 4 kv_heads 2 mask causal
      : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}
