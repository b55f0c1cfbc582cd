//===- QuantGemm.cpp - gemms on int8/int4 weights (kilnc --quantize) ------===//
//
// The fused kernel is written once with GCC vector extensions and compiled
// for AVX-512 and for any x86-64 (as runtime/Attention.cpp is; AVX2 takes
// the latter, see Widen): each 32-feature block of a weight row is widened
// to two 16-lane f32 vectors and multiplied into up to four rows of A at
// once, a group's sum scaled once at its end.
//
//===----------------------------------------------------------------------===//

#include "runtime/QuantGemm.h"

#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/ThreadPool.h"
#include "support/Quantize.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <vector>

namespace kiln::rt {

namespace {

using V16 = float __attribute__((vector_size(64)));
using V16i = int32_t __attribute__((vector_size(64)));
using V16s8 = int8_t __attribute__((vector_size(16)));
using V16u8 = uint8_t __attribute__((vector_size(16)));

#define KILN_INLINE inline __attribute__((always_inline))

KILN_INLINE V16 load(const float *p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// How a block of stored values becomes f32 vectors, per ISA. GCC does not
// vectorize a conversion of a byte vector (__builtin_convertvector of int8
// lanes becomes a scalar load per lane), so the AVX variants name the
// sign/zero-extending conversions.
// AVX2 gets the generic variant: GCC keeps 16-lane vectors that need two
// AVX2 registers on the stack between operations, and an AVX2 build of
// this code ran 1.5x slower than the generic one (measured on 3072 x 768
// int8, one row of A). A native 8-lane kernel is what AVX2 machines need.
enum class Widen { Avx512, Generic };

/// 16 bytes as f32 into `out`: signed int8s, or one nibble of each (bits
/// `shift`..+3), as stored (q + 8: the caller takes the 8 off). Vectors
/// cross the AVX-512 helpers through memory, not by value: Clang refuses a
/// 64-byte vector passed between functions with and without AVX-512 (an
/// ABI change); once inlined, the store and load fold away.
__attribute__((target("avx512f,avx512bw"))) inline void
bytesToFloatAvx512(const uint8_t *p, bool isSigned, int shift, float *out) {
  __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
  __m512i v =
      isSigned ? _mm512_cvtepi8_epi32(bytes) : _mm512_cvtepu8_epi32(bytes);
  if (!isSigned)
    v = shift ? _mm512_srli_epi32(v, shift)
              : _mm512_and_si512(v, _mm512_set1_epi32(15));
  _mm512_storeu_ps(out, _mm512_cvtepi32_ps(v));
}

KILN_INLINE V16 bytesToFloatGeneric(const uint8_t *p, bool isSigned,
                                    int shift) {
  V16 out;
  for (int i = 0; i < 16; ++i)
    out[i] = isSigned ? static_cast<float>(static_cast<int8_t>(p[i]))
                      : static_cast<float>((p[i] >> shift) & 15);
  return out;
}

__attribute__((target("avx512f"))) inline float sumAvx512(const float *v) {
  return _mm512_reduce_add_ps(_mm512_loadu_ps(v));
}

/// The sum of a vector's lanes, as a tree (a chain of 16 dependent adds per
/// output would cost as much as the row's products).
template <Widen W> KILN_INLINE float sum(V16 v) {
  float s[16];
  std::memcpy(s, &v, sizeof s);
  if constexpr (W == Widen::Avx512) {
    return sumAvx512(s);
  } else {
    for (int width = 8; width > 0; width /= 2)
      for (int i = 0; i < width; ++i)
        s[i] += s[i + width];
    return s[0];
  }
}

template <Widen W>
KILN_INLINE V16 bytesToFloat(const uint8_t *p, bool isSigned, int shift) {
  if constexpr (W == Widen::Avx512) {
    V16 out;
    float lanes[16];
    bytesToFloatAvx512(p, isSigned, shift, lanes);
    std::memcpy(&out, lanes, sizeof out);
    return out;
  } else {
    return bytesToFloatGeneric(p, isSigned, shift);
  }
}

/// The 32 features of block `block` of a stored row, as two f32 vectors
/// (4 bits: q + 8).
template <int Bits, Widen W>
KILN_INLINE void widenBlock(const uint8_t *row, int64_t block, V16 &lo,
                            V16 &hi) {
  if constexpr (Bits == 8) {
    lo = bytesToFloat<W>(row + block * 32, true, 0);
    hi = bytesToFloat<W>(row + block * 32 + 16, true, 0);
  } else {
    lo = bytesToFloat<W>(row + block * 16, false, 0);
    hi = bytesToFloat<W>(row + block * 16, false, 4);
  }
}

/// How far ahead of its loads the fused kernel prefetches the weights.
constexpr int64_t kPrefetchBytes = 1024;

/// C[r, n] for M rows of x (padded to whole blocks, leading dimension ldx;
/// `xsum`: each row's sum per group, [M, groups]) and weight rows
/// [begin, end). Independent accumulators per row (two halves of a block,
/// and with AVX-512 two blocks) keep the FMA units busy: one chain would
/// wait on each FMA's latency. 4-bit values are multiplied as stored (q + 8);
/// the 8 comes off once per group, as 8 times the group's sum of x. Whether the
/// fused kernel unrolls two blocks (four accumulator chains per row), and how
/// many rows of x it takes at once, per ISA.
template <Widen W> constexpr bool kUnroll = W == Widen::Avx512;
template <Widen W> constexpr int kRowsAtOnce = W == Widen::Avx512 ? 4 : 1;

template <int Bits, Widen W, int M>
KILN_INLINE void dotRows(const QuantizedMatrix &w, const float *x, int64_t ldx,
                         const float *xsum, float *c, int64_t ldc,
                         int64_t begin, int64_t end) {
  const QuantFormat &f = w.format;
  const int64_t groups = f.groups();
  const int64_t blocksPerGroup =
      f.group == f.cols ? f.paddedCols() / 32 : f.group / 32;
  const int64_t blocks = f.paddedCols() / 32;
  for (int64_t n = begin; n < end; ++n) {
    const uint8_t *row = w.values + n * f.rowBytes();
    const float *scales = w.scales + n * groups;
    V16 total[M] = {};
    float offset[M] = {};
    for (int64_t g = 0; g < groups; ++g) {
      V16 acc[M][4] = {};
      const int64_t last = std::min(blocks, (g + 1) * blocksPerGroup);
      int64_t b = g * blocksPerGroup;
      // Two blocks at a time where the registers hold the accumulators:
      // AVX-512 has 32 of them; AVX2 splits each 16-lane vector in two of
      // its 16, and SSE2 in four.
      for (; kUnroll<W> && b + 2 <= last; b += 2) {
        // The weight stream runs ahead of the hardware prefetcher's single
        // stream: ask for the bytes a few lines on (across rows too, they
        // are contiguous); the loads otherwise wait on memory.
        __builtin_prefetch(row + b * (Bits == 8 ? 32 : 16) + kPrefetchBytes);
        V16 lo0, hi0, lo1, hi1;
        widenBlock<Bits, W>(row, b, lo0, hi0);
        widenBlock<Bits, W>(row, b + 1, lo1, hi1);
        for (int r = 0; r < M; ++r) {
          const float *xr = x + r * ldx + b * 32;
          acc[r][0] += lo0 * load(xr);
          acc[r][1] += hi0 * load(xr + 16);
          acc[r][2] += lo1 * load(xr + 32);
          acc[r][3] += hi1 * load(xr + 48);
        }
      }
      for (; b < last; ++b) {
        __builtin_prefetch(row + b * (Bits == 8 ? 32 : 16) + kPrefetchBytes);
        V16 lo, hi;
        widenBlock<Bits, W>(row, b, lo, hi);
        for (int r = 0; r < M; ++r) {
          acc[r][0] += lo * load(x + r * ldx + b * 32);
          acc[r][1] += hi * load(x + r * ldx + b * 32 + 16);
        }
      }
      for (int r = 0; r < M; ++r) {
        total[r] +=
            ((acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3])) * scales[g];
        if constexpr (Bits == 4)
          offset[r] += 8 * scales[g] * xsum[r * groups + g];
      }
    }
    for (int r = 0; r < M; ++r)
      c[r * ldc + n] = sum<W>(total[r]) - offset[r];
  }
}

template <int Bits, Widen W>
KILN_INLINE void fused(const QuantizedMatrix &w, int64_t m, const float *x,
                       int64_t ldx, const float *xsum, float *c, int64_t ldc,
                       int64_t begin, int64_t end) {
  const int64_t groups = w.format.groups();
  constexpr int kRows = kRowsAtOnce<W>;
  int64_t r = 0;
  for (; r + kRows <= m; r += kRows)
    dotRows<Bits, W, kRows>(w, x + r * ldx, ldx, xsum + r * groups, c + r * ldc,
                            ldc, begin, end);
  if constexpr (kRows == 4) {
    if (m - r == 3) {
      dotRows<Bits, W, 3>(w, x + r * ldx, ldx, xsum + r * groups, c + r * ldc,
                          ldc, begin, end);
      return;
    }
  }
  if constexpr (kRows >= 2) {
    if (m - r >= 2) {
      dotRows<Bits, W, 2>(w, x + r * ldx, ldx, xsum + r * groups, c + r * ldc,
                          ldc, begin, end);
      r += 2;
    }
  }
  if (r < m)
    dotRows<Bits, W, 1>(w, x + r * ldx, ldx, xsum + r * groups, c + r * ldc,
                        ldc, begin, end);
}

/// Rows [begin, end) of W as f32, K columns each.
template <int Bits, Widen W>
KILN_INLINE void dequantize(const QuantizedMatrix &w, float *out, int64_t begin,
                            int64_t end) {
  const QuantFormat &f = w.format;
  const int64_t groups = f.groups();
  const int64_t blocks = f.paddedCols() / 32;
  for (int64_t n = begin; n < end; ++n) {
    const uint8_t *row = w.values + n * f.rowBytes();
    float *dst = out + n * f.cols;
    for (int64_t b = 0; b < blocks; ++b) {
      V16 lo, hi;
      widenBlock<Bits, W>(row, b, lo, hi);
      if constexpr (Bits == 4) {
        lo -= 8;
        hi -= 8;
      }
      const float scale = w.scales[n * groups + b * 32 / f.group];
      lo *= scale;
      hi *= scale;
      const int64_t k = b * 32;
      if (k + 32 <= f.cols) {
        std::memcpy(dst + k, &lo, sizeof lo);
        std::memcpy(dst + k + 16, &hi, sizeof hi);
        continue;
      }
      float block[32];
      std::memcpy(block, &lo, sizeof lo);
      std::memcpy(block + 16, &hi, sizeof hi);
      std::memcpy(dst + k, block, (f.cols - k) * sizeof(float));
    }
  }
}

struct Kernels {
  void (*fused8)(const QuantizedMatrix &, int64_t, const float *, int64_t,
                 const float *, float *, int64_t, int64_t, int64_t);
  void (*fused4)(const QuantizedMatrix &, int64_t, const float *, int64_t,
                 const float *, float *, int64_t, int64_t, int64_t);
  void (*dequantize8)(const QuantizedMatrix &, float *, int64_t, int64_t);
  void (*dequantize4)(const QuantizedMatrix &, float *, int64_t, int64_t);
};

#define KILN_QUANT_KERNELS(SUFFIX, TARGET)                                     \
  TARGET void fused8##SUFFIX(const QuantizedMatrix &w, int64_t m,              \
                             const float *x, int64_t ldx, const float *xs,     \
                             float *c, int64_t ldc, int64_t b, int64_t e) {    \
    fused<8, Widen::SUFFIX>(w, m, x, ldx, xs, c, ldc, b, e);                   \
  }                                                                            \
  TARGET void fused4##SUFFIX(const QuantizedMatrix &w, int64_t m,              \
                             const float *x, int64_t ldx, const float *xs,     \
                             float *c, int64_t ldc, int64_t b, int64_t e) {    \
    fused<4, Widen::SUFFIX>(w, m, x, ldx, xs, c, ldc, b, e);                   \
  }                                                                            \
  TARGET void dequantize8##SUFFIX(const QuantizedMatrix &w, float *out,        \
                                  int64_t b, int64_t e) {                      \
    dequantize<8, Widen::SUFFIX>(w, out, b, e);                                \
  }                                                                            \
  TARGET void dequantize4##SUFFIX(const QuantizedMatrix &w, float *out,        \
                                  int64_t b, int64_t e) {                      \
    dequantize<4, Widen::SUFFIX>(w, out, b, e);                                \
  }                                                                            \
  constexpr Kernels kKernels##SUFFIX = {fused8##SUFFIX, fused4##SUFFIX,        \
                                        dequantize8##SUFFIX,                   \
                                        dequantize4##SUFFIX};

