//===- Attention.cpp - the CPU attention step -----------------------------===//

#include "runtime/Attention.h"
#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <vector>

namespace kiln::rt {

namespace {

/// q . k with eight partial sums, so the compiler vectorizes it without
/// reassociating a single sum (which it may not do for floats).
float dot(const float *q, const float *k, int64_t d) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t e = 0;
  for (; e + 8 <= d; e += 8)
    for (int l = 0; l < 8; ++l)
      partial[l] += q[e + l] * k[e + l];
  float sum = 0;
  for (; e < d; ++e)
    sum += q[e] * k[e];
  for (int l = 0; l < 8; ++l)
    sum += partial[l];
  return sum;
}

} // namespace

AttentionArgs attentionArgs(const AttentionPlan &p) {
  AttentionArgs a;
  a.batch = p.batch;
  a.sq = p.sq;
  a.sk = p.sk;
  a.heads = p.heads;
  a.kvHeads = p.kvHeads;
  a.headDim = p.headDim;
  a.scale = p.scale;
  a.causal = p.causal;
  std::copy(std::begin(p.biasStrides), std::end(p.biasStrides), a.biasStrides);
  return a;
}

void attention(const AttentionArgs &a, ThreadPool &pool) {
  const int64_t d = a.headDim, group = a.heads / a.kvHeads;
  const int64_t qStride = a.heads * d, kvStride = a.kvHeads * d;
  pool.parallelFor(a.batch * a.heads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(a.sk);
    std::vector<float> acc(d);
    for (int64_t bh = begin; bh < end; ++bh) {
      int64_t b = bh / a.heads, h = bh % a.heads, kvh = h / group;
      const float *kBase = a.k + b * a.sk * kvStride + kvh * d;
      const float *vBase = a.v + b * a.sk * kvStride + kvh * d;
      for (int64_t i = 0; i < a.sq; ++i) {
        const float *qi = a.q + (b * a.sq + i) * qStride + h * d;
        // Keys past the causal limit get the lowest score and an exponent
        // of exactly 0 (the interpreter's result too): skip them.
        int64_t limit = a.sk;
        if (a.causal)
          limit = std::clamp<int64_t>(i + a.offsets[b] + 1, 0, a.sk);
        float best = -INFINITY;
        for (int64_t j = 0; j < limit; ++j) {
          float s = dot(qi, kBase + j * kvStride, d) * a.scale;
          if (a.bias)
            s += a.bias[b * a.biasStrides[0] + h * a.biasStrides[1] +
                        i * a.biasStrides[2] + j * a.biasStrides[3]];
          if (!a.keyMask.empty())
            s += (1.0f - a.keyMask[b * a.sk + j]) * -FLT_MAX;
          scores[j] = s;
          best = std::max(best, s);
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        float sum = 0;
        for (int64_t j = 0; j < limit; ++j) {
          float p = std::exp(scores[j] - best);
          sum += p;
          if (p == 0)
            continue;
          const float *vj = vBase + j * kvStride;
          for (int64_t e = 0; e < d; ++e)
            acc[e] += p * vj[e];
        }
        float *oi = a.out + (b * a.sq + i) * qStride + h * d;
        float inv = limit > 0 ? 1.0f / sum : 0.0f;
        for (int64_t e = 0; e < d; ++e)
          oi[e] = acc[e] * inv;
      }
    }
  });
}

} // namespace kiln::rt
