//===- WeightNarrowing.h - gemm weights stored in half precision ----------===//
//
// What `kilnc --gemm-dtype bf16|f16` narrows: the weights that every entry
// reads only as a gemm's B operand. The gemm steps then read them in that
// type and accumulate in f32; every other weight stays f32. The exporter
// stores the narrowed weights (ArtifactExport.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_STEPLIST_WEIGHTNARROWING_H
#define KILN_PASSES_STEPLIST_WEIGHTNARROWING_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace kiln {

struct TensorView;

/// The names of the weights (kiln.param) that every use in `stepModule`
/// reads as the B operand of a matmul or linear step.
std::set<std::string> gemmOnlyWeights(mlir::ModuleOp stepModule);

/// `weight` rounded to nearest even, as bf16 or (with `bf16` false) f16
/// bits.
std::vector<uint16_t> narrowWeight(const TensorView &weight, bool bf16);

} // namespace kiln

#endif // KILN_PASSES_STEPLIST_WEIGHTNARROWING_H
