//===- RuntimeUnitTest.cpp - the runtime's parts, without a compiler ------===//
//
// The artifact file (round trip; truncated, damaged, foreign and newer
// files refused with their own messages), the model driver (padding,
// incremental decoding, eos) on a fake executor, sampling, the thread pool.
// Links only the runtime: it builds with -DKILN_RUNTIME_ONLY too.
//
//===----------------------------------------------------------------------===//

#include "artifact/Artifact.h"
#include "runtime/Driver.h"
#include "runtime/Sampling.h"
#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"
#include "support/Status.h"
#include "test/support/ReferenceGemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <unistd.h>

namespace {

namespace rt = kiln::rt;
namespace art = kiln::artifact;

std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "runtime-unit-" + std::to_string(::getpid()) +
         "-" + name;
}

std::vector<uint8_t> readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void writeAll(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

class ArtifactTest : public ::testing::Test {
protected:
  void SetUp() override {
    path_ = tempPath("a.kiln");
    kiln::ArtifactWriter writer;
    std::vector<uint8_t> first(100), second(1000);
    for (size_t i = 0; i < first.size(); ++i)
      first[i] = static_cast<uint8_t>(i);
    for (size_t i = 0; i < second.size(); ++i)
      second[i] = static_cast<uint8_t>(i * 7);
    writer.addBlob(art::BlobKind::Weight, first);
    writer.addBlob(art::BlobKind::Weight, second);
    art::ManifestT manifest;
    manifest.producer = "test";
    manifest.target = "cpu";
    manifest.max_batch = 3;
    ASSERT_TRUE(writer.write(path_, std::move(manifest)).ok());
    bytes_ = readAll(path_);
  }
  void TearDown() override { ::unlink(path_.c_str()); }

  /// Opens `bytes` written to a file; returns the error message or "ok".
  std::string openBytes(const std::vector<uint8_t> &bytes) {
    writeAll(path_, bytes);
    auto a = kiln::Artifact::open(path_);
    return a.ok() ? "ok" : std::string(a.status().message());
  }

  std::string path_;
  std::vector<uint8_t> bytes_;
};

TEST_F(ArtifactTest, RoundTrip) {
  auto a = kiln::Artifact::open(path_);
  ASSERT_TRUE(a.ok()) << a.status();
  const art::ManifestT &m = (*a)->manifest();
  EXPECT_EQ(m.producer, "test");
  EXPECT_EQ(m.max_batch, 3);
  ASSERT_EQ(m.blobs.size(), 2u);
  for (uint32_t i = 0; i < 2; ++i)
    EXPECT_EQ(m.blobs[i]->offset % kiln::kBlobAlignment, 0u);
  EXPECT_EQ((*a)->blobSize(1), 1000u);
  EXPECT_EQ((*a)->blobData(1)[3], 21);
  EXPECT_EQ((*a)->fileBytes(), bytes_.size());
}

TEST_F(ArtifactTest, TheTokenizerMustBeATokenizerBlob) {
  for (int32_t index : {1, 7, -2}) {
    kiln::ArtifactWriter writer;
    writer.addBlob(art::BlobKind::Tokenizer, std::vector<uint8_t>{'{', '}'});
    writer.addBlob(art::BlobKind::Weight, std::vector<uint8_t>(8));
    art::ManifestT manifest;
    manifest.tokenizer = index;
    ASSERT_TRUE(writer.write(path_, std::move(manifest)).ok());
    auto a = kiln::Artifact::open(path_);
    ASSERT_FALSE(a.ok());
    EXPECT_NE(std::string(a.status().message())
                  .find("damaged: the tokenizer is blob " +
                        std::to_string(index) +
                        ", which is not a tokenizer blob"),
              std::string::npos)
        << a.status();
  }
}

TEST_F(ArtifactTest, RefusesForeignAndEmptyFiles) {
  EXPECT_NE(openBytes({}).find("not a Kiln artifact"), std::string::npos);
  std::vector<uint8_t> json = {'{', '"',  'a', '"', ':', '1',
                               '}', '\n', ' ', ' ', ' ', ' '};
  EXPECT_NE(openBytes(json).find("not a Kiln artifact"), std::string::npos);
  EXPECT_NE(kiln::Artifact::open(tempPath("missing"))
                .status()
                .message()
                .find("cannot open"),
            std::string::npos);
}

TEST_F(ArtifactTest, RefusesTruncatedFiles) {
  for (size_t keep : {size_t(12), size_t(63), size_t(64), bytes_.size() - 1}) {
    std::vector<uint8_t> cut(bytes_.begin(), bytes_.begin() + keep);
    EXPECT_NE(openBytes(cut).find("truncated"), std::string::npos) << keep;
  }
}

TEST_F(ArtifactTest, RefusesANewerVersion) {
  std::vector<uint8_t> newer = bytes_;
  newer[8] = kiln::kArtifactVersion + 1;
  std::string expected = "format version " +
                         std::to_string(kiln::kArtifactVersion + 1) +
                         " is newer than this runtime reads (up to " +
                         std::to_string(kiln::kArtifactVersion) + ")";
  EXPECT_NE(openBytes(newer).find(expected), std::string::npos);
}

TEST_F(ArtifactTest, RefusesAnOlderVersion) {
  // Format 2 had no argument roles: its caches would pass for inputs.
  std::vector<uint8_t> older = bytes_;
  older[8] = kiln::kOldestArtifactVersion - 1;
  uint64_t sum = kiln::checksum(older.data(), 48);
  std::memcpy(older.data() + 48, &sum, 8);
  std::string expected = "format version " +
                         std::to_string(kiln::kOldestArtifactVersion - 1) +
                         " is older than this runtime reads";
  EXPECT_NE(openBytes(older).find(expected), std::string::npos)
      << openBytes(older);
}

TEST_F(ArtifactTest, EveryFlippedByteIsCaught) {
  // Any single flipped byte anywhere in the file is refused (the padding
  // between blobs is not covered by a checksum, so it is skipped).
  auto a = kiln::Artifact::open(path_);
  ASSERT_TRUE(a.ok());
  std::vector<std::pair<uint64_t, uint64_t>> covered = {{0, 56}};
  for (const auto &b : (*a)->manifest().blobs)
    covered.push_back({b->offset, b->offset + b->size});
  uint64_t manifestOffset;
  std::memcpy(&manifestOffset, bytes_.data() + 16, 8);
  covered.push_back({manifestOffset, bytes_.size()});
  a->reset();
  int checked = 0;
  for (auto [begin, end] : covered)
    for (uint64_t i = begin; i < end; ++i) {
      std::vector<uint8_t> damaged = bytes_;
      damaged[i] ^= 0x20;
      std::string message = openBytes(damaged);
      EXPECT_NE(message, "ok") << "byte " << i;
      ++checked;
    }
  EXPECT_GT(checked, 1100);
  // The message says what is damaged.
  std::vector<uint8_t> blob = bytes_;
  blob[64 + 5] ^= 1;
  EXPECT_NE(openBytes(blob).find("blob 0 (Weight, bytes 64..164) fails its "
                                 "checksum"),
            std::string::npos);
}

TEST(SamplingTest, GreedyIsTheFirstMaximum) {
  rt::Sampler sampler({});
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(sampler.pick(logits.data(), 4), 1);
}

TEST(SamplingTest, SeedReproducesAndTopKOneIsGreedy) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i)
    logits[i] = std::sin(static_cast<float>(i));
  rt::SamplingOptions options;
  options.greedy = false;
  options.seed = 7;
  options.temperature = 2.0;
  rt::Sampler a(options), b(options);
  std::vector<int64_t> drawsA, drawsB;
  for (int i = 0; i < 20; ++i) {
    drawsA.push_back(a.pick(logits.data(), 50));
    drawsB.push_back(b.pick(logits.data(), 50));
  }
  EXPECT_EQ(drawsA, drawsB);
  EXPECT_GT(std::set<int64_t>(drawsA.begin(), drawsA.end()).size(), 3u);

  options.topK = 1;
  rt::Sampler one(options);
  int64_t best =
      std::max_element(logits.begin(), logits.end()) - logits.begin();
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(one.pick(logits.data(), 50), best);
}

