//===- Quantize.cpp - symmetric per-channel / per-group weight quantization
//===//

#include "support/Quantize.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace kiln {

absl::StatusOr<QuantFormat> makeQuantFormat(int bits, int64_t rows,
                                            int64_t cols, int64_t group) {
  if (bits != 8 && bits != 4)
    return absl::InvalidArgumentError(
        absl::StrCat("quantized weights have 8 or 4 bits, not ", bits));
  if (rows <= 0 || cols <= 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot quantize an empty ", rows, " x ", cols, " weight"));
  QuantFormat format{bits, rows, cols,
                     group <= 0 || group > cols ? cols : group};
  if (format.group != cols && format.group % 32 != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("a quantization group is a multiple of 32 features (or "
                     "all of them), not ",
                     format.group));
  return format;
}

/// Element (n, k) of a stored weight is w[n * rowStride + k * colStride].
static std::pair<int64_t, int64_t> strides(const QuantFormat &format,
                                           int axis) {
  return axis == 0 ? std::pair<int64_t, int64_t>{format.cols, 1}
                   : std::pair<int64_t, int64_t>{1, format.rows};
}

QuantizedWeight quantizeWeight(const QuantFormat &format, const float *w,
                               int axis) {
  // Plain variables: a C++17 lambda cannot capture a structured binding.
  const int64_t rowStride = strides(format, axis).first;
  const int64_t colStride = strides(format, axis).second;
  QuantizedWeight q;
  q.format = format;
  q.values.assign(format.valueBytes(), format.bits == 8 ? 0 : 0x88); // q = 0
  q.scales.assign(format.scaleCount(), 0.0f);
  const float bound = format.bits == 8 ? 127.0f : 7.0f;
  const int64_t groups = format.groups();
  for (int64_t n = 0; n < format.rows; ++n) {
    uint8_t *row = q.values.data() + n * format.rowBytes();
    for (int64_t g = 0; g < groups; ++g) {
      int64_t begin = g * format.group;
      int64_t end = std::min(format.cols, begin + format.group);
      float peak = 0;
      for (int64_t k = begin; k < end; ++k)
        peak = std::max(peak, std::fabs(w[n * rowStride + k * colStride]));
      float scale = peak / bound;
      if (format.bits == 4 && peak > 0) {
        // 15 levels are coarse: clipping the group's largest values a
        // little can lower its squared error (each step finer for all the
        // others). Try scales down to 3/4 of the peak's and keep the best;
        // with an isolated outlier the peak's scale wins.
        auto squaredError = [&](float s) {
          float e = 0;
          for (int64_t k = begin; k < end; ++k) {
            float x = w[n * rowStride + k * colStride];
            float r = std::clamp(std::nearbyint(x / s), -bound, bound);
            e += (r * s - x) * (r * s - x);
          }
          return e;
        };
        float best = squaredError(scale);
        for (int step = 1; step <= 10; ++step) {
          float candidate = peak * (1.0f - 0.025f * step) / bound;
          float e = squaredError(candidate);
          if (e < best) {
            best = e;
            scale = candidate;
          }
        }
      }
      q.scales[n * groups + g] = scale;
      for (int64_t k = begin; k < end; ++k) {
        float x = w[n * rowStride + k * colStride];
        float r = scale > 0 ? std::nearbyint(x / scale) : 0.0f;
        auto v = static_cast<int>(std::clamp(r, -bound, bound));
        if (format.bits == 8) {
          row[k] = static_cast<uint8_t>(static_cast<int8_t>(v));
          continue;
        }
        uint8_t &byte = row[k / 32 * 16 + k % 16];
        auto nibble = static_cast<uint8_t>(v + 8);
        byte = k % 32 < 16 ? static_cast<uint8_t>((byte & 0xf0) | nibble)
                           : static_cast<uint8_t>((byte & 0x0f) | nibble << 4);
      }
    }
  }
  return q;
}

void dequantizeRow(const QuantizedMatrix &w, int64_t row, float *out) {
  const QuantFormat &format = w.format;
  const uint8_t *bytes = w.values + row * format.rowBytes();
  const float *s = w.scales + row * format.groups();
  for (int64_t k = 0; k < format.cols; ++k) {
    int v;
    if (format.bits == 8) {
      v = static_cast<int8_t>(bytes[k]);
    } else {
      uint8_t byte = bytes[k / 32 * 16 + k % 16];
      v = (k % 32 < 16 ? byte & 0x0f : byte >> 4) - 8;
    }
    out[k] = static_cast<float>(v) * s[k / format.group];
  }
}

void fakeQuantize(const QuantFormat &format, float *w, int axis) {
  const QuantizedWeight q = quantizeWeight(format, w, axis);
  const auto [rowStride, colStride] = strides(format, axis);
  std::vector<float> row(format.cols);
  for (int64_t n = 0; n < format.rows; ++n) {
    dequantizeRow({format, q.values.data(), q.scales.data()}, n, row.data());
    for (int64_t k = 0; k < format.cols; ++k)
      w[n * rowStride + k * colStride] = row[k];
  }
}

std::vector<double> quantizedValues(const QuantFormat &format,
                                    const std::vector<double> &w, int axis,
                                    const float *smooth) {
  std::vector<float> stored(w.begin(), w.end());
  if (smooth)
    smoothWeight(format, stored.data(), axis, smooth);
  fakeQuantize(format, stored.data(), axis);
  std::vector<double> values(stored.begin(), stored.end());
  if (smooth) {
    const auto [rowStride, colStride] = strides(format, axis);
    for (int64_t n = 0; n < format.rows; ++n)
      for (int64_t k = 0; k < format.cols; ++k)
        values[n * rowStride + k * colStride] /= smooth[k];
  }
  return values;
}

void smoothWeight(const QuantFormat &format, float *w, int axis,
                  const float *smooth) {
  const auto [rowStride, colStride] = strides(format, axis);
  for (int64_t n = 0; n < format.rows; ++n)
    for (int64_t k = 0; k < format.cols; ++k)
      w[n * rowStride + k * colStride] *= smooth[k];
}

float smoothFactor(float activationPeak, float weightPeak, double alpha) {
  if (!(activationPeak > 0) || !(weightPeak > 0))
    return 1.0f;
  const double s = std::pow(static_cast<double>(activationPeak), alpha) /
                   std::pow(static_cast<double>(weightPeak), 1.0 - alpha);
  return static_cast<float>(std::clamp(s, 1e-5, 1e5));
}

float quantizeActivationRow(const float *x, int64_t k, const float *invSmooth,
                            int8_t *q, int64_t paddedK) {
  float peak = 0;
  for (int64_t j = 0; j < k; ++j)
    peak = std::max(peak, std::fabs(invSmooth ? x[j] * invSmooth[j] : x[j]));
  const float scale = peak / 127.0f;
  const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    float v = (invSmooth ? x[j] * invSmooth[j] : x[j]) * inverse;
    q[j] = static_cast<int8_t>(std::clamp(std::nearbyint(v), -127.0f, 127.0f));
  }
  std::fill(q + k, q + paddedK, static_cast<int8_t>(0));
  return scale;
}

std::vector<double> fakeQuantizeActivations(const double *x, int64_t m,
                                            int64_t k, const float *smooth) {
  std::vector<float> inverse;
  if (smooth)
    for (int64_t j = 0; j < k; ++j)
      inverse.push_back(1.0f / smooth[j]);
  std::vector<double> out(m * k);
  std::vector<float> row(k);
  std::vector<int8_t> q(k);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < k; ++j)
      row[j] = static_cast<float>(x[i * k + j]);
    const float scale = quantizeActivationRow(
        row.data(), k, smooth ? inverse.data() : nullptr, q.data(), k);
    for (int64_t j = 0; j < k; ++j)
      out[i * k + j] = static_cast<double>(q[j]) * scale *
                       (smooth ? static_cast<double>(smooth[j]) : 1.0);
  }
  return out;
}

} // namespace kiln
