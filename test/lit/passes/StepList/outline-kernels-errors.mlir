// RUN: kiln-opt %s --allow-unregistered-dialect --verify-diagnostics --kiln-outline-kernels

func.func @two_results(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'test.two' op cannot be outlined as a kernel: it has 2 results}}
  %a, %b = "test.two"(%x) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return %a : tensor<4xf32>
}
