//===- QuantGemm.h - gemms on int8/int4 weights (kilnc --quantize) --------===//
//
// C = A W^T with W a quantized weight (support/Quantize.h: one output
// channel per stored row, so W's rows are C's columns), A f32 row-major.
// Few rows of A (decode) run a fused kernel (AVX-512, or generic x86-64) that
// dequantizes each weight block in registers as it multiplies: the weight is
// read once per call, as stored, which is the point of quantizing a
// memory-bound decode. More rows (prefill, compute-bound) dequantize W to f32
// once per call and hand it to the BLAS. W8A8 quantizes A's rows to int8
// first; many rows then multiply in int8 (the BLAS's s8s8s32 gemm), a few
// take the fused kernel on the rows' int8 values.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_QUANTGEMM_H
#define KILN_RUNTIME_QUANTGEMM_H

#include "runtime/CpuIsa.h"
#include "support/Quantize.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace kiln::rt {

class Blas;
class ThreadPool;

/// Rows of A up to which the fused kernel runs (above: dequantize + BLAS).
inline constexpr int64_t kFusedQuantRows = 8;

/// Whether this CPU has AVX-512 BF16, which 4-bit weights' fused kernel
/// uses on top of AVX-512 (see QuantGemm.cpp).
bool hostHasBf16Dot();

/// Lets the fused 4-bit kernel use AVX-512 BF16 where the host has it
/// (the default), or keeps it on the f32 kernel: for tests and benchmarks
/// that compare the two on one machine.
void allowBf16QuantKernel(bool allow);

/// A range [begin, end) of C's columns.
using ColumnsBody = std::function<void(int64_t begin, int64_t end)>;

/// C[m, n] = A[m, k] W^T, n = W's rows and k its columns; A has leading
/// dimension lda, C ldc. `scratch` holds the padded A rows or the
/// dequantized W between calls. `epilogue`, where given, is called on
/// every range of C's columns once all m rows of it hold their products:
/// the fused kernel calls it on each range it has just written (still in
/// cache, on the thread that wrote it), the other paths on C's columns in
/// parallel after the product.
void quantizedGemm(const QuantizedMatrix &w, int64_t m, const float *a,
                   int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                   Blas &blas, CpuIsa isa, std::vector<float> &scratch,
                   const ColumnsBody &epilogue = nullptr);

} // namespace kiln::rt

#endif // KILN_RUNTIME_QUANTGEMM_H
