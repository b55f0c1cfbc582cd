// RUN: kiln-opt %s --kiln-bind-params --split-input-file --verify-diagnostics | FileCheck %s

// Each distinct weight becomes one trailing argument named by kiln.param;
// both reads of "w" use the same argument.
// CHECK-LABEL: func.func @f
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x4xf32>, %[[W:[^:]+]]: tensor<4x4xf32> {kiln.param = "w"}, %[[B:[^:]+]]: tensor<4xf32> {kiln.param = "b"})
// CHECK-NOT: kiln.param "
// CHECK: %[[M:.+]] = kiln.matmul %[[X]], %[[W]]
// CHECK: %[[N:.+]] = kiln.matmul %[[M]], %[[W]]
// CHECK: kiln.add %[[N]], %[[B]]
func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = kiln.param "w" : tensor<4x4xf32>
  %m = kiln.matmul %x, %w : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %w2 = kiln.param "w" : tensor<4x4xf32>
  %n = kiln.matmul %m, %w2 : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %b = kiln.param "b" : tensor<4xf32>
  %o = kiln.add %n, %b : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
  return %o : tensor<?x4xf32>
}

// -----

func.func @conflicting_types() -> (tensor<4xf32>, tensor<4xbf16>) {
  %a = kiln.param "w" : tensor<4xf32>
  // expected-error @+1 {{'kiln.param' op reads weight 'w' with type 'tensor<4xbf16>', another read has type 'tensor<4xf32>'}}
  %b = kiln.param "w" : tensor<4xbf16>
  return %a, %b : tensor<4xf32>, tensor<4xbf16>
}
