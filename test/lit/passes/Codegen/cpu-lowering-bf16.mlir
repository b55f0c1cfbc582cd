// RUN: kiln-opt %s --kiln-lower-to-linalg --kiln-cpu-lowering | FileCheck %s

// bf16 arithmetic runs in f32 and bf16 conversions are expanded to integer
// bit manipulation: the LLVM dialect holds no bf16 arithmetic or
// truncation, which LLVM would lower to __truncsfbf2, a helper Debian 12's
// libgcc lacks. bf16 values are only loaded, stored and bitcast.
// CHECK-LABEL: llvm.func @cast_and_add
// CHECK-NOT: {{(fadd|fsub|fmul|fdiv|fptrunc|fpext).*bf16}}
// CHECK: llvm.bitcast %{{.+}} : i16 to bf16
// CHECK-NOT: {{(fadd|fsub|fmul|fdiv|fptrunc|fpext).*bf16}}
// CHECK: llvm.return
func.func @cast_and_add(%x: tensor<?x8xf32>, %y: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  %0 = kiln.cast %x : tensor<?x8xf32> -> tensor<?x8xbf16>
  %1 = kiln.add %0, %y : tensor<?x8xbf16>
  return %1 : tensor<?x8xbf16>
}
