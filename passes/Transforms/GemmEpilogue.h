//===- GemmEpilogue.h - which linears a gemm step runs whole --------------===//
//
// A gemm step carries the epilogue of a kiln.linear: bias, then relu or
// tanh-GELU, or a residual added without an activation. That is what
// cuBLASLt's epilogues compute in the GEMM itself (bias / RELU_BIAS /
// GELU_BIAS, the residual as C with beta = 1), and what the CPU executor
// applies to the rows its BLAS call just wrote. BERT's erf GELU and SiLU
// are not among them (cuBLASLt's GELU is the tanh form), so those stay
// separate kernels after the gemm.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TRANSFORMS_GEMMEPILOGUE_H
#define KILN_PASSES_TRANSFORMS_GEMMEPILOGUE_H

#include "dialects/kiln/KilnOps.h"

namespace kiln {

inline bool fitsGemmEpilogue(LinearOp op) {
  Activation a = op.getActivation();
  if (a != Activation::None && a != Activation::Relu &&
      a != Activation::GeluTanh)
    return false;
  return !op.getResidual() || a == Activation::None;
}

} // namespace kiln

#endif // KILN_PASSES_TRANSFORMS_GEMMEPILOGUE_H
