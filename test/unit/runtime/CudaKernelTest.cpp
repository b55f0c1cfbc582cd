//===- CudaKernelTest.cpp - the runtime's CUDA kernels on the CPU ---------===//
//
// runtime/cuda/Kernels.cu run through the CPU emulator
// (test/support/CudaEmulator.h) with the launches the CUDA executor makes
// (runtime/CudaLaunch.h), against attention computed plainly
// (test/support/ReferenceAttention.h).
// Covers both paths (tiled prefill, flash-decoding) over head dims 32 to
// 256, grouped-query heads, every mask type, T5 bias, kv caches at several
// positions, fully masked rows, and the decode split at several machine
// sizes. Also checks the emulator itself: its barrier and shuffle meanings
// and the errors it must report.
//
//===----------------------------------------------------------------------===//

#include "runtime/Attention.h"
#include "runtime/Blas.h"
#include "runtime/CudaLaunch.h"
#include "runtime/Norm.h"
#include "runtime/QuantGemm.h"
#include "runtime/ThreadPool.h"
#include "support/Half.h"
#include "support/Quantize.h"
#include "test/support/EmulatedKernels.h"
#include "test/support/Golden.h"
#include "test/support/Randoms.h"
#include "test/support/ReferenceAttention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace {

namespace rt = kiln::rt;
using rt::CUdeviceptr;

CUdeviceptr dev(const void *p) { return reinterpret_cast<CUdeviceptr>(p); }

/// Runs one launch on the emulator; "" or its error.
std::string run(rt::KernelLaunch &l) {
  const kiln::test::EmulatedKernel *k =
      kiln::test::emulatedKernel(rt::ownKernelName(l.kernel));
  if (!k)
    return "no kernel";
  if (k->arity != l.paramCount())
    return "the launch passes " + std::to_string(l.paramCount()) +
           " parameters to a kernel of " + std::to_string(k->arity);
  unsigned block[3] = {rt::kOwnKernelThreads, 1, 1};
  return k->launch(l.grid, block, l.sharedBytes, l.params());
}

struct Case {
  std::string name;
  int64_t batch = 2, sq = 8, sk = 8, heads = 4, kvHeads = 4, headDim = 32;
  bool causal = false;
  bool cache = false; // sk is then the cache's length
  std::vector<int64_t> positions;
  int maskKind = 0;         // 1 i8, 2 i32, 3 i64, 4 f32
  bool fullyMasked = false; // sequence 0 masks every key
  bool bias = false;
  int multiprocessors = 132;
};

std::ostream &operator<<(std::ostream &os, const Case &c) {
  return os << c.name;
}

class AttentionKernelTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionKernelTest, MatchesTheCpuStep) {
  const Case &c = GetParam();
  // Fresh inputs every run; the seed is printed on a failure.
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 gen(seed);
  auto randoms = [&](int64_t n) { return kiln::test::normalRandoms(n, gen); };
  const int64_t width = c.kvHeads * c.headDim;
  const int64_t newKeys = c.cache ? c.sq : c.sk;
  std::vector<float> q = randoms(c.batch * c.sq * c.heads * c.headDim);
  std::vector<float> k = randoms(c.batch * newKeys * width);
  std::vector<float> v = randoms(c.batch * newKeys * width);

