//===- Blas.cpp - single-precision GEMM for gemm steps --------------------===//

#include "runtime/Blas.h"
#include "runtime/CpuIsa.h"
#include "runtime/OneDnnMatmul.h"
#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>
#include <stdlib.h>
#include <string_view>

namespace kiln::rt {

namespace {
// CBLAS enum values (cblas.h), so no BLAS header is needed to build.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
} // namespace

Blas::Blas(ThreadPool &pool) : pool_(pool) {
  const char *choice = std::getenv("KILN_GEMM");
  std::string_view want = choice ? choice : "";
  if (want == "builtin")
    return;
  if (want.empty() || want == "onednn" || want == "onednn-sgemm")
    for (const char *name : {"libdnnl.so.3", "libdnnl.so.2"})
      if (loadOneDnn(name)) {
        if (want != "onednn-sgemm")
          matmul_ = OneDnnMatmul::load(handle_);
        if (matmul_)
          provider_ += " (matmul on packed weights)";
        return;
      }
  if (want.empty() || want == "openblas")
    for (const char *name :
         {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"})
      if (loadOpenBlas(name))
        return;
}

bool Blas::loadOneDnn(const char *name) {
  // OpenMP's threads spin after each parallel region by default, taking
  // the cores from the pool that runs the next step: measured on BERT-base
  // b8 s128, 2 cores, the GELU kernel after each gemm took 13.5 ms per
  // call with spinning and 7.2 ms without. OpenMP reads this when it loads
  // (with oneDNN, just below); a value the user set is kept.
  setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  // Never unloaded: OpenMP's worker threads outlive the last gemm, and
  // unmapping their code under them crashed a process that made a second
  // executor after the first was gone.
  dnnlSgemm_ =
      reinterpret_cast<DnnlSgemm>(open(name, "dnnl_sgemm", RTLD_NODELETE));
  if (!dnnlSgemm_)
    return false;
  // Debian's oneDNN runs on OpenMP (found through its dependencies); a
  // build on another threading runtime has no such symbol and picks its
  // own count.
  ompSetThreads_ =
      reinterpret_cast<SetThreads>(dlsym(handle_, "omp_set_num_threads"));
  provider_ = name;
  // The bf16 gemm exists in every build but runs only on AVX-512 CPUs: a
  // 1 x 1 x 1 product says whether this one does.
  dnnlGemmBf16_ =
      reinterpret_cast<DnnlGemmBf16>(dlsym(handle_, "dnnl_gemm_bf16bf16f32"));
  if (dnnlGemmBf16_) {
    const uint16_t one = 0x3f80; // 1.0 in bf16
    float c = 0;
    if (dnnlGemmBf16_('N', 'N', 1, 1, 1, 1.0f, &one, 1, &one, 1, 0.0f, &c, 1) !=
            0 ||
        c != 1.0f)
      dnnlGemmBf16_ = nullptr;
  }
  dnnlGemmS8_ =
      reinterpret_cast<DnnlGemmS8>(dlsym(handle_, "dnnl_gemm_s8s8s32"));
  if (dnnlGemmS8_) {
    const int8_t two = 2, three = -3;
    const int32_t zero = 0;
    int32_t c = 0;
    if (dnnlGemmS8_('N', 'N', 'F', 1, 1, 1, 1.0f, &two, 1, 0, &three, 1, 0,
                    0.0f, &c, 1, &zero) != 0 ||
        c != -6)
      dnnlGemmS8_ = nullptr;
  }
  return true;
}

void *Blas::open(const char *name, const char *entry, int flags) {
  handle_ = dlopen(name, RTLD_NOW | RTLD_LOCAL | flags);
  if (!handle_)
    return nullptr;
  if (void *symbol = dlsym(handle_, entry))
    return symbol;
  dlclose(handle_);
  handle_ = nullptr;
  return nullptr;
}

bool Blas::loadOpenBlas(const char *name) {
  cblasSgemm_ =
      reinterpret_cast<CblasSgemm>(open(name, "cblas_sgemm", /*flags=*/0));
  if (!cblasSgemm_)
    return false;
  cblasSgemv_ = reinterpret_cast<CblasSgemv>(dlsym(handle_, "cblas_sgemv"));
  provider_ = name;
  // The executor's own threads are idle during a gemm: BLAS gets as many.
  if (auto set = reinterpret_cast<SetThreads>(
          dlsym(handle_, "openblas_set_num_threads")))
    set(pool_.threads());
  return true;
}

Blas::~Blas() {
  if (handle_)
    dlclose(handle_);
}

void Blas::sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                 const float *a, int64_t lda, const float *b, int64_t ldb,
                 float *c, int64_t ldc) {
  if (dnnlSgemm_) {
    // OpenMP's thread count belongs to the calling thread: set it on
    // every call, whichever thread runs the executor.
    if (ompSetThreads_)
      ompSetThreads_(pool_.threads());
    if (dnnlSgemm_(transA ? 'T' : 'N', transB ? 'T' : 'N', m, n, k, 1.0f, a,
                   lda, b, ldb, 0.0f, c, ldc) == 0)
      return;
    // oneDNN refuses only arguments it cannot take (none a gemm step
    // plans); the loop nest computes the same product.
  } else if (cblasSgemv_ && m == 1 && !transA) {
    // c[N] = a[K] . op(B): op(B) = B [K, N] is B^T x in row-major sgemv
    // terms, op(B) = B^T (B [N, K]) is B x.
    if (transB)
      cblasSgemv_(kRowMajor, kNoTrans, n, k, 1.0f, b, ldb, a, 1, 0.0f, c, 1);
    else
      cblasSgemv_(kRowMajor, kTrans, k, n, 1.0f, b, ldb, a, 1, 0.0f, c, 1);
    return;
  } else if (cblasSgemm_) {
    cblasSgemm_(kRowMajor, transA ? kTrans : kNoTrans,
                transB ? kTrans : kNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f,
                c, ldc);
    return;
  }
  builtinSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
}

PackedBPtr Blas::pack(bool transB, int64_t n, int64_t k, const float *b,
                      int64_t ldb) {
  if (!matmul_)
    return nullptr;
  if (ompSetThreads_)
    ompSetThreads_(pool_.threads());
  return matmul_->pack(transB, n, k, b, ldb);
}

bool Blas::gemmPacked(PackedB &b, int64_t m, const float *a, int64_t lda,
                      float *c, const PackedEpilogue &epilogue, CpuIsa isa) {
  if (!matmul_)
    return false;
  // A decode step's rows: the weight streams once through Kiln's kernel on
  // the pool (no hand-over to the library's threads), then the epilogue
  // on the few rows.
  if (matmul_->multiplyFewRows(b, m, a, lda, c, pool_, isa)) {
    GemmPlan g;
    g.n = packedShape(b).n;
    g.activation = epilogue.activation;
    applyGemmEpilogue(g, c, epilogue.bias, epilogue.residual, 0, m);
    return true;
  }
  if (ompSetThreads_)
    ompSetThreads_(pool_.threads());
  return matmul_->multiply(b, m, a, lda, c, epilogue);
}

bool Blas::gemmBf16(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                    const uint16_t *a, int64_t lda, const uint16_t *b,
                    int64_t ldb, float *c, int64_t ldc) {
  if (!dnnlGemmBf16_)
    return false;
  if (ompSetThreads_)
    ompSetThreads_(pool_.threads());
  return dnnlGemmBf16_(transA ? 'T' : 'N', transB ? 'T' : 'N', m, n, k, 1.0f, a,
                       lda, b, ldb, 0.0f, c, ldc) == 0;
}

void Blas::gemmS8(int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda,
                  const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
  if (dnnlGemmS8_) {
    if (ompSetThreads_)
      ompSetThreads_(pool_.threads());
    const int32_t zero = 0;
    if (dnnlGemmS8_('N', 'T', 'F', m, n, k, 1.0f, a, lda, 0, b, ldb, 0, 0.0f, c,
                    ldc, &zero) == 0)
      return;
  }
  // Built in: each C column is a dot product of an A row with a B row;
  // products of two int8s summed in int32 (|sum| <= 127 * 127 * k).
  pool_.parallelFor(n, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
      for (int64_t i = 0; i < m; ++i) {
        const int8_t *x = a + i * lda, *w = b + j * ldb;
        int32_t sum = 0;
        for (int64_t p = 0; p < k; ++p)
          sum += static_cast<int32_t>(x[p]) * static_cast<int32_t>(w[p]);
        c[i * ldc + j] = sum;
      }
  });
}

void Blas::builtinSgemm(bool transA, bool transB, int64_t m, int64_t n,
                        int64_t k, const float *a, int64_t lda, const float *b,
                        int64_t ldb, float *c, int64_t ldc) {
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
                       const float *residual, int64_t rowBegin, int64_t rowEnd,
                       int64_t colBegin, int64_t colEnd) {
  if (colEnd < 0)
    colEnd = g.n;
  const int64_t width = colEnd - colBegin;
  const float *b = bias ? bias + colBegin : nullptr;
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    float *row = c + r * g.n + colBegin;
    const float *res = residual ? residual + r * g.n + colBegin : nullptr;
    switch (g.activation) {
    case artifact::Activation::Relu:
      epilogueRow<artifact::Activation::Relu>(row, b, res, width);
      break;
    case artifact::Activation::GeluTanh:
      epilogueRow<artifact::Activation::GeluTanh>(row, b, res, width);
      break;
    default:
      epilogueRow<artifact::Activation::None>(row, b, res, width);
      break;
    }
  }
}

} // namespace kiln::rt
