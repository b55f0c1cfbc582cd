// RUN: kiln-opt %s --kiln-to-linalg "--one-shot-bufferize=bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize | FileCheck %s

// The kv cache update bufferizes in place: no allocation and no copy of
// the cache, only the new row of each sequence copied into its slot, and
// the cache buffer itself returned.
// CHECK-LABEL: func.func @decode_cache_update
// CHECK-SAME: (%[[CACHE:[^:]+]]: memref<?x1024x768xf32>, %[[POS:[^:]+]]: memref<?xi64>, %[[NEW:[^:]+]]: memref<?x1x768xf32>) -> memref<?x1024x768xf32>
// CHECK-NOT: memref.alloc
// CHECK: scf.for %[[B:.+]] = %c0 to %{{.+}} step %c1 {
// CHECK: %[[P:.+]] = memref.load %[[POS]][%[[B]]]
// CHECK: %[[ROW:.+]] = arith.index_cast %[[P]] : i64 to index
// CHECK: %[[SRC:.+]] = memref.subview %[[NEW]][%[[B]], 0, 0] [1, 1, 768]
// CHECK: %[[DST:.+]] = memref.subview %[[CACHE]][%[[B]], %[[ROW]], 0] [1, 1, 768]
// CHECK: memref.copy %[[SRC]], %[[DST]] : memref<1x1x768xf32, {{.+}}> to memref<1x1x768xf32, {{.+}}>
// CHECK-NOT: memref.alloc
// CHECK: return %[[CACHE]] : memref<?x1024x768xf32>
func.func @decode_cache_update(%c: tensor<?x1024x768xf32>, %pos: tensor<?xi64>, %k: tensor<?x1x768xf32>) -> tensor<?x1024x768xf32> {
  %0 = kiln.cache_write %c[%pos] = %k : tensor<?x1024x768xf32>, tensor<?x1x768xf32>, tensor<?xi64>
  return %0 : tensor<?x1024x768xf32>
}
