// RUN: not kiln-opt %s --kiln-pipeline=pp=2 2>&1 | FileCheck %s
// (The op's location is its layer's name, so the error is matched as text.)
// CHECK: error: loc("model.layers.0.mlp"): kiln-pipeline: an op of stage 0 (model.layers.0) reads a value of the later stage 1

// Layer 0's weights come first, so layer 0 is stage 0; an op of layer 0
// that reads layer 1's result would need a value from a later stage.
func.func @backwards(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w0 = kiln.param "model.layers.0.mlp.weight" : tensor<8x8xf32>
  %w1 = kiln.param "model.layers.1.mlp.weight" : tensor<8x8xf32>
  %h1 = kiln.linear %x, %w1 layout out_in : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("model.layers.1.mlp")
  %h0 = kiln.linear %h1, %w0 layout out_in : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("model.layers.0.mlp")
  return %h0 : tensor<?x8xf32>
}
