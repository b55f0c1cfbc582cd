//===- ReferenceAttention.h - attention computed plainly (tests) ----------===//
//
// What an attention step computes (runtime/Attention.h AttentionArgs), row
// by row: every score, a two-pass softmax, accumulated in double. The
// reference for the CPU attention kernel's variants and for the CUDA
// attention kernels run on the emulator; the golden tests tie both to
// transformers.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_REFERENCEATTENTION_H
#define KILN_TEST_SUPPORT_REFERENCEATTENTION_H

#include "runtime/Attention.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

namespace kiln::test {

inline void referenceAttention(const rt::AttentionArgs &a) {
  const int64_t d = a.headDim, group = a.heads / a.kvHeads;
  const int64_t qStride = a.heads * d, kvStride = a.kvHeads * d;
  std::vector<double> scores(a.sk), acc(d);
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t h = 0; h < a.heads; ++h)
      for (int64_t i = 0; i < a.sq; ++i) {
        const int64_t kvh = h / group;
        const float *qi = a.q + (b * a.sq + i) * qStride + h * d;
        int64_t limit = a.sk;
        if (a.causal)
          limit = std::clamp<int64_t>(i + a.offsets[b] + 1, 0, a.sk);
        double best = -INFINITY;
        for (int64_t j = 0; j < limit; ++j) {
          const float *kj = a.k + (b * a.sk + j) * kvStride + kvh * d;
          double dot = 0;
          for (int64_t e = 0; e < d; ++e)
            dot += double(qi[e]) * kj[e];
          // In f32 from here, as the step defines it: a masked key's score
          // rounds to -FLT_MAX, so a fully masked row averages every value.
          float s = float(dot * a.scale);
          if (a.bias)
            s += a.bias[b * a.biasStrides[0] + h * a.biasStrides[1] +
                        i * a.biasStrides[2] + j * a.biasStrides[3]];
          if (!a.keyMask.empty())
            s += (1.0f - a.keyMask[b * a.sk + j]) * -FLT_MAX;
          scores[j] = s;
          best = std::max(best, double(s));
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double sum = 0;
        for (int64_t j = 0; j < limit; ++j) {
          const float *vj = a.v + (b * a.sk + j) * kvStride + kvh * d;
          double p = std::exp(scores[j] - best);
          sum += p;
          for (int64_t e = 0; e < d; ++e)
            acc[e] += p * vj[e];
        }
        float *oi = a.out + (b * a.sq + i) * qStride + h * d;
        for (int64_t e = 0; e < d; ++e)
          oi[e] = limit > 0 ? float(acc[e] / sum) : 0.0f;
      }
}

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_REFERENCEATTENTION_H
