//===- Tensor.h - host tensors crossing the runtime's interfaces ----------===//
//
// Inputs and outputs of entry points (ids, masks, logits, hidden states):
// an element type from the artifact schema, a shape and dense row-major
// bytes. Intermediates never take this form; they live in the arena.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_TENSOR_H
#define KILN_RUNTIME_TENSOR_H

#include "artifact/Artifact.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

using artifact::DType;

/// Whether `dtype` is a 16-bit float (bf16, f16).
inline bool isHalf(DType dtype) {
  return dtype == DType::BF16 || dtype == DType::F16;
}

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  template <typename T> T *data() {
    return reinterpret_cast<T *>(bytes.data());
  }
  template <typename T> const T *data() const {
    return reinterpret_cast<const T *>(bytes.data());
  }

  static Tensor zeros(DType dtype, std::vector<int64_t> shape) {
    Tensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.assign(t.numElements() * dtypeBytes(dtype), 0);
    return t;
  }
  static Tensor fromI64(std::vector<int64_t> shape,
                        const std::vector<int64_t> &values) {
    Tensor t = zeros(DType::I64, std::move(shape));
    std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
  }
};

using NamedTensor = std::pair<std::string, Tensor>;

/// The values as f32 (from f32, f64 or i64; others read as 0), for .npy
/// output and comparisons.
inline std::vector<float> toFloat(const Tensor &t) {
  std::vector<float> out(t.numElements(), 0.0f);
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (t.dtype == DType::F32)
      out[i] = t.data<float>()[i];
    else if (t.dtype == DType::F64)
      out[i] = static_cast<float>(t.data<double>()[i]);
    else if (t.dtype == DType::I64)
      out[i] = static_cast<float>(t.data<int64_t>()[i]);
  }
  return out;
}

} // namespace kiln::rt

#endif // KILN_RUNTIME_TENSOR_H
