//===- Norm.cpp - the CPU norm step ---------------------------------------===//

#include "runtime/Norm.h"
#include "runtime/StepPlan.h"

#include <cmath>
#include <cstdint>

namespace kiln::rt {

void normalizeRows(const NormPlan &p, const float *x, const float *scale,
                   const float *bias, float *out, int64_t rowBegin,
                   int64_t rowEnd) {
  const int64_t n = p.width;
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    const float *xr = x + r * n;
    float *o = out + r * n;
    float mean = 0;
    if (!p.rms) {
      float sum = 0;
      for (int64_t e = 0; e < n; ++e)
        sum += xr[e];
      mean = sum / static_cast<float>(n);
    }
    float squares = 0;
    for (int64_t e = 0; e < n; ++e) {
      float d = xr[e] - mean;
      squares += d * d;
    }
    float inv = 1.0f / std::sqrt(squares / static_cast<float>(n) + p.epsilon);
    for (int64_t e = 0; e < n; ++e) {
      float y = (xr[e] - mean) * inv * scale[e];
      o[e] = bias ? y + bias[e] : y;
    }
  }
}

} // namespace kiln::rt
