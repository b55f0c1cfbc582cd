//===- Prune.h - pruning masks, kept slices, compressed 2:4 weights -------===//
//
// The one definition of what a pruned weight is (#kiln.prune and #kiln.keep
// in the IR), shared by the reference interpreter that reads the IR's value,
// the exporter that stores it and the runtime kernels that read the stored
// 2:4 form. No LLVM, so the runtime links it.
//
// Masks are functions of the tensor's own values, so the interpreter and
// the exporter compute the same zeros independently:
//  - n:m: along the input-feature dim, every run of m consecutive elements
//    keeps its n largest magnitudes, the lower index first on a tie;
//  - fraction F: the floor(F * size) smallest magnitudes become zero, ties
//    broken by position (lower first);
//  - threshold T: every magnitude below T becomes zero.
//
// Compressed 2:4 (what a gemm reads when the exporter stores a 2:4 weight
// compressed): one output channel per row, like support/Quantize.h, K
// padded to whole 32-feature blocks (padding is zeros). Per block of 32
// features (8 groups of 4): 16 values (2 per group, in feature order), and
// one uint32 whose bits 2i..2i+1 hold value i's position in its group. So
// a block costs 16 values + 4 bytes instead of 32 values: 0.53x the dense
// bytes in f32.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_PRUNE_H
#define KILN_SUPPORT_PRUNE_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace kiln {

/// How a weight is pruned (#kiln.prune): n:m along `axis`, or a magnitude
/// fraction per tensor, or a magnitude threshold.
struct PruneSpec {
  int64_t n = 0, m = 0;
  int axis = 0; // the input-feature dim, for n:m and with `scale`
  double fraction = 0, threshold = 0;
  /// Activation-aware (Wanda): one factor per input feature; the rules
  /// rank |w| * scale[feature] instead of |w|. Empty: magnitudes.
  std::vector<float> scale;

  bool semiStructured() const { return m > 0; }
};

/// The score `spec`'s rules rank element i of a [rows, cols] weight by:
/// its magnitude, times its input feature's factor when activation-aware.
template <typename T>
double pruneScore(const PruneSpec &spec, const T *w, int64_t i, int64_t cols) {
  double score = std::fabs(static_cast<double>(w[i]));
  if (!spec.scale.empty())
    score *= static_cast<double>(
        spec.scale[static_cast<size_t>(spec.axis == 0 ? i / cols : i % cols)]);
  return score;
}

/// Zeroes the elements `spec` prunes of a [rows, cols] weight.
template <typename T>
void applyPrune(const PruneSpec &spec, T *w, int64_t rows, int64_t cols) {
  const int64_t size = rows * cols;
  auto magnitude = [&](int64_t i) { return pruneScore(spec, w, i, cols); };
  if (spec.semiStructured()) {
    // Runs of m along `axis`: element j of run r of line l.
    const int64_t lines = spec.axis == 0 ? cols : rows;
    const int64_t length = spec.axis == 0 ? rows : cols;
    const int64_t stride = spec.axis == 0 ? cols : 1;
    const int64_t lineStride = spec.axis == 0 ? 1 : cols;
    std::vector<int64_t> run(spec.m);
    for (int64_t l = 0; l < lines; ++l)
      for (int64_t start = 0; start + spec.m <= length; start += spec.m) {
        for (int64_t j = 0; j < spec.m; ++j)
          run[j] = l * lineStride + (start + j) * stride;
        // Largest first; stable keeps the lower index first on a tie.
        std::stable_sort(run.begin(), run.end(), [&](int64_t a, int64_t b) {
          return magnitude(a) > magnitude(b);
        });
        for (int64_t j = spec.n; j < spec.m; ++j)
          w[run[j]] = T(0);
      }
    return;
  }
  if (spec.threshold > 0) {
    for (int64_t i = 0; i < size; ++i)
      if (magnitude(i) < spec.threshold)
        w[i] = T(0);
    return;
  }
  const auto count = static_cast<int64_t>(
      std::floor(spec.fraction * static_cast<double>(size)));
  if (count <= 0)
    return;
  std::vector<int64_t> order(size);
  std::iota(order.begin(), order.end(), 0);
  std::nth_element(order.begin(), order.begin() + (count - 1), order.end(),
                   [&](int64_t a, int64_t b) {
                     double ma = magnitude(a), mb = magnitude(b);
                     return ma < mb || (ma == mb && a < b);
                   });
  for (int64_t i = 0; i < count; ++i)
    w[order[i]] = T(0);
}

