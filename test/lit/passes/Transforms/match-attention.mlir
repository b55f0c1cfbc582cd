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

// Attention over a kv cache is not matched yet: its cache writes and
// offset causal mask stay as ops.
// CHECK-LABEL: func.func @cached
// CHECK-NOT: kiln.attention
// CHECK: kiln.causal_mask
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
