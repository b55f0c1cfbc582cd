//===- CpuKernelTest.cpp - the CPU runtime's own kernels, per ISA ---------===//
//
// The attention step (runtime/Attention.cpp) in every ISA variant this CPU
// runs, against attention computed plainly
// (test/support/ReferenceAttention.h): head dims that fill and that do not
// fill a vector, query blocks cut mid-block, grouped-query heads, causal
// masks at several cache positions, padding masks (some rows fully
// masked), T5's broadcast bias, and 1 to 3 threads.
// The gemm step's products (runtime/Blas.h) through every GEMM library this
// machine has (oneDNN, OpenBLAS, the built-in loop nest) on every layout,
// single rows (the decode path) included, then each epilogue, against
// test/support/ReferenceGemm.h; and oneDNN's matmul on packed weights
// (runtime/OneDnnMatmul.h), epilogues as its post-ops.
//
//===----------------------------------------------------------------------===//

#include "runtime/Attention.h"
#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/OneDnnMatmul.h"
#include "runtime/ThreadPool.h"
#include "support/Half.h"
#include "test/support/Randoms.h"
#include "test/support/ReferenceAttention.h"
#include "test/support/ReferenceGemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdlib.h>
#include <string>
#include <vector>

namespace {

namespace rt = kiln::rt;

struct Case {
  std::string name;
  int64_t batch = 2, sq = 8, sk = 8, heads = 4, kvHeads = 4, headDim = 64;
  bool causal = false;
  std::vector<int64_t> offsets; // default sk - sq
  bool mask = false;            // sequence b keeps its first sk - 5b keys
  bool fullyMasked = false;     // sequence 0 masks every key
  bool bias = false;            // [1, H, Sq, Sk]
};

/// Each array from its own fixed seed: every case is reproducible.
std::vector<float> randoms(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  return kiln::test::normalRandoms(n, gen);
}

const Case kCases[] = {
    {.name = "bert", .sq = 128, .sk = 128, .heads = 12, .kvHeads = 12},
    {.name = "odd rows", .batch = 3, .sq = 37, .sk = 37},
    {.name = "head dim 8", .sq = 5, .sk = 9, .headDim = 8},
    {.name = "head dim 80", .sq = 33, .sk = 70, .headDim = 80},
    {.name = "head dim 128 gqa",
     .sq = 20,
     .sk = 150,
     .heads = 8,
     .kvHeads = 2,
     .headDim = 128},
    {.name = "causal", .sq = 100, .sk = 100, .causal = true},
    {.name = "causal decode at positions",
     .sq = 1,
     .sk = 200,
     .causal = true,
     .offsets = {0, 130}},
    {.name = "causal chunk in cache",
     .sq = 7,
     .sk = 90,
     .causal = true,
     .offsets = {3, 70}},
    {.name = "causal nothing visible",
     .sq = 4,
     .sk = 16,
     .causal = true,
     .offsets = {-2, -8}},
    {.name = "padding", .batch = 3, .sq = 70, .sk = 70, .mask = true},
    {.name = "fully masked",
     .sq = 9,
     .sk = 66,
     .mask = true,
     .fullyMasked = true},
    {.name = "t5 bias", .sq = 40, .sk = 40, .bias = true},
    {.name = "causal padding bias",
     .sq = 65,
     .sk = 65,
     .causal = true,
     .mask = true,
     .bias = true},
};

class CpuAttentionTest
    : public ::testing::TestWithParam<std::tuple<rt::CpuIsa, int>> {};

TEST_P(CpuAttentionTest, MatchesThePlainComputation) {
  auto [isa, threads] = GetParam();
  if (!rt::hostSupports(isa))
    GTEST_SKIP() << "this CPU lacks " << rt::isaName(isa);
  rt::ThreadPool pool(threads);
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.name);
    const int64_t width = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim;
    std::vector<float> q = randoms(c.batch * c.sq * width, 1);
    std::vector<float> k = randoms(c.batch * c.sk * kvWidth, 2);
    std::vector<float> v = randoms(c.batch * c.sk * kvWidth, 3);
    std::vector<float> bias;
    rt::AttentionArgs a;
    a.batch = c.batch;
    a.sq = c.sq;
    a.sk = c.sk;
    a.heads = c.heads;
    a.kvHeads = c.kvHeads;
    a.headDim = c.headDim;
    a.scale = 1.0f / std::sqrt(float(c.headDim));
    a.causal = c.causal;
    a.offsets = c.offsets;
    if (a.offsets.empty())
      a.offsets.assign(c.batch, c.sk - c.sq);
    if (c.mask)
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t j = 0; j < c.sk; ++j)
          a.keyMask.push_back(j < c.sk - 5 * b && !(c.fullyMasked && b == 0));
    if (c.bias) {
      bias = randoms(c.heads * c.sq * c.sk, 4);
      a.bias = bias.data();
      a.biasStrides[1] = c.sq * c.sk;
      a.biasStrides[2] = c.sk;
      a.biasStrides[3] = 1;
    }
    a.q = q.data();
    a.k = k.data();
    a.v = v.data();
    std::vector<float> expected(q.size()), out(q.size(), std::nanf(""));
    a.out = expected.data();
    kiln::test::referenceAttention(a);
    a.out = out.data();
    rt::attention(a, pool, isa);
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_TRUE(std::isfinite(out[i])) << "element " << i;
      worst = std::max(worst, double(std::fabs(out[i] - expected[i])));
      scale = std::max(scale, double(std::fabs(expected[i])));
    }
    EXPECT_LT(worst / scale, 2e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryIsa, CpuAttentionTest,
    ::testing::Combine(::testing::Values(rt::CpuIsa::Generic, rt::CpuIsa::Avx2,
                                         rt::CpuIsa::Avx512),
                       ::testing::Values(1, 3)),
    [](const auto &info) {
      return std::string(rt::isaName(std::get<0>(info.param))) + "_" +
             std::to_string(std::get<1>(info.param)) + "threads";
    });

