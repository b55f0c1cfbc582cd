// RUN: kiln-opt %s --kiln-to-linalg --split-input-file | FileCheck %s

// Q K^T per head: batch dims parallel, k the reduction, rhs read transposed.
// CHECK-DAG: #[[$LHS:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[$RHS:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
// CHECK-DAG: #[[$OUT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @scores
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x12x?x64xf32>, %[[K:[^:]+]]: tensor<?x12x?x64xf32>)
// CHECK: %[[E:.+]] = tensor.empty({{.+}}) : tensor<?x12x?x?xf32>
// CHECK: %[[Z:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%[[E]] : tensor<?x12x?x?xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[$LHS]], #[[$RHS]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q]], %[[K]] : {{.+}}) outs(%[[Z]] : tensor<?x12x?x?xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @scores(%q: tensor<?x12x?x64xf32>, %k: tensor<?x12x?x64xf32>) -> tensor<?x12x?x?xf32> {
  %s = kiln.matmul %q, %k transpose_rhs : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x?x?xf32>
  return %s : tensor<?x12x?x?xf32>
}

// -----

// A rank-2 rhs is shared by every batch: its map has no batch dims.
// CHECK-DAG: #[[$W:.+]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// CHECK-LABEL: func.func @shared_weight
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$W]], #{{.+}}], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
func.func @shared_weight(%x: tensor<?x?x768xf32>, %w: tensor<768x3072xf32>) -> tensor<?x?x3072xf32> {
  %0 = kiln.matmul %x, %w : tensor<?x?x768xf32>, tensor<768x3072xf32> -> tensor<?x?x3072xf32>
  return %0 : tensor<?x?x3072xf32>
}