// flatten: the ISA's conversions are inlined here, where the target allows
// them (GCC cannot inline them into the target-less templates between).
KILN_QUANT_KERNELS(Avx512, __attribute__((target("avx512f,avx512bw,avx512dq,"
                                                 "avx512vl,avx2,fma"),
                                          flatten)))
KILN_QUANT_KERNELS(Generic, __attribute__((flatten)))
#undef KILN_QUANT_KERNELS

/// W8A8: A's rows quantized to int8 (support/Quantize.h, after dividing
/// by the SmoothQuant factors), one int8 x int8 gemm with int32 sums, and
/// each sum scaled by its row's scale times its output channel's.
void w8a8Gemm(const QuantizedMatrix &w, int64_t m, const float *a, int64_t lda,
              float *c, int64_t ldc, ThreadPool &pool, Blas &blas,
              std::vector<float> &scratch) {
  const QuantFormat &f = w.format;
  const int64_t n = f.rows, ldq = f.paddedCols();
  // scratch: int32 sums [m, n], row scales [m], int8 rows [m, ldq].
  const int64_t words = m * n + m + (m * ldq + 3) / 4;
  scratch.resize(words);
  auto *sums = reinterpret_cast<int32_t *>(scratch.data());
  float *rowScales = scratch.data() + m * n;
  auto *rows = reinterpret_cast<int8_t *>(rowScales + m);
  pool.parallelFor(m, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      rowScales[r] = quantizeActivationRow(a + r * lda, f.cols, w.invSmooth,
                                           rows + r * ldq, ldq);
  });
  blas.gemmS8(m, n, ldq, rows, ldq, reinterpret_cast<const int8_t *>(w.values),
              ldq, sums, n);
  pool.parallelFor(m, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t j = 0; j < n; ++j)
        c[r * ldc + j] =
            static_cast<float>(sums[r * n + j]) * (rowScales[r] * w.scales[j]);
  });
}

} // namespace

