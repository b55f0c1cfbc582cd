//===- Half.h - bf16 and IEEE half conversions ----------------------------===//
//
// Widening is exact; narrowing rounds to nearest even, NaN stays NaN. Also
// compiled by nvcc into the CUDA executor's narrowing kernel
// (runtime/cuda/Kernels.cu, kiln_narrow), so both round alike.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_HALF_H
#define KILN_SUPPORT_HALF_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln {

KILN_HOST_DEVICE inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

KILN_HOST_DEVICE inline uint16_t floatToBf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((u >> 16) | 0x40); // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

KILN_HOST_DEVICE inline float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else { // subnormal: renormalize
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ff;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

KILN_HOST_DEVICE inline uint16_t floatToHalf(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mantissa = x & 0x007fffffu;
  int32_t biased = static_cast<int32_t>((x >> 23) & 0xff);
  if (biased == 0xff) // inf, NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0u));
  int32_t exponent = biased - 127 + 15;
  if (exponent >= 31)
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (exponent <= 0) { // subnormal or zero
    if (exponent < -10)
      return static_cast<uint16_t>(sign);
    mantissa |= 0x00800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exponent);
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t middle = 1u << (shift - 1);
    if (rest > middle || (rest == middle && (half & 1)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half =
      sign | (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1)))
    ++half; // a carry into the exponent is still right (up to inf)
  return static_cast<uint16_t>(half);
}

#ifndef __CUDACC__
/// `value` rounded to bf16 (through f32, as an f32 program narrows), kept
/// in a double: what the reference interpreter stores for a bf16 result.
inline double roundToBf16(double value) {
  return bf16ToFloat(floatToBf16(static_cast<float>(value)));
}

/// `value` rounded to IEEE half precision directly (no f32 step), kept in a
/// double: what the reference interpreter stores for an f16 result.
inline double roundToHalf(double value) {
  if (!std::isfinite(value))
    return value;
  double magnitude = std::fabs(value);
  if (magnitude >= 65520.0)
    return std::copysign(HUGE_VAL, value);
  int exponent;
  std::frexp(magnitude, &exponent); // magnitude = m * 2^exponent, m in [.5,1)
  // 11 significant bits for normals; subnormals have a fixed quantum 2^-24.
  int quantumExponent = std::max(exponent - 11, -24);
  double quantum = std::ldexp(1.0, quantumExponent);
  return std::copysign(std::nearbyint(magnitude / quantum) * quantum, value);
}
#endif

} // namespace kiln

#endif // KILN_SUPPORT_HALF_H
