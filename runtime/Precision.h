//===- Precision.h - bf16/f16 buffers read and written as f32 -------------===//
//
// The CPU executor's library steps (gemm, norm, attention) compute in f32.
// In a kilnc --precision bf16/fp16 build their buffers hold the low type:
// they are widened on the way in and rounded to nearest even on the way
// out, so a step accumulates in f32 and rounds once, when it stores.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_PRECISION_H
#define KILN_RUNTIME_PRECISION_H

#include "artifact/Artifact.h"
#include "runtime/Tensor.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <vector>

namespace kiln::rt {

/// `n` elements of a bf16/f16 buffer as f32 into `to`.
void widen(artifact::DType dtype, const void *from, float *to, int64_t n,
           ThreadPool &pool);

/// `n` f32 values rounded to nearest even into a buffer of `dtype` (bf16,
/// f16, or f32: copied).
void narrow(artifact::DType dtype, const float *from, void *to, int64_t n,
            ThreadPool &pool);

/// `buffer` (`n` elements of `dtype`) as f32: itself when f32, otherwise
/// widened into `scratch`.
const float *asF32(artifact::DType dtype, const void *buffer, int64_t n,
                   std::vector<float> &scratch, ThreadPool &pool);

/// Where a step writes `n` f32 results meant for `buffer` (of `dtype`):
/// the buffer itself when f32, otherwise `scratch`, which narrow() then
/// rounds into the buffer.
float *f32Destination(artifact::DType dtype, void *buffer, int64_t n,
                      std::vector<float> &scratch);

} // namespace kiln::rt

#endif // KILN_RUNTIME_PRECISION_H
