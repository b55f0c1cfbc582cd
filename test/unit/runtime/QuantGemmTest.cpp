//===- QuantGemmTest.cpp - quantized weights and their gemm ---------------===//
//
// support/Quantize.h's stored form (rounding bound, int4 nibble order,
// padding, groups) and runtime/QuantGemm.h's kernels in each ISA variant,
// fused and dequantize + BLAS, against a double-precision product of the
// dequantized weight.
//
//===----------------------------------------------------------------------===//

#include "runtime/QuantGemm.h"
#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/ThreadPool.h"
#include "support/Half.h"
#include "support/Quantize.h"
#include "test/support/GemmRows.h"
#include "test/support/Randoms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

namespace rt = kiln::rt;

std::vector<float> randoms(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  return kiln::test::normalRandoms(n, gen);
}

kiln::QuantizedMatrix view(const kiln::QuantizedWeight &q) {
  return {q.format, q.values.data(), q.scales.data()};
}

TEST(QuantizeTest, RoundsWithinHalfAStepOfEachGroupsScale) {
  for (int bits : {8, 4})
    for (int64_t group : {0, 32, 64}) {
      SCOPED_TRACE(::testing::Message() << bits << " bits, group " << group);
      const int64_t rows = 5, cols = 150;
      auto format = kiln::makeQuantFormat(bits, rows, cols, group);
      ASSERT_TRUE(format.ok()) << format.status();
      std::vector<float> w = randoms(rows * cols, 3);
      w[7] = 40; // an outlier: its group's scale grows, the others' do not
      kiln::QuantizedWeight q = kiln::quantizeWeight(*format, w.data(), 0);
      EXPECT_EQ(q.values.size(),
                static_cast<size_t>(rows * (bits == 8 ? 160 : 80)));
      std::vector<float> row(cols);
      for (int64_t n = 0; n < rows; ++n) {
        kiln::dequantizeRow(view(q), n, row.data());
        for (int64_t k = 0; k < cols; ++k) {
          // Within half a step, or clipped to the largest level.
          float scale = q.scales[n * format->groups() + k / format->group];
          float x = w[n * cols + k], top = scale * (bits == 8 ? 127 : 7);
          float clipped = std::clamp(x, -top, top);
          ASSERT_LE(std::fabs(row[k] - clipped), scale / 2 + 1e-6f)
              << n << ", " << k;
        }
      }
      // The outlier's group has the largest scale of row 0.
      EXPECT_FLOAT_EQ(q.scales[0], 40.0f / (bits == 8 ? 127 : 7));
    }
}

TEST(QuantizeTest, PacksInt4AsTheKernelsReadIt) {
  // Features 0..15 in the low nibbles of bytes 0..15, 16..31 in the high
  // ones, each as q + 8; padding features are q = 0.
  auto format = kiln::makeQuantFormat(4, 1, 40, 0);
  ASSERT_TRUE(format.ok());
  std::vector<float> w(40);
  for (int k = 0; k < 40; ++k)
    w[k] = static_cast<float>(k % 15 - 7); // -7..7, scale 1
  kiln::QuantizedWeight q = kiln::quantizeWeight(*format, w.data(), 0);
  ASSERT_EQ(q.values.size(), 32u);
  EXPECT_FLOAT_EQ(q.scales[0], 1.0f);
  for (int k = 0; k < 64; ++k) {
    uint8_t byte = q.values[k / 32 * 16 + k % 16];
    int nibble = k % 32 < 16 ? byte & 15 : byte >> 4;
    EXPECT_EQ(nibble - 8, k < 40 ? k % 15 - 7 : 0) << k;
  }
}

TEST(QuantizeTest, RefusesGroupsThatSplitABlock) {
  EXPECT_FALSE(kiln::makeQuantFormat(4, 2, 100, 48).ok());
  EXPECT_FALSE(kiln::makeQuantFormat(8, 2, 100, 16).ok());
  EXPECT_FALSE(kiln::makeQuantFormat(3, 2, 100, 0).ok());
  EXPECT_FALSE(kiln::makeQuantFormat(8, 0, 100, 0).ok());
  auto whole = kiln::makeQuantFormat(4, 2, 100, 128);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->group, 100); // a group past K is all of K
}

