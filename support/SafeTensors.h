//===- SafeTensors.h - validated, memory-mapped safetensors files ---------===//
//
// Reads Hugging Face weights without copying them: a file is mmapped and its
// header is checked completely before any byte is trusted (header length
// against the file size, well-formed JSON, known dtypes, shape x dtype size
// equal to each byte range, ranges inside the data section, no overlaps).
// A model folder is either `model.safetensors` or the shards listed by
// `model.safetensors.index.json`.
//
// Uses no LLVM or MLIR (nlohmann-json and Abseil only), so the runtime can
// share it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_SAFETENSORS_H
#define KILN_SUPPORT_SAFETENSORS_H

#include "absl/status/statusor.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

/// Element types of the safetensors format.
enum class DType {
  Bool,
  U8,
  I8,
  F8E4M3,
  F8E5M2,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  I64,
  U64,
  F64
};

/// Bytes per element.
size_t dtypeSize(DType dtype);
/// The format's spelling ("F32", "BF16", ...).
const char *dtypeName(DType dtype);

/// One tensor of a mapped file. `data` points into the mapping.
struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  size_t bytes = 0;
  std::string file; // the file it lives in, for messages

  int64_t numElements() const;
  /// Converts to float (F32, F16, BF16, F64 and integer types).
  std::vector<float> toFloat() const;
  /// Converts to double (same types as toFloat).
  std::vector<double> toDouble() const;
};

/// One mapped .safetensors file.
class SafeTensorsFile {
public:
  /// Maps and validates `path`; every structural problem is an error that
  /// names the file (and the tensor or offset).
  static absl::StatusOr<std::unique_ptr<SafeTensorsFile>>
  open(const std::string &path);
  ~SafeTensorsFile();
  SafeTensorsFile(const SafeTensorsFile &) = delete;
  SafeTensorsFile &operator=(const SafeTensorsFile &) = delete;

  const std::string &path() const { return path_; }
  const std::map<std::string, TensorView> &tensors() const { return tensors_; }
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }

private:
  SafeTensorsFile() = default;
  std::string path_;
  void *mapping_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// The weights of a Hugging Face model folder.
class WeightStore {
public:
  /// Opens `dir/model.safetensors`, or the shards named by
  /// `dir/model.safetensors.index.json` (each listed tensor must be in the
  /// shard the index names).
  static absl::StatusOr<std::unique_ptr<WeightStore>>
  openFolder(const std::string &dir);
  /// Opens one file.
  static absl::StatusOr<std::unique_ptr<WeightStore>>
  openFile(const std::string &path);
  /// A store without tensors (kilnc --plan builds graphs from a config
  /// alone); `source` names it in messages.
  static std::unique_ptr<WeightStore> none(const std::string &source);

  bool contains(const std::string &name) const;
  /// The tensor, or NotFound naming it and where it was looked for.
  absl::StatusOr<const TensorView *> get(const std::string &name) const;
  /// Where weights were looked for (a file or a folder), for messages.
  const std::string &source() const { return source_; }
  std::vector<std::string> names() const;

private:
  std::string source_;
  std::vector<std::unique_ptr<SafeTensorsFile>> files_;
  std::map<std::string, const TensorView *> index_;
};

} // namespace kiln

#endif // KILN_SUPPORT_SAFETENSORS_H
