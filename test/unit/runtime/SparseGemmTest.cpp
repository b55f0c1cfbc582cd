//===- SparseGemmTest.cpp - pruning masks and the compressed 2:4 gemm -----===//
//
// support/Prune.h's masks (n:m groups, per-tensor fraction, threshold, kept
// slices) and compressed 2:4 form (round trip, padding), and
// runtime/SparseGemm.h's kernels in each ISA variant and the decompress +
// BLAS path, against a double-precision product of the pruned weight.
//
//===----------------------------------------------------------------------===//

#include "runtime/SparseGemm.h"
#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/ThreadPool.h"
#include "support/Prune.h"
#include "support/Shard.h"
#include "test/support/GemmRows.h"
#include "test/support/Randoms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

namespace rt = kiln::rt;

std::vector<float> randoms(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  return kiln::test::normalRandoms(n, gen);
}

kiln::PruneSpec nm(int64_t n, int64_t m, int axis) {
  kiln::PruneSpec spec;
  spec.n = n;
  spec.m = m;
  spec.axis = axis;
  return spec;
}

TEST(PruneTest, NmKeepsTheLargestOfEachGroupAlongTheAxis) {
  for (int axis : {0, 1}) {
    SCOPED_TRACE(axis);
    const int64_t rows = 8, cols = 12;
    std::vector<float> w = randoms(rows * cols, 1);
    std::vector<float> pruned = w;
    kiln::applyPrune(nm(2, 4, axis), pruned.data(), rows, cols);
    const int64_t lines = axis == 0 ? cols : rows;
    const int64_t length = axis == 0 ? rows : cols;
    for (int64_t l = 0; l < lines; ++l)
      for (int64_t g = 0; g < length; g += 4) {
        std::vector<float> kept, dropped;
        for (int64_t j = g; j < g + 4; ++j) {
          int64_t i = axis == 0 ? j * cols + l : l * cols + j;
          if (pruned[i] == 0.0f) {
            dropped.push_back(std::fabs(w[i]));
          } else {
            ASSERT_EQ(pruned[i], w[i]);
            kept.push_back(std::fabs(w[i]));
          }
        }
        // Exactly 2 of 4 survive, each at least as large as every one
        // dropped.
        ASSERT_EQ(kept.size(), 2u);
        EXPECT_GE(*std::min_element(kept.begin(), kept.end()),
                  *std::max_element(dropped.begin(), dropped.end()));
      }
  }
}

TEST(PruneTest, TiesGoToTheLowerIndex) {
  std::vector<float> w = {1, -1, 1, 1, 0, 0, 0, 0};
  kiln::applyPrune(nm(2, 4, 1), w.data(), 2, 4);
  EXPECT_EQ(w, (std::vector<float>{1, -1, 0, 0, 0, 0, 0, 0}));
  std::vector<float> v = {3, 1, 1, 1, 2};
  kiln::PruneSpec spec;
  spec.fraction = 0.4; // floor(0.4 * 5) = 2 smallest: positions 1 and 2
  kiln::applyPrune(spec, v.data(), 1, 5);
  EXPECT_EQ(v, (std::vector<float>{3, 0, 0, 1, 2}));
}

TEST(PruneTest, FractionAndThresholdZeroTheSmallestMagnitudes) {
  std::vector<float> w = randoms(1000, 2);
  kiln::PruneSpec fraction;
  fraction.fraction = 0.37;
  std::vector<float> byFraction = w;
  kiln::applyPrune(fraction, byFraction.data(), 10, 100);
  EXPECT_EQ(std::count(byFraction.begin(), byFraction.end(), 0.0f), 370);
  float largestDropped = 0, smallestKept = INFINITY;
  for (size_t i = 0; i < w.size(); ++i) {
    if (byFraction[i] == 0.0f)
      largestDropped = std::max(largestDropped, std::fabs(w[i]));
    else
      smallestKept = std::min(smallestKept, std::fabs(w[i]));
  }
  EXPECT_LE(largestDropped, smallestKept);
  kiln::PruneSpec threshold;
  threshold.threshold = 0.5;
  std::vector<float> byThreshold = w;
  kiln::applyPrune(threshold, byThreshold.data(), 10, 100);
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(byThreshold[i], std::fabs(w[i]) < 0.5f ? 0.0f : w[i]);
}