void quantizedGemm(const QuantizedMatrix &w, int64_t m, const float *a,
                   int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                   Blas &blas, CpuIsa isa, std::vector<float> &scratch) {
  if (!hostSupports(isa))
    isa = hostIsa();
  const Kernels &k = isa == CpuIsa::Avx512 ? kKernelsAvx512 : kKernelsGeneric;
  const QuantFormat &f = w.format;
  if (w.actBits == 8 && m > kFusedQuantRows) {
    w8a8Gemm(w, m, a, lda, c, ldc, pool, blas, scratch);
    return;
  }
  if (w.actBits == 8) {
    // Few rows (decode): each row quantized as w8a8Gemm does and given
    // back as floats (q * scale, exact), then the fused weight-only kernel
    // below, which reads the int8 weight once as stored. Its f32 sums of
    // the same integer products agree with the int32 ones to f32 rounding;
    // oneDNN's int8 gemm of one row ran GPT-2-small's decode at 19.4 ms
    // per token, this path at 9.3 (2 threads).
    const int64_t ldq = f.paddedCols();
    thread_local std::vector<float> rows;
    thread_local std::vector<int8_t> q;
    rows.resize(m * ldq);
    q.resize(ldq);
    for (int64_t r = 0; r < m; ++r) {
      const float scale = quantizeActivationRow(a + r * lda, f.cols,
                                                w.invSmooth, q.data(), ldq);
      for (int64_t x = 0; x < ldq; ++x)
        rows[r * ldq + x] = static_cast<float>(q[x]) * scale;
    }
    QuantizedMatrix weightOnly = w;
    weightOnly.actBits = 0;
    weightOnly.invSmooth = nullptr;
    quantizedGemm(weightOnly, m, rows.data(), ldq, c, ldc, pool, blas, isa,
                  scratch);
    return;
  }
  if (m > kFusedQuantRows) {
    scratch.resize(f.rows * f.cols);
    auto *dequantize = f.bits == 8 ? k.dequantize8 : k.dequantize4;
    pool.parallelFor(f.rows, [&](int64_t begin, int64_t end) {
      dequantize(w, scratch.data(), begin, end);
    });
    blas.sgemm(false, true, m, f.rows, f.cols, a, lda, scratch.data(), f.cols,
               c, ldc);
    return;
  }
  // A's rows zero-padded to whole blocks, matching the weight's padding,
  // then each row's sum per group (what 4-bit values stored + 8 need).
  const int64_t ldx = f.paddedCols(), groups = f.groups();
  scratch.assign(m * ldx + m * groups, 0.0f);
  float *xsum = scratch.data() + m * ldx;
  for (int64_t r = 0; r < m; ++r) {
    std::memcpy(scratch.data() + r * ldx, a + r * lda, f.cols * sizeof(float));
    for (int64_t x = 0; x < f.cols; ++x)
      xsum[r * groups + x / f.group] += a[r * lda + x];
  }
  auto *fused = f.bits == 8 ? k.fused8 : k.fused4;
  pool.parallelFor(f.rows, [&](int64_t begin, int64_t end) {
    fused(w, m, scratch.data(), ldx, xsum, c, ldc, begin, end);
  });
}

} // namespace kiln::rt
