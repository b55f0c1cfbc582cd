//===- FakeCublasLt.cpp - a recording cuBLASLt with its semantics on the CPU =//
//
// Built as a shared library named like cuBLASLt's entry points; see
// FakeCublasLt.h. Types and enum values come from the toolkit's cublasLt.h,
// so a signature that drifted from the real one fails to compile here.
//
//===----------------------------------------------------------------------===//

#include "test/support/FakeCublasLt.h"

#include "support/Half.h"

#include <cublasLt.h>

#include <cmath>
#include <cstring>
#include <memory>

using kiln::test::FakeCublasLt;
using kiln::test::FakeMatmul;

namespace {

FakeCublasLt state;

struct Desc {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  int32_t transA = CUBLAS_OP_N, transB = CUBLAS_OP_N;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void *bias = nullptr;
};

struct Layout {
  cudaDataType_t type;
  int64_t rows, cols, ld;
  int32_t batch = 1;
  int64_t stride = 0;
};

struct Preference {
  uint64_t workspace = 0;
  // What cuBLASLt assumes of each operand unless told less.
  uint32_t alignment[4] = {256, 256, 256, 256};
};

template <typename T, typename Handle> T *as(Handle h) {
  return reinterpret_cast<T *>(h);
}

/// Records the first misuse; returns `status`.
cublasStatus_t misuse(const std::string &what,
                      cublasStatus_t status = CUBLAS_STATUS_INVALID_VALUE) {
  if (state.error.empty())
    state.error = what;
  return status;
}

template <typename T>
bool take(const void *buf, size_t size, T &to, const char *name) {
  if (!buf || size != sizeof(T)) {
    misuse(std::string(name) + " set with " + std::to_string(size) +
           " bytes, not " + std::to_string(sizeof(T)));
    return false;
  }
  std::memcpy(&to, buf, sizeof(T));
  return true;
}

float element(const void *base, cudaDataType_t type, int64_t i) {
  switch (type) {
  case CUDA_R_16BF:
    return kiln::bf16ToFloat(static_cast<const uint16_t *>(base)[i]);
  case CUDA_R_16F:
    return kiln::halfToFloat(static_cast<const uint16_t *>(base)[i]);
  default:
    return static_cast<const float *>(base)[i];
  }
}

int64_t elementBytes(cudaDataType_t type) {
  switch (type) {
  case CUDA_R_8I:
    return 1;
  case CUDA_R_16BF:
  case CUDA_R_16F:
    return 2;
  default:
    return 4;
  }
}

/// W8A8's int8 gemm: compute and scale type 32I.
bool isInt8(const Desc &d) { return d.compute == CUBLAS_COMPUTE_32I; }

} // namespace

extern "C" {

FakeCublasLt *kilnFakeCublasLt() { return &state; }

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle) {
  *handle = reinterpret_cast<cublasLtHandle_t>(new int(1));
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete reinterpret_cast<int *>(handle);
  return CUBLAS_STATUS_SUCCESS;
}

