//===- ArtifactExport.cpp - a step list -> the .kiln manifest and blobs ---===//

#include "passes/StepList/ArtifactExport.h"

#include "artifact/Artifact.h"
#include "artifact/ModelInfo.h"
#include "dialects/kiln/KilnOps.h"
#include "passes/StepList/StepShapes.h"
#include "passes/StepList/WeightNarrowing.h"
#include "passes/Transforms/GemmEpilogue.h"
#include "support/Half.h"
#include "support/Prune.h"
#include "support/Quantize.h"
#include "support/SafeTensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AffineExpr.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <memory>
#include <optional>
#include <set>

using namespace mlir;
namespace art = kiln::artifact;

namespace kiln {
namespace {

std::string locationOf(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->getLoc().print(os);
  return os.str();
}

FailureOr<art::DType> dtypeOf(Type type) {
  Type e = getElementTypeOrSelf(type);
  if (e.isF32())
    return art::DType::F32;
  if (e.isF16())
    return art::DType::F16;
  if (e.isBF16())
    return art::DType::BF16;
  if (e.isF64())
    return art::DType::F64;
  if (e.isInteger(64))
    return art::DType::I64;
  if (e.isInteger(32))
    return art::DType::I32;
  if (e.isInteger(8))
    return art::DType::I8;
  if (e.isInteger(1))
    return art::DType::I1;
  return failure();
}

/// An argument's or result's role from its kiln.role attribute (set by the
/// graph builder on the kv caches).
art::Role roleOf(StringAttr role) {
  if (role && role.getValue() == "key_cache")
    return art::Role::KeyCache;
  if (role && role.getValue() == "value_cache")
    return art::Role::ValueCache;
  return art::Role::Tensor;
}

/// Appends `e` in postfix order.
LogicalResult postfix(AffineExpr e, std::vector<art::Term> &terms) {
  if (auto c = dyn_cast<AffineConstantExpr>(e)) {
    terms.emplace_back(art::ExprOp::Const, c.getValue());
    return success();
  }
  if (auto s = dyn_cast<AffineSymbolExpr>(e)) {
    terms.emplace_back(art::ExprOp::Symbol, s.getPosition());
    return success();
  }
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin || failed(postfix(bin.getLHS(), terms)) ||
      failed(postfix(bin.getRHS(), terms)))
    return failure();
  switch (e.getKind()) {
  case AffineExprKind::Add:
    terms.emplace_back(art::ExprOp::Add, 0);
    return success();
  case AffineExprKind::Mul:
    terms.emplace_back(art::ExprOp::Mul, 0);
    return success();
  case AffineExprKind::FloorDiv:
    terms.emplace_back(art::ExprOp::FloorDiv, 0);
    return success();
  case AffineExprKind::CeilDiv:
    terms.emplace_back(art::ExprOp::CeilDiv, 0);
    return success();
  case AffineExprKind::Mod:
    terms.emplace_back(art::ExprOp::Mod, 0);
    return success();
  default:
    return failure();
  }
}

class Exporter {
public:
  /// `rank`: the tensor-parallel rank whose parts of the sharded weights
  /// are exported; past rank 0 only the sharded slots are made (the others
  /// are rank 0's, left null in takeWeights()).
  Exporter(const std::vector<CompiledKernel> &kernels,
           const WeightStore &weights, const ExportOptions &options,
           kiln::ArtifactWriter &writer, std::set<std::string> gemmOnly,
           int64_t rank = 0)
      : kernels_(kernels), weights_(weights), options_(options),
        writer_(writer), gemmOnly_(std::move(gemmOnly)), rank_(rank) {}

  LogicalResult exportEntry(func::FuncOp fn, art::ManifestT &manifest);
  int64_t weightBytes() const { return weightBytes_; }
  int64_t quantizedBytes() const { return quantizedBytes_; }
  int64_t quantizedF32Bytes() const { return quantizedF32Bytes_; }
  int64_t smoothBytes() const { return smoothBytes_; }
  std::vector<ExportSummary::Pruned> takePruned() { return std::move(pruned_); }
  std::vector<std::unique_ptr<art::WeightT>> takeWeights() {
    return std::move(weightSlots_);
  }

private:
  /// An error at `op` (a value without one: the entry function).
  LogicalResult fail(Operation *op, const Twine &what) {
    return op ? op->emitError(what) : emitError(currentEntry_.getLoc(), what);
  }
  FailureOr<std::vector<std::unique_ptr<art::DimT>>> dimsOf(Value v);
  FailureOr<std::unique_ptr<art::BufferT>> bufferOf(Value v);
  FailureOr<int64_t> weightSlot(ParamOp op);
  /// Fills in `w` as `quant` stores the weight `views` make.
  LogicalResult quantizeSlot(ParamOp op, QuantAttr quant,
                             const std::vector<float> &values, art::WeightT &w);
  /// The weight's values as the IR reads them before quantization: each
  /// part's kept slices (`keep`), pruned (`prune`), concatenated.
  FailureOr<std::vector<float>>
  transformedValues(ParamOp op, const std::vector<const TensorView *> &views);