TEST(PruneTest, KeepSlicesAlongEitherAxis) {
  std::vector<int> w = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; // [3, 4]
  EXPECT_EQ(kiln::keepSlices(w.data(), {3, 4}, 0, {0, 2}),
            (std::vector<int>{0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_EQ(kiln::keepSlices(w.data(), {3, 4}, 1, {1, 3}),
            (std::vector<int>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(kiln::keepSlices(w.data(), {12}, 0, {5}), (std::vector<int>{5}));
  // A padded shard's indices past the tensor are zero slices: rank 1 of a
  // 3-row tensor padded to 4 (support/Shard.h).
  EXPECT_EQ(kiln::shardIndices(1, 3, 1, 2, 1, /*pad=*/1),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(kiln::keepSlices(w.data(), {3, 4}, 0, {2, 3}),
            (std::vector<int>{8, 9, 10, 11, 0, 0, 0, 0}));
  EXPECT_EQ(kiln::keepSlices(w.data(), {3, 4}, 1, {3, 4}),
            (std::vector<int>{3, 0, 7, 0, 11, 0}));
}

TEST(PruneTest, CompressedTwoFourRoundTrips) {
  // K = 36: one whole 32-feature block and a padded one; both layouts.
  for (int outAxis : {0, 1}) {
    SCOPED_TRACE(outAxis);
    const int64_t n = 5, k = 36;
    std::vector<float> w = randoms(n * k, 3);
    const int64_t rows = outAxis == 0 ? n : k, cols = outAxis == 0 ? k : n;
    kiln::applyPrune(nm(2, 4, 1 - outAxis), w.data(), rows, cols);
    kiln::Sparse24Format format{n, k};
    kiln::Sparse24Weight c = kiln::compress24(format, w.data(), outAxis);
    EXPECT_EQ(c.values.size(), static_cast<size_t>(n * 32));
    EXPECT_EQ(c.indices.size(), static_cast<size_t>(n * 2));
    // Per 32-feature block, 16 f32 values and one uint32 of positions.
    EXPECT_EQ(format.totalBytes(4), n * 2 * (16 * 4 + 4));
    kiln::Sparse24Matrix view{format, c.values.data(), c.indices.data()};
    std::vector<float> row(k);
    for (int64_t r = 0; r < n; ++r) {
      kiln::decompress24Row(view, r, row.data());
      for (int64_t x = 0; x < k; ++x)
        ASSERT_EQ(row[x], outAxis == 0 ? w[r * k + x] : w[x * n + r])
            << r << ", " << x;
    }
  }
}

struct GemmCase {
  int64_t n, k;
};

/// Checks `got` (m rows, leading dimension ldc) against A W^T in double
/// precision, W [n, k] the pruned weight, and that nothing was written past
/// each row's n columns.
void expectProduct(const std::vector<float> &w, int64_t n, int64_t k, int64_t m,
                   const std::vector<float> &a, int64_t lda,
                   const std::vector<float> &got, int64_t ldc) {
  double diff = 0, norm = 0;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      double expected = 0;
      for (int64_t x = 0; x < k; ++x)
        expected += static_cast<double>(a[i * lda + x]) * w[j * k + x];
      double d = got[i * ldc + j] - expected;
      diff += d * d;
      norm += expected * expected;
    }
  EXPECT_LE(std::sqrt(diff / norm), 1e-6);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j)
      ASSERT_EQ(got[i * ldc + j], -1.0f);
}

TEST(SparseGemmTest, MatchesTheProductOfThePrunedWeight) {
  rt::ThreadPool pool(2);
  rt::Blas blas(pool);
  const GemmCase cases[] = {{37, 48}, {64, 200}, {16, 32}, {70, 260}};
  for (rt::CpuIsa isa :
       {rt::CpuIsa::Avx512, rt::CpuIsa::Avx2, rt::CpuIsa::Generic}) {
    if (!rt::hostSupports(isa))
      continue;
    for (const GemmCase &c : cases)
      for (int64_t m : kiln::test::kGemmRows) {
        SCOPED_TRACE(::testing::Message() << rt::isaName(isa) << ", m " << m
                                          << ", n " << c.n << ", k " << c.k);
        std::vector<float> w = randoms(c.n * c.k, 11);
        kiln::applyPrune(nm(2, 4, 1), w.data(), c.n, c.k);
        kiln::Sparse24Format format{c.n, c.k};
        kiln::Sparse24Weight s = kiln::compress24(format, w.data(), 0);
        kiln::Sparse24Matrix view{format, s.values.data(), s.indices.data()};
        // A with a leading dimension past k, C with one past n.
        const int64_t lda = c.k + 3, ldc = c.n + 5;
        std::vector<float> a = randoms(m * lda, 12);
        std::vector<float> got(m * ldc, -1.0f), scratch;
        rt::sparse24Gemm(view, m, a.data(), lda, got.data(), ldc, pool, blas,
                         isa, scratch);
        expectProduct(w, c.n, c.k, m, a, lda, got, ldc);
      }
  }
}

TEST(PruneTest, SparseRowsRoundTrip) {
  for (int outAxis : {0, 1}) {
    SCOPED_TRACE(outAxis);
    const int64_t n = 6, k = 70;
    std::vector<float> w = randoms(n * k, 4);
    kiln::PruneSpec spec;
    spec.fraction = 0.8;
    kiln::applyPrune(spec, w.data(), n, k);
    w[0] = w[1] = 0; // one row sparser still
    kiln::SparseRowsWeight s = kiln::compressRows(n, k, w.data(), outAxis);
    ASSERT_EQ(s.offsets.size(), static_cast<size_t>(n + 1));
    for (int64_t r = 0; r < n; ++r)
      EXPECT_EQ(s.offsets[r] % 16, 0u);
    kiln::SparseRowsMatrix view{n, k, s.offsets.data(), s.indices.data(),
                                s.values.data()};
    std::vector<float> row(k);
    for (int64_t r = 0; r < n; ++r) {
      kiln::decompressSparseRow(view, r, row.data());
      for (int64_t x = 0; x < k; ++x)
        ASSERT_EQ(row[x], outAxis == 0 ? w[r * k + x] : w[x * n + r])
            << r << ", " << x;
    }
  }
}

TEST(SparseGemmTest, SparseRowsMatchTheProductOfThePrunedWeight) {
  rt::ThreadPool pool(2);
  rt::Blas blas(pool);
  const GemmCase cases[] = {{37, 48}, {64, 200}, {16, 32}, {70, 260}};
  for (rt::CpuIsa isa :
       {rt::CpuIsa::Avx512, rt::CpuIsa::Avx2, rt::CpuIsa::Generic}) {
    if (!rt::hostSupports(isa))
      continue;
    for (double fraction : {0.7, 0.95})
      for (const GemmCase &c : cases)
        for (int64_t m : kiln::test::kGemmRows) {
          SCOPED_TRACE(::testing::Message()
                       << rt::isaName(isa) << ", " << fraction << ", m " << m
                       << ", n " << c.n << ", k " << c.k);
          std::vector<float> w = randoms(c.n * c.k, 13);
          kiln::PruneSpec spec;
          spec.fraction = fraction;
          kiln::applyPrune(spec, w.data(), c.n, c.k);
          kiln::SparseRowsWeight s = kiln::compressRows(c.n, c.k, w.data(), 0);
          kiln::SparseRowsMatrix view{c.n, c.k, s.offsets.data(),
                                      s.indices.data(), s.values.data()};
          const int64_t lda = c.k + 3, ldc = c.n + 5;
          std::vector<float> a = randoms(m * lda, 14);
          std::vector<float> got(m * ldc, -1.0f), scratch;
          rt::sparseRowsGemm(view, m, a.data(), lda, got.data(), ldc, pool,
                             blas, isa, scratch);
          expectProduct(w, c.n, c.k, m, a, lda, got, ldc);
        }
  }
}

} // namespace