const char *cublasLtGetStatusString(cublasStatus_t status) {
  return status == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS"
                                         : "CUBLAS_STATUS_FAKE_ERROR";
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc,
                                        cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  if (!(compute == CUBLAS_COMPUTE_32F && scale == CUDA_R_32F) &&
      !(compute == CUBLAS_COMPUTE_32I && scale == CUDA_R_32I))
    return misuse("compute type other than CUBLAS_COMPUTE_32F with f32 "
                  "scale or CUBLAS_COMPUTE_32I with int32 scale");
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(new Desc{compute, scale});
  ++state.live;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete as<Desc>(desc);
  --state.live;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t handle,
                                              cublasLtMatmulDescAttributes_t a,
                                              const void *buf, size_t size) {
  Desc &d = *as<Desc>(handle);
  bool ok = false;
  switch (a) {
  case CUBLASLT_MATMUL_DESC_TRANSA:
    ok = take(buf, size, d.transA, "TRANSA");
    break;
  case CUBLASLT_MATMUL_DESC_TRANSB:
    ok = take(buf, size, d.transB, "TRANSB");
    break;
  case CUBLASLT_MATMUL_DESC_EPILOGUE:
    ok = take(buf, size, d.epilogue, "EPILOGUE");
    break;
  case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
    ok = take(buf, size, d.bias, "BIAS_POINTER");
    break;
  default:
    return misuse("unexpected matmul attribute " + std::to_string(a));
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout,
                                          cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  if (type != CUDA_R_32F && type != CUDA_R_16BF && type != CUDA_R_16F &&
      type != CUDA_R_8I && type != CUDA_R_32I)
    return misuse("layout of an unexpected type");
  if (ld < static_cast<int64_t>(std::max<uint64_t>(rows, 1)))
    return misuse("column-major layout with ld " + std::to_string(ld) +
                  " below its " + std::to_string(rows) + " rows");
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(new Layout{
      type, static_cast<int64_t>(rows), static_cast<int64_t>(cols), ld});
  ++state.live;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete as<Layout>(layout);
  --state.live;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t handle,
                                 cublasLtMatrixLayoutAttribute_t a,
                                 const void *buf, size_t size) {
  Layout &l = *as<Layout>(handle);
  bool ok = false;
  switch (a) {
  case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT:
    ok = take(buf, size, l.batch, "BATCH_COUNT");
    break;
  case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
    ok = take(buf, size, l.stride, "STRIDED_BATCH_OFFSET");
    break;
  default:
    return misuse("unexpected layout attribute " + std::to_string(a));
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
  *p = reinterpret_cast<cublasLtMatmulPreference_t>(new Preference);
  ++state.live;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
  delete as<Preference>(p);
  --state.live;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t handle,
                                     cublasLtMatmulPreferenceAttributes_t a,
                                     const void *buf, size_t size) {
  Preference &p = *as<Preference>(handle);
  bool ok = false;
  switch (a) {
  case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
    ok = take(buf, size, p.workspace, "MAX_WORKSPACE_BYTES");
    break;
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
    ok = take(buf, size,
              p.alignment[a - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES],
              "MIN_ALIGNMENT");
    break;
  default:
    return misuse("unexpected preference attribute " + std::to_string(a));
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t, cublasLtMatmulDesc_t descHandle,
    cublasLtMatrixLayout_t aHandle, cublasLtMatrixLayout_t bHandle,
    cublasLtMatrixLayout_t cHandle, cublasLtMatrixLayout_t dHandle,
    cublasLtMatmulPreference_t prefHandle, int requested,
    cublasLtMatmulHeuristicResult_t results[], int *count) {
  ++state.heuristicQueries;
  const Desc &d = *as<Desc>(descHandle);
  const Layout &a = *as<Layout>(aHandle), &b = *as<Layout>(bHandle),
               &c = *as<Layout>(cHandle), &o = *as<Layout>(dHandle);
  const Preference &p = *as<Preference>(prefHandle);
  *count = 0;
  if (requested < 1)
    return misuse("no algorithm requested");
  // op(A) is m x k, op(B) k x n, C and D m x n.
  int64_t m = d.transA == CUBLAS_OP_T ? a.cols : a.rows;
  int64_t k = d.transA == CUBLAS_OP_T ? a.rows : a.cols;
  int64_t kb = d.transB == CUBLAS_OP_T ? b.cols : b.rows;
  int64_t n = d.transB == CUBLAS_OP_T ? b.rows : b.cols;
  if (k != kb || o.rows != m || o.cols != n || c.rows != m || c.cols != n)
    return misuse("shapes that do not chain");
  if (isInt8(d)) {
    // What the IMMA kernels take in the regular (column-major) order.
    if (a.type != CUDA_R_8I || b.type != CUDA_R_8I || c.type != CUDA_R_32I ||
        o.type != CUDA_R_32I)
      return misuse("int8 gemm operands other than A, B int8, C = D int32");
    if (d.transA != CUBLAS_OP_T || d.transB != CUBLAS_OP_N)
      return misuse("int8 gemm in a layout other than TN");
    if (a.ld % 4 != 0 || b.ld % 4 != 0 || o.ld % 4 != 0)
      return misuse("int8 gemm leading dimensions not multiples of 4");
    if (d.epilogue != CUBLASLT_EPILOGUE_DEFAULT)
      return misuse("int8 gemm with an epilogue");
    if (!state.int8Algorithms)
      return CUBLAS_STATUS_SUCCESS; // no algorithm: *count stays 0
  } else if (a.type != b.type || c.type != CUDA_R_32F || o.type != CUDA_R_32F)
    return misuse("operand types other than A = B, C = D = f32");
  if (a.batch != o.batch || b.batch != o.batch || c.batch != o.batch)
    return misuse("batch counts that differ");
  if (d.epilogue != CUBLASLT_EPILOGUE_DEFAULT && !state.fusesEpilogues)
    return CUBLAS_STATUS_SUCCESS; // no algorithm: *count stays 0
  std::memset(&results[0], 0, sizeof(results[0]));
  for (int i = 0; i < 4; ++i)
    results[0].algo.data[i] = p.alignment[i];
  results[0].state = CUBLAS_STATUS_SUCCESS;
  *count = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(
    cublasLtHandle_t, cublasLtMatmulDesc_t descHandle, const void *alphaPtr,
    const void *aPtr, cublasLtMatrixLayout_t aHandle, const void *bPtr,
    cublasLtMatrixLayout_t bHandle, const void *betaPtr, const void *cPtr,
    cublasLtMatrixLayout_t cHandle, void *dPtr, cublasLtMatrixLayout_t dHandle,
    const cublasLtMatmulAlgo_t *algo, void *, size_t, cudaStream_t) {
  if (!algo)
    return misuse("cublasLtMatmul without an algorithm from the heuristic");
  // Copies: the descriptors may be destroyed before a captured product
  // replays.
  const Desc d = *as<Desc>(descHandle);
  const Layout a = *as<Layout>(aHandle), b = *as<Layout>(bHandle),
               c = *as<Layout>(cHandle), o = *as<Layout>(dHandle);
  FakeMatmul call;
  call.transA = d.transA == CUBLAS_OP_T;
  call.transB = d.transB == CUBLAS_OP_T;
  call.epilogue = static_cast<int>(d.epilogue);
  call.bias = d.bias != nullptr;
  call.operandType = a.type;
  call.m = o.rows;
  call.n = o.cols;
  call.k = call.transA ? a.rows : a.cols;
  call.batch = o.batch;
  const bool int8 = isInt8(d);
  call.alpha = int8
                   ? static_cast<float>(*static_cast<const int32_t *>(alphaPtr))
                   : *static_cast<const float *>(alphaPtr);
  call.beta = int8 ? static_cast<float>(*static_cast<const int32_t *>(betaPtr))
                   : *static_cast<const float *>(betaPtr);
  call.cIsD = cPtr == dPtr;
  const void *pointers[4] = {aPtr, bPtr, cPtr, dPtr};
  const Layout *layouts[4] = {&a, &b, &c, &o};
  for (int i = 0; i < 4; ++i) {
    call.alignment[i] = static_cast<uint32_t>(algo->data[i]);
    // Every batch's matrix must keep the alignment the algorithm assumed.
    for (int64_t batch = 0; batch < o.batch; ++batch) {
      auto at = reinterpret_cast<uintptr_t>(pointers[i]) +
                batch * layouts[i]->stride * elementBytes(layouts[i]->type);
      if (at % call.alignment[i] != 0)
        return misuse("operand " + std::to_string(i) + " at " +
                      std::to_string(at) + " is not aligned to the " +
                      std::to_string(call.alignment[i]) +
                      " bytes the algorithm was chosen for");
    }
  }
  if (d.epilogue != CUBLASLT_EPILOGUE_DEFAULT &&
      d.epilogue != CUBLASLT_EPILOGUE_BIAS &&
      d.epilogue != CUBLASLT_EPILOGUE_RELU &&
      d.epilogue != CUBLASLT_EPILOGUE_RELU_BIAS &&
      d.epilogue != CUBLASLT_EPILOGUE_GELU &&
      d.epilogue != CUBLASLT_EPILOGUE_GELU_BIAS)
    return misuse("an epilogue the fake does not know");
  const bool wantsBias = d.epilogue == CUBLASLT_EPILOGUE_BIAS ||
                         d.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS ||
                         d.epilogue == CUBLASLT_EPILOGUE_GELU_BIAS;
  if (wantsBias != call.bias)
    return misuse("a bias pointer without a bias epilogue, or the reverse");
  state.calls.push_back(call);

  if (int8) {
    if (call.alpha != 1 || call.beta != 0 || !call.cIsD || o.batch != 1)
      return misuse("an int8 gemm other than D = op(A) op(B), one batch");
    auto product = [=] {
      const auto *x = static_cast<const int8_t *>(aPtr);
      const auto *y = static_cast<const int8_t *>(bPtr);
      auto *out = static_cast<int32_t *>(dPtr);
      for (int64_t col = 0; col < call.n; ++col)
        for (int64_t row = 0; row < call.m; ++row) {
          int32_t sum = 0; // op(A) = A^T: A's column `row`
          for (int64_t p = 0; p < call.k; ++p)
            sum += int32_t(x[p + row * a.ld]) * int32_t(y[p + col * b.ld]);
          out[row + col * o.ld] = sum;
        }
    };
    if (state.enqueue)
      state.enqueue(product);
    else
      product();
    return CUBLAS_STATUS_SUCCESS;
  }

  auto run = [=] {
    const int64_t m = call.m, n = call.n, k = call.k;
    for (int64_t batch = 0; batch < o.batch; ++batch) {
      const char *ab = static_cast<const char *>(aPtr) +
                       batch * a.stride * elementBytes(a.type);
      const char *bb = static_cast<const char *>(bPtr) +
                       batch * b.stride * elementBytes(b.type);
      const float *cb = static_cast<const float *>(cPtr) + batch * c.stride;
      float *db = static_cast<float *>(dPtr) + batch * o.stride;
      // All of D is computed before any is written: C may be D.
      std::vector<float> result(m * n);
      for (int64_t col = 0; col < n; ++col)
        for (int64_t row = 0; row < m; ++row) {
          double sum = 0;
          for (int64_t p = 0; p < k; ++p) {
            float x = element(ab, a.type,
                              call.transA ? p + row * a.ld : row + p * a.ld);
            float y = element(bb, b.type,
                              call.transB ? col + p * b.ld : p + col * b.ld);
            sum += double(x) * y;
          }
          double v = call.alpha * sum;
          if (call.beta != 0)
            v += call.beta * cb[row + col * c.ld];
          if (wantsBias)
            v += static_cast<const float *>(d.bias)[row];
          if (d.epilogue == CUBLASLT_EPILOGUE_RELU ||
              d.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS)
            v = v > 0 ? v : 0;
          if (d.epilogue == CUBLASLT_EPILOGUE_GELU ||
              d.epilogue == CUBLASLT_EPILOGUE_GELU_BIAS)
            v = 0.5 * v *
                (1 +
                 std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
          result[row + col * m] = static_cast<float>(v);
        }
      for (int64_t col = 0; col < n; ++col)
        for (int64_t row = 0; row < m; ++row)
          db[row + col * o.ld] = result[row + col * m];
    }
  };
  if (state.enqueue)
    state.enqueue(run);
  else
    run();
  return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"