  const std::vector<CompiledKernel> &kernels_;
  const WeightStore &weights_;
  const ExportOptions &options_;
  kiln::ArtifactWriter &writer_;
  const std::set<std::string> gemmOnly_; // weights --gemm-dtype narrows
  const int64_t rank_;
  std::vector<std::unique_ptr<art::WeightT>> weightSlots_;
  std::map<std::string, int64_t> slots_;
  int64_t weightBytes_ = 0;
  int64_t quantizedBytes_ = 0, quantizedF32Bytes_ = 0, smoothBytes_ = 0;
  std::vector<ExportSummary::Pruned> pruned_;
  // Per entry:
  func::FuncOp currentEntry_;
  StepShapes shapes_;
};

FailureOr<std::vector<std::unique_ptr<art::DimT>>> Exporter::dimsOf(Value v) {
  std::vector<std::unique_ptr<art::DimT>> dims;
  auto it = shapes_.dims.find(v);
  if (it == shapes_.dims.end())
    return failure();
  for (AffineExpr e : it->second) {
    auto dim = std::make_unique<art::DimT>();
    if (failed(postfix(e, dim->terms)))
      return failure();
    dims.push_back(std::move(dim));
  }
  return dims;
}

/// The output-channel dim of `op`'s weight when every reader is a
/// kiln.linear with one layout.
static std::optional<int> linearOutputAxis(ParamOp op) {
  std::optional<int> axis;
  for (Operation *user : op->getUsers()) {
    auto linear = dyn_cast<LinearOp>(user);
    if (!linear || linear.getWeight() != op.getResult() ||
        linear.getInput() == op.getResult())
      return std::nullopt;
    int a = linear.getLayout() == WeightLayout::InOut ? 1 : 0;
    if (axis && *axis != a)
      return std::nullopt;
    axis = a;
  }
  return axis;
}

FailureOr<int64_t> Exporter::weightSlot(ParamOp op) {
  std::string name = op.getName().str();
  const std::string key = storedWeightKey(op);
  auto type = cast<RankedTensorType>(op.getType());
  Type element = type.getElementType();
  if (auto it = slots_.find(key); it != slots_.end()) {
    art::DType stored = weightSlots_[it->second]
                            ? weightSlots_[it->second]->dtype
                            : art::DType::F32;
    // (A quantized read's key names its integers: its float type is the
    // activations', not the stored one.)
    if (weightSlots_[it->second] && !op.getQuantAttr() &&
        ((element.isBF16() && stored != art::DType::BF16) ||
         (element.isF16() && stored != art::DType::F16))) {
      (void)fail(op, "weight '" + name + "' is read as two element types");
      return failure();
    }
    return it->second;
  }
  if (!element.isF32() && !element.isBF16() && !element.isF16()) {
    (void)fail(op, "only f32, bf16 and f16 weights can be packed so far");
    return failure();
  }
  ShardAttr shard = op.getShardAttr();
  if (rank_ > 0 && !shard) {
    // Rank 0's slot serves every rank.
    slots_[key] = weightSlots_.size();
    weightSlots_.push_back(nullptr);
    return slots_[key];
  }
  // The checkpoint tensors it is made of: itself, or the parts a merged
  // projection concatenates along dim 0.
  std::vector<std::string> sources = {name};
  if (auto parts = op.getParts())
    sources.assign(parts->getAsValueRange<StringAttr>().begin(),
                   parts->getAsValueRange<StringAttr>().end());
  const bool merged = op.getParts().has_value();
  std::vector<const TensorView *> views;
  std::vector<int64_t> partRows; // each part's rows as this rank reads it
  int64_t rows = 0;
  for (const std::string &source : sources) {
    auto view = weights_.get(source);
    if (!view.ok()) {
      (void)fail(op, std::string(view.status().message()));
      return failure();
    }
    std::vector<int64_t> expected(type.getShape().begin(),
                                  type.getShape().end());
    std::vector<int64_t> shape = (*view)->shape;
    if (KeepAttr keep = op.getKeepAttr()) {
      // The kept slices must lie in the tensor; then it has the IR's shape
      // along the other dims.
      if (keep.getAxis() < static_cast<int64_t>(shape.size()) &&
          keep.getIndices().back() < shape[keep.getAxis()])
        shape[keep.getAxis()] = static_cast<int64_t>(keep.getIndices().size());
    }
    if (shard) {
      // A rank's part: the parts must divide the (kept, padded) tensor.
      const auto axis = static_cast<size_t>(shard.getAxis());
      if (axis < shape.size() &&
          (shape[axis] + shard.getPad()) %
                  (shard.getSections() * shard.getParts()) ==
              0)
        shape[axis] = (shape[axis] + shard.getPad()) / shard.getParts();
    }
    if (merged && !expected.empty())
      expected[0] = shape.empty() ? -1 : shape[0];
    if (shape != expected) {
      (void)fail(op, "tensor '" + source + "' does not have the IR's shape");
      return failure();
    }
    rows += expected.empty() ? 1 : expected[0];
    partRows.push_back(expected.empty() ? 1 : expected[0]);
    views.push_back(*view);
  }
  if (merged && rows != type.getDimSize(0)) {
    (void)fail(op, "the parts of '" + name + "' do not add up to its rows");
    return failure();
  }
  auto w = std::make_unique<art::WeightT>();
  w->name = key;
  w->dtype = art::DType::F32;
  w->shape.assign(type.getShape().begin(), type.getShape().end());
  if (merged) {
    for (auto [source, view, partRow] : llvm::zip(sources, views, partRows)) {
      auto part = std::make_unique<art::WeightPartT>();
      part->source = source;
      part->source_dtype = dtypeName(view->dtype);
      part->source_hash = kiln::checksum(view->data, view->bytes);
      part->rows = partRow;
      w->parts.push_back(std::move(part));
    }
  } else {
    w->source = name;
    w->source_dtype = dtypeName(views[0]->dtype);
    w->source_hash = kiln::checksum(views[0]->data, views[0]->bytes);
  }
  if (options_.externalWeights) {
    // The runtime prunes the checkpoint at load as kilnc would have.
    if (KeepAttr keep = op.getKeepAttr()) {
      w->keep_axis = static_cast<int32_t>(keep.getAxis());
      w->keep_from = views[0]->shape[keep.getAxis()];
      w->keep_indices.assign(keep.getIndices().begin(),
                             keep.getIndices().end());
    }
    if (PruneAttr prune = op.getPruneAttr()) {
      const PruneSpec spec = pruneSpecOf(prune);
      w->prune_n = spec.n;
      w->prune_m = spec.m;
      w->prune_axis = spec.axis;
      w->prune_fraction = spec.fraction;
      w->prune_threshold = spec.threshold;
      w->prune_scale = spec.scale;
    }
  }
  if (shard) {
    w->shard_axis = static_cast<int32_t>(shard.getAxis());
    w->shard_sections = shard.getSections();
    w->shard_parts = shard.getParts();
    w->shard_replicas = shard.getReplicas();
    w->shard_pad = shard.getPad();
  }
  // Keep, prune and shard change the values; else they are the
  // checkpoint's.
  std::shared_ptr<std::vector<float>> transformed;
  if (op.getKeepAttr() || op.getPruneAttr() || shard) {
    auto values = transformedValues(op, views);
    if (failed(values))
      return failure();
    transformed = std::make_shared<std::vector<float>>(std::move(*values));
  }
  auto floatValues = [&] {
    if (transformed)
      return *transformed;
    std::vector<float> values;
    values.reserve(type.getNumElements());
    for (const TensorView *view : views)
      for (float x : view->toFloat())
        values.push_back(x);
    return values;
  };
  PruneAttr prune = op.getPruneAttr();
  ExportSummary::Pruned pruned;
  if (prune) {
    pruned.name = key;
    pruned.denseBytes = type.getNumElements() * (element.isF32() ? 4 : 2);
    pruned.elements = static_cast<int64_t>(transformed->size());
    pruned.zeros = llvm::count(*transformed, 0.0f);
    pruned.sparsity = static_cast<double>(pruned.zeros) /
                      static_cast<double>(pruned.elements);
  }
  auto record = [&](StringRef storage, int64_t bytes) {
    if (!prune)
      return;
    pruned.storage = storage.str();
    pruned.bytes = bytes;
    pruned_.push_back(pruned);
  };
  if (QuantAttr quant = op.getQuantAttr()) {
    const int64_t before = weightBytes_;
    if (failed(quantizeSlot(op, quant, floatValues(), *w)))
      return failure();
    record(quant.getBits() == 8 ? "int8, dense" : "int4, dense",
           weightBytes_ - before);
    slots_[key] = weightSlots_.size();
    weightSlots_.push_back(std::move(w));
    return slots_[key];
  }
  // A weight is stored in its IR type (kiln-mixed-precision narrows
  // some); under --gemm-dtype, one only gemms read is stored in that type.
  bool narrowedByGemmDtype =
      options_.gemmDtype != "f32" && gemmOnly_.count(name);
  bool half = !element.isF32() || narrowedByGemmDtype;
  bool bf16 =
      element.isBF16() || (narrowedByGemmDtype && options_.gemmDtype == "bf16");
  if (half)
    w->dtype = bf16 ? art::DType::BF16 : art::DType::F16;
  int64_t elements = type.getNumElements();
  // A 2:4 f32 weight only CPU gemms read is stored compressed; the gemm
  // reads that form (runtime/SparseGemm.h). Else zeros are stored.
  if (prune && prune.isSemiStructured() && prune.getN() == 2 &&
      prune.getM() == 4 && !half && options_.target == "cpu" &&
      gemmOnly_.count(name)) {
    const int outAxis = 1 - static_cast<int>(prune.getAxis());
    Sparse24Format format{type.getDimSize(outAxis),
                          type.getDimSize(1 - outAxis)};
    auto compressed = std::make_shared<Sparse24Weight>(
        compress24(format, transformed->data(), outAxis));
    w->sparse = art::SparseFormat::TwoFour;
    w->sparse_axis = outAxis;
    const int64_t bytes = format.totalBytes(sizeof(float));
    weightBytes_ += bytes;
    if (!options_.externalWeights) {
      w->blob = writer_.addBlob(
          art::BlobKind::Weight, compressed->values.data(),
          compressed->values.size() * sizeof(float), compressed);
      w->indices_blob = writer_.addBlob(
          art::BlobKind::Weight, compressed->indices.data(),
          compressed->indices.size() * sizeof(uint32_t), compressed);
    }
    record("2:4 compressed", bytes);
    slots_[key] = weightSlots_.size();
    weightSlots_.push_back(std::move(w));
    return slots_[key];
  }
  // An unstructured-pruned one past sparseRowsThreshold, as sparse rows.
  std::optional<int> linearAxis = linearOutputAxis(op);
  if (prune && !prune.isSemiStructured() && !half && options_.target == "cpu" &&
      gemmOnly_.count(name) &&
      pruned.sparsity >= sparseRowsThreshold(options_.maxBatch) && linearAxis &&
      type.getDimSize(1 - *linearAxis) <= 65536) {
    const int outAxis = *linearAxis;
    auto rows = std::make_shared<SparseRowsWeight>(
        compressRows(type.getDimSize(outAxis), type.getDimSize(1 - outAxis),
                     transformed->data(), outAxis));
    w->sparse = art::SparseFormat::Rows;
    w->sparse_axis = outAxis;
    const auto valueBytes =
        static_cast<int64_t>(rows->values.size() * sizeof(float));
    const auto indexBytes =
        static_cast<int64_t>(rows->indices.size() * sizeof(uint16_t));
    const auto offsetBytes =
        static_cast<int64_t>(rows->offsets.size() * sizeof(uint32_t));
    const int64_t bytes = valueBytes + indexBytes + offsetBytes;
    weightBytes_ += bytes;
    if (!options_.externalWeights) {
      w->blob = writer_.addBlob(art::BlobKind::Weight, rows->values.data(),
                                valueBytes, rows);
      w->indices_blob = writer_.addBlob(art::BlobKind::Weight,
                                        rows->indices.data(), indexBytes, rows);
      w->offsets_blob = writer_.addBlob(
          art::BlobKind::Weight, rows->offsets.data(), offsetBytes, rows);
    }
    record("sparse rows", bytes);
    slots_[key] = weightSlots_.size();
    weightSlots_.push_back(std::move(w));
    return slots_[key];
  }
  int64_t bytes = elements * (half ? 2 : 4);
  weightBytes_ += bytes;
  record("dense", bytes);
  if (!options_.externalWeights) {
    if (half) {
      auto narrowed = std::make_shared<std::vector<uint16_t>>();
      narrowed->reserve(elements);
      if (transformed) {
        for (float x : *transformed)
          narrowed->push_back(bf16 ? floatToBf16(x) : floatToHalf(x));
      } else {
        for (const TensorView *view : views)
          for (uint16_t x : narrowWeight(*view, bf16))
            narrowed->push_back(x);
      }
      w->blob = writer_.addBlob(art::BlobKind::Weight, narrowed->data(), bytes,
                                narrowed);
    } else if (transformed) {
      w->blob = writer_.addBlob(art::BlobKind::Weight, transformed->data(),
                                bytes, transformed);
    } else if (!merged && views[0]->dtype == DType::F32) {
      w->blob = writer_.addBlob(art::BlobKind::Weight, views[0]->data,
                                views[0]->bytes);
    } else {
      auto converted = std::make_shared<std::vector<float>>();
      converted->reserve(elements);
      for (const TensorView *view : views)
        for (float x : view->toFloat())
          converted->push_back(x);
      w->blob = writer_.addBlob(art::BlobKind::Weight, converted->data(), bytes,
                                converted);
    }
  }
  slots_[key] = weightSlots_.size();
  weightSlots_.push_back(std::move(w));
  return slots_[key];
}

FailureOr<std::vector<float>>
Exporter::transformedValues(ParamOp op,
                            const std::vector<const TensorView *> &views) {
  std::vector<float> out;
  for (const TensorView *view : views) {
    std::vector<float> values = view->toFloat();
    std::vector<int64_t> shape = view->shape;
    if (KeepAttr keep = op.getKeepAttr()) {
      std::vector<int64_t> indices(keep.getIndices().begin(),
                                   keep.getIndices().end());
      values = keepSlices(values.data(), shape, keep.getAxis(), indices);
      shape[keep.getAxis()] = static_cast<int64_t>(indices.size());
    }
    if (PruneAttr prune = op.getPruneAttr())
      applyPrune(pruneSpecOf(prune), values.data(), shape[0], shape[1]);
    if (ShardAttr shard = op.getShardAttr()) {
      const int64_t axis = shard.getAxis();
      SmallVector<int64_t> part = shard.indicesFor(rank_, shape[axis]);
      std::vector<int64_t> indices(part.begin(), part.end());
      values = keepSlices(values.data(), shape, axis, indices);
      shape[axis] = static_cast<int64_t>(indices.size());
    }
    out.insert(out.end(), values.begin(), values.end());
  }
  return out;
}

LogicalResult Exporter::quantizeSlot(ParamOp op, QuantAttr quant,
                                     const std::vector<float> &values,
                                     art::WeightT &w) {
  auto type = cast<RankedTensorType>(op.getType());
  const int64_t axis = quant.getAxis();
  auto format =
      makeQuantFormat(static_cast<int>(quant.getBits()), type.getDimSize(axis),
                      type.getDimSize(1 - axis), quant.getGroup());
  if (!format.ok())
    return fail(op, std::string(format.status().message()));
  w.dtype = quant.getBits() == 8 ? art::DType::I8 : art::DType::I4;
  w.quant_axis = static_cast<int32_t>(axis);
  w.quant_group = format->group;
  w.quant_act_bits = static_cast<int32_t>(quant.getActBits());
  weightBytes_ += format->totalBytes();
  quantizedBytes_ += format->totalBytes();
  quantizedF32Bytes_ += type.getNumElements() * 4;
  std::shared_ptr<std::vector<float>> smooth;
  if (quant.getSmooth()) {
    // Calibrated, not derivable from the checkpoint: embedded always (a
    // row-parallel rank's part of them).
    smooth = std::make_shared<std::vector<float>>(rankSmoothFactors(op, rank_));
    w.smooth_blob = writer_.addBlob(art::BlobKind::Weight, smooth->data(),
                                    smooth->size() * sizeof(float), smooth);
    weightBytes_ += static_cast<int64_t>(smooth->size() * sizeof(float));
    smoothBytes_ += static_cast<int64_t>(smooth->size() * sizeof(float));
  }
  if (options_.externalWeights)
    return success(); // the runtime quantizes at load, the same way
  std::vector<float> stored = values;
  if (smooth)
    smoothWeight(*format, stored.data(), static_cast<int>(axis),
                 smooth->data());
  auto q = std::make_shared<QuantizedWeight>(
      quantizeWeight(*format, stored.data(), static_cast<int>(axis)));
  w.blob = writer_.addBlob(art::BlobKind::Weight, q->values.data(),
                           q->values.size(), q);
  w.scales_blob = writer_.addBlob(art::BlobKind::Weight, q->scales.data(),
                                  q->scales.size() * sizeof(float), q);
  return success();
}

FailureOr<std::unique_ptr<art::BufferT>> Exporter::bufferOf(Value v) {
  auto buffer = std::make_unique<art::BufferT>();
  auto dtype = dtypeOf(v.getType());
  auto dims = dimsOf(v);
  if (failed(dtype) || failed(dims)) {
    (void)fail(v.getDefiningOp(), "a buffer of an unsupported type or shape");
    return failure();
  }
  buffer->dtype = *dtype;
  buffer->dims = std::move(*dims);
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    buffer->kind = art::BufferKind::Argument;
    buffer->index = arg.getArgNumber();
    return buffer;
  }
  Operation *op = v.getDefiningOp();
  if (auto param = dyn_cast<ParamOp>(op)) {
    auto slot = weightSlot(param);
    if (failed(slot))
      return failure();
    buffer->kind = art::BufferKind::Weight;
    buffer->index = *slot;
    // f32, or --gemm-dtype (a rank's shared slot: rank 0's, not needed)
    if (weightSlots_[*slot])
      buffer->dtype = weightSlots_[*slot]->dtype;
    return buffer;
  }
  unsigned result = cast<OpResult>(v).getResultNumber();
  if (auto attention = dyn_cast<AttentionOp>(op); attention && result > 0)
    return bufferOf(result == 1 ? attention.getKCache()
                                : attention.getVCache());
  auto offsets = op->getAttrOfType<DenseI64ArrayAttr>("kiln.arena");
  if (!offsets || offsets[result] < 0) {
    (void)fail(op, "a step result without an arena offset (run "
                   "kiln-plan-memory first)");
    return failure();
  }
  buffer->kind = art::BufferKind::Arena;
  buffer->index = offsets[result];
  return buffer;
}

