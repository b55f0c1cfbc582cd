// RUN: kiln-opt %s --allow-unregistered-dialect --verify-diagnostics --kiln-plan-memory

func.func @unknown_step(%x: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'test.op' op has no rule for its result dims in the step list}}
  %a = "test.op"(%x) : (tensor<?xf32>) -> tensor<?xf32>
  return %a : tensor<?xf32>
}