/// One dense product op(A) [m, k] by op(B) [k, n], B shared, no epilogue.
rt::GemmPlan densePlan(int64_t m, int64_t n, int64_t k, bool transA,
                       bool transB) {
  rt::GemmPlan g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.transA = transA;
  g.transB = transB;
  g.lda = transA ? m : k;
  g.ldb = transB ? k : n;
  g.shared = true;
  return g;
}

class GemmLibraryTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GemmLibraryTest, EveryLayoutAndEpilogueMatchesThePlainProduct) {
#ifdef __SANITIZE_ADDRESS__
  // ASan finds nothing here (checked with detect_leaks=0), but
  // LeakSanitizer's tracer faults at exit on the OpenMP threads oneDNN
  // leaves (it is never unloaded): the leak check of every other test in
  // this binary matters more. The regular build runs this case.
  if (GetParam() == "onednn")
    GTEST_SKIP() << "oneDNN's OpenMP threads stop LeakSanitizer at exit";
#endif
  setenv("KILN_GEMM", GetParam().c_str(), 1);
  rt::ThreadPool pool(2);
  rt::Blas blas(pool);
  unsetenv("KILN_GEMM");
  if (GetParam() != "builtin" &&
      blas.provider().find(GetParam() == "onednn" ? "dnnl" : "blas") ==
          std::string::npos)
    GTEST_SKIP() << GetParam() << " is not installed";
  const int64_t n = 37, k = 70;
  for (int64_t m : {1, 5, 130})
    for (bool transA : {false, true})
      for (bool transB : {false, true})
        for (auto activation : {kiln::artifact::Activation::None,
                                kiln::artifact::Activation::Relu,
                                kiln::artifact::Activation::GeluTanh})
          for (bool withResidual : {false, true}) {
            SCOPED_TRACE(::testing::Message()
                         << "m " << m << " transA " << transA << " transB "
                         << transB << " activation " << int(activation)
                         << " residual " << withResidual);
            rt::GemmPlan g = densePlan(m, n, k, transA, transB);
            g.activation = activation;
            g.bias = 2;
            g.residual = withResidual ? 3 : -1;
            std::vector<float> a = randoms(m * k, 5), b = randoms(k * n, 6),
                               bias = randoms(n, 7),
                               residual = randoms(m * n, 8);
            std::vector<float> expected(m * n), got(m * n, std::nanf(""));
            const float *res = withResidual ? residual.data() : nullptr;
            kiln::test::referenceGemm(g, a.data(), b.data(), expected.data(),
                                      bias.data(), res);
            blas.sgemm(transA, transB, m, n, k, a.data(), g.lda, b.data(),
                       g.ldb, got.data(), n);
            rt::applyGemmEpilogue(g, got.data(), bias.data(), res, 0, m);
            for (int64_t i = 0; i < m * n; ++i)
              ASSERT_NEAR(got[i], expected[i],
                          2e-5 * (1 + std::fabs(expected[i])))
                  << "element " << i;
          }
}

/// oneDNN's bf16 gemm (kilnc --precision bf16) against the f32 product of
/// the same bf16 values: both accumulate in f32, so only the summation
/// order differs.
TEST(GemmBf16Test, MatchesTheF32ProductOfTheRoundedValues) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "oneDNN's OpenMP threads stop LeakSanitizer at exit";
#endif
  rt::ThreadPool pool(2);
  rt::Blas blas(pool);
  if (!blas.hasBf16Gemm())
    GTEST_SKIP() << "no bf16 gemm here (" << blas.provider()
                 << "; oneDNN's needs AVX-512)";
  const int64_t n = 37, k = 70;
  for (int64_t m : {1, 5, 130})
    for (bool transA : {false, true})
      for (bool transB : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "m " << m << " transA " << transA
                                          << " transB " << transB);
        rt::GemmPlan g = densePlan(m, n, k, transA, transB);
        std::vector<float> a = randoms(m * k, 9), b = randoms(k * n, 10);
        std::vector<uint16_t> a16, b16;
        for (float &x : a) {
          a16.push_back(kiln::floatToBf16(x));
          x = kiln::bf16ToFloat(a16.back());
        }
        for (float &x : b) {
          b16.push_back(kiln::floatToBf16(x));
          x = kiln::bf16ToFloat(b16.back());
        }
        std::vector<float> expected(m * n), got(m * n, std::nanf(""));
        kiln::test::referenceGemm(g, a.data(), b.data(), expected.data(),
                                  nullptr, nullptr);
        ASSERT_TRUE(blas.gemmBf16(transA, transB, m, n, k, a16.data(), g.lda,
                                  b16.data(), g.ldb, got.data(), n));
        for (int64_t i = 0; i < m * n; ++i)
          ASSERT_NEAR(got[i], expected[i], 2e-5 * (1 + std::fabs(expected[i])))
              << "element " << i;
      }
}

