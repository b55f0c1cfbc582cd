// RUN: kiln-opt %s --kiln-fuse --split-input-file | FileCheck %s
// Idempotent: a second run finds nothing more to fuse.
// RUN: kiln-opt %s --kiln-fuse --split-input-file | kiln-opt --kiln-fuse --split-input-file | FileCheck %s
// The fused IR verifies and round-trips.
// RUN: kiln-opt %s --kiln-fuse --split-input-file | kiln-opt --split-input-file --verify-each

// A SwiGLU product: silu and mul in one region.
// CHECK-LABEL: func.func @swiglu
// CHECK: %[[F:.+]] = kiln.fused(%arg0, %arg1) : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
// CHECK-NEXT: ^bb0(%[[G:.+]]: tensor<?x?x64xf32>, %[[U:.+]]: tensor<?x?x64xf32>):
// CHECK-NEXT: %[[S:.+]] = kiln.silu %[[G]]
// CHECK-NEXT: %[[M:.+]] = kiln.mul %[[S]], %[[U]]
// CHECK-NEXT: kiln.yield %[[M]]
// CHECK: return %[[F]]
func.func @swiglu(%g: tensor<?x?x64xf32>, %u: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  %s = kiln.silu %g : tensor<?x?x64xf32>
  %m = kiln.mul %s, %u : tensor<?x?x64xf32>
  return %m : tensor<?x?x64xf32>
}

// -----

// Rotary's rotate-half (slices, neg, concat) with the cos/sin products and
// the reshapes around them: one region reading q, cos and sin.
// CHECK-LABEL: func.func @rotary
// CHECK: kiln.fused(%arg0, %arg1, %arg2)
// CHECK-COUNT-2: kiln.reshape
// CHECK: kiln.concat
// CHECK: kiln.yield
// CHECK-NOT: kiln.fused
// CHECK: return
func.func @rotary(%q: tensor<?x?x32xf32>, %cos: tensor<?x1x8xf32>, %sin: tensor<?x1x8xf32>) -> tensor<?x?x32xf32> {
  %x = kiln.reshape %q : tensor<?x?x32xf32> -> tensor<?x?x4x8xf32>
  %x1 = kiln.slice %x dim 3 [0 : 4] : tensor<?x?x4x8xf32> -> tensor<?x?x4x4xf32>
  %x2 = kiln.slice %x dim 3 [4 : 8] : tensor<?x?x4x8xf32> -> tensor<?x?x4x4xf32>
  %n = kiln.neg %x2 : tensor<?x?x4x4xf32>
  %r = kiln.concat %n, %x1 dim 3 : tensor<?x?x4x4xf32>, tensor<?x?x4x4xf32> -> tensor<?x?x4x8xf32>
  %a = kiln.mul %x, %cos : tensor<?x?x4x8xf32>, tensor<?x1x8xf32> -> tensor<?x?x4x8xf32>
  %b = kiln.mul %r, %sin : tensor<?x?x4x8xf32>, tensor<?x1x8xf32> -> tensor<?x?x4x8xf32>
  %s = kiln.add %a, %b : tensor<?x?x4x8xf32>
  %y = kiln.reshape %s : tensor<?x?x4x8xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// A producer two regions read is cloned into each (a cheap cos table);
// the two regions, siblings of one shape reading a common input, then
// become one kernel with two results.
// CHECK-LABEL: func.func @shared
// CHECK: %[[F:.+]]:2 = kiln.fused(%arg0, %arg1, %arg2)
// CHECK: kiln.cos
// CHECK: kiln.mul
// CHECK: kiln.cos
// CHECK: kiln.mul
// CHECK: kiln.yield
// CHECK: kiln.matmul %[[F]]#0
// CHECK: kiln.matmul %[[F]]#1
func.func @shared(%p: tensor<4x8xf32>, %x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %w: tensor<8x8xf32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %c = kiln.cos %p : tensor<4x8xf32>
  %a = kiln.mul %x, %c : tensor<4x8xf32>
  %b = kiln.mul %y, %c : tensor<4x8xf32>
  %ma = kiln.matmul %a, %w : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  %mb = kiln.matmul %b, %w : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  return %ma, %mb : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// GPT-2's q, k and v slices of the fused projection: one kernel, three
// results.
// CHECK-LABEL: func.func @qkv
// CHECK: %[[F:.+]]:3 = kiln.fused(%arg0)
// CHECK-COUNT-3: kiln.slice
// CHECK: kiln.yield
// CHECK: kiln.attention %[[F]]#0, %[[F]]#1, %[[F]]#2
func.func @qkv(%qkv: tensor<?x?x144xf32>) -> tensor<?x?x48xf32> {
  %q = kiln.slice %qkv dim 2 [0 : 48] : tensor<?x?x144xf32> -> tensor<?x?x48xf32>
  %k = kiln.slice %qkv dim 2 [48 : 96] : tensor<?x?x144xf32> -> tensor<?x?x48xf32>
  %v = kiln.slice %qkv dim 2 [96 : 144] : tensor<?x?x144xf32> -> tensor<?x?x48xf32>
  %o = kiln.attention %q, %k, %v heads 3 kv_heads 3 mask causal
      : (tensor<?x?x48xf32>, tensor<?x?x48xf32>, tensor<?x?x48xf32>) -> tensor<?x?x48xf32>
  return %o : tensor<?x?x48xf32>
}

// -----

// Siblings are not merged when a result is used before the last of them:
// the merged kernel could not run early enough.
// CHECK-LABEL: func.func @used_between
// CHECK-NOT: kiln.fused
// CHECK: kiln.slice
// CHECK: kiln.matmul
// CHECK: kiln.slice
func.func @used_between(%x: tensor<4x16xf32>, %w: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %a = kiln.slice %x dim 1 [0 : 8] : tensor<4x16xf32> -> tensor<4x8xf32>
  %m = kiln.matmul %a, %w : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  %b = kiln.slice %x dim 1 [8 : 16] : tensor<4x16xf32> -> tensor<4x8xf32>
  %t = kiln.matmul %b, %w : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  return %m, %t : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Nothing to fuse: a lone elementwise op stays as it is, and ops that are
// not fusible (softmax, matmul) are never pulled into a region.
// CHECK-LABEL: func.func @nothing
// CHECK-NOT: kiln.fused
// CHECK: kiln.exp
// CHECK: kiln.softmax
// CHECK: kiln.matmul
func.func @nothing(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %e = kiln.exp %x : tensor<4x8xf32>
  %s = kiln.softmax %e dim 1 : tensor<4x8xf32>
  %m = kiln.matmul %s, %w : tensor<4x8xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  return %m : tensor<4x8xf32>
}
