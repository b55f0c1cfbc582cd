// kiln-quantize-weights refuses SmoothQuant factors (kiln.smooth, from
// kilnc's calibration) that do not match the linear's input features.
// RUN: not kiln-opt %s --kiln-quantize-weights="act-bits=8" --split-input-file 2>&1 | FileCheck %s
// CHECK: error: kiln.smooth has 3 factors for 4 input features
func.func @mismatched(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = kiln.param "fc.weight" : tensor<3x4xf32>
  %h = kiln.linear %x, %w layout out_in {kiln.smooth = dense<[2.0, 0.5, 1.0]> : tensor<3xf32>} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  return %h : tensor<?x3xf32>
}

// -----

// A row-parallel rank's weight (2 of 4 input features) needs the whole
// weight's factors, not its part's.
// CHECK: error: kiln.smooth has 2 factors for 4 input features
func.func @rank_part(%x: tensor<?x2xf32>) -> tensor<?x3xf32> {
  %w = kiln.param "proj.weight" shard <axis = 1, sections = 1, parts = 2, replicas = 1> : tensor<3x2xf32>
  %h = kiln.linear %x, %w layout out_in {kiln.smooth = dense<[2.0, 0.5]> : tensor<2xf32>} : (tensor<?x2xf32>, tensor<3x2xf32>) -> tensor<?x3xf32>
  return %h : tensor<?x3xf32>
}
