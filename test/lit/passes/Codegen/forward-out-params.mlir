// RUN: kiln-opt %s --split-input-file --kiln-forward-out-params | FileCheck %s

// The result is computed in the out-param: no alloc, no copy.
// CHECK-LABEL: func.func @forwarded
// CHECK-SAME: (%[[X:.+]]: memref<?x8xf32>, %[[OUT:.+]]: memref<?x8xf32>)
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} outs(%[[OUT]] : memref<?x8xf32>)
// CHECK-NOT: linalg.copy
// CHECK: return
func.func @forwarded(%x: memref<?x8xf32>, %out: memref<?x8xf32>) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %t = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x8xf32>) outs(%t : memref<?x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  }
  linalg.copy ins(%t : memref<?x8xf32>) outs(%out : memref<?x8xf32>)
  return
}

// -----

// A copy from a view (a slice kernel) is the result itself: kept.
// CHECK-LABEL: func.func @view
// CHECK: memref.subview
// CHECK: linalg.copy
func.func @view(%x: memref<?x16xf32>, %out: memref<?x8xf32>) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %s = memref.subview %x[0, 0] [%n, 8] [1, 1] : memref<?x16xf32> to memref<?x8xf32, strided<[16, 1]>>
  linalg.copy ins(%s : memref<?x8xf32, strided<[16, 1]>>) outs(%out : memref<?x8xf32>)
  return
}

// -----

// Functions that are not kernels are left alone.
// CHECK-LABEL: func.func @not_a_kernel
// CHECK: memref.alloc
// CHECK: linalg.copy
func.func @not_a_kernel(%x: memref<8xf32>, %out: memref<8xf32>) {
  %t = memref.alloc() : memref<8xf32>
  linalg.copy ins(%x : memref<8xf32>) outs(%t : memref<8xf32>)
  linalg.copy ins(%t : memref<8xf32>) outs(%out : memref<8xf32>)
  return
}
