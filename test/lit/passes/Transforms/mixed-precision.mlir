// RUN: kiln-opt %s --kiln-mixed-precision --split-input-file | FileCheck %s
// Idempotent, and the result verifies and round-trips.
// RUN: kiln-opt %s --kiln-mixed-precision --split-input-file | kiln-opt --kiln-mixed-precision --split-input-file --verify-each | FileCheck %s
// RUN: kiln-opt %s --kiln-mixed-precision=precision=f16 --split-input-file | FileCheck %s --check-prefix=F16
// RUN: kiln-opt %s --kiln-mixed-precision=keep-f32=layer_norm,linear --split-input-file | FileCheck %s --check-prefix=KEEP
// RUN: kiln-opt %s --kiln-mixed-precision=keep-f32=attention --split-input-file | FileCheck %s --check-prefix=ATT
// RUN: not kiln-opt %s --kiln-mixed-precision=precision=fp8 --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not kiln-opt %s --kiln-mixed-precision=keep-f32=gelu --split-input-file 2>&1 | FileCheck %s --check-prefix=BADKIND

// BAD: kiln-mixed-precision: precision must be bf16 or f16, got 'fp8'
// BADKIND: kiln-mixed-precision: keep-f32 lists library op kinds (linear, matmul, attention, layer_norm, rms_norm), got 'gelu'

