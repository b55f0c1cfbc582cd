//===- GraphBuilder.h - building kiln IR for a model ----------------------===//
//
// kiln::GraphBuilder is the C++ API models are written in. It builds one
// module of entry functions in the kiln dialect:
//
//   GraphBuilder g(context, weights);
//   g.setWeightPrefix("transformer.");
//   auto args = g.beginFunction("prefill", {{"input_ids", g.i64({kDyn,
//                                                                kDyn})}});
//   Value h = g.embedding(g.param("wte.weight", {V, H}), args[0]);
//   ...
//   g.endFunction({{"logits", logits}});
//   absl::StatusOr<OwningOpRef<ModuleOp>> module = g.finish();
//
// Parameters are looked up in the weights as they are declared: a missing
// tensor or a shape/dtype that differs from what the model expects is
// recorded (the first such error is returned by finish(), naming the tensor
// and the file), so model code reads as straight-line graph code.
// Checkpoints store weights with or without the base-model prefix
// (`transformer.`, `bert.`, `roberta.`, `model.`); param() accepts both.
// Weights stored as f16/bf16 are declared in their own type and cast to f32.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_GRAPHBUILDER_H
#define KILN_FRONTEND_GRAPHBUILDER_H

#include "dialects/kiln/KilnOps.h"
#include "support/SafeTensors.h"

#include "absl/status/statusor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/DenseMap.h"

#include <string>
#include <utility>
#include <vector>

namespace kiln {

inline constexpr int64_t kDyn = mlir::ShapedType::kDynamic;

class GraphBuilder {
public:
  using Value = mlir::Value;
  using Shape = llvm::ArrayRef<int64_t>;

  GraphBuilder(mlir::MLIRContext &context, const WeightStore &weights);

  /// Plan-only graphs (kilnc --plan): no checkpoint is read; every param
  /// has the shape the model expects, `prefix + name` and `elementType`
  /// (the checkpoint dtype config.json names).
  void setPlanOnly(mlir::Type elementType) { planType_ = elementType; }

  /// Weights are looked up as `prefix + name` first, then as `name`.
  void setWeightPrefix(std::string prefix) { prefix_ = std::move(prefix); }
  /// The checkpoint name `name` resolves to, if the tensor exists.
  std::optional<std::string> resolveWeight(const std::string &name) const;
  bool hasWeight(const std::string &name) const {
    return resolveWeight(name).has_value();
  }

  // Types.
  mlir::RankedTensorType f32(Shape shape);
  mlir::RankedTensorType i64(Shape shape);

  // Entry functions: inputs are named (arg attribute `kiln.name`), as are
  // outputs (result attribute `kiln.name`).
  std::vector<Value>
  beginFunction(llvm::StringRef name,
                llvm::ArrayRef<std::pair<std::string, mlir::Type>> inputs);
  void endFunction(llvm::ArrayRef<std::pair<std::string, Value>> outputs);

  /// Returns the module, or the first error recorded while building.
  absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> finish();
  /// Records an error (the first one wins).
  void fail(const std::string &message);
  bool ok() const { return status_.ok(); }

  // Leaves.
  /// The weight `name` with the expected shape, as f32.
  Value param(const std::string &name, Shape shape);
  /// The first of `names` that exists (e.g. a tied weight stored under
  /// either name).
  Value paramAny(llvm::ArrayRef<std::string> names, Shape shape);
  Value scalar(double value, mlir::Type elementType = nullptr);
  Value iota(Value source, int64_t dim);

  // Elementwise.
  Value add(Value a, Value b);
  Value sub(Value a, Value b);
  Value mul(Value a, Value b);
  Value div(Value a, Value b);
  Value tanh(Value x);
  Value relu(Value x);
  Value silu(Value x);
  Value gelu(Value x, GeluApproximation approximation);
  Value cast(Value x, mlir::Type elementType);
  Value compare(ComparePredicate predicate, Value a, Value b);
  Value select(Value condition, Value onTrue, Value onFalse);

  // Contractions, norms.
  Value matmul(Value a, Value b, bool transposeA = false,
               bool transposeB = false);
  Value linear(Value x, Value weight, Value bias, WeightLayout layout,
               Activation activation = Activation::None,
               Value residual = nullptr);
  Value layerNorm(Value x, Value scale, Value bias, double epsilon);
  Value rmsNorm(Value x, Value scale, double epsilon);
  Value softmax(Value x, int64_t dim);

  // Gather, shape.
  Value embedding(Value table, Value ids);
  Value reshape(Value x, Shape shape);
  Value transpose(Value x, llvm::ArrayRef<int64_t> permutation);
  Value slice(Value x, int64_t dim, int64_t start, int64_t end,
              int64_t step = 1);

  // Composites.
  struct AttentionResult {
    Value output, kCache, vCache;
  };
  struct AttentionOptions {
    int64_t numHeads = 0, numKvHeads = 0;
    MaskKind mask = MaskKind::None;
    Value keyMask, bias;
    Value kCache, vCache, positions; // all three or none
    std::optional<double> scale;
  };
  AttentionResult attention(Value q, Value k, Value v,
                            const AttentionOptions &options);
  Value rotary(Value x, Value positions, int64_t numHeads, double theta,
               RopeLlama3ScalingAttr scaling = nullptr);
  Value relativePositionBias(Value table, Value queryPositions,
                             Value keyPositions, bool bidirectional,
                             int64_t numBuckets, int64_t maxDistance);

  /// The location of the ops built from here on: the module path they
  /// belong to (with the checkpoint's prefix, e.g. "model.layers.3"), so
  /// every step of the artifact says which layer it computes; "" for none.
  void at(const std::string &scope);

  mlir::ImplicitLocOpBuilder &builder() { return b_; }

private:
  mlir::MLIRContext &context_;
  const WeightStore &weights_;
  mlir::ImplicitLocOpBuilder b_;
  mlir::OwningOpRef<mlir::ModuleOp> module_;
  mlir::func::FuncOp function_;
  /// The updated kv caches of this function's attentions, by role.
  llvm::DenseMap<mlir::Value, const char *> cacheResults_;
  std::string prefix_;
  mlir::Type planType_;
  absl::Status status_;
};

} // namespace kiln

#endif // KILN_FRONTEND_GRAPHBUILDER_H
