// RUN: kiln-opt %s --kiln-wrap-gpu-module | FileCheck %s
// RUN: kiln-opt %s --kiln-wrap-gpu-module="chip=sm_80 features=+ptx70" | FileCheck %s --check-prefix=SM80
// RUN: kiln-opt %s --kiln-extract-kernels | FileCheck %s --check-prefix=EXTRACT

// CHECK: module attributes {gpu.container_module} {
// CHECK-NEXT: gpu.module @kiln_kernels [#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">] {
// CHECK-NEXT: func.func @entry
// CHECK: func.func private @kernel_0
// SM80: gpu.module @kiln_kernels [#nvvm.target<O = 3, chip = "sm_80", features = "+ptx70">]

// kiln-extract-kernels keeps the kernels alone.
// EXTRACT-NOT: @entry
// EXTRACT: func.func private @kernel_0
// EXTRACT-NOT: @entry
func.func @entry(%x: f32) -> f32 {
  %y = func.call @kernel_0(%x) : (f32) -> f32
  return %y : f32
}
func.func private @kernel_0(%x: f32) -> f32 attributes {kiln.kernel} {
  return %x : f32
}
