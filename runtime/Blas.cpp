//===- Blas.cpp - single-precision GEMM for gemm steps --------------------===//

#include "runtime/Blas.h"
#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>

namespace kiln::rt {

namespace {
// CBLAS enum values (cblas.h), so no BLAS header is needed to build.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
} // namespace

Blas::Blas(ThreadPool &pool) : pool_(pool) {
  if (std::getenv("KILN_NO_BLAS"))
    return;
  for (const char *name :
       {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"}) {
    handle_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!handle_)
      continue;
    cblasSgemm_ = reinterpret_cast<CblasSgemm>(dlsym(handle_, "cblas_sgemm"));
    if (!cblasSgemm_) {
      dlclose(handle_);
      handle_ = nullptr;
      continue;
    }
    cblasSgemv_ = reinterpret_cast<CblasSgemv>(dlsym(handle_, "cblas_sgemv"));
    provider_ = name;
    // The executor's own threads are idle during a gemm: BLAS gets as many.
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(
            dlsym(handle_, "openblas_set_num_threads")))
      set(pool.threads());
    break;
  }
}

Blas::~Blas() {
  if (handle_)
    dlclose(handle_);
}

void Blas::sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                 const float *a, int64_t lda, const float *b, int64_t ldb,
                 float *c, int64_t ldc) {
  if (cblasSgemv_ && m == 1 && !transA) {
    // c[N] = a[K] . op(B): op(B) = B [K, N] is B^T x in row-major sgemv
    // terms, op(B) = B^T (B [N, K]) is B x.
    if (transB)
      cblasSgemv_(kRowMajor, kNoTrans, n, k, 1.0f, b, ldb, a, 1, 0.0f, c, 1);
    else
      cblasSgemv_(kRowMajor, kTrans, k, n, 1.0f, b, ldb, a, 1, 0.0f, c, 1);
    return;
  }
  if (cblasSgemm_) {
    cblasSgemm_(kRowMajor, transA ? kTrans : kNoTrans,
                transB ? kTrans : kNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f,
                c, ldc);
    return;
  }
  pool_.parallelFor(m, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float *ci = c + i * ldc;
      for (int64_t j = 0; j < n; ++j)
        ci[j] = 0;
      for (int64_t p = 0; p < k; ++p) {
        float aip = transA ? a[p * lda + i] : a[i * lda + p];
        if (transB)
          for (int64_t j = 0; j < n; ++j)
            ci[j] += aip * b[j * ldb + p];
        else
          for (int64_t j = 0; j < n; ++j)
            ci[j] += aip * b[p * ldb + j];
      }
    }
  });
}

namespace {

/// tanh as the rational approximation MLIR's math polynomial approximation
/// (and Eigen) use, which the generated kernels get from
/// kiln-approximate-math: within 4e-7 of tanh, and unlike std::tanh it
/// vectorizes (measured on a GPT-2-small prefill of 128 tokens: the GELU
/// epilogue took 103 ms with std::tanh, 44 ms with this, one thread).
inline float rationalTanh(float x) {
  const float clamp = 7.90531110763549805f;
  float c = std::min(std::max(x, -clamp), clamp);
  float x2 = c * c;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  float r = c * p / q;
  return std::fabs(x) < 0.0004f ? x : r;
}

/// One row of the epilogue, one pass, specialized so that each loop is a
/// plain vectorizable body.
template <artifact::Activation A>
void epilogueRow(float *row, const float *bias, const float *residual,
                 int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    float x = row[j];
    if (bias)
      x += bias[j];
    if constexpr (A == artifact::Activation::Relu)
      x = std::max(x, 0.0f);
    if constexpr (A == artifact::Activation::GeluTanh)
      // GPT-2's gelu_new, as cuBLASLt's GELU epilogue computes it.
      x = 0.5f * x *
          (1.0f + rationalTanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    if (residual)
      x += residual[j];
    row[j] = x;
  }
}

} // namespace

void applyGemmEpilogue(const GemmPlan &g, float *c, const float *bias,
                       const float *residual, int64_t rowBegin,
                       int64_t rowEnd) {
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    float *row = c + r * g.n;
    const float *res = residual ? residual + r * g.n : nullptr;
    switch (g.activation) {
    case artifact::Activation::Relu:
      epilogueRow<artifact::Activation::Relu>(row, bias, res, g.n);
      break;
    case artifact::Activation::GeluTanh:
      epilogueRow<artifact::Activation::GeluTanh>(row, bias, res, g.n);
      break;
    default:
      epilogueRow<artifact::Activation::None>(row, bias, res, g.n);
      break;
    }
  }
}

} // namespace kiln::rt
