//===- ReferenceGemm.h - a row-major gemm step computed plainly (tests) ---===//
//
// What a gemm step (runtime/StepPlan.h GemmPlan) computes, batch by batch,
// accumulated in double, then its epilogue: the reference for the
// column-major layout test and the gemm of the fake CUDA device.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_REFERENCEGEMM_H
#define KILN_TEST_SUPPORT_REFERENCEGEMM_H

#include "runtime/StepPlan.h"

#include <cmath>

namespace kiln::test {

inline void referenceGemm(const rt::GemmPlan &g, const float *a, const float *b,
                          float *c, const float *bias = nullptr,
                          const float *residual = nullptr) {
  for (int64_t i = 0; i < g.batch; ++i) {
    const float *ai = a + i * g.m * g.k;
    const float *bi = g.shared ? b : b + i * g.k * g.n;
    for (int64_t r = 0; r < g.m; ++r)
      for (int64_t col = 0; col < g.n; ++col) {
        double sum = 0;
        for (int64_t p = 0; p < g.k; ++p)
          sum += double(g.transA ? ai[p * g.lda + r] : ai[r * g.lda + p]) *
                 (g.transB ? bi[col * g.ldb + p] : bi[p * g.ldb + col]);
        if (bias)
          sum += bias[col];
        if (g.activation == artifact::Activation::Relu)
          sum = sum > 0 ? sum : 0;
        if (g.activation == artifact::Activation::GeluTanh)
          sum = 0.5 * sum *
                (1 + std::tanh(std::sqrt(2 / M_PI) *
                               (sum + 0.044715 * sum * sum * sum)));
        if (residual)
          sum += residual[(i * g.m + r) * g.n + col];
        c[(i * g.m + r) * g.n + col] = static_cast<float>(sum);
      }
  }
}

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_REFERENCEGEMM_H
