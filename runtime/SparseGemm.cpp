//===- SparseGemm.cpp - gemms on compressed 2:4 weights -------------------===//
//
// The AVX-512 kernel takes one 32-feature block of a weight row at a time:
// 16 kept values in one register, their positions (a uint32 of 2-bit
// fields) spread to 16 lanes with a variable shift, and each A row's 32
// features (two registers) permuted into the values' order with
// vpermt2ps, then one fused multiply-add per A row.
//
//===----------------------------------------------------------------------===//

#include "runtime/SparseGemm.h"

#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/ThreadPool.h"
#include "support/Prune.h"

#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <vector>

namespace kiln::rt {

namespace {

/// Output rows [begin, end) of C for m <= kSparseKernelRows rows of A,
/// zero-padded to whole blocks (leading dimension ldx).
__attribute__((target("avx512f"))) void
kernelAvx512(const Sparse24Matrix &w, int64_t m, const float *x, int64_t ldx,
             float *c, int64_t ldc, int64_t begin, int64_t end) {
  const Sparse24Format &f = w.format;
  const int64_t blocks = f.blocks();
  // Lane i holds value i of a block: group i / 2, whose features start at
  // 4 * (i / 2); its 2-bit position sits at bits 2i.
  const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20,
                                         20, 24, 24, 28, 28);
  const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
  const __m512i three = _mm512_set1_epi32(3);
  for (int64_t n = begin; n < end; ++n) {
    const float *values = w.values + n * f.rowValues();
    const uint32_t *indices = w.indices + n * blocks;
    __m512 acc[kSparseKernelRows];
    for (int64_t r = 0; r < m; ++r)
      acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < blocks; ++b) {
      _mm_prefetch(reinterpret_cast<const char *>(values + 16 * b + 256),
                   _MM_HINT_T0);
      const __m512 v = _mm512_loadu_ps(values + 16 * b);
      const __m512i positions = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(indices[b])),
                            shifts),
          three);
      const __m512i gather = _mm512_add_epi32(base, positions);
      for (int64_t r = 0; r < m; ++r) {
        const float *row = x + r * ldx + 32 * b;
        const __m512 features = _mm512_permutex2var_ps(
            _mm512_loadu_ps(row), gather, _mm512_loadu_ps(row + 16));
        acc[r] = _mm512_fmadd_ps(v, features, acc[r]);
      }
    }
    for (int64_t r = 0; r < m; ++r)
      c[r * ldc + n] = _mm512_reduce_add_ps(acc[r]);
  }
}

void kernelGeneric(const Sparse24Matrix &w, int64_t m, const float *x,
                   int64_t ldx, float *c, int64_t ldc, int64_t begin,
                   int64_t end) {
  const Sparse24Format &f = w.format;
  const int64_t blocks = f.blocks();
  for (int64_t n = begin; n < end; ++n) {
    const float *values = w.values + n * f.rowValues();
    const uint32_t *indices = w.indices + n * blocks;
    for (int64_t r = 0; r < m; ++r) {
      const float *row = x + r * ldx;
      float acc[4] = {0, 0, 0, 0};
      for (int64_t b = 0; b < blocks; ++b) {
        const uint32_t word = indices[b];
        const float *v = values + 16 * b;
        const float *features = row + 32 * b;
        for (int i = 0; i < 16; ++i)
          acc[i % 4] += v[i] * features[(i / 2) * 4 + ((word >> (2 * i)) & 3)];
      }
      c[r * ldc + n] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
  }
}

/// Output rows [begin, end) of C for m <= kSparseKernelRows rows of A
/// (leading dimension lda), W as sparse rows.
__attribute__((target("avx512f"))) void
rowsKernelAvx512(const SparseRowsMatrix &w, int64_t m, const float *a,
                 int64_t lda, float *c, int64_t ldc, int64_t begin,
                 int64_t end) {
  for (int64_t n = begin; n < end; ++n) {
    __m512 acc[kSparseKernelRows];
    for (int64_t r = 0; r < m; ++r)
      acc[r] = _mm512_setzero_ps();
    for (uint32_t e = w.offsets[n]; e < w.offsets[n + 1]; e += 16) {
      _mm_prefetch(reinterpret_cast<const char *>(w.values + e + 256),
                   _MM_HINT_T0);
      const __m512 v = _mm512_loadu_ps(w.values + e);
      const __m512i index = _mm512_cvtepu16_epi32(
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w.indices + e)));
      for (int64_t r = 0; r < m; ++r)
        acc[r] = _mm512_fmadd_ps(
            v, _mm512_i32gather_ps(index, a + r * lda, sizeof(float)), acc[r]);
    }
    for (int64_t r = 0; r < m; ++r)
      c[r * ldc + n] = _mm512_reduce_add_ps(acc[r]);
  }
}

