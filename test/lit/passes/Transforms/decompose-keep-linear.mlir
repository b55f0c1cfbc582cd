// RUN: kiln-opt %s --kiln-decompose="keep-linear=1" | FileCheck %s

// With keep-linear, a linear stays whole for a gemm step when its epilogue
// is what cuBLASLt's can hold (bias, relu or tanh GELU, or a residual
// without an activation); otherwise the gemm keeps the bias (and the
// activation it can hold) and the rest becomes primitives.
// CHECK-LABEL: func.func @epilogues
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x64xf32>, %[[W:[^:]+]]: tensor<64x128xf32>, %[[WT:[^:]+]]: tensor<128x64xf32>, %[[B:[^:]+]]: tensor<128xf32>, %[[R:[^:]+]]: tensor<?x?x128xf32>)
func.func @epilogues(%x: tensor<?x?x64xf32>, %w: tensor<64x128xf32>,
                     %wt: tensor<128x64xf32>, %b: tensor<128xf32>,
                     %r: tensor<?x?x128xf32>)
    -> (tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>,
        tensor<?x?x128xf32>, tensor<?x?x128xf32>) {
  // CHECK: %[[GELU:.+]] = kiln.linear %[[X]], %[[W]] bias %[[B]] layout in_out activation gelu_tanh
  %0 = kiln.linear %x, %w bias %b layout in_out activation gelu_tanh
      : (tensor<?x?x64xf32>, tensor<64x128xf32>, tensor<128xf32>) -> tensor<?x?x128xf32>
  // CHECK: %[[RES:.+]] = kiln.linear %[[X]], %[[WT]] bias %[[B]] residual %[[R]] layout out_in :
  %1 = kiln.linear %x, %wt bias %b residual %r layout out_in
      : (tensor<?x?x64xf32>, tensor<128x64xf32>, tensor<128xf32>, tensor<?x?x128xf32>) -> tensor<?x?x128xf32>
  // BERT's erf GELU with a residual: the gemm keeps the bias only.
  // CHECK: %[[L2:.+]] = kiln.linear %[[X]], %[[W]] bias %[[B]] layout in_out :
  // CHECK-NEXT: %[[ERF:.+]] = kiln.gelu erf %[[L2]]
  // CHECK-NEXT: %[[ERFR:.+]] = kiln.add %[[ERF]], %[[R]]
  %2 = kiln.linear %x, %w bias %b residual %r layout in_out activation gelu_erf
      : (tensor<?x?x64xf32>, tensor<64x128xf32>, tensor<128xf32>, tensor<?x?x128xf32>) -> tensor<?x?x128xf32>
  // Relu and a residual: the gemm keeps bias and relu.
  // CHECK: %[[L3:.+]] = kiln.linear %[[X]], %[[W]] bias %[[B]] layout in_out activation relu
  // CHECK-NEXT: %[[RELUR:.+]] = kiln.add %[[L3]], %[[R]]
  %3 = kiln.linear %x, %w bias %b residual %r layout in_out activation relu
      : (tensor<?x?x64xf32>, tensor<64x128xf32>, tensor<128xf32>, tensor<?x?x128xf32>) -> tensor<?x?x128xf32>
  // SiLU without a bias: a plain gemm, then the activation.
  // CHECK: %[[L4:.+]] = kiln.linear %[[X]], %[[W]] layout in_out :
  // CHECK-NEXT: %[[SILU:.+]] = kiln.silu %[[L4]]
  %4 = kiln.linear %x, %w layout in_out activation silu
      : (tensor<?x?x64xf32>, tensor<64x128xf32>) -> tensor<?x?x128xf32>
  // CHECK: return %[[GELU]], %[[RES]], %[[ERFR]], %[[RELUR]], %[[SILU]]
  return %0, %1, %2, %3, %4 : tensor<?x?x128xf32>, tensor<?x?x128xf32>,
      tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>
}