  // The step as the executors plan it; the CPU step is the reference.
  rt::AttentionPlan p;
  p.batch = c.batch;
  p.sq = c.sq;
  p.sk = c.sk;
  p.heads = c.heads;
  p.kvHeads = c.kvHeads;
  p.headDim = c.headDim;
  p.width = width;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.headDim));
  p.causal = c.causal;
  if (c.cache)
    p.cacheLength = c.sk;
  if (c.bias) { // [1, H, Sq, Sk], broadcast over the batch
    p.biasStrides[1] = c.sq * c.sk;
    p.biasStrides[2] = c.sk;
    p.biasStrides[3] = 1;
  }
  rt::AttentionArgs ref = rt::attentionArgs(p);

  // Caches: earlier rows random, the new rows written at each position.
  std::vector<float> kCache, vCache, kExpected, vExpected;
  std::vector<int64_t> positions = c.positions;
  if (c.cache) {
    kCache = randoms(c.batch * c.sk * width);
    vCache = randoms(c.batch * c.sk * width);
    kExpected = kCache;
    vExpected = vCache;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t r = 0; r < c.sq; ++r)
        for (int64_t e = 0; e < width; ++e) {
          int64_t to = (b * c.sk + positions[b] + r) * width + e;
          int64_t from = (b * c.sq + r) * width + e;
          kExpected[to] = k[from];
          vExpected[to] = v[from];
        }
    ref.k = kExpected.data();
    ref.v = vExpected.data();
    ref.offsets = positions;
  } else {
    ref.k = k.data();
    ref.v = v.data();
    ref.offsets.assign(c.batch, c.sk - c.sq);
  }

  // Key mask: sequence b keeps its first sk - 3b keys (none when fully
  // masked), in the case's element type.
  std::vector<int8_t> maskI8;
  std::vector<int32_t> maskI32;
  std::vector<int64_t> maskI64;
  std::vector<float> maskF32;
  if (c.maskKind) {
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t j = 0; j < c.sk; ++j) {
        bool keep = j < c.sk - 3 * b && !(c.fullyMasked && b == 0);
        ref.keyMask.push_back(keep);
        maskI8.push_back(keep);
        maskI32.push_back(keep);
        maskI64.push_back(keep);
        maskF32.push_back(keep);
      }
  }
  std::vector<float> bias;
  if (c.bias) {
    bias = randoms(c.heads * c.sq * c.sk);
    ref.bias = bias.data();
  }
  std::vector<float> expected(q.size());
  ref.q = q.data();
  ref.out = expected.data();
  kiln::test::referenceAttention(ref);

  // The same through the kernels.
  std::vector<float> out(q.size(), std::nanf(""));
  rt::DeviceAttention d;
  d.plan = p;
  d.q = dev(q.data());
  d.k = dev(k.data());
  d.v = dev(v.data());
  d.out = dev(out.data());
  if (c.cache) {
    d.positions = dev(positions.data());
    d.widePositions = true;
    for (auto [cache, rows] : {std::pair{dev(kCache.data()), d.k},
                               std::pair{dev(vCache.data()), d.v}}) {
      rt::KernelLaunch l = rt::cacheWriteLaunch(cache, rows, d.positions, true,
                                                c.batch, c.sq, c.sk, width);
      ASSERT_EQ(run(l), "");
    }
    EXPECT_EQ(kCache, kExpected);
    EXPECT_EQ(vCache, vExpected);
    d.k = dev(kCache.data());
    d.v = dev(vCache.data());
  }
  d.maskKind = c.maskKind;
  const void *masks[] = {nullptr, maskI8.data(), maskI32.data(), maskI64.data(),
                         maskF32.data()};
  d.mask = dev(masks[c.maskKind]);
  d.bias = dev(c.bias ? bias.data() : nullptr);
  std::vector<float> workspace(
      rt::attentionWorkspaceBytes(p, c.multiprocessors) / 4 + 1, std::nanf(""));
  auto launches = rt::attentionLaunches(d, c.multiprocessors,
                                        dev(workspace.data()), c.name);
  ASSERT_TRUE(launches.ok()) << launches.status();
  ASSERT_EQ(launches->size(), c.sq == 1 ? 2u : 1u);
  EXPECT_EQ((*launches)[0].kernel, c.sq == 1 ? rt::OwnKernel::DecodeAttention
                                             : rt::OwnKernel::Attention);
  for (rt::KernelLaunch &l : *launches)
    ASSERT_EQ(run(l), "");

  bool finite = true;
  double error = kiln::test::relativeErrorExcludingPadding(
      {static_cast<int64_t>(out.size())}, out, expected, {}, finite);
  ASSERT_TRUE(finite);
  EXPECT_LE(error, 1e-5);
}

