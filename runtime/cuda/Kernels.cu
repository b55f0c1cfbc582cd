//===- Kernels.cu - the CUDA executor's own kernels -----------------------===//
//
// Compiled by nvcc at build time into a fatbin (sm_90 SASS + PTX) that
// kiln-run carries and loads through the driver; kiln-run links no CUDA
// library. fp32 throughout (the compiler emits fp32 steps today):
//   kiln_cache_write      the new key/value rows into the kv cache at each
//                         sequence's position;
//   kiln_attention        prefill and encoder attention, flash-attention
//                         style: a block takes 16 query rows of one head and
//                         walks the keys in tiles held in shared memory with
//                         an online softmax, so each key is read once per 16
//                         queries and the scores never reach global memory;
//   kiln_decode_attention one query row against the kv cache, split along
//   kiln_decode_combine   the context (flash-decoding): each block reduces
//                         one chunk of keys to (max, sum, weighted values),
//                         and a second kernel merges the chunks. The split
//                         is fixed by the cache's capacity, not the filled
//                         length, so the launch is the same at every decode
//                         step and can be replayed from a CUDA graph;
//                         chunks past a sequence's position exit at once;
//   kiln_gemm_epilogue    a gemm step's epilogue (bias, relu or tanh-GELU,
//                         residual) as a separate pass, for the shapes
//                         where cuBLASLt offers no algorithm with it fused;
//   kiln_quant_gemv       gemms on int8/int4 weights (kilnc --quantize):
//   kiln_dequantize       a few rows of A multiply the stored integers
//                         directly; more rows dequantize W for cuBLASLt;
//   kiln_quantize_rows    W8A8: A's rows to int8 per token, then an int8
//   kiln_int8_gemm        product with int32 sums and both scales (a few
//   kiln_int8_epilogue    rows), or, for more rows, cuBLASLt's int8
//                         tensor-core gemm writing the int32 sums and the
//                         scales and epilogue applied after it;
//   kiln_narrow           f32 activations to bf16 or f16 (round to nearest
//                         even, as support/Half.h) for the gemms of
//                         kilnc --gemm-dtype;
//   kiln_widen_epilogue   a 2:4 weight's product from cuSPARSELt (bf16 or
//                         f16) to f32 with the step's epilogue;
//   kiln_rank_share       a rank's share of an all_reduce or all_gather
//                         among ranks sharing this GPU, read from the
//                         other ranks' buffers (device-to-device);
//   kiln_norm             layer and RMS norm, a block per row: the
//                         generated kernels give a row to one thread,
//                         which leaves a decode step's norm (one row) on a
//                         single thread; here 256 threads share the row's
//                         reductions.
// Semantics are kiln.attention's (runtime/Attention.cpp is the reference):
// grouped-query heads, causal limit at each sequence's position, a 0/1 key
// mask adding -FLT_MAX, T5's additive bias, keys past the causal limit never
// read. The launches assume 256-thread blocks.
//
// The file is also compiled as C++ against test/support/CudaEmulator.h, which
// runs these kernels on the CPU in CI.
//
//===----------------------------------------------------------------------===//

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "support/Half.h"

#ifndef KILN_DYNAMIC_SHARED
#define KILN_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

namespace {

/// Query rows per block of kiln_attention, and threads per row.
constexpr int kRows = 16;
constexpr int kRowThreads = 16;

__device__ int64_t position(const void *positions, int wide, int64_t b) {
  return wide ? static_cast<const int64_t *>(positions)[b]
              : static_cast<const int32_t *>(positions)[b];
}

__device__ float maskValue(const void *mask, int kind, int64_t i) {
  switch (kind) {
  case 1:
    return static_cast<const int8_t *>(mask)[i] != 0;
  case 2:
    return static_cast<float>(static_cast<const int32_t *>(mask)[i]);
  case 3:
    return static_cast<float>(static_cast<const int64_t *>(mask)[i]);
  case 4:
    return static_cast<const float *>(mask)[i];
  }
  return 1;
}

/// The additive terms of one score: T5's bias and the key mask.
struct ScoreTerms {
  const void *mask;
  int maskKind;
  const float *bias;
  int64_t biasB, biasH, biasI, biasJ;

