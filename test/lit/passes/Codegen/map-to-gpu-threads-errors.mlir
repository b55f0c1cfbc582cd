// RUN: kiln-opt %s --split-input-file --kiln-map-to-gpu-threads --verify-diagnostics

// A loop reading what an earlier loop wrote would need a grid-wide barrier.
func.func @hazard(%a: memref<8xf32>, %t: memref<8xf32>, %out: memref<8xf32>) attributes {kiln.kernel} {
  linalg.copy ins(%a : memref<8xf32>) outs(%t : memref<8xf32>)
  // expected-error @+1 {{reads what an earlier loop of kernel hazard wrote: it needs a grid-wide barrier, which GPU kernels do not have}}
  linalg.copy ins(%t : memref<8xf32>) outs(%out : memref<8xf32>)
  return
}

// -----

// Work outside every loop would run once per thread.
func.func @stray(%a: memref<8xf32>, %v: f32) attributes {kiln.kernel} {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{is outside every parallel loop of kernel stray: it cannot be distributed over GPU threads}}
  memref.store %v, %a[%c0] : memref<8xf32>
  return
}
