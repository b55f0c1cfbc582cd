//===- Attention.cpp - the CPU attention step -----------------------------===//
//
// Flash-style: work is cut into (batch, head, block of kQueryBlock query
// rows), and each block walks the keys in tiles of kKeys with an online
// softmax, so scores never leave the cache. A thread transposes a head's
// keys into [D, Sk] once for all its blocks (values are read in place, or
// copied per tile into [kKeys, Dp] when D is not a multiple of 64), then
// per tile two register-blocked products run:
// scores = Q K^T (a few query rows x kKeys keys in registers, one broadcast
// and four fused multiply-adds per element of Q) and out += P V (a few rows
// x 64 columns of the output in registers). The loops are written with
// GCC's generic vectors of 16 floats and compiled three times (SSE2,
// AVX2 + FMA, AVX-512); the host's best is picked at run time.
//
// Why by hand rather than two BLAS calls per head with a softmax between:
// a (batch, head) pair's products are too small for a BLAS call to amortize
// its packing (128 x 64 by 64 x 128 in BERT), the scores would make a round
// trip through memory, and the BLAS's own threads would fight the pool that
// splits the heads.
//
//===----------------------------------------------------------------------===//

#include "runtime/Attention.h"
#include "runtime/CpuIsa.h"
#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <vector>