  __device__ float apply(float s, int64_t b, int64_t h, int64_t i, int64_t j,
                         int64_t sk) const {
    if (bias)
      s += bias[b * biasB + h * biasH + i * biasI + j * biasJ];
    if (maskKind)
      s += (1.0f - maskValue(mask, maskKind, b * sk + j)) * -FLT_MAX;
    return s;
  }
};

/// The keys query row `i` of sequence `b` may see.
__device__ int64_t keyLimit(int64_t i, int64_t offset, int64_t sk, int causal) {
  if (!causal)
    return sk;
  return min(max(i + offset + 1, int64_t(0)), sk);
}

template <bool IsMax> __device__ float combine(float a, float b) {
  return IsMax ? fmaxf(a, b) : a + b;
}

/// Reduces over the `width` lanes (a power of two, at most 32) that share
/// a group within the warp.
template <bool IsMax> __device__ float groupReduce(float v, int width) {
  for (int o = width / 2; o > 0; o /= 2)
    v = combine<IsMax>(v, __shfl_xor_sync(0xffffffff, v, o));
  return v;
}

/// Reduces over the whole block; every thread gets the result.
template <bool IsMax> __device__ float blockReduce(float v, float *scratch) {
  v = groupReduce<IsMax>(v, 32);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) / 32;
  v = lane < warps ? scratch[lane] : (IsMax ? -FLT_MAX : 0.0f);
  v = groupReduce<IsMax>(v, 32);
  __syncthreads();
  return v;
}

} // namespace

extern "C" __global__ void kiln_cache_write(float *cache, const float *rows,
                                            const void *positions, int wide,
                                            int64_t batch, int64_t count,
                                            int64_t maxSeq, int64_t width) {
  int64_t total = batch * count * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i % width, r = (i / width) % count, b = i / (width * count);
    int64_t at = position(positions, wide, b) + r;
    if (at >= 0 && at < maxSeq)
      cache[(b * maxSeq + at) * width + e] = rows[i];
  }
}

/// dst[i] = src[i] as bf16 (bf16 != 0) or f16.
extern "C" __global__ void kiln_narrow(uint16_t *dst, const float *src,
                                       int64_t count, int bf16) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = bf16 ? kiln::floatToBf16(src[i]) : kiln::floatToHalf(src[i]);
}

namespace {

/// act(x + bias[col]) + residual[i]: a gemm step's epilogue on element i of
/// C (column col); activation 0 none, 1 relu, 2 tanh-GELU
/// (runtime/Blas.cpp's applyGemmEpilogue).
__device__ float epilogue(float x, const float *bias, const float *residual,
                          int64_t i, int64_t col, int activation) {
  if (bias)
    x += bias[col];
  if (activation == 1)
    x = fmaxf(x, 0.0f);
  else if (activation == 2)
    x = 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
  if (residual)
    x += residual[i];
  return x;
}

/// A quantized weight as support/Quantize.h stores it: `bits` 8 or 4,
/// `rowBytes` per output channel, one scale per `group` input features.
struct QuantWeight {
  const uint8_t *values;
  const float *scales;
  int64_t rowBytes, group, groups;
  int bits;

  /// The stored integer of output channel `col`, input feature `e`.
  __device__ int q(int64_t col, int64_t e) const {
    const uint8_t *row = values + col * rowBytes;
    if (bits == 8)
      return static_cast<int8_t>(row[e]);
    // 16 bytes per block of 32 features: feature j of the block in the low
    // nibble of byte j, feature j + 16 in its high one, each as q + 8.
    const uint8_t byte = row[(e / 32) * 16 + (e % 16)];
    return ((e % 32) < 16 ? (byte & 15) : (byte >> 4)) - 8;
  }
  __device__ float value(int64_t col, int64_t e) const {
    return static_cast<float>(q(col, e)) * scales[col * groups + e / group];
  }
};

} // namespace

