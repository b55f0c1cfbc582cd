// RUN: kiln-opt %s --kiln-to-linalg --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[S:.+]]: tensor<?x12x?x?xf32>)
// CHECK: %[[E:.+]] = tensor.empty
// CHECK: linalg.softmax dimension(3) ins(%[[S]] : tensor<?x12x?x?xf32>) outs(%[[E]] : tensor<?x12x?x?xf32>)
func.func @softmax(%s: tensor<?x12x?x?xf32>) -> tensor<?x12x?x?xf32> {
  %p = kiln.softmax %s dim 3 : tensor<?x12x?x?xf32>
  return %p : tensor<?x12x?x?xf32>
}

// -----

// Layer norm: a row sum, the mean, a row sum of centered squares, then one
// elementwise generic.
// CHECK-DAG: #[[$ROWS:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$LAST:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @layer_norm
// CHECK: %[[SUM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: %[[MEAN:.+]] = linalg.generic
// CHECK: arith.divf
// CHECK: %[[SQ:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.+}}, %[[MEAN]] :
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$ROWS]], #[[$LAST]], #[[$ROWS]], #[[$LAST]], #{{.+}}], iterator_types = ["parallel", "parallel", "parallel"]} ins(%{{.+}}, %[[SQ]], %{{.+}}, %[[MEAN]], %{{.+}} :
// CHECK: math.rsqrt
func.func @layer_norm(%x: tensor<?x?x512xf32>, %g: tensor<512xf32>, %b: tensor<512xf32>) -> tensor<?x?x512xf32> {
  %0 = kiln.layer_norm %x scale %g bias %b epsilon 1.0e-05 : tensor<?x?x512xf32>, tensor<512xf32>, tensor<512xf32>
  return %0 : tensor<?x?x512xf32>
}

// -----

// RMS norm: no mean, no bias.
// CHECK-LABEL: func.func @rms_norm
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: arith.subf
// CHECK: math.rsqrt
func.func @rms_norm(%x: tensor<?x?x512xf32>, %g: tensor<512xf32>) -> tensor<?x?x512xf32> {
  %0 = kiln.rms_norm %x scale %g epsilon 1.0e-06 : tensor<?x?x512xf32>, tensor<512xf32>
  return %0 : tensor<?x?x512xf32>
}

// -----

// CHECK-LABEL: func.func @reduce
// CHECK: %[[MAX:.+]] = linalg.reduce { arith.maximumf } ins(%{{.+}} : tensor<?x8x4xf32>) outs(%{{.+}} : tensor<?x4xf32>) dimensions = [1]
// CHECK: tensor.expand_shape %[[MAX]] {{\[\[}}0], [1, 2]] output_shape [%{{.+}}, 1, 4] : tensor<?x4xf32> into tensor<?x1x4xf32>
// CHECK: linalg.reduce { arith.addf } ins(%{{.+}} : tensor<?x8x4xf32>) outs(%{{.+}} : tensor<?xf32>) dimensions = [1, 2]
// CHECK: arith.divf
func.func @reduce(%x: tensor<?x8x4xf32>) -> (tensor<?x1x4xf32>, tensor<?xf32>) {
  %0 = kiln.reduce max %x dims [1] keep_dims : tensor<?x8x4xf32> -> tensor<?x1x4xf32>
  %1 = kiln.reduce mean %x dims [1, 2] : tensor<?x8x4xf32> -> tensor<?xf32>
  return %0, %1 : tensor<?x1x4xf32>, tensor<?xf32>
}