struct GemmCase {
  int bits;
  int64_t n, k, group;
};

TEST(QuantGemmTest, MatchesTheProductOfTheDequantizedWeight) {
  rt::ThreadPool pool(2);
  rt::Blas blas(pool);
  // 4 bits: groups of one block, of two, of three (a pair and an odd
  // block, as the BF16 kernel lays A out) and all of K (two and three
  // blocks, K padded).
  const GemmCase cases[] = {{8, 37, 48, 0},   {8, 64, 200, 64},  {4, 37, 48, 0},
                            {4, 70, 200, 32}, {4, 33, 256, 128}, {8, 16, 32, 0},
                            {4, 21, 192, 96}, {4, 19, 90, 0}};
  struct Kernel {
    rt::CpuIsa isa;
    bool bf16; // AVX-512 BF16 for 4 bits, where the host has it
  };
  std::vector<Kernel> kernels = {{rt::CpuIsa::Avx512, false},
                                 {rt::CpuIsa::Avx2, false},
                                 {rt::CpuIsa::Generic, false}};
  if (rt::hostHasBf16Dot())
    kernels.push_back({rt::CpuIsa::Avx512, true});
  for (auto [isa, bf16] : kernels) {
    if (!rt::hostSupports(isa))
      continue;
    rt::allowBf16QuantKernel(bf16);
    // A as f32 (the BF16 kernel splits it in two bf16 halves) and as
    // values bf16 holds exactly (it skips the low halves).
    for (bool bf16A : {false, true})
      for (const GemmCase &c : cases)
        for (int64_t m : kiln::test::kGemmRows) {
          SCOPED_TRACE(::testing::Message()
                       << rt::isaName(isa) << (bf16 ? " bf16" : "") << ", "
                       << c.bits << " bits, m " << m << ", n " << c.n << ", k "
                       << c.k << ", group " << c.group
                       << (bf16A ? ", A bf16" : ""));
          auto format = kiln::makeQuantFormat(c.bits, c.n, c.k, c.group);
          ASSERT_TRUE(format.ok()) << format.status();
          std::vector<float> w = randoms(c.n * c.k, 11);
          kiln::QuantizedWeight q = kiln::quantizeWeight(*format, w.data(), 0);
          // A with a leading dimension past k, C with one past n.
          const int64_t lda = c.k + 3, ldc = c.n + 5;
          std::vector<float> a = randoms(m * lda, 12);
          if (bf16A)
            for (float &x : a)
              x = kiln::bf16ToFloat(kiln::floatToBf16(x));
          std::vector<float> got(m * ldc, -1.0f), scratch;
          rt::quantizedGemm(view(q), m, a.data(), lda, got.data(), ldc, pool,
                            blas, isa, scratch);
          std::vector<float> row(c.k);
          double diff = 0, norm = 0;
          for (int64_t j = 0; j < c.n; ++j) {
            kiln::dequantizeRow(view(q), j, row.data());
            for (int64_t i = 0; i < m; ++i) {
              double expected = 0;
              for (int64_t x = 0; x < c.k; ++x)
                expected += static_cast<double>(a[i * lda + x]) * row[x];
              double d = got[i * ldc + j] - expected;
              diff += d * d;
              norm += expected * expected;
            }
          }
          // f32 accumulation; 4-bit values multiply as stored (q + 8) and
          // lose the 8 per group afterwards, a little cancellation; the BF16
          // kernel keeps 16 bits of each f32 A.
          EXPECT_LE(std::sqrt(diff / norm), 1e-5);
          // Nothing written past each row's n columns.
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = c.n; j < ldc; ++j)
              ASSERT_EQ(got[i * ldc + j], -1.0f);
        }
  }
  rt::allowBf16QuantKernel(true);
}