/// c = act(c + bias[col]) + residual over rows x n, in place.
extern "C" __global__ void kiln_gemm_epilogue(float *c, const float *bias,
                                              const float *residual,
                                              int64_t rows, int64_t n,
                                              int activation) {
  const int64_t total = rows * n;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    c[i] = epilogue(c[i], bias, residual, i, i % n, activation);
}

/// Grid (ceil(n / 8)), 256 threads: C[m, n] = A[m, k] W^T for a quantized W
/// and m <= kQuantGemvRows, with the step's epilogue. A warp takes one
/// output channel (one stored row of W) for all m rows of A, its lanes
/// along k, so each stored byte is read once per call and dequantized in a
/// register: a memory-bound decode step reads the int8/int4 bytes, not
/// f32 (cuBLASLt has no such gemm).
extern "C" __global__ void
kiln_quant_gemv(float *c, const float *a, const uint8_t *values,
                const float *scales, const float *bias, const float *residual,
                int64_t m, int64_t n, int64_t k, int64_t lda, int64_t rowBytes,
                int64_t group, int bits, int activation) {
  constexpr int kMaxRows = 8; // CudaLaunch.h's kQuantGemvRows
  const QuantWeight w{values, scales, rowBytes, group, (k + group - 1) / group,
                      bits};
  const int64_t col = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (col >= n)
    return; // a whole warp: no shuffle is left waiting
  float acc[kMaxRows] = {};
  for (int64_t e = lane; e < k; e += 32) {
    const float x = w.value(col, e);
    for (int i = 0; i < kMaxRows; ++i)
      if (i < m)
        acc[i] += a[i * lda + e] * x;
  }
  for (int i = 0; i < kMaxRows; ++i) {
    if (i >= m)
      break;
    const float sum = groupReduce<false>(acc[i], 32);
    if (lane == 0)
      c[i * n + col] =
          epilogue(sum, bias, residual, i * n + col, col, activation);
  }
}

/// Grid-stride over n x k: out[col * k + e] = W's value, the quantized
/// weight as f32 row-major [n, k], for cuBLASLt to multiply by many rows
/// (a compute-bound prefill, where reading W once more costs little).
extern "C" __global__ void kiln_dequantize(float *out, const uint8_t *values,
                                           const float *scales, int64_t n,
                                           int64_t k, int64_t rowBytes,
                                           int64_t group, int bits) {
  const QuantWeight w{values, scales, rowBytes, group, (k + group - 1) / group,
                      bits};
  const int64_t total = n * k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = w.value(i / k, i % k);
}

/// Grid (rows), 256 threads: each row of A (times invSmooth, when given)
/// to int8 with scale max|x| / 127, q [rows, paddedK] (zeros past k),
/// rowScales [rows]: support/Quantize.cpp's quantizeActivationRow, the
/// same operations in the same order, so W8A8 rounds as on the CPU.
extern "C" __global__ void kiln_quantize_rows(int8_t *q, float *rowScales,
                                              const float *a,
                                              const float *invSmooth, int64_t k,
                                              int64_t lda, int64_t paddedK) {
  __shared__ float scratch[32];
  const float *x = a + blockIdx.x * lda;
  int8_t *out = q + blockIdx.x * paddedK;
  float peak = 0.0f;
  for (int64_t e = threadIdx.x; e < k; e += blockDim.x)
    peak = fmaxf(peak, fabsf(invSmooth ? x[e] * invSmooth[e] : x[e]));
  peak = blockReduce<true>(peak, scratch);
  const float scale = peak / 127.0f;
  const float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
  for (int64_t e = threadIdx.x; e < paddedK; e += blockDim.x) {
    float v = e < k ? (invSmooth ? x[e] * invSmooth[e] : x[e]) * inverse : 0;
    out[e] = static_cast<int8_t>(fminf(fmaxf(rintf(v), -127.0f), 127.0f));
  }
  if (threadIdx.x == 0)
    rowScales[blockIdx.x] = scale;
}