void rowsKernelGeneric(const SparseRowsMatrix &w, int64_t m, const float *a,
                       int64_t lda, float *c, int64_t ldc, int64_t begin,
                       int64_t end) {
  for (int64_t n = begin; n < end; ++n)
    for (int64_t r = 0; r < m; ++r) {
      const float *row = a + r * lda;
      float acc[4] = {0, 0, 0, 0};
      for (uint32_t e = w.offsets[n]; e < w.offsets[n + 1]; ++e)
        acc[e % 4] += w.values[e] * row[w.indices[e]];
      c[r * ldc + n] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

/// C = A W^T through the BLAS, W's `rows` rows decompressed (`row(n, out)`)
/// into `scratch` first: more rows of A than the sparse kernels take.
template <typename DecompressRow>
void decompressedGemm(int64_t rows, int64_t cols, DecompressRow row, int64_t m,
                      const float *a, int64_t lda, float *c, int64_t ldc,
                      ThreadPool &pool, Blas &blas,
                      std::vector<float> &scratch) {
  scratch.resize(rows * cols);
  pool.parallelFor(rows, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      row(n, scratch.data() + n * cols);
  });
  blas.sgemm(false, true, m, rows, cols, a, lda, scratch.data(), cols, c, ldc);
}

} // namespace

void sparseRowsGemm(const SparseRowsMatrix &w, int64_t m, const float *a,
                    int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                    Blas &blas, CpuIsa isa, std::vector<float> &scratch) {
  if (m > kSparseKernelRows) {
    decompressedGemm(
        w.rows, w.cols,
        [&](int64_t n, float *out) { decompressSparseRow(w, n, out); }, m, a,
        lda, c, ldc, pool, blas, scratch);
    return;
  }
  if (!hostSupports(isa))
    isa = hostIsa();
  auto *kernel = isa == CpuIsa::Avx512 ? rowsKernelAvx512 : rowsKernelGeneric;
  pool.parallelFor(w.rows, [&](int64_t begin, int64_t end) {
    kernel(w, m, a, lda, c, ldc, begin, end);
  });
}

void sparse24Gemm(const Sparse24Matrix &w, int64_t m, const float *a,
                  int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                  Blas &blas, CpuIsa isa, std::vector<float> &scratch) {
  const Sparse24Format &f = w.format;
  if (m > kSparseKernelRows) {
    decompressedGemm(
        f.rows, f.cols,
        [&](int64_t n, float *out) { decompress24Row(w, n, out); }, m, a, lda,
        c, ldc, pool, blas, scratch);
    return;
  }
  // A's rows zero-padded to whole blocks, matching the weight's padding.
  const int64_t ldx = f.paddedCols();
  scratch.assign(m * ldx, 0.0f);
  for (int64_t r = 0; r < m; ++r)
    std::memcpy(scratch.data() + r * ldx, a + r * lda, f.cols * sizeof(float));
  if (!hostSupports(isa))
    isa = hostIsa();
  auto *kernel = isa == CpuIsa::Avx512 ? kernelAvx512 : kernelGeneric;
  pool.parallelFor(f.rows, [&](int64_t begin, int64_t end) {
    kernel(w, m, scratch.data(), ldx, c, ldc, begin, end);
  });
}

} // namespace kiln::rt