/// The pipeline stages that run each step of `fn` (kiln-pipeline), a bit
/// each. A send_recv runs on its sender (and its receiver, which the
/// runtime knows from the step); a step reading a value received on stage
/// s, or computed by a step of stage s, runs on s; a step whose operands
/// are arguments, weights and such free steps only runs on every stage
/// that reads its result (outputs: the last stage; an updated kv cache
/// returned is no reader, the step writes it in place). A step reading
/// values of two stages is an error: the pass missed a send_recv.
FailureOr<llvm::DenseMap<Operation *, uint64_t>>
pipelineStages(func::FuncOp fn, int64_t stages) {
  llvm::DenseMap<Operation *, uint64_t> mask;
  llvm::DenseMap<Operation *, int64_t> pinned; // the stage holding its results
  Block &body = fn.getBody().front();
  for (Operation &op : body) {
    if (isa<ParamOp, func::ReturnOp>(op))
      continue;
    if (auto send = dyn_cast<SendRecvOp>(op)) {
      if (send.getTo() >= stages)
        return send.emitError("passes a value to stage ")
               << send.getTo() << " of a " << stages << "-stage pipeline";
      mask[&op] = uint64_t{1} << send.getFrom();
      pinned[&op] = send.getTo();
      continue;
    }
    int64_t stage = -1;
    for (Value v : op.getOperands()) {
      Operation *def = v.getDefiningOp();
      auto it = def ? pinned.find(def) : pinned.end();
      if (it == pinned.end())
        continue;
      if (stage >= 0 && it->second != stage)
        return op.emitError("reads values of pipeline stages ")
               << stage << " and " << it->second << " without a send_recv";
      stage = it->second;
    }
    if (stage >= 0) {
      pinned[&op] = stage;
      mask[&op] = uint64_t{1} << stage;
    }
  }
  for (Operation &op : llvm::reverse(body)) {
    if (isa<ParamOp, func::ReturnOp>(op) || mask.count(&op))
      continue;
    uint64_t readers = 0;
    for (OpOperand &use : op.getUses()) {
      Operation *user = use.getOwner();
      if (isa<func::ReturnOp>(user)) {
        if (!fn.getResultAttr(use.getOperandNumber(), "kiln.role"))
          readers |= uint64_t{1} << (stages - 1);
      } else if (auto it = mask.find(user); it != mask.end()) {
        readers |= it->second;
      }
    }
    mask[&op] = readers ? readers : 1; // read by nothing: stage 0
  }
  return mask;
}