std::vector<Case> cases() {
  std::vector<Case> all;
  auto add = [&](Case c) { all.push_back(c); };
  Case c;
  c = {};
  c.name = "EncoderPaddedI64Mask";
  c.sq = c.sk = 37;
  c.headDim = 64;
  c.maskKind = 3;
  add(c);
  c = {};
  c.name = "EncoderI32MaskHeadDim80";
  c.sq = c.sk = 21;
  c.heads = c.kvHeads = 2;
  c.headDim = 80;
  c.maskKind = 2;
  add(c);
  c = {};
  c.name = "FullyMaskedSequence";
  c.sq = c.sk = 19;
  c.maskKind = 1;
  c.fullyMasked = true;
  add(c);
  c = {};
  c.name = "CausalGqaHeadDim128";
  c.sq = c.sk = 33;
  c.heads = 8;
  c.kvHeads = 2;
  c.headDim = 128;
  c.causal = true;
  add(c);
  c = {};
  c.name = "CausalHeadDim256";
  c.batch = 1;
  c.sq = c.sk = 20;
  c.heads = c.kvHeads = 2;
  c.headDim = 256;
  c.causal = true;
  add(c);
  c = {};
  // More queries than keys, causal: the first 32 rows see no key, so the
  // first two blocks of 16 rows walk no tile at all (output 0).
  c.name = "CausalRowsBeforeTheFirstKey";
  c.sq = 40;
  c.sk = 8;
  c.causal = true;
  add(c);
  c = {};
  c.name = "T5BiasI8Mask";
  c.sq = 9;
  c.sk = 23;
  c.headDim = 64;
  c.bias = true;
  c.maskKind = 1;
  add(c);
  c = {};
  c.name = "PrefillIntoCache";
  c.sq = 20;
  c.sk = 48;
  c.cache = true;
  c.causal = true;
  c.positions = {0, 5};
  c.maskKind = 4;
  add(c);
  c = {};
  c.name = "DecodeSplitAlongTheContext";
  c.batch = 3;
  c.sq = 1;
  c.sk = 300;
  c.heads = 4;
  c.kvHeads = 2;
  c.headDim = 64;
  c.cache = true;
  c.causal = true;
  c.positions = {0, 137, 299};
  c.maskKind = 4;
  c.multiprocessors = 8;
  add(c);
  c.name = "DecodeOneChunk";
  c.multiprocessors = 1;
  add(c);
  c = {};
  c.name = "DecodeHeadDim128Bias";
  c.batch = 2;
  c.sq = 1;
  c.sk = 200;
  c.headDim = 128;
  c.cache = true;
  c.causal = true;
  c.positions = {199, 64};
  c.bias = true;
  c.multiprocessors = 16;
  add(c);
  c = {};
  c.name = "DecodeHeadDim256";
  c.batch = 1;
  c.sq = 1;
  c.sk = 130;
  c.heads = c.kvHeads = 2;
  c.headDim = 256;
  c.cache = true;
  c.causal = true;
  c.positions = {100};
  add(c);
  c = {};
  c.name = "OneQueryNoCache"; // T5's decoder against the encoder
  c.sq = 1;
  c.sk = 70;
  c.headDim = 64;
  c.maskKind = 3;
  c.multiprocessors = 4;
  add(c);
  return all;
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionKernelTest,
                         ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return info.param.name;
                         });

TEST(GemmEpilogueKernelTest, MatchesTheCpuEpilogue) {
  // Fresh inputs every run; the seed is printed on a failure.
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0, 2);
  const int64_t rows = 37, n = 300;
  std::vector<float> bias(n), residual(rows * n), c(rows * n);
  for (float &x : bias)
    x = normal(gen);
  for (float &x : residual)
    x = normal(gen);
  for (int activation = 0; activation < 3; ++activation)
    for (bool withBias : {false, true})
      for (bool withResidual : {false, true}) {
        for (float &x : c)
          x = normal(gen);
        rt::GemmPlan g;
        g.m = rows;
        g.n = n;
        g.activation = static_cast<kiln::artifact::Activation>(activation);
        std::vector<float> expected = c;
        rt::applyGemmEpilogue(
            g, expected.data(), withBias ? bias.data() : nullptr,
            withResidual ? residual.data() : nullptr, 0, rows);
        rt::KernelLaunch l = rt::gemmEpilogueLaunch(
            dev(c.data()), withBias ? dev(bias.data()) : 0,
            withResidual ? dev(residual.data()) : 0, rows, n, activation);
        ASSERT_EQ(run(l), "");
        for (int64_t i = 0; i < rows * n; ++i)
          ASSERT_NEAR(c[i], expected[i], 1e-5f * (1 + std::fabs(expected[i])))
              << "activation " << activation << " bias " << withBias
              << " residual " << withResidual << " element " << i;
      }
}