/// The slices `indices` (ascending) of `w` along dim `axis` of `shape`, in
/// order. An index from shape[axis] on is a slice of zeros (a padded
/// shard, support/Shard.h); the caller has checked every other index.
template <typename T>
std::vector<T> keepSlices(const T *w, const std::vector<int64_t> &shape,
                          int64_t axis, const std::vector<int64_t> &indices) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d)
    inner *= shape[d];
  const int64_t size = shape[axis];
  std::vector<T> out;
  out.reserve(outer * indices.size() * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t index : indices) {
      if (index >= size) {
        out.insert(out.end(), static_cast<size_t>(inner), T(0));
        continue;
      }
      const T *slice = w + (o * size + index) * inner;
      out.insert(out.end(), slice, slice + inner);
    }
  return out;
}

/// A 2:4 weight's compressed shape: `rows` output channels of `cols` input
/// features (cols a multiple of 4).
struct Sparse24Format {
  int64_t rows = 0, cols = 0;

  int64_t paddedCols() const { return (cols + 31) / 32 * 32; }
  int64_t blocks() const { return paddedCols() / 32; }
  /// Values per stored row.
  int64_t rowValues() const { return paddedCols() / 2; }
  int64_t valueCount() const { return rows * rowValues(); }
  int64_t indexCount() const { return rows * blocks(); }
  int64_t totalBytes(int64_t valueBytes) const {
    return valueCount() * valueBytes +
           indexCount() * static_cast<int64_t>(sizeof(uint32_t));
  }
};

/// A compressed 2:4 weight.
struct Sparse24Weight {
  Sparse24Format format;
  std::vector<float> values;
  std::vector<uint32_t> indices;
};

/// Compresses a weight pruned 2:4 along its input features, as a checkpoint
/// stores it, output channels along dim `outAxis`: [rows, cols] (0) or
/// [cols, rows] (1). Keeps the 2 largest magnitudes of each group of 4 (the
/// pruning's own rule), so a weight with at most 2 non-zeros per group
/// round-trips exactly.
Sparse24Weight compress24(const Sparse24Format &format, const float *w,
                          int outAxis);

/// A compressed 2:4 weight as stored, wherever it lies.
struct Sparse24Matrix {
  Sparse24Format format;
  const float *values = nullptr;
  const uint32_t *indices = nullptr;
};

/// Row `row` of a compressed weight as dense f32 into `out` (format.cols).
void decompress24Row(const Sparse24Matrix &w, int64_t row, float *out);

/// Sparsity from which an unstructured-pruned f32 gemm weight is stored as
/// sparse rows rather than dense with its zeros: 6 bytes per kept value
/// against 4 per value (0.45x the dense bytes at 70%), but a gather per A
/// row per 16 values. kiln-sparse-gemm-bench on GPT-2-small's shapes: one
/// row of A is 1.2-1.5x faster than the dense GEMV at 70%, 1.7-2.0x at
/// 80%; four rows are 0.75-0.98x at 70% and 0.99-1.9x at 80%. So 70% for
/// an artifact whose gemms see one row per decode step (max batch 1), 80%
/// otherwise.
inline double sparseRowsThreshold(int64_t maxBatch) {
  return maxBatch <= 1 ? 0.7 : 0.8;
}

/// A weight stored as sparse rows: per output channel, its non-zero values
/// and their input-feature indices (uint16, so K <= 65536), each row's
/// entries padded with zeros (index 0) to a multiple of 16 so a kernel
/// reads whole vectors; `offsets[r]` is row r's first entry
/// (rows + 1 of them).
struct SparseRowsWeight {
  int64_t rows = 0, cols = 0;
  std::vector<uint32_t> offsets;
  std::vector<uint16_t> indices;
  std::vector<float> values;
};

/// The sparse rows of a weight as a checkpoint stores it, output channels
/// along dim `outAxis` ([rows, cols] for 0, [cols, rows] for 1).
SparseRowsWeight compressRows(int64_t rows, int64_t cols, const float *w,
                              int outAxis);

/// Sparse rows as stored, wherever they lie.
struct SparseRowsMatrix {
  int64_t rows = 0, cols = 0;
  const uint32_t *offsets = nullptr;
  const uint16_t *indices = nullptr;
  const float *values = nullptr;
};

/// Row `row` as dense f32 into `out` (cols).
void decompressSparseRow(const SparseRowsMatrix &w, int64_t row, float *out);

} // namespace kiln

#endif // KILN_SUPPORT_PRUNE_H