TEST(SamplingTest, TopKAndTopPKeepOnlyTheMostLikely) {
  std::vector<float> logits = {5.0f, 4.0f, 0.0f, -1.0f, 3.0f};
  rt::SamplingOptions options;
  options.greedy = false;
  options.topK = 2;
  rt::Sampler topK(options);
  for (int i = 0; i < 200; ++i) {
    int64_t t = topK.pick(logits.data(), 5);
    EXPECT_TRUE(t == 0 || t == 1) << t;
  }
  // p(0) ~ 0.66, p(1) ~ 0.24: top-p 0.8 keeps exactly those two.
  options.topK = 0;
  options.topP = 0.8;
  rt::Sampler topP(options);
  std::set<int64_t> seen;
  for (int i = 0; i < 500; ++i)
    seen.insert(topP.pick(logits.data(), 5));
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1}));
}

TEST(SamplingTest, RejectsBadOptions) {
  rt::SamplingOptions options;
  options.greedy = false;
  options.temperature = 0;
  EXPECT_FALSE(options.validate().ok());
  options.temperature = 1;
  options.topP = 1.5;
  EXPECT_FALSE(options.validate().ok());
  options.topP = 1;
  options.topK = -1;
  EXPECT_FALSE(options.validate().ok());
}

TEST(ThreadPoolTest, CoversTheRangeOnce) {
  rt::ThreadPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  for (int64_t n : {0, 1, 2, 3, 7, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    for (int round = 0; round < 50; ++round)
      pool.parallelFor(n, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          ++hits[i];
      });
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(hits[i].load(), 50) << "n " << n << " index " << i;
  }
}

} // namespace