// A pre-norm block: the norm, the gemms and the residual stream in bf16
// (weights, norm scales and biases stored in bf16); the GELU between two
// gemms computes in f32 between a widening and a narrowing cast; the
// output is f32.
// CHECK-LABEL: func.func @block
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: %[[XL:.+]] = kiln.cast %[[X]] : tensor<?x8xf32> -> tensor<?x8xbf16>
// CHECK-DAG: kiln.param "ln.weight" : tensor<8xbf16>
// CHECK-DAG: kiln.param "fc1.weight" : tensor<16x8xbf16>
// CHECK-DAG: kiln.param "fc2.weight" : tensor<8x16xbf16>
// CHECK: %[[N:.+]] = kiln.layer_norm %[[XL]]
// CHECK-SAME: tensor<?x8xbf16>, tensor<8xbf16>, tensor<8xbf16>
// CHECK: %[[H:.+]] = kiln.linear %[[N]]
// CHECK-SAME: -> tensor<?x16xbf16>
// CHECK: %[[HW:.+]] = kiln.cast %[[H]] : tensor<?x16xbf16> -> tensor<?x16xf32>
// CHECK: %[[G:.+]] = kiln.gelu erf %[[HW]] : tensor<?x16xf32>
// CHECK: %[[GL:.+]] = kiln.cast %[[G]] : tensor<?x16xf32> -> tensor<?x16xbf16>
// CHECK: %[[Y:.+]] = kiln.linear %[[GL]], %{{.+}} residual %[[XL]]
// CHECK-SAME: -> tensor<?x8xbf16>
// CHECK: %[[YW:.+]] = kiln.cast %[[Y]] : tensor<?x8xbf16> -> tensor<?x8xf32>
// CHECK: return %[[YW]] : tensor<?x8xf32>
// F16-LABEL: func.func @block
// F16: kiln.linear
// F16-SAME: -> tensor<?x16xf16>
// KEEP-LABEL: func.func @block
// KEEP-NOT: bf16
// KEEP: return
func.func @block(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %s = kiln.param "ln.weight" : tensor<8xf32>
  %b = kiln.param "ln.bias" : tensor<8xf32>
  %w1 = kiln.param "fc1.weight" : tensor<16x8xf32>
  %w2 = kiln.param "fc2.weight" : tensor<8x16xf32>
  %n = kiln.layer_norm %x scale %s bias %b epsilon 1.0e-05 : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>
  %h = kiln.linear %n, %w1 layout out_in : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  %g = kiln.gelu erf %h : tensor<?x16xf32>
  %y = kiln.linear %g, %w2 residual %x layout out_in : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Attention over a kv cache: the cache arguments and results become bf16
// (the attention step updates them in place), q/k/v slices of one bf16
// gemm stay bf16 (a slice only moves elements), the integer positions are
// untouched. A table read by an embedding and by the LM head is stored in
// bf16 once. With attention kept f32, the caches stay f32.
// CHECK-LABEL: func.func @decoder
// CHECK-SAME: %[[KC:[^:]+]]: tensor<?x?x8xbf16> {kiln.role = "key_cache"}
// CHECK-SAME: %[[VC:[^:]+]]: tensor<?x?x8xbf16> {kiln.role = "value_cache"}
// CHECK-SAME: -> (tensor<?x?x32xf32>, tensor<?x?x8xbf16> {kiln.role = "key_cache"}, tensor<?x?x8xbf16> {kiln.role = "value_cache"})
// CHECK: %[[T:.+]] = kiln.param "wte" : tensor<32x8xbf16>
// CHECK: %[[E:.+]] = kiln.embedding %[[T]][%{{.+}}] : tensor<32x8xbf16>, tensor<?x?xi64> -> tensor<?x?x8xbf16>
// CHECK: %[[QKV:.+]] = kiln.linear %[[E]]
// CHECK: %[[Q:.+]] = kiln.slice %[[QKV]] dim 2 [0 : 8] : tensor<?x?x24xbf16> -> tensor<?x?x8xbf16>
// CHECK: kiln.attention
// CHECK-SAME: cache(%[[KC]], %[[VC]], %{{[^)]+}})
// CHECK-SAME: -> (tensor<?x?x8xbf16>, tensor<?x?x8xbf16>, tensor<?x?x8xbf16>)
// The LM head, read only by the entry's result, stores f32 unrounded.
// CHECK: %[[L:.+]] = kiln.linear %{{.+}}, %[[T]] layout out_in
// CHECK-SAME: (tensor<?x?x8xbf16>, tensor<32x8xbf16>) -> tensor<?x?x32xf32>
// CHECK-NEXT: return %[[L]]
// KEEP-LABEL: func.func @decoder
// KEEP-SAME: tensor<?x?x8xbf16> {kiln.role = "key_cache"}
// KEEP: kiln.param "wte" : tensor<32x8xf32>
// ATT-LABEL: func.func @decoder
// ATT-SAME: tensor<?x?x8xf32> {kiln.role = "key_cache"}
// ATT: kiln.attention
// ATT-SAME: -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
func.func @decoder(%ids: tensor<?x?xi64>, %pos: tensor<?xi64>,
                   %kc: tensor<?x?x8xf32> {kiln.role = "key_cache"},
                   %vc: tensor<?x?x8xf32> {kiln.role = "value_cache"})
    -> (tensor<?x?x32xf32>, tensor<?x?x8xf32> {kiln.role = "key_cache"}, tensor<?x?x8xf32> {kiln.role = "value_cache"}) {
  %wte = kiln.param "wte" : tensor<32x8xf32>
  %wqkv = kiln.param "qkv" : tensor<24x8xf32>
  %e = kiln.embedding %wte[%ids] : tensor<32x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32>
  %qkv = kiln.linear %e, %wqkv layout out_in : (tensor<?x?x8xf32>, tensor<24x8xf32>) -> tensor<?x?x24xf32>
  %q = kiln.slice %qkv dim 2 [0 : 8] : tensor<?x?x24xf32> -> tensor<?x?x8xf32>
  %k = kiln.slice %qkv dim 2 [8 : 16] : tensor<?x?x24xf32> -> tensor<?x?x8xf32>
  %v = kiln.slice %qkv dim 2 [16 : 24] : tensor<?x?x24xf32> -> tensor<?x?x8xf32>
  %o, %kc2, %vc2 = kiln.attention %q, %k, %v heads 2 kv_heads 2 mask causal cache(%kc, %vc, %pos) : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?xi64>) -> (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  %logits = kiln.linear %o, %wte layout out_in : (tensor<?x?x8xf32>, tensor<32x8xf32>) -> tensor<?x?x32xf32>
  return %logits, %kc2, %vc2 : tensor<?x?x32xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>
}
