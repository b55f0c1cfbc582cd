//===- FakeCusparseLt.cpp - a recording cuSPARSELt with its semantics -----===//
//
// Built as a shared library named like cuSPARSELt's entry points; see
// FakeCusparseLt.h. The signatures are runtime/CusparseLtApi.h's, which
// runtime/CudaSparse.cpp calls through.
//
//===----------------------------------------------------------------------===//

#include "test/support/FakeCusparseLt.h"

#include "runtime/CusparseLtApi.h"
#include "support/Half.h"

#include <cstring>
#include <string>
#include <vector>

using kiln::test::FakeCusparseLt;
namespace lt = kiln::rt::cusparselt;

namespace {

FakeCusparseLt state;

/// What the fake keeps in each opaque structure.
struct Matrix {
  int kind = 0; // 1 dense, 2 structured
  int64_t rows = 0, cols = 0, ld = 0;
  cudaDataType type = CUDA_R_32F;
  cusparseOrder_t order = CUSPARSE_ORDER_ROW;
};
struct Matmul {
  cusparseOperation_t opA = CUSPARSE_OPERATION_NON_TRANSPOSE,
                      opB = CUSPARSE_OPERATION_NON_TRANSPOSE;
  Matrix a, b, c, d;
};
constexpr uint32_t kPlanMagic = 0x5e1ec7ed;
struct PlanData {
  uint32_t magic = 0;
  Matmul matmul;
};

template <typename T> void put(lt::Opaque *o, const T &value) {
  static_assert(sizeof(T) <= sizeof(o->data));
  std::memcpy(o->data, &value, sizeof value);
}
template <typename T> T get(const lt::Opaque *o) {
  T value;
  std::memcpy(&value, o->data, sizeof value);
  return value;
}

cusparseStatus_t misuse(const std::string &what) {
  if (state.error.empty())
    state.error = what;
  return CUSPARSE_STATUS_INVALID_VALUE;
}

bool isHalf(cudaDataType t) { return t == CUDA_R_16BF || t == CUDA_R_16F; }

float widen(cudaDataType t, uint16_t v) {
  return t == CUDA_R_16BF ? kiln::bf16ToFloat(v) : kiln::halfToFloat(v);
}

cusparseStatus_t describe(lt::MatDescriptor *d, int kind, int64_t rows,
                          int64_t cols, int64_t ld, uint32_t alignment,
                          cudaDataType type, cusparseOrder_t order) {
  if (order != CUSPARSE_ORDER_ROW)
    return misuse("a column-major matrix (Kiln's are row-major)");
  if (!isHalf(type))
    return misuse("a matrix of a type other than bf16 or f16");
  if (rows <= 0 || cols <= 0 || ld < cols)
    return misuse("a row-major matrix with ld " + std::to_string(ld) +
                  " below its " + std::to_string(cols) + " columns");
  if (alignment < 16 || alignment % 16 != 0)
    return misuse("an alignment other than a multiple of 16 bytes");
  put(d, Matrix{kind, rows, cols, ld, type, order});
  ++state.live;
  return CUSPARSE_STATUS_SUCCESS;
}

/// Element (p, j) of op(B) with B as stored.
int64_t opIndex(const Matrix &b, cusparseOperation_t op, int64_t p, int64_t j) {
  return op == CUSPARSE_OPERATION_TRANSPOSE ? j * b.ld + p : p * b.ld + j;
}

} // namespace

