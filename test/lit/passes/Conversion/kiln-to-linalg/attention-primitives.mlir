// RUN: kiln-opt %s --kiln-to-linalg --split-input-file | FileCheck %s

// Without offsets, queries are the last Sq of Sk positions: j > i + Sk - Sq
// is hidden.
// CHECK-LABEL: func.func @causal_mask
// CHECK-SAME: (%[[S:.+]]: tensor<?x12x1x?x?xf32>)
// CHECK-DAG: %[[LOW:.+]] = arith.constant -3.40282347E+38 : f32
// CHECK-DAG: %[[SQ:.+]] = tensor.dim %[[S]], %c3
// CHECK-DAG: %[[SK:.+]] = tensor.dim %[[S]], %c4
// CHECK: %[[OFF:.+]] = arith.subi %[[SK]], %[[SQ]] : index
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[I:.+]] = linalg.index 3 : index
// CHECK: %[[J:.+]] = linalg.index 4 : index
// CHECK: %[[LIM:.+]] = arith.addi %[[I]], %[[OFF]] : index
// CHECK: %[[HIDE:.+]] = arith.cmpi sgt, %[[J]], %[[LIM]] : index
// CHECK: arith.select %[[HIDE]], %[[LOW]], %[[X]] : f32
func.func @causal_mask(%s: tensor<?x12x1x?x?xf32>) -> tensor<?x12x1x?x?xf32> {
  %0 = kiln.causal_mask %s : tensor<?x12x1x?x?xf32>
  return %0 : tensor<?x12x1x?x?xf32>
}

// -----

// With offsets, each batch row reads its own.
// CHECK-DAG: #[[$BATCH:.+]] = affine_map<(d0, d1, d2, d3) -> (d0)>
// CHECK-LABEL: func.func @causal_mask_offsets
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$BATCH]], #{{.+}}]
// CHECK: ^bb0(%{{.+}}: f32, %[[OFF:.+]]: i64, %{{.+}}: f32):
// CHECK: arith.index_cast %[[OFF]] : i64 to index
func.func @causal_mask_offsets(%s: tensor<?x4x1x?xf32>, %p: tensor<?xi64>) -> tensor<?x4x1x?xf32> {
  %0 = kiln.causal_mask %s offsets %p : tensor<?x4x1x?xf32>, tensor<?xi64>
  return %0 : tensor<?x4x1x?xf32>
}

// -----

// The cache write is a loop of in-place slice insertions into the cache.
// CHECK-LABEL: func.func @cache_write
// CHECK-SAME: (%[[C:[^:]+]]: tensor<?x1024x768xf32>, %[[P:[^:]+]]: tensor<?xi64>, %[[K:[^:]+]]: tensor<?x?x768xf32>)
// CHECK: %[[B:.+]] = tensor.dim %[[C]], %c0
// CHECK: %[[R:.+]] = scf.for %[[IV:.+]] = %c0 to %[[B]] step %c1 iter_args(%[[ACC:.+]] = %[[C]]) -> (tensor<?x1024x768xf32>)
// CHECK: %[[POS:.+]] = tensor.extract %[[P]][%[[IV]]] : tensor<?xi64>
// CHECK: %[[ROW:.+]] = arith.index_cast %[[POS]] : i64 to index
// CHECK: %[[NEW:.+]] = tensor.extract_slice %[[K]][%[[IV]], 0, 0] [1, %{{.+}}, 768] [1, 1, 1]
// CHECK: %[[INS:.+]] = tensor.insert_slice %[[NEW]] into %[[ACC]][%[[IV]], %[[ROW]], 0] [1, %{{.+}}, 768] [1, 1, 1]
// CHECK: scf.yield %[[INS]]
// CHECK: return %[[R]]
func.func @cache_write(%c: tensor<?x1024x768xf32>, %pos: tensor<?xi64>, %k: tensor<?x?x768xf32>) -> tensor<?x1024x768xf32> {
  %0 = kiln.cache_write %c[%pos] = %k : tensor<?x1024x768xf32>, tensor<?x?x768xf32>, tensor<?xi64>
  return %0 : tensor<?x1024x768xf32>
}