/// Grid (ceil(n / 8), ceil(m / 8)), 256 threads: W8A8's C[m, n] =
/// (qa[m, paddedK] W^T) * rowScales[i] * scales[col] with the step's
/// epilogue, int32 sums as on the CPU. A warp takes one output channel for
/// 8 rows of A, its lanes along k. Plain integer multiply-adds, not
/// tensor cores: correct everywhere, and the int8 weight is still read as
/// stored.
extern "C" __global__ void
kiln_int8_gemm(float *c, const int8_t *qa, const float *rowScales,
               const int8_t *values, const float *scales, const float *bias,
               const float *residual, int64_t m, int64_t n, int64_t paddedK,
               int activation) {
  constexpr int kRowsPerWarp = 8;
  const int64_t col = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  const int64_t row0 = blockIdx.y * int64_t(kRowsPerWarp);
  const int lane = threadIdx.x % 32;
  if (col >= n)
    return;
  int32_t acc[kRowsPerWarp] = {};
  const int8_t *w = values + col * paddedK;
  for (int64_t e = lane; e < paddedK; e += 32) {
    const int32_t x = w[e];
    for (int i = 0; i < kRowsPerWarp; ++i)
      if (row0 + i < m)
        acc[i] += static_cast<int32_t>(qa[(row0 + i) * paddedK + e]) * x;
  }
  for (int i = 0; i < kRowsPerWarp; ++i) {
    if (row0 + i >= m)
      break;
    int32_t sum = acc[i];
    for (int o = 16; o > 0; o /= 2)
      sum += __shfl_xor_sync(0xffffffff, sum, o);
    if (lane == 0) {
      const int64_t at = (row0 + i) * n + col;
      c[at] = epilogue(static_cast<float>(sum) *
                           (rowScales[row0 + i] * scales[col]),
                       bias, residual, at, col, activation);
    }
  }
}

/// c = epilogue(d as f32) over rows x n: cuSPARSELt's product of a 2:4
/// weight, in bf16 (bf16 != 0) or f16, to the step's f32 result.
extern "C" __global__ void kiln_widen_epilogue(float *c, const uint16_t *d,
                                               const float *bias,
                                               const float *residual,
                                               int64_t rows, int64_t n,
                                               int activation, int bf16) {
  const int64_t total = rows * n;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    c[i] = epilogue(bf16 ? kiln::bf16ToFloat(d[i]) : kiln::halfToFloat(d[i]),
                    bias, residual, i, i % n, activation);
}

/// W8A8 after cuBLASLt's int8 gemm wrote the int32 sums S[m, n] into C's
/// buffer: c = epilogue(S * rowScales[row] * scales[col]) in place, the
/// operations of kiln_int8_gemm's last step, so both give the same bits.
extern "C" __global__ void kiln_int8_epilogue(float *c, const float *rowScales,
                                              const float *scales,
                                              const float *bias,
                                              const float *residual, int64_t m,
                                              int64_t n, int activation) {
  const int64_t total = m * n;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int32_t sum;
    memcpy(&sum, c + i, sizeof(sum)); // the sum's bits, then its value
    c[i] =
        epilogue(static_cast<float>(sum) * (rowScales[i / n] * scales[i % n]),
                 bias, residual, i, i % n, activation);
  }
}

/// Grid (rows); out = norm(x) over the last dim (runtime/Norm.cpp's
/// normalizeRows): rms != 0 for RMS norm, bias may be null.
extern "C" __global__ void kiln_norm(float *out, const float *x,
                                     const float *scale, const float *bias,
                                     int64_t width, float epsilon, int rms) {
  __shared__ float scratch[32];
  const float *xr = x + blockIdx.x * width;
  float *o = out + blockIdx.x * width;
  float mean = 0.0f;
  if (!rms) {
    float sum = 0.0f;
    for (int64_t e = threadIdx.x; e < width; e += blockDim.x)
      sum += xr[e];
    mean = blockReduce<false>(sum, scratch) / static_cast<float>(width);
  }
  float squares = 0.0f;
  for (int64_t e = threadIdx.x; e < width; e += blockDim.x) {
    float d = xr[e] - mean;
    squares += d * d;
  }
  squares = blockReduce<false>(squares, scratch);
  const float inv = 1.0f / sqrtf(squares / static_cast<float>(width) + epsilon);
  for (int64_t e = threadIdx.x; e < width; e += blockDim.x) {
    float y = (xr[e] - mean) * inv * scale[e];
    o[e] = bias ? y + bias[e] : y;
  }
}

