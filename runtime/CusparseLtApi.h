//===- CusparseLtApi.h - the cuSPARSELt entry points Kiln uses ------------===//
//
// cuSPARSELt is not part of the CUDA toolkit (PyPI's nvidia-cusparselt-cu13
// and PyTorch's wheels carry it), so the runtime builds without its header:
// these are the types, values and signatures of cusparseLt.h 0.8 that
// runtime/CudaSparse.cpp resolves with dlsym and test/support's fake
// library defines. The toolkit's cusparse.h gives cusparseStatus_t,
// cusparseOrder_t and cusparseOperation_t, library_types.h cudaDataType;
// cuSPARSELt's own enums are passed as the ints they are.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUSPARSELTAPI_H
#define KILN_RUNTIME_CUSPARSELTAPI_H

#include <cstddef>
#include <cstdint>
#include <cusparse.h>
#include <library_types.h>

namespace kiln::rt::cusparselt {

/// The opaque structures: 512 bytes each, 16-byte aligned.
struct alignas(16) Opaque {
  uint8_t data[512];
};
using Handle = Opaque;        // cusparseLtHandle_t
using MatDescriptor = Opaque; // cusparseLtMatDescriptor_t
using MatmulDescriptor = Opaque;
using AlgSelection = Opaque;
using Plan = Opaque;

inline constexpr int kSparsity50Percent = 0; // CUSPARSELT_SPARSITY_50_PERCENT
inline constexpr int kCompute32F = 2;        // CUSPARSE_COMPUTE_32F
inline constexpr int kAlgDefault = 0;        // CUSPARSELT_MATMUL_ALG_DEFAULT

using InitFn = cusparseStatus_t (*)(Handle *);
using DestroyFn = cusparseStatus_t (*)(const Handle *);
using ErrorStringFn = const char *(*)(cusparseStatus_t);
using DenseDescriptorInitFn = cusparseStatus_t (*)(
    const Handle *, MatDescriptor *, int64_t rows, int64_t cols, int64_t ld,
    uint32_t alignment, cudaDataType valueType, cusparseOrder_t order);
using StructuredDescriptorInitFn = cusparseStatus_t (*)(
    const Handle *, MatDescriptor *, int64_t rows, int64_t cols, int64_t ld,
    uint32_t alignment, cudaDataType valueType, cusparseOrder_t order,
    int sparsity);
using MatDescriptorDestroyFn = cusparseStatus_t (*)(const MatDescriptor *);
using MatmulDescriptorInitFn = cusparseStatus_t (*)(
    const Handle *, MatmulDescriptor *, cusparseOperation_t opA,
    cusparseOperation_t opB, const MatDescriptor *matA,
    const MatDescriptor *matB, const MatDescriptor *matC,
    const MatDescriptor *matD, int computeType);
using AlgSelectionInitFn = cusparseStatus_t (*)(const Handle *, AlgSelection *,
                                                const MatmulDescriptor *,
                                                int alg);
using AlgSelectionDestroyFn = cusparseStatus_t (*)(const AlgSelection *);
using PlanInitFn = cusparseStatus_t (*)(const Handle *, Plan *,
                                        const MatmulDescriptor *,
                                        const AlgSelection *);
using PlanDestroyFn = cusparseStatus_t (*)(const Plan *);
using GetWorkspaceFn = cusparseStatus_t (*)(const Handle *, const Plan *,
                                            size_t *workspaceSize);
using MatmulFn = cusparseStatus_t (*)(const Handle *, const Plan *,
                                      const void *alpha, const void *dA,
                                      const void *dB, const void *beta,
                                      const void *dC, void *dD, void *workspace,
                                      cudaStream_t *streams,
                                      int32_t numStreams);
using CompressedSize2Fn = cusparseStatus_t (*)(const Handle *,
                                               const MatDescriptor *,
                                               size_t *compressedSize,
                                               size_t *compressBufferSize);
using Compress2Fn = cusparseStatus_t (*)(const Handle *, const MatDescriptor *,
                                         int isSparseA, cusparseOperation_t op,
                                         const void *dense, void *compressed,
                                         void *compressBuffer,
                                         cudaStream_t stream);

} // namespace kiln::rt::cusparselt

#endif // KILN_RUNTIME_CUSPARSELTAPI_H
