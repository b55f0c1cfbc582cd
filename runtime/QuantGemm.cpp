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
#include <array>
#include <atomic>
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
  const int64_t blocksPerGroup = f.blocksPerGroup();
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

// The 4-bit kernel on AVX-512 BF16 (vdpbf16ps: 32 products of bf16 pairs
// summed into 16 f32 lanes per instruction). The f32 kernel above spends
// most of its cycles turning nibbles into floats (a widening shuffle and
// a conversion per 16 features) and then needs one FMA per 16; here a
// table lookup (vpermw) turns 32 nibbles straight into the bf16 values
// q - 8, exact, and one vdpbf16ps multiplies them. A's rows are split
// into bf16 pairs, x = hi + lo (hi = x rounded to bf16, lo = the rest
// rounded again): the products keep 16 of x's 24 significant bits, a
// relative error under 2^-16 per product, summed in f32, where rounding A
// to bf16 alone would have cost 2^-9. Where every lo is zero (A already
// bf16, as a --precision bf16 build's activations are) the kernel skips
// the lo products and gives the same sums. Measured on GPT-2-small's
// decode shapes (kiln-quant-gemm-bench, 2 threads): see the commit that
// introduced it.

/// How A's rows are laid out for the BF16 kernel, per 32-feature block:
/// within a group, blocks go in pairs, and a pair's 64 features are
/// stored as the words the kernel's two weight vectors hold: [0, 16) and
/// [32, 48) (the low nibbles of the pair's 32 bytes), then [16, 32) and
/// [48, 64) (the high nibbles). A group's odd last block stays in order.
/// Returns where the 16 features from `feature` (a multiple of 16) go.
int64_t bf16Slot(const QuantFormat &f, int64_t feature) {
  const int64_t blocksPerGroup = f.blocksPerGroup();
  const int64_t block = feature / 32, half = feature % 32 / 16;
  const int64_t first = block / blocksPerGroup * blocksPerGroup;
  const int64_t last =
      std::min(f.paddedCols() / 32, first + blocksPerGroup); // exclusive
  const int64_t pairStart = first + (block - first) / 2 * 2;
  if (pairStart + 1 >= last) // the group's odd last block
    return feature;
  const int64_t second = block - pairStart; // 0 or 1 within the pair
  return pairStart * 32 + half * 32 + second * 16;
}

/// A's m rows (padded with zeros to whole blocks) as bf16 hi and lo words
/// in bf16Slot's layout, ldx words per row; whether any lo is non-zero.
__attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl"))) bool
splitRowsBf16(const QuantFormat &f, int64_t m, const float *a, int64_t lda,
              uint16_t *hi, uint16_t *lo, int64_t ldx) {
  __m512i anyLo = _mm512_setzero_si512();
  for (int64_t r = 0; r < m; ++r)
    for (int64_t k = 0; k < ldx; k += 16) {
      const int64_t valid = std::clamp<int64_t>(f.cols - k, 0, 16);
      const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
      const __m512 x = _mm512_maskz_loadu_ps(mask, a + r * lda + k);
      const __m256bh h = _mm512_cvtneps_pbh(x);
      const __m512 back = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(h)), 16));
      const __m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(x, back));
      const int64_t at = r * ldx + bf16Slot(f, k);
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(hi + at),
                          reinterpret_cast<__m256i>(h));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(lo + at),
                          reinterpret_cast<__m256i>(l));
      anyLo = _mm512_or_si512(
          anyLo, _mm512_castsi256_si512(reinterpret_cast<__m256i>(l)));
    }
  return _mm512_test_epi64_mask(anyLo, anyLo) != 0;
}

/// bf16 of (i & 15) - 8 for i < 32, made once: vpermw reads each index
/// word's low 5 bits, so a word holding a whole stored byte looks up its
/// low nibble.
const uint16_t *nibbleTable() {
  static const std::array<uint16_t, 32> table = [] {
    std::array<uint16_t, 32> t{};
    for (int i = 0; i < 32; ++i) {
      const float v = static_cast<float>((i & 15) - 8);
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      t[i] = static_cast<uint16_t>(bits >> 16); // exact: small integers
    }
    return t;
  }();
  return table.data();
}

