// RUN: kiln-opt %s --verify-diagnostics '--kiln-wrap-gpu-module=chip=sm"90'

// A chip name that cannot be an NVVM target is one error.
// expected-error @+1 {{cannot make an NVVM target for chip 'sm"90' and features '+ptx80'}}
module {
  func.func @f() {
    return
  }
}