/// Grid (ceil(sq / 16), heads, batch), 256 threads: 16 per query row.
/// Dynamic shared memory (floats): Q tile [16, D], K tile [blockKeys, D + 1]
/// (padded against bank conflicts), V tile [blockKeys, D], probabilities
/// [16, blockKeys], output accumulators [16, D]. The host picks blockKeys so
/// that this fits in 48 KiB.
extern "C" __global__ void
kiln_attention(const float *q, const float *k, const float *v, float *out,
               int64_t sq, int64_t sk, int64_t heads, int64_t kvHeads,
               int64_t headDim, float scale, int causal, const void *positions,
               int wide, const void *mask, int maskKind, const float *bias,
               int64_t biasB, int64_t biasH, int64_t biasI, int64_t biasJ,
               int64_t blockKeys) {
  KILN_DYNAMIC_SHARED(float, smem);
  const int64_t D = headDim, BK = blockKeys;
  float *qs = smem;
  float *ks = qs + kRows * D;
  float *vs = ks + BK * (D + 1);
  float *ps = vs + BK * D;
  float *os = ps + kRows * BK;

  const ScoreTerms terms{mask, maskKind, bias, biasB, biasH, biasI, biasJ};
  const int64_t h = blockIdx.y, b = blockIdx.z, first = blockIdx.x * kRows;
  const int64_t kvh = h / (heads / kvHeads);
  const int64_t qStride = heads * D, kvStride = kvHeads * D;
  const float *kb = k + b * sk * kvStride + kvh * D;
  const float *vb = v + b * sk * kvStride + kvh * D;
  const int64_t offset = positions ? position(positions, wide, b) : sk - sq;
  const int tid = threadIdx.x, r = tid / kRowThreads, lane = tid % kRowThreads;
  const int64_t i = first + r;
  const int64_t rowLimit = i < sq ? keyLimit(i, offset, sk, causal) : 0;
  const int64_t lastRow = min(first + kRows, sq) - 1;
  const int64_t tileLimit = keyLimit(lastRow, offset, sk, causal);

  for (int64_t x = tid; x < kRows * D; x += blockDim.x) {
    int64_t row = first + x / D;
    qs[x] = row < sq ? q[(b * sq + row) * qStride + h * D + x % D] : 0.0f;
    os[x] = 0.0f;
  }
  // The accumulators were zeroed by other threads: without this barrier a
  // block whose rows see no key (tileLimit 0: causal rows before the first
  // key) would read them unwritten below.
  __syncthreads();
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = 0; j0 < tileLimit; j0 += BK) {
    const int64_t n = min(BK, tileLimit - j0);
    __syncthreads(); // the previous tile is no longer read
    for (int64_t x = tid; x < n * D; x += blockDim.x) {
      int64_t c = x / D, e = x % D;
      ks[c * (D + 1) + e] = kb[(j0 + c) * kvStride + e];
      vs[c * D + e] = vb[(j0 + c) * kvStride + e];
    }
    __syncthreads();

    // Scores of row r; keys it may not see are -inf and weigh exactly 0.
    float tileMax = -INFINITY;
    for (int64_t c = lane; c < BK; c += kRowThreads) {
      float s = -INFINITY;
      if (c < n && j0 + c < rowLimit) {
        float dot = 0.0f;
        for (int64_t e = 0; e < D; ++e)
          dot += qs[r * D + e] * ks[c * (D + 1) + e];
        s = terms.apply(dot * scale, b, h, i, j0 + c, sk);
      }
      ps[r * BK + c] = s;
      tileMax = fmaxf(tileMax, s);
    }
    tileMax = groupReduce<true>(tileMax, kRowThreads);
    const float mNew = fmaxf(m, tileMax);
    const float correction = mNew == -INFINITY ? 1.0f : expf(m - mNew);
    float sum = 0.0f;
    for (int64_t c = lane; c < BK; c += kRowThreads) {
      float s = ps[r * BK + c];
      float p = s == -INFINITY ? 0.0f : expf(s - mNew);
      ps[r * BK + c] = p;
      sum += p;
    }
    sum = groupReduce<false>(sum, kRowThreads);
    l = l * correction + sum;
    m = mNew;
    __syncthreads(); // the row's probabilities are all written

    for (int64_t e = lane; e < D; e += kRowThreads) {
      float acc = os[r * D + e] * correction;
      for (int64_t c = 0; c < n; ++c)
        acc += ps[r * BK + c] * vs[c * D + e];
      os[r * D + e] = acc;
    }
  }
  if (i < sq) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *oi = out + (b * sq + i) * qStride + h * D;
    for (int64_t e = lane; e < D; e += kRowThreads)
      oi[e] = os[r * D + e] * inv;
  }
}

