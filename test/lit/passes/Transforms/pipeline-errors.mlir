// RUN: not kiln-opt %s --kiln-pipeline=pp=3 2>&1 | FileCheck %s --check-prefix=LAYERS
// LAYERS: error: kiln-pipeline: 3 pipeline stages are more than the model's 2 layers
// RUN: kiln-opt %s --kiln-pipeline=pp=2 | not kiln-opt --kiln-pipeline=pp=2 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: error: kiln-pipeline: the module has pipeline stages already
// RUN: not kiln-opt %s --kiln-pipeline=pp=65 2>&1 | FileCheck %s --check-prefix=RANGE
// RANGE: error: kiln-pipeline: pp must be in [1, 64], got 65

func.func @two_layers(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w0 = kiln.param "transformer.h.0.mlp.weight" : tensor<8x8xf32>
  %h0 = kiln.linear %x, %w0 layout out_in : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("transformer.h.0.mlp")
  %w1 = kiln.param "transformer.h.1.mlp.weight" : tensor<8x8xf32>
  %h1 = kiln.linear %h0, %w1 layout out_in : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("transformer.h.1.mlp")
  return %h1 : tensor<?x8xf32>
}