/// acc + the products of 32 bf16 weights with 32 bf16 words at x.
__attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl"),
               always_inline)) inline __m512
dot(__m512 acc, __m512i weights, const uint16_t *x) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(weights),
                          reinterpret_cast<__m512bh>(_mm512_loadu_si512(x)));
}

template <int M, bool Lo>
__attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl"),
               always_inline)) inline void
dotRowsBf16(const QuantizedMatrix &w, const uint16_t *hi, const uint16_t *lo,
            int64_t ldx, float *c, int64_t ldc, int64_t begin, int64_t end) {
  const QuantFormat &f = w.format;
  const int64_t groups = f.groups();
  const int64_t blocksPerGroup = f.blocksPerGroup();
  const int64_t blocks = f.paddedCols() / 32;
  const __m512i lut = _mm512_loadu_si512(nibbleTable());
  for (int64_t n = begin; n < end; ++n) {
    const uint8_t *row = w.values + n * f.rowBytes();
    const float *scales = w.scales + n * groups;
    __m512 total[M];
    for (int r = 0; r < M; ++r)
      total[r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
      __m512 acc[M][4];
      for (int r = 0; r < M; ++r)
        for (__m512 &a : acc[r])
          a = _mm512_setzero_ps();
      const int64_t last = std::min(blocks, (g + 1) * blocksPerGroup);
      int64_t b = g * blocksPerGroup;
      for (; b + 2 <= last; b += 2) {
        __builtin_prefetch(row + b * 16 + kPrefetchBytes);
        const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(
            reinterpret_cast<const __m256i *>(row + b * 16)));
        const __m512i low = _mm512_permutexvar_epi16(bytes, lut);
        const __m512i high =
            _mm512_permutexvar_epi16(_mm512_srli_epi16(bytes, 4), lut);
        for (int r = 0; r < M; ++r) {
          const int64_t at = r * ldx + b * 32;
          acc[r][0] = dot(acc[r][0], low, hi + at);
          acc[r][1] = dot(acc[r][1], high, hi + at + 32);
          if constexpr (Lo) {
            acc[r][2] = dot(acc[r][2], low, lo + at);
            acc[r][3] = dot(acc[r][3], high, lo + at + 32);
          }
        }
      }
      if (b < last) { // one block: its low then its high nibbles
        const __m256i bytes = _mm256_cvtepu8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + b * 16)));
        const __m512i both = _mm512_permutexvar_epi16(
            _mm512_inserti64x4(_mm512_castsi256_si512(bytes),
                               _mm256_srli_epi16(bytes, 4), 1),
            lut);
        for (int r = 0; r < M; ++r) {
          const int64_t at = r * ldx + b * 32;
          acc[r][0] = dot(acc[r][0], both, hi + at);
          if constexpr (Lo)
            acc[r][2] = dot(acc[r][2], both, lo + at);
        }
      }
      for (int r = 0; r < M; ++r)
        total[r] =
            _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]),
                                          _mm512_add_ps(acc[r][2], acc[r][3])),
                            _mm512_set1_ps(scales[g]), total[r]);
    }
    for (int r = 0; r < M; ++r)
      c[r * ldc + n] = _mm512_reduce_add_ps(total[r]);
  }
}

template <bool Lo>
__attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl"), flatten)) void
fused4Bf16(const QuantizedMatrix &w, int64_t m, const uint16_t *hi,
           const uint16_t *lo, int64_t ldx, float *c, int64_t ldc,
           int64_t begin, int64_t end) {
  int64_t r = 0;
  for (; r + 4 <= m; r += 4)
    dotRowsBf16<4, Lo>(w, hi + r * ldx, lo + r * ldx, ldx, c + r * ldc, ldc,
                       begin, end);
  const int64_t left = m - r;
  hi += r * ldx;
  lo += r * ldx;
  c += r * ldc;
  if (left == 3)
    dotRowsBf16<3, Lo>(w, hi, lo, ldx, c, ldc, begin, end);
  else if (left == 2)
    dotRowsBf16<2, Lo>(w, hi, lo, ldx, c, ldc, begin, end);
  else if (left == 1)
    dotRowsBf16<1, Lo>(w, hi, lo, ldx, c, ldc, begin, end);
}