/// Grid (splits, heads, batch), 256 threads; block s takes keys
/// [s * chunk, (s + 1) * chunk) below the sequence's limit and writes
/// (max, sum, sum of p * V[D]) to partial[((b * heads + h) * splits + s) *
/// (D + 2)]. Dynamic shared memory (floats): the query [D], the chunk's
/// scores [chunk], and [blockDim] for the cross-group sum.
extern "C" __global__ void kiln_decode_attention(
    const float *q, const float *k, const float *v, float *partial, int64_t sk,
    int64_t heads, int64_t kvHeads, int64_t headDim, float scale, int causal,
    const void *positions, int wide, const void *mask, int maskKind,
    const float *bias, int64_t biasB, int64_t biasH, int64_t biasI,
    int64_t biasJ, int64_t chunk) {
  KILN_DYNAMIC_SHARED(float, smem);
  __shared__ float scratch[32];
  const int64_t D = headDim;
  float *qs = smem;
  float *ps = qs + D;
  float *red = ps + chunk;

  const ScoreTerms terms{mask, maskKind, bias, biasB, biasH, biasI, biasJ};
  const int64_t s = blockIdx.x, splits = gridDim.x, h = blockIdx.y,
                b = blockIdx.z;
  const int64_t kvh = h / (heads / kvHeads);
  const int64_t kvStride = kvHeads * D;
  const float *kb = k + b * sk * kvStride + kvh * D;
  const float *vb = v + b * sk * kvStride + kvh * D;
  const int64_t offset = positions ? position(positions, wide, b) : sk - 1;
  const int64_t limit = keyLimit(0, offset, sk, causal);
  const int64_t begin = s * chunk,
                n = max(min(chunk, limit - begin), int64_t(0));
  float *result = partial + ((b * heads + h) * splits + s) * (D + 2);
  const int tid = threadIdx.x;
  if (n == 0) { // the whole block agrees: no barrier is skipped by some
    for (int64_t e = tid; e < D + 2; e += blockDim.x)
      result[e] = e == 0 ? -INFINITY : 0.0f;
    return;
  }

  for (int64_t e = tid; e < D; e += blockDim.x)
    qs[e] = q[(b * heads + h) * D + e];
  __syncthreads();
  // A warp per key: lanes read consecutive elements of the key.
  const int lane = tid % 32, warp = tid / 32, warps = blockDim.x / 32;
  for (int64_t c = warp; c < n; c += warps) {
    const float *kj = kb + (begin + c) * kvStride;
    float dot = 0.0f;
    for (int64_t e = lane; e < D; e += 32)
      dot += qs[e] * kj[e];
    dot = groupReduce<false>(dot, 32);
    if (lane == 0)
      ps[c] = terms.apply(dot * scale, b, h, 0, begin + c, sk);
  }
  __syncthreads();
  float best = -INFINITY;
  for (int64_t c = tid; c < n; c += blockDim.x)
    best = fmaxf(best, ps[c]);
  best = blockReduce<true>(best, scratch);
  float sum = 0.0f;
  for (int64_t c = tid; c < n; c += blockDim.x) {
    float p = expf(ps[c] - best);
    ps[c] = p;
    sum += p;
  }
  sum = blockReduce<false>(sum, scratch); // its barriers publish ps too

  // p . V: `groups` sets of `width` threads over the elements, each set
  // summing every groups-th key; the sets are then added up.
  const int64_t width = min(D, int64_t(blockDim.x));
  const int64_t groups = blockDim.x / width, g = tid / width;
  if (g < groups)
    for (int64_t e = tid % width; e < D; e += width) {
      float a = 0.0f;
      for (int64_t c = g; c < n; c += groups)
        a += ps[c] * vb[(begin + c) * kvStride + e];
      if (groups == 1)
        result[2 + e] = a;
      else
        red[g * width + e] = a; // width == D here
    }
  if (groups > 1) {
    __syncthreads();
    for (int64_t e = tid; e < D; e += blockDim.x) {
      float total = 0.0f;
      for (int64_t x = 0; x < groups; ++x)
        total += red[x * width + e];
      result[2 + e] = total;
    }
  }
  if (tid == 0) {
    result[0] = best;
    result[1] = sum;
  }
}

