//===- DimExpr.h - a manifest's dim expressions ---------------------------===//
//
// A buffer's dims are postfix expressions over the entry's symbols (batch,
// sequence, ...): validated once at load, evaluated per call.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_DIMEXPR_H
#define KILN_RUNTIME_DIMEXPR_H

#include "artifact/Artifact.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

/// Checks an expression is well formed (stack depth, symbol indices below
/// `symbols`, divisions by positive constants only).
bool validDim(const artifact::DimT &dim, size_t symbols);
int64_t evalDim(const artifact::DimT &dim, const std::vector<int64_t> &symbols);
std::vector<int64_t>
evalDims(const std::vector<std::unique_ptr<artifact::DimT>> &dims,
         const std::vector<int64_t> &symbols);
/// The product of the first `count` dims, or of all.
int64_t product(const std::vector<int64_t> &dims, size_t count);
int64_t product(const std::vector<int64_t> &dims);
std::string formatDims(const std::vector<int64_t> &dims);
/// Bytes of a buffer of `dims`, or -1 for a negative dim or an overflow.
int64_t checkedBytes(const std::vector<int64_t> &dims, size_t elementBytes);

} // namespace kiln::rt

#endif // KILN_RUNTIME_DIMEXPR_H