namespace kiln::rt {

namespace {

using V16 = float __attribute__((vector_size(64)));
using V16i = int32_t __attribute__((vector_size(64)));

constexpr int64_t kLanes = 16;
constexpr int64_t kKeys = 64;       // keys per tile: 4 vectors
constexpr int64_t kColumns = 64;    // output columns per P V block
constexpr int64_t kQueryBlock = 32; // query rows per work item

#define KILN_INLINE inline __attribute__((always_inline))

KILN_INLINE V16 load(const float *p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
KILN_INLINE void store(float *p, V16 v) { std::memcpy(p, &v, sizeof v); }
KILN_INLINE V16 splat(float x) { return V16{} + x; }

/// e^x, lane-wise, for x <= 88: 2^n e^r with n = round(x / ln 2) and r
/// reduced in two steps (Cody-Waite), e^r by Cephes' degree-6 polynomial;
/// within 2 ulp of expf. Lanes below -87.3 (including -inf) give 0.
KILN_INLINE V16 vexp(V16 x) {
  const V16 lo = splat(-87.3f), hi = splat(88.0f);
  V16 c = x < lo ? lo : x;
  c = c > hi ? hi : c;
  const V16 magic = splat(12582912.0f); // 1.5 * 2^23: rounds to an integer
  V16 n = (c * 1.44269504088896341f + magic) - magic;
  V16 r = c - n * 0.693359375f + n * 2.12194440e-4f;
  V16 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  V16 y = p * r * r + r + 1.0f;
  V16i bits = (__builtin_convertvector(n, V16i) + 127) << 23;
  V16 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  V16 e = y * scale;
  return x < lo ? V16{} : e;
}

KILN_INLINE float horizontalMax(V16 v) {
  float m = v[0];
  for (int l = 1; l < kLanes; ++l)
    m = std::max(m, v[l]);
  return m;
}

KILN_INLINE float horizontalSum(V16 v) {
  float s = 0;
  for (int l = 0; l < kLanes; ++l)
    s += v[l];
  return s;
}

/// x . y over d elements, 16 lanes at a time.
KILN_INLINE float dot(const float *x, const float *y, int64_t d) {
  V16 acc = {};
  int64_t e = 0;
  for (; e + kLanes <= d; e += kLanes)
    acc += load(x + e) * load(y + e);
  float sum = horizontalSum(acc);
  for (; e < d; ++e)
    sum += x[e] * y[e];
  return sum;
}

/// The buffers one thread reuses across its work items.
struct Scratch {
  Scratch(int64_t d, int64_t dp)
      : q(kQueryBlock * d), v(kKeys * dp), scores(kQueryBlock * kKeys),
        out(kQueryBlock * dp), rowMax(kQueryBlock), rowSum(kQueryBlock),
        limit(kQueryBlock) {}
  std::vector<float> q;  // [kQueryBlock, D], scaled, zero past the rows
  std::vector<float> kt; // [D, ldkt]: the keys of head `ktHead`
  int64_t ktHead = -1, ldkt = 0;
  std::vector<float> v;      // [kKeys, Dp], zero past D (D < Dp only)
  std::vector<float> scores; // [kQueryBlock, kKeys], then probabilities
  std::vector<float> out;    // [kQueryBlock, Dp], unnormalized
  std::vector<float> rowMax, rowSum;
  std::vector<int64_t> limit; // keys each row sees
};

/// scores[r, :] = q[r, :] . kt, kRowBlock rows at a time.
template <int kRowBlock>
KILN_INLINE void scoreTile(const float *q, const float *kt, int64_t ldkt,
                           float *scores, int64_t rows, int64_t d) {
  for (int64_t i = 0; i < rows; i += kRowBlock) {
    V16 acc[kRowBlock][4] = {};
    for (int64_t e = 0; e < d; ++e) {
      const float *ke = kt + e * ldkt;
      V16 k0 = load(ke), k1 = load(ke + 16), k2 = load(ke + 32),
          k3 = load(ke + 48);
      for (int r = 0; r < kRowBlock; ++r) {
        V16 qv = splat(q[(i + r) * d + e]);
        acc[r][0] += qv * k0;
        acc[r][1] += qv * k1;
        acc[r][2] += qv * k2;
        acc[r][3] += qv * k3;
      }
    }
    for (int r = 0; r < kRowBlock; ++r)
      for (int c = 0; c < 4; ++c)
        store(scores + (i + r) * kKeys + c * kLanes, acc[r][c]);
  }
}

/// out[r, :] += p[r, :] . v, kRowBlock rows and 64 columns at a time.
template <int kRowBlock>
KILN_INLINE void accumulateTile(const float *p, const float *v, int64_t ldv,
                                float *out, int64_t rows, int64_t keys,
                                int64_t dp) {
  for (int64_t i = 0; i < rows; i += kRowBlock)
    for (int64_t c0 = 0; c0 < dp; c0 += kColumns) {
      V16 acc[kRowBlock][4] = {};
      for (int64_t j = 0; j < keys; ++j) {
        const float *vj = v + j * ldv + c0;
        V16 v0 = load(vj), v1 = load(vj + 16), v2 = load(vj + 32),
            v3 = load(vj + 48);
        for (int r = 0; r < kRowBlock; ++r) {
          V16 pv = splat(p[(i + r) * kKeys + j]);
          acc[r][0] += pv * v0;
          acc[r][1] += pv * v1;
          acc[r][2] += pv * v2;
          acc[r][3] += pv * v3;
        }
      }
      for (int r = 0; r < kRowBlock; ++r)
        for (int c = 0; c < 4; ++c) {
          float *o = out + (i + r) * dp + c0 + c * kLanes;
          store(o, load(o) + acc[r][c]);
        }
    }
}

/// One work item: query rows [i0, i0 + rows) of head h in sequence b.
template <int kRowBlock>
KILN_INLINE void attendBlock(const AttentionArgs &a, Scratch &s, int64_t b,
                             int64_t h, int64_t i0, int64_t rows, int64_t dp) {
  const int64_t d = a.headDim, kvh = h / (a.heads / a.kvHeads);
  const int64_t qStride = a.heads * d, kvStride = a.kvHeads * d;
  const int64_t padded = (rows + kRowBlock - 1) / kRowBlock * kRowBlock;
  const float *kBase = a.k + b * a.sk * kvStride + kvh * d;
  const float *vBase = a.v + b * a.sk * kvStride + kvh * d;

  int64_t keys = 0; // the most keys any row of the block sees
  for (int64_t r = 0; r < padded; ++r) {
    float *qr = s.q.data() + r * d;
    if (r >= rows) {
      std::fill(qr, qr + d, 0.0f);
      s.limit[r] = 0;
      continue;
    }
    const float *src = a.q + (b * a.sq + i0 + r) * qStride + h * d;
    for (int64_t e = 0; e < d; ++e)
      qr[e] = src[e] * a.scale;
    // Keys past the causal limit get an exponent of exactly 0 in the
    // interpreter: they are never visited.
    s.limit[r] = a.causal
                     ? std::clamp<int64_t>(i0 + r + a.offsets[b] + 1, 0, a.sk)
                     : a.sk;
    keys = std::max(keys, s.limit[r]);
  }
  // The kv head's keys, transposed once per thread for all the blocks of
  // the heads that share them: [D, ldkt], zero past the last key any of
  // their rows sees (a decode step's filled positions, not the cache's
  // capacity) up to a whole tile.
  // One query row (a decode step): its scores are dot products with the
  // key rows as the cache holds them; transposing every visible key for
  // one row cost more than the attention (GPT-2-small decode, 2 threads:
  // 1.7 ms of attention per token before, 1.2 ms after).
  const bool oneRow = rows == 1;
  const int64_t head = b * a.kvHeads + kvh;
  if (!oneRow && s.ktHead != head) {
    const int64_t seen =
        a.causal ? std::clamp<int64_t>(a.sq + a.offsets[b], 0, a.sk) : a.sk;
    s.ldkt = std::max<int64_t>(kKeys, (seen + kKeys - 1) / kKeys * kKeys);
    s.kt.assign(d * s.ldkt, 0.0f);
    for (int64_t j = 0; j < seen; ++j) {
      const float *kj = kBase + j * kvStride;
      for (int64_t e = 0; e < d; ++e)
        s.kt[e * s.ldkt + j] = kj[e];
    }
    s.ktHead = head;
  }
  std::fill(s.out.begin(), s.out.begin() + padded * dp, 0.0f);
  std::fill(s.rowMax.begin(), s.rowMax.end(), -INFINITY);
  std::fill(s.rowSum.begin(), s.rowSum.end(), 0.0f);

  for (int64_t j0 = 0; j0 < keys; j0 += kKeys) {
    const int64_t n = std::min(kKeys, keys - j0);
    const float *v = vBase + j0 * kvStride;
    int64_t ldv = kvStride;
    if (dp != d) {
      for (int64_t j = 0; j < n; ++j) {
        float *vj = s.v.data() + j * dp;
        std::memcpy(vj, vBase + (j0 + j) * kvStride, d * sizeof(float));
        std::fill(vj + d, vj + dp, 0.0f);
      }
      v = s.v.data();
      ldv = dp;
    }
    if (oneRow) {
      float *scores = s.scores.data();
      for (int64_t j = 0; j < n; ++j)
        scores[j] = dot(s.q.data(), kBase + (j0 + j) * kvStride, d);
      std::fill(scores + n, scores + padded * kKeys, 0.0f);
    } else {
      scoreTile<kRowBlock>(s.q.data(), s.kt.data() + j0, s.ldkt,
                           s.scores.data(), padded, d);
    }

    for (int64_t r = 0; r < padded; ++r) {
      float *sr = s.scores.data() + r * kKeys;
      const int64_t seen = std::clamp<int64_t>(s.limit[r] - j0, 0, n);
      if (seen == 0) {
        std::fill(sr, sr + kKeys, 0.0f);
        continue;
      }
      if (a.bias) {
        const float *br = a.bias + b * a.biasStrides[0] + h * a.biasStrides[1] +
                          (i0 + r) * a.biasStrides[2];
        for (int64_t j = 0; j < seen; ++j)
          sr[j] += br[(j0 + j) * a.biasStrides[3]];
      }
      if (!a.keyMask.empty())
        for (int64_t j = 0; j < seen; ++j)
          sr[j] += (1.0f - a.keyMask[b * a.sk + j0 + j]) * -FLT_MAX;
      std::fill(sr + seen, sr + kKeys, -INFINITY);
      V16 best = splat(-INFINITY);
      for (int c = 0; c < 4; ++c) {
        V16 x = load(sr + c * kLanes);
        best = x > best ? x : best;
      }
      const float rowMax = std::max(s.rowMax[r], horizontalMax(best));
      if (rowMax == -INFINITY) { // every score so far is -inf (a -inf bias)
        std::fill(sr, sr + kKeys, 0.0f);
        continue;
      }
      const float correction = std::exp(s.rowMax[r] - rowMax);
      V16 sum = {};
      for (int c = 0; c < 4; ++c) {
        V16 p = vexp(load(sr + c * kLanes) - rowMax);
        sum += p;
        store(sr + c * kLanes, p);
      }
      s.rowSum[r] = s.rowSum[r] * correction + horizontalSum(sum);
      s.rowMax[r] = rowMax;
      if (correction != 1.0f) {
        float *o = s.out.data() + r * dp;
        for (int64_t e = 0; e < dp; ++e)
          o[e] *= correction;
      }
    }
    // A decode step's one row alone: the row block's padding rows would
    // multiply zeros into zeros (4x the products of the row).
    if (oneRow)
      accumulateTile<1>(s.scores.data(), v, ldv, s.out.data(), 1, n, dp);
    else
      accumulateTile<kRowBlock>(s.scores.data(), v, ldv, s.out.data(), padded,
                                n, dp);
  }

  for (int64_t r = 0; r < rows; ++r) {
    float *dst = a.out + (b * a.sq + i0 + r) * qStride + h * d;
    const float *o = s.out.data() + r * dp;
    const float inv = s.limit[r] > 0 ? 1.0f / s.rowSum[r] : 0.0f;
    for (int64_t e = 0; e < d; ++e)
      dst[e] = o[e] * inv;
  }
}

template <int kRowBlock>
KILN_INLINE void attendItems(const AttentionArgs &a, int64_t begin,
                             int64_t end) {
  static_assert(kQueryBlock % kRowBlock == 0);
  const int64_t dp = (a.headDim + kColumns - 1) / kColumns * kColumns;
  const int64_t blocks = (a.sq + kQueryBlock - 1) / kQueryBlock;
  Scratch scratch(a.headDim, dp);
  for (int64_t item = begin; item < end; ++item) {
    int64_t bh = item / blocks, block = item % blocks;
    int64_t i0 = block * kQueryBlock;
    attendBlock<kRowBlock>(a, scratch, bh / a.heads, bh % a.heads, i0,
                           std::min(kQueryBlock, a.sq - i0), dp);
  }
}

// AVX-512 has 32 vector registers: 4 rows x 4 vectors of accumulators fit.
// AVX2 and SSE2 split each 16-lane vector into 2 and 4 of their 16
// registers, so they take 2 rows and 1 row at a time.
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) void
attendAvx512(const AttentionArgs &a, int64_t begin, int64_t end) {
  attendItems<4>(a, begin, end);
}
__attribute__((target("avx2,fma"))) void
attendAvx2(const AttentionArgs &a, int64_t begin, int64_t end) {
  attendItems<2>(a, begin, end);
}
void attendGeneric(const AttentionArgs &a, int64_t begin, int64_t end) {
  attendItems<1>(a, begin, end);
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

void attention(const AttentionArgs &a, ThreadPool &pool, CpuIsa isa) {
  if (!hostSupports(isa))
    isa = hostIsa();
  auto *run = isa == CpuIsa::Avx512 ? attendAvx512
              : isa == CpuIsa::Avx2 ? attendAvx2
                                    : attendGeneric;
  const int64_t blocks = (a.sq + kQueryBlock - 1) / kQueryBlock;
  pool.parallelFor(a.batch * a.heads * blocks,
                   [&](int64_t begin, int64_t end) { run(a, begin, end); });
}

} // namespace kiln::rt
