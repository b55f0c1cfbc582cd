//===- Artifact.h - the .kiln file: write, map, validate ------------------===//
//
// Layout (DESIGN.md §4), all integers little-endian:
//
//   [0, 64)   header: magic "KILNART\0", u32 format version, u32 reserved,
//             u64 manifest offset, u64 manifest size, u64 manifest checksum,
//             u64 file size, u64 header checksum (of the bytes before it)
//   blobs     each at a 64-byte aligned offset: kernel libraries, weights
//   manifest  a FlatBuffer (artifact/Artifact.fbs) naming every blob with
//             its offset, size and checksum
//
// Checksums are XXH3-64. Opening checks the magic, the version, the sizes,
// the manifest's checksum and FlatBuffers structure, and every blob's range
// and checksum, so a truncated, damaged or foreign file is refused with one
// message naming the file and what is wrong.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ARTIFACT_ARTIFACT_H
#define KILN_ARTIFACT_ARTIFACT_H

#include "artifact/Artifact_generated.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

inline constexpr char kArtifactMagic[8] = {'K', 'I', 'L', 'N',
                                           'A', 'R', 'T', '\0'};
/// The format this runtime writes, the newest it reads, and the oldest (3:
/// arguments and results carry their role). 5: a CPU kernel library per
/// x86-64 level, each blob naming its level (a runtime before it would load
/// any of them, AVX-512 code included, so it must refuse the file). 6:
/// int8/int4 weights with a scales blob (kilnc --quantize), which an older
/// runtime would read as f32. 10: pipeline stages (kilnc --pp), which a
/// runtime before it would run as one program. 11: W8A8 weights (kilnc
/// --quantize w8a8: int8 input rows, SmoothQuant factors), which an older
/// runtime would multiply as weight-only int8 without the factors.
inline constexpr uint32_t kArtifactVersion = 12;
inline constexpr uint32_t kOldestArtifactVersion = 3;

/// Whether an argument or result is one of the kv caches.
inline bool isCache(artifact::Role role) {
  return role == artifact::Role::KeyCache || role == artifact::Role::ValueCache;
}
inline constexpr uint64_t kBlobAlignment = 64;

/// XXH3-64 of `size` bytes.
uint64_t checksum(const void *data, size_t size);

/// Collects blobs, then writes them with a manifest in one file.
class ArtifactWriter {
public:
  /// Adds a blob and returns its index in the manifest's `blobs`. `data`
  /// must stay alive until write(); `owned` may hold it.
  uint32_t addBlob(artifact::BlobKind kind, const void *data, size_t size,
                   std::shared_ptr<const void> owned = nullptr,
                   std::string isa = "");
  uint32_t addBlob(artifact::BlobKind kind, std::vector<uint8_t> bytes);

  /// Fills `manifest.blobs` and writes the file (via a temporary file
  /// renamed into place, so a failed write leaves no half artifact);
  /// returns its size in bytes.
  absl::StatusOr<uint64_t> write(const std::string &path,
                                 artifact::ManifestT manifest);

private:
  struct Pending {
    artifact::BlobKind kind;
    const void *data;
    size_t size;
    std::shared_ptr<const void> owned;
    std::string isa;
  };
  std::vector<Pending> blobs_;
};

/// A mapped and validated artifact.
class Artifact {
public:
  static absl::StatusOr<std::unique_ptr<Artifact>>
  open(const std::string &path);
  ~Artifact();
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;

  const std::string &path() const { return path_; }
  const artifact::ManifestT &manifest() const { return *manifest_; }
  uint64_t fileBytes() const { return size_; }
  const uint8_t *blobData(uint32_t index) const;
  uint64_t blobSize(uint32_t index) const;

private:
  Artifact() = default;
  std::string path_;
  const uint8_t *data_ = nullptr;
  uint64_t size_ = 0;
  std::unique_ptr<artifact::ManifestT> manifest_;
};

/// Names for messages and --info.
const char *dtypeName(artifact::DType dtype);
size_t dtypeBytes(artifact::DType dtype);

} // namespace kiln

#endif // KILN_ARTIFACT_ARTIFACT_H