/// A random weight of n output channels and k input features, quantized.
kiln::QuantizedWeight randomQuantized(int bits, int64_t n, int64_t k,
                                      int64_t group, std::mt19937 &gen) {
  auto format = kiln::makeQuantFormat(bits, n, k, group);
  EXPECT_TRUE(format.ok()) << format.status();
  std::vector<float> w = kiln::test::normalRandoms(n * k, gen);
  return kiln::quantizeWeight(*format, w.data(), 0);
}

rt::DeviceQuantWeight onDevice(const kiln::QuantizedWeight &q,
                               const std::vector<float> *invSmooth = nullptr) {
  rt::DeviceQuantWeight d;
  d.format = q.format;
  d.values = dev(q.values.data());
  d.scales = dev(q.scales.data());
  if (invSmooth) {
    d.actBits = 8;
    d.invSmooth = dev(invSmooth->data());
  }
  return d;
}

TEST(QuantGemmKernelTest, GemvMatchesTheCpuGemmWithItsEpilogue) {
  // kiln_quant_gemv reads int8 and packed int4 rows (K not a multiple of
  // 32: the padding; groups of 32 and all of K) for 1 to 8 rows of A with
  // a leading dim past K, and applies the step's epilogue.
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 gen(seed);
  rt::ThreadPool pool(1);
  rt::Blas blas(pool);
  const int64_t n = 37, k = 70, lda = k + 3;
  std::vector<float> bias = kiln::test::normalRandoms(n, gen);
  for (auto [bits, group] :
       {std::pair{8, 0}, std::pair{4, 32}, std::pair{4, 0}})
    for (int64_t m : {1, 3, 8}) {
      SCOPED_TRACE(::testing::Message()
                   << bits << " bits, group " << group << ", m " << m);
      kiln::QuantizedWeight q = randomQuantized(bits, n, k, group, gen);
      kiln::QuantizedMatrix matrix{q.format, q.values.data(), q.scales.data()};
      std::vector<float> a = kiln::test::normalRandoms(m * lda, gen);
      std::vector<float> residual = kiln::test::normalRandoms(m * n, gen);
      std::vector<float> expected(m * n), scratch;
      rt::quantizedGemm(matrix, m, a.data(), lda, expected.data(), n, pool,
                        blas, rt::CpuIsa::Generic, scratch);
      rt::GemmPlan g;
      g.m = m;
      g.n = n;
      g.activation = kiln::artifact::Activation::GeluTanh;
      rt::applyGemmEpilogue(g, expected.data(), bias.data(), residual.data(), 0,
                            m);
      std::vector<float> c(m * n, -1.0f);
      rt::KernelLaunch l = rt::quantGemvLaunch(
          onDevice(q), dev(c.data()), dev(a.data()), m, lda,
          {dev(bias.data()), dev(residual.data()),
           static_cast<int>(kiln::artifact::Activation::GeluTanh)});
      ASSERT_EQ(run(l), "");
      for (int64_t i = 0; i < m * n; ++i)
        ASSERT_NEAR(c[i], expected[i], 1e-4f * (1 + std::fabs(expected[i])))
            << "element " << i;
    }
}

TEST(QuantGemmKernelTest, DequantizeGivesTheStoredValues) {
  std::mt19937 gen(7);
  for (auto [bits, group] : {std::pair{8, 0}, std::pair{4, 64}}) {
    const int64_t n = 19, k = 150;
    kiln::QuantizedWeight q = randomQuantized(bits, n, k, group, gen);
    kiln::QuantizedMatrix matrix{q.format, q.values.data(), q.scales.data()};
    std::vector<float> out(n * k, -1.0f), row(k);
    rt::KernelLaunch l = rt::dequantizeLaunch(onDevice(q), dev(out.data()));
    ASSERT_EQ(run(l), "");
    for (int64_t r = 0; r < n; ++r) {
      kiln::dequantizeRow(matrix, r, row.data());
      for (int64_t e = 0; e < k; ++e)
        ASSERT_EQ(out[r * k + e], row[e])
            << bits << " bits, " << r << ", " << e;
    }
  }
}

