//===- Quantize.h - symmetric per-channel / per-group weight quantization -===//
//
// The one definition of how Kiln stores a quantized weight (#kiln.quant in
// the IR, a quantized weight slot in the artifact), shared by the exporter
// that writes it, the reference interpreter that reads the IR's value and
// the runtime kernels that read the stored form. No LLVM, so the runtime
// links it.
//
// Layout: one output channel per row, K input features along the row.
//  - Rows are padded to whole blocks of 32 features with q = 0, so a
//    vector kernel reads whole blocks and never past a row.
//  - 8 bits: one int8 per feature.
//  - 4 bits: per block of 32 features, 16 bytes; byte j holds feature j in
//    its low nibble and feature j + 16 in its high nibble, each as q + 8
//    (1..15). This is the order a vector kernel wants: the low nibbles of
//    16 bytes are 16 consecutive features, the high nibbles the next 16.
// Scales: f32, one per row and group of `group` consecutive features
// (the last group shorter when `group` does not divide K), row-major.
// Quantization is symmetric: q = round(w / scale), clamped to
// +-(2^(bits-1) - 1), so a kernel needs no zero point (one multiply-add per
// weight, and an int8 x int8 product needs no cross terms). The scale is
// max |w| of the group / 127 for int8; for int4 the one of max |w| / 7 and
// ten slightly smaller ones (down to 3/4) with the least squared error.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_QUANTIZE_H
#define KILN_SUPPORT_QUANTIZE_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <vector>

namespace kiln {

/// A quantized weight's format: bits (8 or 4) and features per scale.
struct QuantFormat {
  int bits = 8;
  int64_t rows = 0;  // output channels
  int64_t cols = 0;  // input features (K)
  int64_t group = 0; // features per scale, 1..cols

  int64_t groups() const { return (cols + group - 1) / group; }
  /// 32-feature blocks per group (a group of all of K spans its padding).
  int64_t blocksPerGroup() const {
    return group == cols ? paddedCols() / 32 : group / 32;
  }
  /// Features per row as stored: K padded to whole 32-feature blocks.
  int64_t paddedCols() const { return (cols + 31) / 32 * 32; }
  /// Bytes of one stored row.
  int64_t rowBytes() const {
    return bits == 8 ? paddedCols() : paddedCols() / 2;
  }
  int64_t valueBytes() const { return rows * rowBytes(); }
  int64_t scaleCount() const { return rows * groups(); }
  /// Values and scales together: what the weight costs in memory.
  int64_t totalBytes() const {
    return valueBytes() + scaleCount() * static_cast<int64_t>(sizeof(float));
  }
};

/// Checks bits, sizes and group (a group is whole 32-feature blocks, or all
/// of K). `group` <= 0 or > cols means all of K.
absl::StatusOr<QuantFormat> makeQuantFormat(int bits, int64_t rows,
                                            int64_t cols, int64_t group);

/// A quantized weight, stored as the header describes.
struct QuantizedWeight {
  QuantFormat format;
  std::vector<uint8_t> values;
  std::vector<float> scales;
};

/// Features per scale when none is asked for: all of K for 8 bits (one
/// scale per output channel), 128 for 4 bits.
inline int64_t defaultQuantGroup(int bits) { return bits == 8 ? 0 : 128; }

/// Quantizes a weight as a checkpoint stores it, its output channels along
/// dim `axis`: [rows, cols] (axis 0, torch.nn.Linear) or [cols, rows]
/// (axis 1, GPT-2's Conv1D).
QuantizedWeight quantizeWeight(const QuantFormat &format, const float *w,
                               int axis);

/// The same weight with each element replaced by what its stored integer
/// and scale give back: the value a quantized read has in the IR.
void fakeQuantize(const QuantFormat &format, float *w, int axis);

/// A quantized weight as stored, wherever it lies.
struct QuantizedMatrix {
  QuantFormat format;
  const uint8_t *values = nullptr;
  const float *scales = nullptr;
  /// W8A8 (kilnc --quantize w8a8): the gemm quantizes its input rows to
  /// int8 too, each input feature first divided by its SmoothQuant factor;
  /// `invSmooth` holds 1 / s per input feature (format.cols), null for
  /// none. The stored integers are then W * s's.
  int actBits = 0;
  const float *invSmooth = nullptr;
};

/// Multiplies each input feature of a weight (in its checkpoint layout, as
/// quantizeWeight takes it) by its SmoothQuant factor: W * s, the weight a
/// W8A8 layer quantizes.
void smoothWeight(const QuantFormat &format, float *w, int axis,
                  const float *smooth);

/// The SmoothQuant factor of one input feature, from the largest |x| the
/// calibration saw on it and the largest |w| of the weight's column:
/// s = max|x|^alpha / max|w|^(1 - alpha), clamped to [1e-5, 1e5]; 1 where
/// either is zero (a feature nothing flows through).
float smoothFactor(float activationPeak, float weightPeak, double alpha);

/// The value a quantized read has in the IR, from the checkpoint's values
/// (layout as quantizeWeight takes them): fakeQuantize's, or for a W8A8
/// weight with SmoothQuant factors `smooth` (null for none) Q(W * s) / s,
/// which the linear's input, quantized after x / s and multiplied by s
/// back, turns into the int8 product (fakeQuantizeActivations).
std::vector<double> quantizedValues(const QuantFormat &format,
                                    const std::vector<double> &w, int axis,
                                    const float *smooth);

/// Quantizes one activation row (k features, each multiplied by
/// invSmooth[j] first when given) to symmetric int8 with scale max / 127,
/// into q[0, paddedK) (zeros past k); returns the scale (0 for an all-zero
/// row). The runtime's W8A8 gemm and the reference interpreter both call
/// it, so they round alike.
float quantizeActivationRow(const float *x, int64_t k, const float *invSmooth,
                            int8_t *q, int64_t paddedK);

/// What a W8A8 linear computes with instead of its input x [m, k]: each
/// row quantized as quantizeActivationRow does (after x / s, `smooth` s
/// per feature or null) and given back, times s again, so that the product
/// with the weight's value (Q(W * s) / s) is the int8 product.
std::vector<double> fakeQuantizeActivations(const double *x, int64_t m,
                                            int64_t k, const float *smooth);

/// Row `row` of a stored weight, dequantized into `out` (format.cols).
void dequantizeRow(const QuantizedMatrix &w, int64_t row, float *out);

} // namespace kiln

#endif // KILN_SUPPORT_QUANTIZE_H
