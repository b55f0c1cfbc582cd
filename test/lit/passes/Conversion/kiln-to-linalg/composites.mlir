// RUN: kiln-opt %s --kiln-to-linalg --split-input-file --verify-diagnostics
// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg | FileCheck %s

// The pass refuses composites; the pipeline decomposes them first.
// CHECK-LABEL: func.func @linear
// CHECK-NOT: kiln.linear
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: math.tanh
func.func @linear(%x: tensor<?x?x8xf32>, %w: tensor<8x16xf32>) -> tensor<?x?x16xf32> {
  // expected-error @+1 {{'kiln.linear' op is a composite: run --kiln-decompose before --kiln-to-linalg}}
  %0 = kiln.linear %x, %w layout in_out activation gelu_tanh : (tensor<?x?x8xf32>, tensor<8x16xf32>) -> tensor<?x?x16xf32>
  return %0 : tensor<?x?x16xf32>
}
