// RUN: kiln-opt %s --kiln-tile-kernels --canonicalize | FileCheck %s

// A layer norm's output is tiled per row: the row's mean and variance
// (reductions over the last dim) are fused into the loop body on
// per-iteration 1x1 temporaries, so each row is reduced once.
// CHECK-LABEL: func.func @layer_norm_rows
// CHECK: scf.forall (%[[B:.+]], %[[S:.+]]) in (%{{.+}}, %{{.+}}) shared_outs
// CHECK: tensor.extract_slice %{{.+}}[%[[B]], %[[S]], 0] [1, 1, 48] [1, 1, 1]
// CHECK: tensor.empty() : tensor<1x1xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// CHECK: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%[[B]], %[[S]], 0] [1, 1, 48]
#row = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#red = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @layer_norm_rows(%x: tensor<?x?x48xf32>) -> tensor<?x?x48xf32> attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 48.0 : f32
  %b = tensor.dim %x, %c0 : tensor<?x?x48xf32>
  %s = tensor.dim %x, %c1 : tensor<?x?x48xf32>
  %e = tensor.empty(%b, %s) : tensor<?x?xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?xf32>) -> tensor<?x?xf32>
  %sum = linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : tensor<?x?x48xf32>) outs(%f : tensor<?x?xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %a = arith.addf %acc, %in : f32
    linalg.yield %a : f32
  } -> tensor<?x?xf32>
  %sq = linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : tensor<?x?x48xf32>) outs(%f : tensor<?x?xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %m = arith.mulf %in, %in : f32
    %a = arith.addf %acc, %m : f32
    linalg.yield %a : f32
  } -> tensor<?x?xf32>
  %out = tensor.empty(%b, %s) : tensor<?x?x48xf32>
  %y = linalg.generic {indexing_maps = [#row, #red, #red, #row], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %sum, %sq : tensor<?x?x48xf32>, tensor<?x?xf32>, tensor<?x?xf32>) outs(%out : tensor<?x?x48xf32>) {
  ^bb0(%in: f32, %s1: f32, %s2: f32, %o: f32):
    %mean = arith.divf %s1, %n : f32
    %d = arith.subf %in, %mean : f32
    %v = arith.divf %s2, %n : f32
    %r = arith.mulf %d, %v : f32
    linalg.yield %r : f32
  } -> tensor<?x?x48xf32>
  return %y : tensor<?x?x48xf32>
}

// An elementwise op is tiled per element.
// CHECK-LABEL: func.func @elementwise
// CHECK: scf.forall (%{{.+}}, %{{.+}}) in (%{{.+}}, 64)
// CHECK: linalg.generic {{.*}} outs(%{{.+}} : tensor<1x1xf32>)
func.func @elementwise(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %x, %c0 : tensor<?x64xf32>
  %out = tensor.empty(%b) : tensor<?x64xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x64xf32>) outs(%out : tensor<?x64xf32>) {
  ^bb0(%in: f32, %o: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  } -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Data movement (no linalg result) and functions that are not kernels are
// left alone.
// CHECK-LABEL: func.func @reshape
// CHECK-NOT: scf.forall
// CHECK: tensor.collapse_shape
func.func @reshape(%x: tensor<?x4x8xf32>) -> tensor<?x32xf32> attributes {kiln.kernel} {
  %y = tensor.collapse_shape %x [[0], [1, 2]] : tensor<?x4x8xf32> into tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
