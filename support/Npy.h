//===- Npy.h - NumPy .npy files (float32, C order) ------------------------===//
//
// Writes what numpy.load reads back, and reads the float32 files the golden
// fixtures hold. No LLVM: the runtime writes outputs with it too.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_NPY_H
#define KILN_SUPPORT_NPY_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

/// Writes `values` (row-major, `shape`) as a little-endian float32 .npy.
absl::Status writeNpy(const std::string &path,
                      const std::vector<int64_t> &shape,
                      const std::vector<float> &values);

/// Reads a little-endian float32, C-order .npy file.
absl::StatusOr<NpyArray> readNpy(const std::string &path);

} // namespace kiln

#endif // KILN_SUPPORT_NPY_H