TEST(QuantGemmKernelTest, W8A8IsTheInt8ProductOfTheRowsTheCpuQuantizes) {
  // The rows quantized on the device are the CPU's (the same rounding), and
  // C is their int32 product with the weight times both scales; for one
  // to 17 rows (several row blocks), with SmoothQuant factors and a bias.
  std::mt19937 gen(11);
  const int64_t n = 37, k = 70, lda = k + 5;
  kiln::QuantizedWeight q = randomQuantized(8, n, k, 0, gen);
  const int64_t padded = q.format.paddedCols();
  std::vector<float> invSmooth(k), bias = kiln::test::normalRandoms(n, gen);
  for (int64_t x = 0; x < k; ++x)
    invSmooth[x] = 1.0f / (0.5f + 0.02f * static_cast<float>(x));
  for (int64_t m : {1, 9, 17}) {
    SCOPED_TRACE(::testing::Message() << "m " << m);
    std::vector<float> a = kiln::test::normalRandoms(m * lda, gen);
    rt::DeviceQuantWeight w = onDevice(q, &invSmooth);
    std::vector<float> workspace(rt::quantGemmWorkspaceBytes(w, m) / 4 + 1);
    std::vector<float> c(m * n, -1.0f);
    for (rt::KernelLaunch &l :
         rt::w8a8Launches(w, dev(c.data()), dev(a.data()), m, lda,
                          dev(workspace.data()), {dev(bias.data()), 0, 0}))
      ASSERT_EQ(run(l), "");
    const auto *rows = reinterpret_cast<const int8_t *>(workspace.data());
    std::vector<int8_t> row(padded);
    for (int64_t i = 0; i < m; ++i) {
      const float scale = kiln::quantizeActivationRow(
          a.data() + i * lda, k, invSmooth.data(), row.data(), padded);
      for (int64_t x = 0; x < padded; ++x)
        ASSERT_EQ(rows[i * padded + x], row[x]) << i << ", " << x;
      for (int64_t j = 0; j < n; ++j) {
        int64_t sum = 0;
        for (int64_t x = 0; x < k; ++x)
          sum += row[x] * static_cast<int8_t>(q.values[j * padded + x]);
        const double expected =
            static_cast<double>(sum) * scale * q.scales[j] + bias[j];
        ASSERT_NEAR(c[i * n + j], expected, 1e-5 * (1 + std::fabs(expected)))
            << i << ", " << j;
      }
    }
  }
}

TEST(RankShareKernelTest, SumsInRankOrderAndGathersColumns) {
  // 3 ranks' operands of 2 rows x 5 columns; a share from element 4 to 9
  // of the sum (rank order: (a + b) + c, as LocalGroup adds them), and of
  // the gather [2, 15].
  std::mt19937 gen(5);
  std::vector<std::vector<float>> in(3);
  for (auto &x : in)
    x = kiln::test::normalRandoms(10, gen);
  // (1e8 + 4) + 4 rounds to 1e8 twice; 1e8 + (4 + 4) is 1e8 + 8.
  in[0][5] = 1e8f;
  in[1][5] = 4.0f;
  in[2][5] = 4.0f;
  std::vector<CUdeviceptr> inputs;
  for (const auto &x : in)
    inputs.push_back(dev(x.data()));
  std::vector<float> sum(5, -1.0f);
  auto l = rt::rankShareLaunch(dev(sum.data()), 4, 9, 0, inputs);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(run(*l), "");
  for (int64_t i = 4; i < 9; ++i) {
    const float expected = (in[0][i] + in[1][i]) + in[2][i];
    EXPECT_EQ(sum[i - 4], expected) << i;
  }
  std::vector<float> gathered(30, -1.0f);
  auto g = rt::rankShareLaunch(dev(gathered.data()), 0, 30, 5, inputs);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(run(*g), "");
  for (int64_t row = 0; row < 2; ++row)
    for (int64_t col = 0; col < 15; ++col)
      EXPECT_EQ(gathered[row * 15 + col], in[col / 5][row * 5 + col % 5])
          << row << ", " << col;
  // At most rt::kRankShareMaxRanks operands, at least one.
  std::vector<CUdeviceptr> nine(9, inputs[0]);
  EXPECT_FALSE(rt::rankShareLaunch(dev(sum.data()), 0, 1, 0, nine).ok());
  EXPECT_FALSE(rt::rankShareLaunch(dev(sum.data()), 0, 1, 0, {}).ok());
}

