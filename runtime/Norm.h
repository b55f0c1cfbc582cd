//===- Norm.h - the CPU norm step -----------------------------------------===//
//
// Layer norm ((x - mean) / sqrt(var + eps) * scale + bias, biased variance)
// and RMS norm (x / sqrt(mean(x^2) + eps) * scale) over the last dim, in
// f32 as transformers computes them, row by row.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_NORM_H
#define KILN_RUNTIME_NORM_H

#include "runtime/StepPlan.h"

namespace kiln::rt {

/// Rows [rowBegin, rowEnd) of `out` from `x`; `bias` may be null.
void normalizeRows(const NormPlan &plan, const float *x, const float *scale,
                   const float *bias, float *out, int64_t rowBegin,
                   int64_t rowEnd);

} // namespace kiln::rt

#endif // KILN_RUNTIME_NORM_H
