// RUN: kiln-opt %s --verify-diagnostics --kiln-kernel-abi

// expected-error @+1 {{'llvm.func' op needs kiln.buffers and kiln.split of equal length}}
llvm.func @kernel_0_exp(%arg0: !llvm.ptr) attributes {kiln.kernel, kiln.split = array<i1: true, true>} {
  llvm.return
}