std::atomic<bool> bf16KernelAllowed{true};

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

bool hostHasBf16Dot() {
#if defined(__x86_64__)
  static const bool has =
      hostSupports(CpuIsa::Avx512) && __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

void allowBf16QuantKernel(bool allow) {
  bf16KernelAllowed.store(allow, std::memory_order_relaxed);
}

void quantizedGemm(const QuantizedMatrix &w, int64_t m, const float *a,
                   int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                   Blas &blas, CpuIsa isa, std::vector<float> &scratch,
                   const ColumnsBody &epilogue) {
  if (!hostSupports(isa))
    isa = hostIsa();
  const Kernels &k = isa == CpuIsa::Avx512 ? kKernelsAvx512 : kKernelsGeneric;
  const QuantFormat &f = w.format;
  auto epilogueAfter = [&] {
    if (epilogue)
      pool.parallelFor(f.rows, epilogue);
  };
  if (w.actBits == 8 && m > kFusedQuantRows) {
    w8a8Gemm(w, m, a, lda, c, ldc, pool, blas, scratch);
    epilogueAfter();
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
                  scratch, epilogue);
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
    epilogueAfter();
    return;
  }
  // Chunks of about kChunkBytes of the weight, taken by whichever thread
  // is free: the threads share the memory bus unevenly, and equal halves
  // left one waiting for the other (GPT-2-small's decode: 12% of the main
  // thread's time, measured with perf; 0.3-0.6 ms of 5.5-6.3 per token).
  constexpr int64_t kChunkBytes = 128 << 10;
  const int64_t grain = std::max<int64_t>(16, kChunkBytes / f.rowBytes());
  const int64_t ldx = f.paddedCols();
  if (f.bits == 4 && isa == CpuIsa::Avx512 && hostHasBf16Dot() &&
      bf16KernelAllowed.load(std::memory_order_relaxed)) {
    // scratch: A's rows as bf16 hi words, then lo words.
    scratch.resize((2 * m * ldx + 1) / 2);
    auto *hi = reinterpret_cast<uint16_t *>(scratch.data());
    uint16_t *lo = hi + m * ldx;
    const bool anyLo = splitRowsBf16(f, m, a, lda, hi, lo, ldx);
    auto *kernel = anyLo ? fused4Bf16<true> : fused4Bf16<false>;
    pool.parallelFor(
        f.rows,
        [&](int64_t begin, int64_t end) {
          kernel(w, m, hi, lo, ldx, c, ldc, begin, end);
          if (epilogue)
            epilogue(begin, end);
        },
        grain);
    return;
  }
  // A's rows zero-padded to whole blocks, matching the weight's padding,
  // then each row's sum per group (what 4-bit values stored + 8 need).
  const int64_t groups = f.groups();
  scratch.assign(m * ldx + m * groups, 0.0f);
  float *xsum = scratch.data() + m * ldx;
  for (int64_t r = 0; r < m; ++r) {
    std::memcpy(scratch.data() + r * ldx, a + r * lda, f.cols * sizeof(float));
    for (int64_t x = 0; x < f.cols; ++x)
      xsum[r * groups + x / f.group] += a[r * lda + x];
  }
  auto *fused = f.bits == 8 ? k.fused8 : k.fused4;
  pool.parallelFor(
      f.rows,
      [&](int64_t begin, int64_t end) {
        fused(w, m, scratch.data(), ldx, xsum, c, ldc, begin, end);
        if (epilogue)
          epilogue(begin, end);
      },
      grain);
}

} // namespace kiln::rt
