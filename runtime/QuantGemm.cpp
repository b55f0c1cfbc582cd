//===- QuantGemm.cpp - gemms on int8/int4 weights (kilnc --quantize) ------===//
//
// The fused kernel is written once with GCC vector extensions and compiled
// per ISA (as runtime/Attention.cpp is): each 32-feature block of a weight
// row is widened to two 16-lane f32 vectors and multiplied into up to four
// rows of A at once, a group's sum scaled once at its end.
//
//===----------------------------------------------------------------------===//

#include "runtime/QuantGemm.h"

#include "runtime/Blas.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <cstring>

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
KILN_INLINE float sum(V16 v) {
  float s = 0;
  for (int i = 0; i < 16; ++i)
    s += v[i];
  return s;
}

/// The 32 features of block `block` of a stored row, as two f32 vectors.
template <int Bits>
KILN_INLINE void widenBlock(const uint8_t *row, int64_t block, V16 &lo,
                            V16 &hi) {
  if constexpr (Bits == 8) {
    V16s8 a, b;
    std::memcpy(&a, row + block * 32, 16);
    std::memcpy(&b, row + block * 32 + 16, 16);
    lo = __builtin_convertvector(__builtin_convertvector(a, V16i), V16);
    hi = __builtin_convertvector(__builtin_convertvector(b, V16i), V16);
  } else {
    V16u8 bytes;
    std::memcpy(&bytes, row + block * 16, 16);
    V16i v = __builtin_convertvector(bytes, V16i);
    lo = __builtin_convertvector((v & 15) - 8, V16);
    hi = __builtin_convertvector((v >> 4) - 8, V16);
  }
}

/// C[r, n] for M rows of x (padded to whole blocks, leading dimension ldx)
/// and weight rows [begin, end).
template <int Bits, int M>
KILN_INLINE void dotRows(const QuantizedMatrix &w, const float *x, int64_t ldx,
                         float *c, int64_t ldc, int64_t begin, int64_t end) {
  const QuantFormat &f = w.format;
  const int64_t groups = f.groups();
  const int64_t blocksPerGroup =
      f.group == f.cols ? f.paddedCols() / 32 : f.group / 32;
  const int64_t blocks = f.paddedCols() / 32;
  for (int64_t n = begin; n < end; ++n) {
    const uint8_t *row = w.values + n * f.rowBytes();
    const float *scales = w.scales + n * groups;
    V16 total[M] = {};
    for (int64_t g = 0; g < groups; ++g) {
      V16 acc[M] = {};
      const int64_t last = std::min(blocks, (g + 1) * blocksPerGroup);
      for (int64_t b = g * blocksPerGroup; b < last; ++b) {
        V16 lo, hi;
        widenBlock<Bits>(row, b, lo, hi);
        for (int r = 0; r < M; ++r)
          acc[r] += lo * load(x + r * ldx + b * 32) +
                    hi * load(x + r * ldx + b * 32 + 16);
      }
      for (int r = 0; r < M; ++r)
        total[r] += acc[r] * scales[g];
    }
    for (int r = 0; r < M; ++r)
      c[r * ldc + n] = sum(total[r]);
  }
}

template <int Bits>
KILN_INLINE void fused(const QuantizedMatrix &w, int64_t m, const float *x,
                       int64_t ldx, float *c, int64_t ldc, int64_t begin,
                       int64_t end) {
  int64_t r = 0;
  for (; r + 4 <= m; r += 4)
    dotRows<Bits, 4>(w, x + r * ldx, ldx, c + r * ldc, ldc, begin, end);
  switch (m - r) {
  case 3:
    dotRows<Bits, 3>(w, x + r * ldx, ldx, c + r * ldc, ldc, begin, end);
    break;
  case 2:
    dotRows<Bits, 2>(w, x + r * ldx, ldx, c + r * ldc, ldc, begin, end);
    break;
  case 1:
    dotRows<Bits, 1>(w, x + r * ldx, ldx, c + r * ldc, ldc, begin, end);
    break;
  default:
    break;
  }
}