/// oneDNN's matmul on a weight packed once (runtime/OneDnnMatmul.h), the
/// path f32 gemm steps on weights take: both B layouts, widths that do and
/// do not fill the 64-wide blocks, row counts past the kept primitives
/// (the oldest are remade), every epilogue as post-ops, against the plain
/// product; an A with a row stride the primitive does not take declines.
TEST(PackedGemmTest, EveryLayoutRowCountAndEpilogueMatchesThePlainProduct) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "oneDNN's OpenMP threads stop LeakSanitizer at exit";
#endif
  rt::ThreadPool pool(2);
  rt::Blas blas(pool);
  std::vector<float> one(1, 1.0f);
  if (!blas.pack(true, 1, 1, one.data(), 1)) {
#if __has_include(<oneapi/dnnl/dnnl.h>)
    ASSERT_EQ(blas.provider().find("libdnnl.so.2"), std::string::npos)
        << "oneDNN 2 is loaded but packs nothing";
#endif
    GTEST_SKIP() << "no packed matmul here (" << blas.provider() << ")";
  }
  using kiln::artifact::Activation;
  // Up to 4 rows run Kiln's panel kernel, in each ISA variant this CPU
  // runs; more rows the library's primitive.
  std::vector<rt::CpuIsa> isas = {rt::CpuIsa::Generic};
  if (rt::hostIsa() == rt::CpuIsa::Avx512)
    isas.push_back(rt::CpuIsa::Avx512);
  for (rt::CpuIsa isa : isas)
    for (int64_t n : {37, 200})
      for (bool transB : {false, true}) {
        const int64_t k = 70;
        rt::GemmPlan plain = densePlan(1, n, k, false, transB);
        std::vector<float> b = randoms(k * n, 11), bias = randoms(n, 12);
        rt::PackedBPtr packed = blas.pack(transB, n, k, b.data(), plain.ldb);
        ASSERT_TRUE(packed);
        // oneDNN 2's layout on AVX-512, which the panel kernel reads (else
        // few rows go to the primitive too, and this test would not see the
        // kernel).
        if (rt::hostIsa() == rt::CpuIsa::Avx512)
          EXPECT_TRUE(rt::packedPanels(*packed));
        // 1 to 20 rows: more row counts than a weight keeps primitives for,
        // then the first ones again.
        std::vector<int64_t> rows;
        for (int64_t m = 1; m <= 20; ++m)
          rows.push_back(m);
        rows.insert(rows.end(), {1, 130, 5});
        for (int64_t m : rows)
          for (auto activation :
               {Activation::None, Activation::Relu, Activation::GeluTanh})
            for (bool withBias : {false, true})
              for (bool withResidual : {false, true}) {
                SCOPED_TRACE(::testing::Message()
                             << rt::isaName(isa) << " n " << n << " transB "
                             << transB << " m " << m << " activation "
                             << int(activation) << " bias " << withBias
                             << " residual " << withResidual);
                rt::GemmPlan g = densePlan(m, n, k, false, transB);
                g.activation = activation;
                g.bias = withBias ? 2 : -1;
                g.residual = withResidual ? 3 : -1;
                std::vector<float> a = randoms(m * k, 13),
                                   residual = randoms(m * n, 14);
                std::vector<float> expected(m * n), got(m * n, std::nanf(""));
                const float *res = withResidual ? residual.data() : nullptr;
                const float *bi = withBias ? bias.data() : nullptr;
                kiln::test::referenceGemm(g, a.data(), b.data(),
                                          expected.data(), bi, res);
                ASSERT_TRUE(blas.gemmPacked(*packed, m, a.data(), k, got.data(),
                                            {bi, res, activation}, isa));
                for (int64_t i = 0; i < m * n; ++i)
                  ASSERT_NEAR(got[i], expected[i],
                              2e-5 * (1 + std::fabs(expected[i])))
                      << "element " << i;
              }
        // A with a row stride past K: declined, C untouched.
        std::vector<float> a = randoms(5 * (k + 3), 15), c(5 * n, 7.0f);
        EXPECT_FALSE(
            blas.gemmPacked(*packed, 5, a.data(), k + 3, c.data(), {}, isa));
        EXPECT_EQ(c, std::vector<float>(5 * n, 7.0f));
      }
}

INSTANTIATE_TEST_SUITE_P(Libraries, GemmLibraryTest,
                         ::testing::Values("onednn", "openblas", "builtin"),
                         [](const auto &info) { return info.param; });

} // namespace
