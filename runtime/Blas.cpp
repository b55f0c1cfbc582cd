//===- Blas.cpp - single-precision GEMM for gemm steps --------------------===//

#include "runtime/Blas.h"

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
  for (const char *name : {"libopenblas.so.0", "libopenblas.so",
                           "libblas.so.3"}) {
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
                transB ? kTrans : kNoTrans, m, n, k, 1.0f, a, lda, b, ldb,
                0.0f, c, ldc);
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

} // namespace kiln::rt
