//===- Prune.cpp - compressed 2:4 weights ---------------------------------===//

#include "support/Prune.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace kiln {

Sparse24Weight compress24(const Sparse24Format &format, const float *w,
                          int outAxis) {
  Sparse24Weight out;
  out.format = format;
  out.values.assign(format.valueCount(), 0.0f);
  out.indices.assign(format.indexCount(), 0);
  const int64_t rowStride = outAxis == 0 ? format.cols : 1;
  const int64_t colStride = outAxis == 0 ? 1 : format.rows;
  for (int64_t r = 0; r < format.rows; ++r) {
    float *values = out.values.data() + r * format.rowValues();
    uint32_t *indices = out.indices.data() + r * format.blocks();
    for (int64_t g = 0; g < format.paddedCols() / 4; ++g) {
      float group[4] = {0, 0, 0, 0};
      for (int64_t j = 0; j < 4 && g * 4 + j < format.cols; ++j)
        group[j] = w[r * rowStride + (g * 4 + j) * colStride];
      // The two largest magnitudes, lower index first on a tie, stored in
      // feature order.
      int first = 0;
      for (int j = 1; j < 4; ++j)
        if (std::fabs(group[j]) > std::fabs(group[first]))
          first = j;
      int second = first == 0 ? 1 : 0;
      for (int j = 0; j < 4; ++j)
        if (j != first && std::fabs(group[j]) > std::fabs(group[second]))
          second = j;
      int lo = std::min(first, second), hi = std::max(first, second);
      values[g * 2] = group[lo];
      values[g * 2 + 1] = group[hi];
      const int64_t slot = (g % 8) * 2; // value index within the block
      indices[g / 8] |= static_cast<uint32_t>(lo) << (2 * slot);
      indices[g / 8] |= static_cast<uint32_t>(hi) << (2 * (slot + 1));
    }
  }
  return out;
}

void decompress24Row(const Sparse24Matrix &w, int64_t row, float *out) {
  const Sparse24Format &f = w.format;
  const float *values = w.values + row * f.rowValues();
  const uint32_t *indices = w.indices + row * f.blocks();
  std::memset(out, 0, f.cols * sizeof(float));
  for (int64_t v = 0; v < f.rowValues(); ++v) {
    const int64_t position = (indices[v / 16] >> (2 * (v % 16))) & 3;
    const int64_t k = v / 2 * 4 + position;
    if (k < f.cols)
      out[k] = values[v];
  }
}

SparseRowsWeight compressRows(int64_t rows, int64_t cols, const float *w,
                              int outAxis) {
  SparseRowsWeight out;
  out.rows = rows;
  out.cols = cols;
  out.offsets.reserve(rows + 1);
  const int64_t rowStride = outAxis == 0 ? cols : 1;
  const int64_t colStride = outAxis == 0 ? 1 : rows;
  for (int64_t r = 0; r < rows; ++r) {
    out.offsets.push_back(static_cast<uint32_t>(out.values.size()));
    for (int64_t k = 0; k < cols; ++k)
      if (float x = w[r * rowStride + k * colStride]; x != 0.0f) {
        out.indices.push_back(static_cast<uint16_t>(k));
        out.values.push_back(x);
      }
    while (out.values.size() % 16 != 0) {
      out.indices.push_back(0);
      out.values.push_back(0.0f);
    }
  }
  out.offsets.push_back(static_cast<uint32_t>(out.values.size()));
  return out;
}

void decompressSparseRow(const SparseRowsMatrix &w, int64_t row, float *out) {
  std::memset(out, 0, w.cols * sizeof(float));
  for (uint32_t e = w.offsets[row]; e < w.offsets[row + 1]; ++e)
    out[w.indices[e]] += w.values[e]; // padding adds 0 to feature 0
}

} // namespace kiln
