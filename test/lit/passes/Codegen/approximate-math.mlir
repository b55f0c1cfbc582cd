// RUN: kiln-opt %s --kiln-approximate-math | FileCheck %s

// f32 tanh, erf and exp (GELU's and softmax's) become arithmetic that LLVM
// vectorizes; no libm call is left.
// CHECK-LABEL: func.func @approximated
// CHECK-NOT: math.tanh
// CHECK-NOT: math.erf
// CHECK-NOT: math.exp
// CHECK: arith.mulf
// CHECK: return
func.func @approximated(%x: f32, %v: vector<8xf32>) -> (f32, f32, vector<8xf32>) {
  %t = math.tanh %x : f32
  %e = math.erf %x : f32
  %p = math.exp %v : vector<8xf32>
  return %t, %e, %p : f32, f32, vector<8xf32>
}

// Other functions and other types are left for libm.
// CHECK-LABEL: func.func @left_alone
// CHECK: math.log %{{.+}} : f32
// CHECK: math.tanh %{{.+}} : f64
func.func @left_alone(%x: f32, %y: f64) -> (f32, f64) {
  %l = math.log %x : f32
  %t = math.tanh %y : f64
  return %l, %t : f32, f64
}
