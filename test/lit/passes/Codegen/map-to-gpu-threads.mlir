// RUN: kiln-opt %s --split-input-file --kiln-map-to-gpu-threads | FileCheck %s
// RUN: kiln-opt %s --split-input-file "--kiln-map-to-gpu-threads=emulate-threads=3" | FileCheck %s --check-prefix=EMU

// A bufferized forall becomes a grid-stride loop: first iteration
// blockIdx.x * blockDim.x + threadIdx.x, stride gridDim.x * blockDim.x,
// over the flattened space, the innermost dim fastest.
// CHECK-LABEL: func.func @forall
// CHECK-DAG: %[[TID:.+]] = nvvm.read.ptx.sreg.tid.x : i32
// CHECK-DAG: %[[BID:.+]] = nvvm.read.ptx.sreg.ctaid.x : i32
// CHECK-DAG: %[[BDIM:.+]] = nvvm.read.ptx.sreg.ntid.x : i32
// CHECK-DAG: %[[GDIM:.+]] = nvvm.read.ptx.sreg.nctaid.x : i32
// CHECK: scf.for %[[LIN:.+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK:   %[[J:.+]] = arith.remui %[[LIN]], %{{.+}} : index
// CHECK:   %[[I:.+]] = arith.divui %[[LIN]], %{{.+}} : index
// CHECK:   memref.load
// CHECK:   memref.store
// CHECK-NOT: scf.forall
// The emulation runs 3 virtual threads in turn.
// EMU-LABEL: func.func @forall
// EMU-NOT: nvvm
// EMU: scf.for %[[T:.+]] = %c0{{.*}} to %c3{{.*}} step %c1
// EMU:   scf.for %{{.+}} = %[[T]] to %{{.+}} step %c3
func.func @forall(%x: memref<?x64xf32>, %y: memref<?x64xf32>) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %b = memref.dim %x, %c0 : memref<?x64xf32>
  scf.forall (%i, %j) in (%b, 64) {
    %v = memref.load %x[%i, %j] : memref<?x64xf32>
    %e = math.exp %v : f32
    memref.store %e, %y[%i, %j] : memref<?x64xf32>
  }
  return
}

// -----

// Top-level linalg ops (a concat's two copies into disjoint halves) become
// parallel loops, then grid-stride loops; they read only inputs, so they
// may run concurrently.
// CHECK-LABEL: func.func @concat
// CHECK-COUNT-2: scf.for
// CHECK-NOT: linalg.copy
func.func @concat(%a: memref<?x8xf32>, %b: memref<?x8xf32>, %out: memref<?x16xf32>) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %a, %c0 : memref<?x8xf32>
  %lo = memref.subview %out[0, 0] [%n, 8] [1, 1] : memref<?x16xf32> to memref<?x8xf32, strided<[16, 1]>>
  %hi = memref.subview %out[0, 8] [%n, 8] [1, 1] : memref<?x16xf32> to memref<?x8xf32, strided<[16, 1], offset: 8>>
  linalg.copy ins(%a : memref<?x8xf32>) outs(%lo : memref<?x8xf32, strided<[16, 1]>>)
  linalg.copy ins(%b : memref<?x8xf32>) outs(%hi : memref<?x8xf32, strided<[16, 1], offset: 8>>)
  return
}