TEST(QuantGemmTest, W8A8IsTheInt8ProductOfTheQuantizedRowsAndWeight) {
  // Every provider of the int8 gemm (oneDNN where installed, the built-in
  // loop nest): C must be the exact int32 product of the int8 rows and
  // weight (quantized as support/Quantize.h says, after the SmoothQuant
  // factors) times the two scales, and close to the float product.
  rt::ThreadPool pool(2);
  const char *previous = std::getenv("KILN_GEMM");
  const std::string saved = previous ? previous : "";
  for (const char *library : {"onednn", "builtin"}) {
#ifdef __SANITIZE_ADDRESS__
    // As GemmLibraryTest: oneDNN's OpenMP threads stop LeakSanitizer at
    // exit; the regular build runs the oneDNN case.
    if (std::string(library) == "onednn")
      continue;
#endif
    setenv("KILN_GEMM", library, 1);
    rt::Blas blas(pool);
    if (std::string(library) == "onednn" && !blas.hasS8Gemm())
      continue; // not installed here
    for (bool smoothed : {false, true})
      for (int64_t m : kiln::test::kGemmRows) {
        SCOPED_TRACE(::testing::Message() << library << ", m " << m
                                          << (smoothed ? ", smoothed" : ""));
        const int64_t n = 37, k = 70, lda = k + 3, ldc = n + 5;
        auto format = kiln::makeQuantFormat(8, n, k, 0);
        ASSERT_TRUE(format.ok());
        std::vector<float> w = randoms(n * k, 21), a = randoms(m * lda, 22);
        for (int64_t i = 0; i < m; ++i)
          a[i * lda + 9] *= 30; // an outlier input feature
        std::vector<float> smooth(k, 1.0f), inverse(k);
        if (smoothed)
          for (int64_t x = 0; x < k; ++x)
            smooth[x] = x == 9 ? 6.0f : 0.5f + 0.01f * static_cast<float>(x);
        for (int64_t x = 0; x < k; ++x)
          inverse[x] = 1.0f / smooth[x];
        std::vector<float> stored = w;
        kiln::smoothWeight(*format, stored.data(), 0, smooth.data());
        kiln::QuantizedWeight q =
            kiln::quantizeWeight(*format, stored.data(), 0);
        kiln::QuantizedMatrix matrix = view(q);
        matrix.actBits = 8;
        matrix.invSmooth = inverse.data();
        std::vector<float> got(m * ldc, -1.0f), scratch;
        rt::quantizedGemm(matrix, m, a.data(), lda, got.data(), ldc, pool, blas,
                          rt::hostIsa(), scratch);
        const int64_t padded = format->paddedCols();
        std::vector<int8_t> row(padded);
        double diff = 0, norm = 0, floatDiff = 0;
        for (int64_t i = 0; i < m; ++i) {
          const float scale = kiln::quantizeActivationRow(
              a.data() + i * lda, k, inverse.data(), row.data(), padded);
          for (int64_t j = 0; j < n; ++j) {
            int64_t sum = 0;
            for (int64_t x = 0; x < k; ++x)
              sum += row[x] * static_cast<int8_t>(q.values[j * padded + x]);
            const double expected =
                static_cast<double>(sum) * scale * q.scales[j];
            double exact = 0;
            for (int64_t x = 0; x < k; ++x)
              exact += static_cast<double>(a[i * lda + x]) * w[j * k + x];
            diff +=
                (got[i * ldc + j] - expected) * (got[i * ldc + j] - expected);
            floatDiff +=
                (got[i * ldc + j] - exact) * (got[i * ldc + j] - exact);
            norm += exact * exact;
          }
          for (int64_t j = n; j < ldc; ++j)
            ASSERT_EQ(got[i * ldc + j], -1.0f);
        }
        EXPECT_LE(std::sqrt(diff / norm), 1e-6);
        // The outlier feature takes most of each row's int8 range; the
        // factors (6 on it) hand part of it to the weight.
        EXPECT_LE(std::sqrt(floatDiff / norm), smoothed ? 2.5e-2 : 6e-2);
      }
  }
  if (previous)
    setenv("KILN_GEMM", saved.c_str(), 1);
  else
    unsetenv("KILN_GEMM");
}

} // namespace