namespace {

/// A decoder whose next token is always (last id + 1) % vocab: lets the
/// driver's padding, positions, eos and step count be checked exactly.
class CountingDecoder : public rt::Executor {
public:
  static constexpr int64_t kVocab = 10;
  absl::Status resetCaches(int64_t batch, int64_t length) override {
    cacheBatch = batch;
    cacheLength = length;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<rt::NamedTensor>>
  run(const std::string &entry, const std::vector<rt::Tensor> &args) override {
    const rt::Tensor &ids = args[0];
    const rt::Tensor &positions = args.back();
    calls.push_back({entry, ids.shape,
                     std::vector<int64_t>(positions.data<int64_t>(),
                                          positions.data<int64_t>() +
                                              positions.numElements())});
    if (entry == "prefill")
      prefillIds.assign(ids.data<int64_t>(),
                        ids.data<int64_t>() + ids.numElements());
    int64_t batch = ids.shape[0], seq = ids.shape[1];
    rt::Tensor logits = rt::Tensor::zeros(rt::DType::F32, {batch, seq, kVocab});
    for (int64_t i = 0; i < batch * seq; ++i)
      logits.data<float>()[i * kVocab + (ids.data<int64_t>()[i] + 1) % kVocab] =
          1.0f;
    return std::vector<rt::NamedTensor>{{"logits", std::move(logits)}};
  }
  struct Call {
    std::string entry;
    std::vector<int64_t> idsShape, positions;
  };
  std::vector<Call> calls;
  std::vector<int64_t> prefillIds;
  int64_t cacheBatch = 0, cacheLength = 0;
};

kiln::ModelInfo countingModel() {
  kiln::ModelInfo m;
  m.family = kiln::Family::Gpt2;
  m.vocabSize = CountingDecoder::kVocab;
  m.padId = 9;
  m.eosIds = {7};
  m.positionLimit = 32;
  return m;
}

TEST(DriverTest, PadsDecodesIncrementallyAndStopsAtEos) {
  CountingDecoder executor;
  rt::Request request;
  request.inputIds = {{1, 2, 3}, {4}};
  request.maxNewTokens = 6;
  auto response = rt::runModel(countingModel(), executor, request);
  ASSERT_TRUE(response.ok()) << response.status();
  // Right-padded with the pad id; caches for the prompt plus new tokens.
  EXPECT_EQ(executor.prefillIds, (std::vector<int64_t>{1, 2, 3, 4, 9, 9}));
  EXPECT_EQ(executor.cacheBatch, 2);
  EXPECT_EQ(executor.cacheLength, 3 + 6);
  // Sequence 0 continues from 3, sequence 1 from 4 and stops at eos 7.
  EXPECT_EQ(response->generated[0], (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(response->generated[1], (std::vector<int64_t>{5, 6, 7}));
  // Each decode call: one token per sequence, at that sequence's position.
  ASSERT_EQ(executor.calls.size(), 4u);
  EXPECT_EQ(executor.calls[1].entry, "decode");
  EXPECT_EQ(executor.calls[1].idsShape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(executor.calls[1].positions, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(executor.calls[3].positions, (std::vector<int64_t>{5, 3}));
}

TEST(DriverTest, IgnoreEosGeneratesEveryToken) {
  CountingDecoder executor;
  rt::Request request;
  request.inputIds = {{5}};
  request.maxNewTokens = 5;
  request.ignoreEos = true;
  auto response = rt::runModel(countingModel(), executor, request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->generated[0], (std::vector<int64_t>{6, 7, 8, 9, 0}));
  EXPECT_EQ(response->decodeStepSeconds.size(), 4u);
}

TEST(DriverTest, RejectsBadRequests) {
  CountingDecoder executor;
  rt::Request request;
  request.inputIds = {{1, 2}, {}};
  // The runtime names the request's field, never a command-line flag; the
  // field also travels apart, for a tool to name its flag.
  absl::Status empty =
      rt::runModel(countingModel(), executor, request).status();
  EXPECT_EQ(empty.message(), "input_ids: sequence 1 is empty");
  EXPECT_EQ(kiln::errorField(empty), "input_ids");
  request.inputIds = {std::vector<int64_t>(30, 1)};
  request.maxNewTokens = 3;
  EXPECT_EQ(rt::runModel(countingModel(), executor, request).status().message(),
            "sequence of 33 tokens (prompt + new tokens) exceeds the "
            "model's limit of 32 positions");
  request.inputIds = {{1}};
  request.tokenTypeIds = {{0}};
  EXPECT_EQ(rt::runModel(countingModel(), executor, request).status().message(),
            "token_type_ids: only BERT and RoBERTa take token types");
  EXPECT_TRUE(executor.calls.empty());
}

} // namespace

namespace {

/// Column-major D = opX(X) opY(Y) as cuBLAS defines it, for one batch.
void columnMajorProduct(bool transX, bool transY, int64_t rows, int64_t cols,
                        int64_t inner, const float *x, int64_t ldx,
                        const float *y, int64_t ldy, float *d, int64_t ldd) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      double sum = 0;
      for (int64_t p = 0; p < inner; ++p) {
        float xv = transX ? x[r * ldx + p] : x[p * ldx + r];
        float yv = transY ? y[p * ldy + c] : y[c * ldy + p];
        sum += double(xv) * yv;
      }
      d[c * ldd + r] = static_cast<float>(sum);
    }
}

// The GPU's gemm steps hand cuBLASLt the column-major form of each row-major
// product: checked here for every layout the step list makes, by computing
// it the way cuBLAS defines column-major products.
TEST(GemmLayoutTest, ColumnMajorFormComputesTheRowMajorProduct) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-1, 1);
  struct Shape {
    int64_t batch, m, n, k;
    bool transA, transB, shared;
  };
  for (Shape s : {Shape{3, 4, 5, 6, false, false, true},  // x @ W
                  Shape{3, 4, 5, 6, false, true, true},   // x @ W^T (tied)
                  Shape{2, 4, 5, 6, true, false, true},   // x^T @ W
                  Shape{3, 4, 5, 6, false, true, false},  // Q K^T
                  Shape{3, 4, 5, 6, false, false, false}, // P V
                  Shape{2, 4, 5, 6, true, true, false}}) {
    rt::GemmPlan g;
    g.batch = s.batch;
    g.m = s.m;
    g.n = s.n;
    g.k = s.k;
    g.transA = s.transA;
    g.transB = s.transB;
    g.shared = s.shared;
    g.folded = s.shared && !s.transA;
    g.lda = s.transA ? s.m : s.k;
    g.ldb = s.transB ? s.k : s.n;
    std::vector<float> a(g.batch * g.m * g.k),
        b((g.shared ? 1 : g.batch) * g.k * g.n);
    for (float &v : a)
      v = value(rng);
    for (float &v : b)
      v = value(rng);

    rt::ColumnMajorGemm c = rt::columnMajor(g);
    std::vector<float> d(g.batch * g.m * g.n, NAN);
    int64_t inner = c.transX ? c.xRows : c.xCols;
    for (int64_t l = 0; l < c.launches; ++l)
      for (int64_t i = 0; i < c.batch; ++i)
        columnMajorProduct(
            c.transX, c.transY, c.dRows, c.dCols, inner,
            b.data() + i * c.strideX, c.ldx,
            a.data() + l * c.launchStrideY + i * c.strideY, c.ldy,
            d.data() + l * c.launchStrideD + i * c.strideD, c.ldd);
    std::vector<float> expected(g.batch * g.m * g.n);
    kiln::test::referenceGemm(g, a.data(), b.data(), expected.data());
    for (size_t i = 0; i < d.size(); ++i)
      ASSERT_NEAR(d[i], expected[i], 1e-5)
          << "batch " << s.batch << " transA " << s.transA << " transB "
          << s.transB << " shared " << s.shared << " element " << i;
  }
}

} // namespace
