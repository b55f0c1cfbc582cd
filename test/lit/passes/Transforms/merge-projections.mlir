// RUN: kiln-opt %s --kiln-merge-projections --split-input-file | FileCheck %s
// Idempotent, and the result verifies and round-trips.
// RUN: kiln-opt %s --kiln-merge-projections --split-input-file | kiln-opt --kiln-merge-projections --split-input-file --verify-each | FileCheck %s

// GQA q, k, v projections of one input: one gemm over the weights
// concatenated along the output dim, each result a slice of it.
// CHECK-LABEL: func.func @qkv
// CHECK: %[[W:.+]] = kiln.param "q.weight+k.weight+v.weight" parts ["q.weight", "k.weight", "v.weight"] : tensor<128x64xf32>
// CHECK: %[[B:.+]] = kiln.param "q.bias+k.bias+v.bias" parts ["q.bias", "k.bias", "v.bias"] : tensor<128xf32>
// CHECK: %[[Y:.+]] = kiln.linear %arg0, %[[W]] bias %[[B]] layout out_in
// CHECK-SAME: -> tensor<?x?x128xf32>
// CHECK-DAG: kiln.slice %[[Y]] dim 2 [0 : 64]
// CHECK-DAG: kiln.slice %[[Y]] dim 2 [64 : 96]
// CHECK-DAG: kiln.slice %[[Y]] dim 2 [96 : 128]
// CHECK-NOT: kiln.linear
func.func @qkv(%x: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) {
  %wq = kiln.param "q.weight" : tensor<64x64xf32>
  %bq = kiln.param "q.bias" : tensor<64xf32>
  %wk = kiln.param "k.weight" : tensor<32x64xf32>
  %bk = kiln.param "k.bias" : tensor<32xf32>
  %wv = kiln.param "v.weight" : tensor<32x64xf32>
  %bv = kiln.param "v.bias" : tensor<32xf32>
  %q = kiln.linear %x, %wq bias %bq layout out_in : (tensor<?x?x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %k = kiln.linear %x, %wk bias %bk layout out_in : (tensor<?x?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  %v = kiln.linear %x, %wv bias %bv layout out_in : (tensor<?x?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  return %q, %k, %v : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
}

// -----

// Not merged: other inputs, a residual or an activation in the epilogue,
// GPT-2's in_out layout (its q, k and v are already one weight), and a
// bias on one but not the other.
// CHECK-LABEL: func.func @kept
// CHECK-NOT: parts
// CHECK-COUNT-6: kiln.linear
func.func @kept(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>, %r: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %w1 = kiln.param "w1" : tensor<8x8xf32>
  %w2 = kiln.param "w2" : tensor<8x8xf32>
  %w3 = kiln.param "w3" : tensor<8x8xf32>
  %w4 = kiln.param "w4" : tensor<8x8xf32>
  %b5 = kiln.param "b5" : tensor<8xf32>
  %a = kiln.linear %x, %w1 layout out_in : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %b = kiln.linear %y, %w2 layout out_in : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %c = kiln.linear %y, %w3 residual %r layout out_in : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %d = kiln.linear %r, %w4 layout in_out : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %e = kiln.linear %r, %w3 layout in_out : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %f = kiln.linear %x, %w2 bias %b5 layout out_in activation relu : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %a, %b, %c, %d, %e, %f : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}