LogicalResult Exporter::exportEntry(func::FuncOp fn, art::ManifestT &manifest) {
  currentEntry_ = fn;
  auto shapes = computeStepShapes(fn);
  if (failed(shapes))
    return fail(fn, "cannot derive the step dims");
  shapes_ = std::move(*shapes);
  auto entry = std::make_unique<art::EntryT>();
  entry->name = fn.getName().str();
  auto arena = fn->getAttrOfType<IntegerAttr>("kiln.arena_bytes");
  if (!arena)
    return fail(fn, "no kiln.arena_bytes (run kiln-plan-memory first)");
  entry->arena_bytes = arena.getInt();

  for (BlockArgument arg : fn.getArguments()) {
    auto a = std::make_unique<art::ArgumentT>();
    auto name =
        fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "kiln.name");
    a->name = name ? name.str() : "#" + std::to_string(arg.getArgNumber());
    auto buffer = bufferOf(arg);
    if (failed(buffer))
      return failure();
    a->dtype = (*buffer)->dtype;
    a->dims = std::move((*buffer)->dims);
    a->role = roleOf(
        fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "kiln.role"));
    entry->arguments.push_back(std::move(a));
  }
  for (auto [i, source] : llvm::enumerate(shapes_.symbolSources)) {
    auto s = std::make_unique<art::SymbolT>();
    s->name = shapes_.symbols[i];
    s->argument = source.first;
    s->dim = source.second;
    s->max = source.second == 0 ? options_.maxBatch : options_.maxSeq;
    entry->symbols.push_back(std::move(s));
  }

  llvm::DenseMap<Operation *, uint64_t> stages;
  if (auto pp = fn->getParentOfType<ModuleOp>()->getAttrOfType<IntegerAttr>(
          "kiln.pipeline_parallel");
      pp && pp.getInt() > 1) {
    auto placed = pipelineStages(fn, pp.getInt());
    if (failed(placed))
      return failure();
    stages = std::move(*placed);
  }
  for (Operation &op : fn.getBody().front()) {
    if (isa<ParamOp>(op))
      continue;
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        auto r = std::make_unique<art::ResultT>();
        auto name = fn.getResultAttrOfType<StringAttr>(i, "kiln.name");
        r->name = name ? name.str() : "result" + std::to_string(i);
        auto buffer = bufferOf(v);
        if (failed(buffer))
          return failure();
        r->buffer = std::move(*buffer);
        r->role = roleOf(fn.getResultAttrOfType<StringAttr>(i, "kiln.role"));
        entry->results.push_back(std::move(r));
      }
      break;
    }
    auto step = std::make_unique<art::StepT>();
    step->location = locationOf(&op);
    if (auto it = stages.find(&op); it != stages.end())
      step->stages = it->second;
    if (auto call = dyn_cast<func::CallOp>(op)) {
      step->kind = art::StepKind::Kernel;
      auto it = std::find_if(
          kernels_.begin(), kernels_.end(),
          [&](const CompiledKernel &k) { return k.name == call.getCallee(); });
      if (it == kernels_.end())
        return fail(&op, "calls a kernel that was not compiled");
      step->kernel = it - kernels_.begin();
    } else if (auto matmul = dyn_cast<MatmulOp>(op)) {
      step->kind = art::StepKind::Gemm;
      step->transpose_lhs = matmul.getTransposeLhs();
      step->transpose_rhs = matmul.getTransposeRhs();
    } else if (auto linear = dyn_cast<LinearOp>(op)) {
      if (!fitsGemmEpilogue(linear))
        return fail(&op, "has an epilogue a gemm step cannot hold");
      step->kind = art::StepKind::Gemm;
      step->transpose_rhs = linear.getLayout() == WeightLayout::OutIn;
      step->has_bias = linear.getBias() != nullptr;
      step->has_residual = linear.getResidual() != nullptr;
      step->activation = linear.getActivation() == Activation::Relu
                             ? art::Activation::Relu
                         : linear.getActivation() == Activation::GeluTanh
                             ? art::Activation::GeluTanh
                             : art::Activation::None;
    } else if (auto norm = dyn_cast<LayerNormOp>(op)) {
      step->kind = art::StepKind::Norm;
      step->norm = art::NormKind::Layer;
      step->epsilon = norm.getEpsilon().convertToDouble();
      step->has_bias = norm.getBias() != nullptr;
    } else if (auto norm = dyn_cast<RmsNormOp>(op)) {
      step->kind = art::StepKind::Norm;
      step->norm = art::NormKind::Rms;
      step->epsilon = norm.getEpsilon().convertToDouble();
    } else if (auto attention = dyn_cast<AttentionOp>(op)) {
      step->kind = art::StepKind::Attention;
      step->num_heads = attention.getNumHeads();
      step->num_kv_heads = attention.getNumKvHeads();
      step->scale = attention.getScaleOrDefault();
      step->has_key_mask = attention.getKeyMask() != nullptr;
      step->has_bias = attention.getBias() != nullptr;
      step->has_cache = attention.hasCache();
      switch (attention.getMask()) {
      case MaskKind::None:
        step->mask = art::MaskKind::None;
        break;
      case MaskKind::Causal:
        step->mask = art::MaskKind::Causal;
        break;
      case MaskKind::Padding:
        step->mask = art::MaskKind::Padding;
        break;
      case MaskKind::CausalPadding:
        step->mask = art::MaskKind::CausalPadding;
        break;
      }
    } else if (auto reduce = dyn_cast<AllReduceOp>(op)) {
      step->kind = art::StepKind::Collective;
      step->collective = art::CollectiveKind::AllReduce;
      step->ranks = reduce.getRanks();
    } else if (auto gather = dyn_cast<AllGatherOp>(op)) {
      step->kind = art::StepKind::Collective;
      step->collective = art::CollectiveKind::AllGather;
      step->ranks = gather.getRanks();
    } else if (auto send = dyn_cast<SendRecvOp>(op)) {
      step->kind = art::StepKind::Collective;
      step->collective = art::CollectiveKind::SendRecv;
      step->peer_stage = send.getTo();
    } else {
      return fail(&op, "is not a step the runtime runs (kernel call, "
                       "matmul, linear, norm, attention or collective)");
    }
    for (Value v : op.getOperands()) {
      auto buffer = bufferOf(v);
      if (failed(buffer))
        return failure();
      step->operands.push_back(std::move(*buffer));
    }
    for (Value v : op.getResults()) {
      auto buffer = bufferOf(v);
      if (failed(buffer))
        return failure();
      step->results.push_back(std::move(*buffer));
    }
    entry->steps.push_back(std::move(step));
  }
  manifest.entries.push_back(std::move(entry));
  return success();
}

} // namespace

