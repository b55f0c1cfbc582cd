// RUN: kiln-opt %s --kiln-outline-kernels | FileCheck %s --enable-var-scope

// Every non-library op becomes a call to a kernel holding it alone; the
// identical ops of both "layers" share one kernel; matmul, the norms and
// attention stay as gemm, norm and attention steps. kiln.split says which
// buffers a work range over the result's dim 0 cuts: a softmax's rows; a
// broadcast bias is whole; iota cannot be cut at all.
// CHECK-LABEL: func.func private @kernel_0_softmax
// CHECK-SAME: (%{{.+}}: tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
// CHECK-SAME: attributes {kiln.buffers = [tensor<?x?x64xf32>, tensor<?x?x64xf32>], kiln.kernel, kiln.split = array<i1: true, true>}
// CHECK-NEXT: kiln.softmax
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @kernel_1_add
// CHECK-SAME: kiln.kernel, kiln.split = array<i1: true, false, true>}
// CHECK-LABEL: func.func private @kernel_2_iota
// CHECK-SAME: kiln.split = array<i1: false, false>
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x64xf32>, %[[G:[^:]+]]: tensor<64xf32>, %[[W:[^:]+]]: tensor<64x64xf32>, %[[B:[^:]+]]: tensor<64xf32>)
// CHECK: %[[N1:.+]] = kiln.rms_norm %[[X]] scale %[[G]]
// CHECK: %[[S1:.+]] = call @kernel_0_softmax(%[[N1]])
// CHECK: %[[M1:.+]] = kiln.matmul %[[S1]], %[[W]]
// CHECK: %[[A1:.+]] = call @kernel_1_add(%[[M1]], %[[B]])
// CHECK: %[[N2:.+]] = kiln.rms_norm %[[A1]] scale %[[G]]
// CHECK: %[[S2:.+]] = call @kernel_0_softmax(%[[N2]])
// CHECK: %[[M2:.+]] = kiln.matmul %[[S2]], %[[W]]
// CHECK: %[[A2:.+]] = call @kernel_1_add(%[[M2]], %[[B]])
// CHECK: %[[O:.+]] = kiln.attention %[[A2]], %[[A2]], %[[A2]] heads 4 kv_heads 4 mask causal
// CHECK: %[[P:.+]] = call @kernel_2_iota(%[[O]])
// CHECK: return %[[O]], %[[P]]
func.func @forward(%x: tensor<?x?x64xf32>, %g: tensor<64xf32>, %w: tensor<64x64xf32>, %b: tensor<64xf32>) -> (tensor<?x?x64xf32>, tensor<?xi64>) {
  %n1 = kiln.rms_norm %x scale %g epsilon 1.0e-06 : tensor<?x?x64xf32>, tensor<64xf32>
  %s1 = kiln.softmax %n1 dim 2 : tensor<?x?x64xf32>
  %m1 = kiln.matmul %s1, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %a1 = kiln.add %m1, %b : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  %n2 = kiln.rms_norm %a1 scale %g epsilon 1.0e-06 : tensor<?x?x64xf32>, tensor<64xf32>
  %s2 = kiln.softmax %n2 dim 2 : tensor<?x?x64xf32>
  %m2 = kiln.matmul %s2, %w : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %a2 = kiln.add %m2, %b : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  %o = kiln.attention %a2, %a2, %a2 heads 4 kv_heads 4 mask causal
      : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %p = kiln.iota %o dim 1 : tensor<?x?x64xf32> -> tensor<?xi64>
  return %o, %p : tensor<?x?x64xf32>, tensor<?xi64>
}
