// RUN: kiln-opt %s --kiln-lower-to-linalg --kiln-cpu-lowering --kiln-kernel-abi | FileCheck %s
// RUN: kiln-opt %s --kiln-lower-to-linalg --kiln-cpu-lowering "--kiln-kernel-abi=gpu=1" | FileCheck %s --check-prefix=GPU

// With gpu=1 the same wrapper is an NVVM kernel entry point; on the CPU it
// is a plain function.
// GPU: llvm.func @kiln_kernel_0_add({{.*}}) attributes {nvvm.kernel}
// CHECK-NOT: nvvm.kernel

// The work range: the wrapper reads each buffer's pointer and dims, and for
// the buffers kiln.split marks (the rows %x and the result, not the bias)
// starts `begin` rows in and makes dim 0 `end - begin` rows long; the kernel
// itself (private, internal) stays unaware of it.
// CHECK: llvm.func internal @kernel_0_add
// CHECK-LABEL: llvm.func @kiln_kernel_0_add
// CHECK-SAME: (%[[BUFFERS:.+]]: !llvm.ptr, %[[SHAPES:.+]]: !llvm.ptr, %[[BEGIN:.+]]: i64, %[[END:.+]]: i64)
// Buffer 0, [?, ?, 8], split.
// CHECK: %[[P0:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
// CHECK: %[[D00:.+]] = llvm.load %{{.+}} : !llvm.ptr -> i64
// CHECK: %[[D01:.+]] = llvm.load %{{.+}} : !llvm.ptr -> i64
// CHECK: %[[D02:.+]] = llvm.load %{{.+}} : !llvm.ptr -> i64
// CHECK: %[[S1:.+]] = llvm.mul %{{.+}}, %[[D02]]
// CHECK: %[[S0:.+]] = llvm.mul %[[S1]], %[[D01]]
// CHECK: %[[SKIP:.+]] = llvm.mul %[[BEGIN]], %[[S0]]
// CHECK: %[[ROWS:.+]] = llvm.getelementptr %[[P0]][%[[SKIP]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK: %[[N0:.+]] = llvm.sub %[[END]], %[[BEGIN]]
// Buffer 1, the [8] bias, is not cut.
// CHECK: %[[P1:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
// CHECK-NOT: llvm.sub %[[END]], %[[BEGIN]]
// CHECK: %[[D10:.+]] = llvm.load %{{.+}} : !llvm.ptr -> i64
// Buffer 2, the result, is cut like buffer 0.
// CHECK: llvm.sub %[[END]], %[[BEGIN]]
// CHECK: llvm.call @kernel_0_add(%[[ROWS]], %[[ROWS]], %{{.+}}, %[[N0]], %[[D01]], %[[D02]], %[[S0]], %[[S1]], %{{.+}}, %[[P1]], %[[P1]], %{{.+}}, %[[D10]],
// CHECK: llvm.return
func.func private @kernel_0_add(%a: tensor<?x?x8xf32>, %b: tensor<8xf32>) -> tensor<?x?x8xf32>
    attributes {kiln.kernel, kiln.split = array<i1: true, false, true>,
                kiln.buffers = [tensor<?x?x8xf32>, tensor<8xf32>, tensor<?x?x8xf32>]} {
  %0 = kiln.add %a, %b : tensor<?x?x8xf32>, tensor<8xf32> -> tensor<?x?x8xf32>
  return %0 : tensor<?x?x8xf32>
}
