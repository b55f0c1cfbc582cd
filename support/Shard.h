//===- Shard.h - the part of a tensor one tensor-parallel rank reads ------===//
//
// kilnc --tp cuts each sharded weight into parts (#kiln.shard in the IR,
// Weight.shard_* in the artifact): dim `axis` of the whole tensor is viewed
// as [sections, parts, n / (sections * parts)], and tensor-parallel rank r
// reads part (r / replicas) % parts of every section. A padded shard (a
// vocabulary the ranks do not divide) views the tensor as `pad` zero
// slices longer: the last parts end in indices past the tensor, which read
// as zeros (keepSlices). The compiler cuts embedded weights with it and the
// runtime cuts external ones, so both read the same elements.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_SHARD_H
#define KILN_SUPPORT_SHARD_H

#include <cstdint>
#include <vector>

namespace kiln {

/// The indices along the sharded dim (of `wholeSize`, then `pad` zero
/// slices) that rank `rank` reads, ascending; those from `wholeSize` on
/// are padding.
inline std::vector<int64_t> shardIndices(int64_t rank, int64_t wholeSize,
                                         int64_t sections, int64_t parts,
                                         int64_t replicas, int64_t pad = 0) {
  const int64_t section = (wholeSize + pad) / sections;
  const int64_t chunk = section / parts;
  const int64_t part = (rank / replicas) % parts;
  std::vector<int64_t> indices;
  indices.reserve(static_cast<size_t>(sections * chunk));
  for (int64_t s = 0; s < sections; ++s)
    for (int64_t i = 0; i < chunk; ++i)
      indices.push_back(s * section + part * chunk + i);
  return indices;
}

} // namespace kiln

#endif // KILN_SUPPORT_SHARD_H