TEST(NormKernelTest, MatchesTheCpuNorm) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(1, 3);
  // Widths below, at and above the block's 256 threads; one row (decode).
  for (int64_t width : {48, 256, 768, 1000})
    for (int64_t rows : {1, 5})
      for (bool rms : {false, true}) {
        std::vector<float> x(rows * width), scale(width), bias(width);
        for (float &v : x)
          v = normal(gen);
        for (float &v : scale)
          v = normal(gen);
        for (float &v : bias)
          v = normal(gen);
        rt::NormPlan p;
        p.rows = rows;
        p.width = width;
        p.epsilon = 1e-5f;
        p.rms = rms;
        p.bias = !rms;
        std::vector<float> expected(x.size()), out(x.size(), std::nanf(""));
        rt::normalizeRows(p, x.data(), scale.data(),
                          p.bias ? bias.data() : nullptr, expected.data(), 0,
                          rows);
        auto l =
            rt::normLaunch(dev(out.data()), dev(x.data()), dev(scale.data()),
                           p.bias ? dev(bias.data()) : 0, p, "test");
        ASSERT_TRUE(l.ok());
        ASSERT_EQ(run(*l), "");
        bool finite = true;
        double error = kiln::test::relativeErrorExcludingPadding(
            {static_cast<int64_t>(out.size())}, out, expected, {}, finite);
        ASSERT_TRUE(finite);
        EXPECT_LE(error, 1e-6)
            << "width " << width << " rows " << rows << " rms " << rms;
      }
}

TEST(NarrowKernelTest, RoundsToNearestEvenLikeTheHost) {
  // Fresh inputs every run; the seed is printed on a failure.
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0, 100);
  std::vector<float> src = {0.0f,
                            -0.0f,
                            1.0f,
                            65504.0f,
                            65520.0f,
                            1e-8f,
                            6.0e-8f,
                            -3.0e-5f,
                            1e30f,
                            -1e-40f,
                            std::numeric_limits<float>::infinity(),
                            std::nanf("")};
  for (int i = 0; i < 5000; ++i)
    src.push_back(normal(gen));
  for (bool bf16 : {true, false}) {
    std::vector<uint16_t> dst(src.size(), 0xdead);
    rt::KernelLaunch l =
        rt::narrowLaunch(dev(dst.data()), dev(src.data()),
                         static_cast<int64_t>(src.size()), bf16);
    ASSERT_EQ(run(l), "");
    for (size_t i = 0; i < src.size(); ++i) {
      uint16_t expected =
          bf16 ? kiln::floatToBf16(src[i]) : kiln::floatToHalf(src[i]);
      ASSERT_EQ(dst[i], expected) << src[i] << (bf16 ? " bf16" : " f16");
      float back = bf16 ? kiln::bf16ToFloat(dst[i]) : kiln::halfToFloat(dst[i]);
      if (std::isfinite(back) && std::fabs(src[i]) > 1e-4f) {
        EXPECT_NEAR(back, src[i], std::fabs(src[i]) * (bf16 ? 4e-3 : 5e-4));
      }
    }
  }
  // Ties go to even: 1 + 2^-8 sits between two bf16 values.
  EXPECT_EQ(kiln::floatToBf16(1.00390625f), kiln::floatToBf16(1.0f));
  EXPECT_EQ(kiln::floatToHalf(65520.0f), 0x7c00); // rounds up to inf
}

