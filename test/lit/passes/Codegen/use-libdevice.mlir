// RUN: kiln-opt %s --split-input-file --verify-diagnostics --kiln-use-libdevice | FileCheck %s

// libm declarations and their calls are renamed to libdevice's.
// CHECK-LABEL: llvm.func @__nv_expf(f32) -> f32
// CHECK: llvm.func @kernel
// CHECK: llvm.call @__nv_expf(%{{.*}}) : (f32) -> f32
llvm.func @expf(f32) -> f32
llvm.func @kernel(%x: f32) -> f32 {
  %y = llvm.call @expf(%x) : (f32) -> f32
  llvm.return %y : f32
}

// -----

// Any other external function is one error naming it.
// expected-error @+1 {{a GPU kernel calls malloc, which device code cannot}}
llvm.func @malloc(i64) -> !llvm.ptr
llvm.func @kernel(%n: i64) -> !llvm.ptr {
  %p = llvm.call @malloc(%n) : (i64) -> !llvm.ptr
  llvm.return %p : !llvm.ptr
}
