// RUN: kiln-opt %s --kiln-copies-to-linalg | FileCheck %s

// A strided copy (a slice of a cache) becomes linalg.copy, which lowers to
// loops instead of a call into MLIR's C runner utils.
// CHECK-LABEL: func.func @copy_row
// CHECK-SAME: (%[[SRC:[^:]+]]: memref<1x768xf32, strided<[768, 1], offset: ?>>, %[[DST:[^:]+]]: memref<1x768xf32, strided<[786432, 1], offset: ?>>)
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%[[SRC]] : {{.+}}) outs(%[[DST]] : {{.+}})
func.func @copy_row(%src: memref<1x768xf32, strided<[768, 1], offset: ?>>,
                    %dst: memref<1x768xf32, strided<[786432, 1], offset: ?>>) {
  memref.copy %src, %dst : memref<1x768xf32, strided<[768, 1], offset: ?>> to memref<1x768xf32, strided<[786432, 1], offset: ?>>
  return
}