FailureOr<ExportSummary>
writeArtifact(ModuleOp stepModule, const std::vector<CompiledKernel> &kernels,
              const std::vector<KernelBinary> &binaries,
              const kiln::ModelInfo &model, const WeightStore &weights,
              const ExportOptions &options, const std::string &path) {
  kiln::ArtifactWriter writer;
  art::ManifestT manifest;
  manifest.producer = "kilnc";
  manifest.target = options.target;
  manifest.model = kiln::toArtifact(model);
  manifest.model->cache_width = options.cacheWidth;
  manifest.model->cache_layers = options.cacheLayers;
  manifest.max_batch = options.maxBatch;
  manifest.max_seq = options.maxSeq;
  manifest.external_weights = options.externalWeights;
  manifest.precision = options.precision;
  manifest.keep_f32 = options.keepF32;
  manifest.range_limit = options.rangeLimit;
  manifest.quantize = options.quantize;
  manifest.quant_group = options.quantGroup;
  manifest.prune = options.prune;
  manifest.prune_threshold = options.pruneThreshold;
  manifest.prune_calibration = options.pruneCalibration;
  manifest.quant_float = options.quantFloat;

  if (!kernels.empty())
    for (const KernelBinary &binary : binaries) {
      auto bytes = std::make_shared<std::string>(binary.bytes);
      writer.addBlob(options.target == "cuda" ? art::BlobKind::CudaKernels
                                              : art::BlobKind::CpuKernels,
                     bytes->data(), bytes->size(), bytes, binary.isa);
    }
  for (const CompiledKernel &k : kernels) {
    auto kernel = std::make_unique<art::KernelT>();
    kernel->name = k.name;
    kernel->symbol = k.symbol;
    kernel->splittable = k.splittable;
    auto fn = stepModule.lookupSymbol<func::FuncOp>(k.name);
    auto types = fn ? fn->getAttrOfType<ArrayAttr>("kiln.buffers") : nullptr;
    if (!types)
      return stepModule.emitError("kernel " + k.name + " has no kiln.buffers");
    for (Attribute attr : types) {
      auto type = cast<RankedTensorType>(cast<TypeAttr>(attr).getValue());
      auto buffer = std::make_unique<art::KernelBufferT>();
      auto dtype = dtypeOf(type);
      if (failed(dtype))
        return fn.emitError("kernel " + k.name +
                            " has a buffer of an unsupported type");
      buffer->dtype = *dtype;
      for (int64_t d : type.getShape())
        buffer->shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
      kernel->buffers.push_back(std::move(buffer));
    }
    manifest.kernels.push_back(std::move(kernel));
  }

  if (!options.tokenizerJson.empty()) {
    auto bytes = std::make_shared<std::string>(options.tokenizerJson);
    manifest.tokenizer = static_cast<int32_t>(writer.addBlob(
        art::BlobKind::Tokenizer, bytes->data(), bytes->size(), bytes));
  }

  Exporter exporter(kernels, weights, options, writer,
                    gemmOnlyWeights(stepModule));
  for (auto fn : stepModule.getOps<func::FuncOp>()) {
    if (!fn.isPublic() || fn.isExternal())
      continue;
    if (failed(exporter.exportEntry(fn, manifest)))
      return failure();
  }
  int64_t cacheBytes = 0;
  for (auto fn : stepModule.getOps<func::FuncOp>())
    if (auto bytes = fn->getAttrOfType<IntegerAttr>("kiln.cache_bytes"))
      cacheBytes = std::max<int64_t>(cacheBytes, bytes.getInt());
  manifest.cache_bytes = cacheBytes;
  manifest.weight_bytes = exporter.weightBytes();
  manifest.weights = exporter.takeWeights();
  // Tensor parallelism: every rank runs the entries above; ranks past 0
  // get their own parts of the sharded weights.
  auto tp = stepModule->getAttrOfType<IntegerAttr>("kiln.tensor_parallel");
  manifest.tensor_parallel = tp ? tp.getInt() : 1;
  manifest.data_parallel = options.dataParallel;
  auto pp = stepModule->getAttrOfType<IntegerAttr>("kiln.pipeline_parallel");
  manifest.pipeline_parallel = pp ? pp.getInt() : 1;
  for (int64_t rank = 1; rank < manifest.tensor_parallel; ++rank) {
    Exporter ranked(kernels, weights, options, writer,
                    gemmOnlyWeights(stepModule), rank);
    art::ManifestT scratch;
    for (auto fn : stepModule.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal() &&
          failed(ranked.exportEntry(fn, scratch)))
        return failure();
    auto parts = std::make_unique<art::RankWeightsT>();
    std::vector<std::unique_ptr<art::WeightT>> slots = ranked.takeWeights();
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i]) {
        parts->slots.push_back(static_cast<uint32_t>(i));
        parts->weights.push_back(std::move(slots[i]));
      }
    manifest.rank_weights.push_back(std::move(parts));
  }
  ExportSummary summary;
  summary.weightBytes = manifest.weight_bytes;
  for (const auto &w : manifest.weights)
    if (w->shard_parts > 0) {
      int64_t elements = 1;
      for (int64_t d : w->shape)
        elements *= d;
      summary.shardedBytes +=
          elements * static_cast<int64_t>(kiln::dtypeBytes(w->dtype));
    }
  // Each stage's weights: the slots its steps read (dense bytes).
  for (int64_t s = 0; s < manifest.pipeline_parallel; ++s) {
    std::set<int64_t> slots;
    for (const auto &entry : manifest.entries)
      for (const auto &step : entry->steps)
        if (step->stages == 0 || (step->stages >> s & 1))
          for (const auto &b : step->operands)
            if (b->kind == art::BufferKind::Weight)
              slots.insert(b->index);
    int64_t bytes = 0;
    for (int64_t slot : slots) {
      const art::WeightT &w = *manifest.weights[slot];
      int64_t elements = 1;
      for (int64_t d : w.shape)
        elements *= d;
      bytes += w.dtype == art::DType::I4
                   ? (elements + 1) / 2
                   : elements * static_cast<int64_t>(kiln::dtypeBytes(w.dtype));
    }
    summary.stageWeightBytes.push_back(bytes);
  }
  summary.quantizedBytes = exporter.quantizedBytes();
  summary.quantizedF32Bytes = exporter.quantizedF32Bytes();
  summary.smoothBytes = exporter.smoothBytes();
  summary.pruned = exporter.takePruned();
  auto written = writer.write(path, std::move(manifest));
  if (!written.ok())
    return stepModule.emitError(std::string(written.status().message()));
  summary.artifactBytes = static_cast<int64_t>(*written);
  return summary;
}

} // namespace kiln
