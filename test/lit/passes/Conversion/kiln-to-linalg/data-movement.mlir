// RUN: kiln-opt %s --kiln-to-linalg --split-input-file | FileCheck %s

// CHECK-DAG: #[[$IDS:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[IDS_ARG:.+]]: tensor<?x?xi64>)
// CHECK: %[[T:.+]] = kiln.param "wte.weight"
// CHECK: %[[ROWS:.+]] = tensor.dim %[[T]], %{{.+}} : tensor<50257x768xf32>
// CHECK: %[[LAST:.+]] = arith.subi %[[ROWS]], %{{.+}} : index
// CHECK: linalg.generic {indexing_maps = [#[[$IDS]], #{{.+}}], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[IDS_ARG]] : tensor<?x?xi64>)
// CHECK: ^bb0(%[[ID:.+]]: i64, %{{.+}}: f32):
// CHECK: %[[CAST:.+]] = arith.index_cast %[[ID]] : i64 to index
// An id outside the table reads its first or last row, never past it.
// CHECK: %[[LOW:.+]] = arith.maxsi %[[CAST]], %{{.+}} : index
// CHECK: %[[ROW:.+]] = arith.minsi %[[LOW]], %[[LAST]] : index
// CHECK: %[[COL:.+]] = linalg.index 2 : index
// CHECK: tensor.extract %[[T]][%[[ROW]], %[[COL]]] : tensor<50257x768xf32>
func.func @embedding(%ids: tensor<?x?xi64>) -> tensor<?x?x768xf32> {
  %t = kiln.param "wte.weight" : tensor<50257x768xf32>
  %e = kiln.embedding %t[%ids] : tensor<50257x768xf32>, tensor<?x?xi64> -> tensor<?x?x768xf32>
  return %e : tensor<?x?x768xf32>
}

// -----

// CHECK-LABEL: func.func @shapes
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x768xf32>)
// CHECK: %[[R:.+]] = tensor.expand_shape %[[X]] {{\[\[}}0], [1], [2, 3]] output_shape [%{{.+}}, %{{.+}}, 12, 64] : tensor<?x?x768xf32> into tensor<?x?x12x64xf32>
// CHECK: %[[E:.+]] = tensor.empty({{.+}}) : tensor<?x12x?x64xf32>
// CHECK: %[[T:.+]] = linalg.transpose ins(%[[R]] : tensor<?x?x12x64xf32>) outs(%[[E]] : tensor<?x12x?x64xf32>) permutation = [0, 2, 1, 3]
// CHECK: %[[S:.+]] = tensor.extract_slice %[[R]][0, 0, 0, 1] [%{{.+}}, %{{.+}}, 12, 32] [1, 1, 1, 2] : tensor<?x?x12x64xf32> to tensor<?x?x12x32xf32>
// CHECK: %[[C:.+]] = tensor.concat dim(3) %[[S]], %[[S]] : (tensor<?x?x12x32xf32>, tensor<?x?x12x32xf32>) -> tensor<?x?x12x64xf32>
// CHECK: tensor.collapse_shape %[[C]] {{\[\[}}0], [1], [2, 3]] : tensor<?x?x12x64xf32> into tensor<?x?x768xf32>
func.func @shapes(%x: tensor<?x?x768xf32>) -> (tensor<?x12x?x64xf32>, tensor<?x?x12x64xf32>, tensor<?x?x768xf32>) {
  %r = kiln.reshape %x : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  %t = kiln.transpose %r [0, 2, 1, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  %s = kiln.slice %r dim 3 [1 : 64 : 2] : tensor<?x?x12x64xf32> -> tensor<?x?x12x32xf32>
  %c = kiln.concat %s, %s dim 3 : tensor<?x?x12x32xf32>, tensor<?x?x12x32xf32> -> tensor<?x?x12x64xf32>
  %m = kiln.reshape %c : tensor<?x?x12x64xf32> -> tensor<?x?x768xf32>
  return %t, %c, %m : tensor<?x12x?x64xf32>, tensor<?x?x12x64xf32>, tensor<?x?x768xf32>
}

// -----

// A static reshape that regroups dims goes through a flat tensor.
// CHECK-LABEL: func.func @regroup
// CHECK: %[[F:.+]] = tensor.collapse_shape %{{.+}} {{\[\[}}0, 1]] : tensor<2x3xf32> into tensor<6xf32>
// CHECK: tensor.expand_shape %[[F]] {{\[\[}}0, 1]] output_shape [3, 2] : tensor<6xf32> into tensor<3x2xf32>
func.func @regroup(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %0 = kiln.reshape %x : tensor<2x3xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}