/// Rows [begin, end) of W as f32, K columns each.
template <int Bits>
KILN_INLINE void dequantize(const QuantizedMatrix &w, float *out, int64_t begin,
                            int64_t end) {
  const QuantFormat &f = w.format;
  const int64_t groups = f.groups();
  const int64_t blocks = f.paddedCols() / 32;
  float block[32];
  for (int64_t n = begin; n < end; ++n) {
    const uint8_t *row = w.values + n * f.rowBytes();
    float *dst = out + n * f.cols;
    for (int64_t b = 0; b < blocks; ++b) {
      V16 lo, hi;
      widenBlock<Bits>(row, b, lo, hi);
      const V16 scale = V16{} + w.scales[n * groups + b * 32 / f.group];
      lo *= scale;
      hi *= scale;
      std::memcpy(block, &lo, sizeof lo);
      std::memcpy(block + 16, &hi, sizeof hi);
      std::memcpy(dst + b * 32, block,
                  std::min<int64_t>(32, f.cols - b * 32) * sizeof(float));
    }
  }
}

struct Kernels {
  void (*fused8)(const QuantizedMatrix &, int64_t, const float *, int64_t,
                 float *, int64_t, int64_t, int64_t);
  void (*fused4)(const QuantizedMatrix &, int64_t, const float *, int64_t,
                 float *, int64_t, int64_t, int64_t);
  void (*dequantize8)(const QuantizedMatrix &, float *, int64_t, int64_t);
  void (*dequantize4)(const QuantizedMatrix &, float *, int64_t, int64_t);
};

#define KILN_QUANT_KERNELS(SUFFIX, TARGET)                                     \
  TARGET void fused8##SUFFIX(const QuantizedMatrix &w, int64_t m,              \
                             const float *x, int64_t ldx, float *c,            \
                             int64_t ldc, int64_t b, int64_t e) {              \
    fused<8>(w, m, x, ldx, c, ldc, b, e);                                      \
  }                                                                            \
  TARGET void fused4##SUFFIX(const QuantizedMatrix &w, int64_t m,              \
                             const float *x, int64_t ldx, float *c,            \
                             int64_t ldc, int64_t b, int64_t e) {              \
    fused<4>(w, m, x, ldx, c, ldc, b, e);                                      \
  }                                                                            \
  TARGET void dequantize8##SUFFIX(const QuantizedMatrix &w, float *out,        \
                                  int64_t b, int64_t e) {                      \
    dequantize<8>(w, out, b, e);                                               \
  }                                                                            \
  TARGET void dequantize4##SUFFIX(const QuantizedMatrix &w, float *out,        \
                                  int64_t b, int64_t e) {                      \
    dequantize<4>(w, out, b, e);                                               \
  }                                                                            \
  constexpr Kernels kKernels##SUFFIX = {fused8##SUFFIX, fused4##SUFFIX,        \
                                        dequantize8##SUFFIX,                   \
                                        dequantize4##SUFFIX};

KILN_QUANT_KERNELS(
    Avx512,
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))))
KILN_QUANT_KERNELS(Avx2, __attribute__((target("avx2,fma"))))
KILN_QUANT_KERNELS(Generic, )
#undef KILN_QUANT_KERNELS

} // namespace

void quantizedGemm(const QuantizedMatrix &w, int64_t m, const float *a,
                   int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                   Blas &blas, CpuIsa isa, std::vector<float> &scratch) {
  if (!hostSupports(isa))
    isa = hostIsa();
  const Kernels &k = isa == CpuIsa::Avx512 ? kKernelsAvx512
                     : isa == CpuIsa::Avx2 ? kKernelsAvx2
                                           : kKernelsGeneric;
  const QuantFormat &f = w.format;
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
  // A's rows zero-padded to whole blocks, matching the weight's padding.
  const int64_t ldx = f.paddedCols();
  scratch.assign(m * ldx, 0.0f);
  for (int64_t r = 0; r < m; ++r)
    std::memcpy(scratch.data() + r * ldx, a + r * lda, f.cols * sizeof(float));
  auto *fused = f.bits == 8 ? k.fused8 : k.fused4;
  pool.parallelFor(f.rows, [&](int64_t begin, int64_t end) {
    fused(w, m, scratch.data(), ldx, c, ldc, begin, end);
  });
}

} // namespace kiln::rt