/// Grid (heads, batch): out[b, 0, h, :] from the splits' partial results.
extern "C" __global__ void kiln_decode_combine(const float *partial, float *out,
                                               int64_t heads, int64_t headDim,
                                               int64_t splits) {
  const int64_t D = headDim, h = blockIdx.x, b = blockIdx.y;
  const float *base = partial + (b * heads + h) * splits * (D + 2);
  float best = -INFINITY;
  for (int64_t s = 0; s < splits; ++s)
    best = fmaxf(best, base[s * (D + 2)]);
  float total = 0.0f;
  for (int64_t s = 0; s < splits; ++s) {
    const float *r = base + s * (D + 2);
    if (r[0] != -INFINITY)
      total += r[1] * expf(r[0] - best);
  }
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  for (int64_t e = threadIdx.x; e < D; e += blockDim.x) {
    float acc = 0.0f;
    for (int64_t s = 0; s < splits; ++s) {
      const float *r = base + s * (D + 2);
      if (r[0] != -INFINITY)
        acc += r[2 + e] * expf(r[0] - best);
    }
    out[(b * heads + h) * D + e] = acc * inv;
  }
}

/// Elements [begin, end) of a collective's result, into out[0, end - begin),
/// from the operands of `ranks` ranks that share this GPU (in0..in7, rank
/// order): their sum (cols == 0), added in rank order as the host's
/// LocalGroup adds them, so both paths give every rank the same bits; or,
/// cols > 0, the ranks' [rows, cols] operands side by side, rank r's at
/// columns [r * cols, (r + 1) * cols) of [rows, ranks * cols].
extern "C" __global__ void kiln_rank_share(float *out, int64_t begin,
                                           int64_t end, int64_t cols, int ranks,
                                           const float *in0, const float *in1,
                                           const float *in2, const float *in3,
                                           const float *in4, const float *in5,
                                           const float *in6, const float *in7) {
  const float *in[8] = {in0, in1, in2, in3, in4, in5, in6, in7};
  const int64_t width = cols * ranks;
  for (int64_t i = begin + blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       i < end; i += int64_t(gridDim.x) * blockDim.x) {
    if (cols > 0) {
      const int64_t row = i / width, col = i % width;
      out[i - begin] = in[col / cols][row * cols + col % cols];
      continue;
    }
    float sum = in[0][i];
    for (int r = 1; r < ranks; ++r)
      sum += in[r][i];
    out[i - begin] = sum;
  }
}