extern "C" {

FakeCusparseLt *kilnFakeCusparseLt() { return &state; }

cusparseStatus_t cusparseLtInit(lt::Handle *handle) {
  put(handle, uint32_t{1});
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtDestroy(const lt::Handle *) {
  return CUSPARSE_STATUS_SUCCESS;
}

const char *cusparseLtGetErrorString(cusparseStatus_t status) {
  return status == CUSPARSE_STATUS_SUCCESS ? "CUSPARSE_STATUS_SUCCESS"
                                           : "CUSPARSE_STATUS_FAKE_ERROR";
}

cusparseStatus_t cusparseLtDenseDescriptorInit(
    const lt::Handle *, lt::MatDescriptor *d, int64_t rows, int64_t cols,
    int64_t ld, uint32_t alignment, cudaDataType type, cusparseOrder_t order) {
  return describe(d, 1, rows, cols, ld, alignment, type, order);
}

cusparseStatus_t
cusparseLtStructuredDescriptorInit(const lt::Handle *, lt::MatDescriptor *d,
                                   int64_t rows, int64_t cols, int64_t ld,
                                   uint32_t alignment, cudaDataType type,
                                   cusparseOrder_t order, int sparsity) {
  if (sparsity != lt::kSparsity50Percent)
    return misuse("a sparsity other than 50%");
  if (!state.takes)
    return CUSPARSE_STATUS_NOT_SUPPORTED;
  return describe(d, 2, rows, cols, ld, alignment, type, order);
}

cusparseStatus_t cusparseLtMatDescriptorDestroy(const lt::MatDescriptor *d) {
  if (get<Matrix>(d).kind == 0)
    return misuse("destroying a descriptor never made");
  --state.live;
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtMatmulDescriptorInit(
    const lt::Handle *, lt::MatmulDescriptor *desc, cusparseOperation_t opA,
    cusparseOperation_t opB, const lt::MatDescriptor *matA,
    const lt::MatDescriptor *matB, const lt::MatDescriptor *matC,
    const lt::MatDescriptor *matD, int compute) {
  Matmul m{opA,
           opB,
           get<Matrix>(matA),
           get<Matrix>(matB),
           get<Matrix>(matC),
           get<Matrix>(matD)};
  if (compute != lt::kCompute32F)
    return misuse("a compute type other than CUSPARSE_COMPUTE_32F");
  if (opA != CUSPARSE_OPERATION_NON_TRANSPOSE || m.a.kind != 1 || m.b.kind != 2)
    return misuse("a product other than dense A times structured op(B)");
  const int64_t k = m.a.cols;
  const int64_t kb = opB == CUSPARSE_OPERATION_TRANSPOSE ? m.b.cols : m.b.rows;
  const int64_t n = opB == CUSPARSE_OPERATION_TRANSPOSE ? m.b.rows : m.b.cols;
  if (k != kb || m.d.rows != m.a.rows || m.d.cols != n ||
      m.c.rows != m.d.rows || m.c.cols != n)
    return misuse("shapes that do not chain");
  if (m.a.type != m.b.type || m.c.type != m.a.type || m.d.type != m.a.type)
    return misuse("A, B, C and D of different types");
  put(desc, m);
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t
cusparseLtMatmulAlgSelectionInit(const lt::Handle *, lt::AlgSelection *alg,
                                 const lt::MatmulDescriptor *desc,
                                 int algorithm) {
  if (algorithm != lt::kAlgDefault)
    return misuse("an algorithm other than the default");
  put(alg, get<Matmul>(desc));
  ++state.live;
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtMatmulAlgSelectionDestroy(const lt::AlgSelection *) {
  --state.live;
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtMatmulPlanInit(const lt::Handle *, lt::Plan *plan,
                                          const lt::MatmulDescriptor *desc,
                                          const lt::AlgSelection *) {
  put(plan, PlanData{kPlanMagic, get<Matmul>(desc)});
  ++state.live;
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtMatmulPlanDestroy(const lt::Plan *plan) {
  if (get<PlanData>(plan).magic != kPlanMagic)
    return misuse("destroying a plan never made");
  --state.live;
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtMatmulGetWorkspace(const lt::Handle *,
                                              const lt::Plan *plan,
                                              size_t *bytes) {
  if (get<PlanData>(plan).magic != kPlanMagic)
    return misuse("the workspace of a plan never made");
  *bytes = 256; // some, so the executor's handling of it is exercised
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtSpMMACompressedSize2(const lt::Handle *,
                                                const lt::MatDescriptor *d,
                                                size_t *bytes,
                                                size_t *bufferBytes) {
  const Matrix b = get<Matrix>(d);
  if (b.kind != 2)
    return misuse("compressing a matrix not described as structured");
  // The fake's compressed form: the dense values (the real one is about
  // 0.56 of them), after a 64-byte header that says what they are.
  *bytes = 64 + static_cast<size_t>(b.rows * b.ld * 2);
  *bufferBytes = 128;
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtSpMMACompress2(const lt::Handle *,
                                          const lt::MatDescriptor *d,
                                          int isSparseA, cusparseOperation_t op,
                                          const void *dense, void *compressed,
                                          void *buffer, cudaStream_t) {
  const Matrix b = get<Matrix>(d);
  if (b.kind != 2 || isSparseA)
    return misuse("compressing other than a structured B");
  if (!buffer)
    return misuse("compressing without the compression buffer");
  const auto *v = static_cast<const uint16_t *>(dense);
  const bool t = op == CUSPARSE_OPERATION_TRANSPOSE;
  const int64_t k = t ? b.cols : b.rows, n = t ? b.rows : b.cols;
  if (k % 4 != 0)
    return misuse("a structured B whose k is not a multiple of 4");
  for (int64_t j = 0; j < n; ++j)
    for (int64_t p = 0; p < k; p += 4) {
      int kept = 0;
      for (int64_t q = p; q < p + 4; ++q)
        kept += (v[opIndex(b, op, q, j)] & 0x7fff) != 0;
      if (kept > 2)
        return misuse("compressing a B that is not 2:4 along k (" +
                      std::to_string(kept) + " non-zeros at k " +
                      std::to_string(p) + ", column " + std::to_string(j) +
                      ")");
    }
  auto *out = static_cast<uint8_t *>(compressed);
  std::memset(out, 0, 64);
  std::memcpy(out, &b, sizeof b);
  std::memcpy(out + 64, dense, static_cast<size_t>(b.rows * b.ld * 2));
  state.compressed.push_back({b.rows, b.cols});
  return CUSPARSE_STATUS_SUCCESS;
}

cusparseStatus_t cusparseLtMatmul(const lt::Handle *, const lt::Plan *plan,
                                  const void *alpha, const void *dA,
                                  const void *dB, const void *beta,
                                  const void *, void *dD, void *workspace,
                                  cudaStream_t *streams, int32_t numStreams) {
  const PlanData p = get<PlanData>(plan);
  if (p.magic != kPlanMagic)
    return misuse("a matmul with a plan never made");
  if (!workspace)
    return misuse("a matmul without the workspace its plan asked for");
  if (numStreams != 1 || !streams)
    return misuse("a matmul on other than one stream");
  if (*static_cast<const float *>(alpha) != 1 ||
      *static_cast<const float *>(beta) != 0)
    return misuse("a matmul other than D = op(A) op(B)");
  Matrix stored;
  std::memcpy(&stored, dB, sizeof stored);
  if (stored.rows != p.matmul.b.rows || stored.cols != p.matmul.b.cols)
    return misuse("a matmul on a B that was not compressed for its plan");
  const Matmul m = p.matmul;
  kiln::test::FakeSparseMatmul call;
  call.m = m.d.rows;
  call.n = m.d.cols;
  call.k = m.a.cols;
  call.transB = m.opB == CUSPARSE_OPERATION_TRANSPOSE;
  call.type = m.a.type;
  state.calls.push_back(call);
  auto product = [=] {
    const auto *a = static_cast<const uint16_t *>(dA);
    const auto *b = reinterpret_cast<const uint16_t *>(
        static_cast<const uint8_t *>(dB) + 64);
    auto *d = static_cast<uint16_t *>(dD);
    std::vector<float> result(call.m * call.n);
    for (int64_t i = 0; i < call.m; ++i)
      for (int64_t j = 0; j < call.n; ++j) {
        float sum = 0;
        for (int64_t q = 0; q < call.k; ++q)
          sum += widen(m.a.type, a[i * m.a.ld + q]) *
                 widen(m.b.type, b[opIndex(m.b, m.opB, q, j)]);
        result[i * call.n + j] = sum;
      }
    for (int64_t i = 0; i < call.m; ++i)
      for (int64_t j = 0; j < call.n; ++j) {
        const float v = result[i * call.n + j];
        d[i * m.d.ld + j] = m.d.type == CUDA_R_16BF ? kiln::floatToBf16(v)
                                                    : kiln::floatToHalf(v);
      }
  };
  if (state.enqueue)
    state.enqueue(product);
  else
    product();
  return CUSPARSE_STATUS_SUCCESS;
}

} // extern "C"
