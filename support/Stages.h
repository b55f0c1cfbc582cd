//===- Stages.h - a model's layers and their split into pipeline stages ---===//
//
// Shared by kiln-pipeline (which places the layers) and kilnc --plan (which
// reports the same split from config.json alone).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_STAGES_H
#define KILN_SUPPORT_STAGES_H

#include <cstddef>
#include <string>
#include <vector>

namespace kiln {

/// The layer a dotted name belongs to ("model.layers.3" of
/// "model.layers.3.mlp.up_proj.weight", "encoder.block.2" of
/// "encoder.block.2.layer.0"), or "" for names outside the layers
/// (embeddings, final norm, head).
std::string layerOf(const std::string &name);

/// A contiguous split of `costs` into `parts` groups minimizing the largest
/// group's cost (the linear partition problem): the index of each group's
/// first item. Needs 1 <= parts <= costs.size().
std::vector<size_t> splitStages(const std::vector<double> &costs, size_t parts);

} // namespace kiln

#endif // KILN_SUPPORT_STAGES_H