TEST(AttentionLaunchTest, DecodeSplitFillsTheMachineAndIgnoresThePosition) {
  rt::AttentionPlan p;
  p.batch = 1;
  p.sq = 1;
  p.heads = 12;
  p.kvHeads = 12;
  p.headDim = 64;
  p.sk = 1024;
  rt::DecodeSplit s = rt::decodeSplit(p, 132);
  EXPECT_EQ(s.splits, 16); // 12 * 16 blocks >= 2 * 132
  EXPECT_EQ(s.chunk, 64);
  p.batch = 32;
  s = rt::decodeSplit(p, 132);
  EXPECT_EQ(s.splits, 1);
  EXPECT_EQ(s.chunk, 1024);
  p.sk = 32768;
  s = rt::decodeSplit(p, 132);
  EXPECT_EQ(s.chunk, 2048);
  EXPECT_EQ(s.splits, 16);
}

TEST(AttentionLaunchTest, RefusesHeadDimsBeyondSharedMemory) {
  rt::DeviceAttention d;
  d.plan.batch = 1;
  d.plan.sq = 4;
  d.plan.sk = 4;
  d.plan.heads = d.plan.kvHeads = 1;
  d.plan.headDim = 512;
  auto launches = rt::attentionLaunches(d, 132, 0, "attention at here");
  ASSERT_FALSE(launches.ok());
  EXPECT_NE(launches.status().message().find("head dim 512"),
            std::string::npos);
}

} // namespace

//===----------------------------------------------------------------------===//
// The emulator itself, on kernels written for it.
//===----------------------------------------------------------------------===//

#include "test/support/CudaEmulator.h"

namespace {

__global__ void warpSum(float *out) {
  float v = static_cast<float>(threadIdx.x % 32);
  for (int o = 16; o > 0; o /= 2)
    v += __shfl_xor_sync(0xffffffff, v, o);
  out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

__global__ void blockSum(const float *in, float *out) {
  __shared__ float partial[256];
  partial[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half)
      partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    *out = partial[0];
}

__global__ void earlyExitBeforeBarrier(float *out) {
  if (threadIdx.x < 128)
    return;
  __syncthreads();
  out[0] = 1;
}

__global__ void shuffleAgainstBarrier(float *out) {
  if (threadIdx.x == 0)
    __syncthreads();
  else
    out[0] = __shfl_xor_sync(0xffffffff, 1.0f, 1);
}

kiln::emu::Dim3 dim(unsigned x) { return {x, 1, 1}; }

TEST(CudaEmulatorTest, ShufflesExchangeWithinTheWarp) {
  std::vector<float> out(2 * 64);
  float *p = out.data();
  void *params[] = {&p};
  ASSERT_EQ(kiln::emu::launcher(warpSum)(dim(2), dim(64), 0, params), "");
  for (float v : out)
    EXPECT_EQ(v, 496.0f); // 0 + 1 + ... + 31
}

TEST(CudaEmulatorTest, BarriersOrderSharedMemory) {
  std::vector<float> in(256);
  for (int i = 0; i < 256; ++i)
    in[i] = static_cast<float>(i);
  float sum = 0;
  const float *a = in.data();
  float *b = &sum;
  void *params[] = {&a, &b};
  ASSERT_EQ(kiln::emu::launcher(blockSum)(dim(1), dim(256), 0, params), "");
  EXPECT_EQ(sum, 255.0f * 256 / 2);
}

TEST(CudaEmulatorTest, ReportsABarrierSomeThreadsNeverReach) {
  float out = 0;
  float *p = &out;
  void *params[] = {&p};
  std::string error =
      kiln::emu::launcher(earlyExitBeforeBarrier)(dim(1), dim(256), 0, params);
  EXPECT_NE(error.find("__syncthreads not reached by 128 exited threads"),
            std::string::npos)
      << error;
}

TEST(CudaEmulatorTest, ReportsDeadlock) {
  float out = 0;
  float *p = &out;
  void *params[] = {&p};
  std::string error =
      kiln::emu::launcher(shuffleAgainstBarrier)(dim(1), dim(32), 0, params);
  EXPECT_NE(error.find("deadlock"), std::string::npos) << error;
}

} // namespace
