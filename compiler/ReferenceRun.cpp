//===- ReferenceRun.cpp - a loaded model run on the reference interpreter -===//

#include "compiler/ReferenceRun.h"

#include "dialects/kiln/KilnOps.h"
#include "passes/Transforms/Prune.h"
#include "support/Quantize.h"
#include "support/Status.h"

#include "absl/status/status.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include "absl/strings/str_cat.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

using namespace mlir;

namespace kiln {

HostTensor toHost(const rt::Tensor &t, Type elementType) {
  HostTensor h = HostTensor::zeros(t.shape, elementType);
  for (int64_t i = 0; i < t.numElements(); ++i) {
    switch (t.dtype) {
    case rt::DType::F64:
      h.values[i] = t.data<double>()[i];
      break;
    case rt::DType::F32:
      h.values[i] = t.data<float>()[i];
      break;
    case rt::DType::I64:
      h.values[i] = static_cast<double>(t.data<int64_t>()[i]);
      break;
    default:
      h.values[i] = 0;
    }
  }
  return h;
}

rt::Tensor fromHost(const HostTensor &h) {
  bool isInt = h.elementType.isInteger(64) || h.elementType.isInteger(32);
  rt::Tensor t =
      rt::Tensor::zeros(isInt ? rt::DType::I64 : rt::DType::F64, h.shape);
  for (size_t i = 0; i < h.values.size(); ++i) {
    if (isInt)
      t.data<int64_t>()[i] = static_cast<int64_t>(h.values[i]);
    else
      t.data<double>()[i] = h.values[i];
  }
  return t;
}

namespace {

/// The entry points of a loaded module, run by the interpreter; the caches
/// are host tensors passed in and taken back on every call.
class InterpreterExecutor : public rt::Executor {
public:
  InterpreterExecutor(const LoadedModel &model, Interpreter &interpreter)
      : model_(model), interpreter_(interpreter) {}

  absl::Status resetCaches(int64_t batch, int64_t length) override {
    // The widths of the entries' cache arguments (a partitioned module's
    // are one rank's heads).
    std::vector<int64_t> widths;
    for (auto fn : model_.module.get().getOps<func::FuncOp>()) {
      for (unsigned i = 0; i < fn.getNumArguments(); ++i)
        if (fn.getArgAttr(i, "kiln.role"))
          widths.push_back(cast<RankedTensorType>(fn.getArgumentTypes()[i])
                               .getShape()
                               .back());
      if (!widths.empty())
        break;
    }
    caches_.clear();
    for (int64_t width : widths)
      caches_.push_back(HostTensor::zeros(
          {batch, length, width},
          Float32Type::get(model_.module.get().getContext())));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<rt::NamedTensor>>
  run(const std::string &entry,
      const std::vector<rt::Tensor> &arguments) override {
    auto fn = model_.module.get().lookupSymbol<func::FuncOp>(entry);
    if (!fn)
      return absl::InternalError("the model has no entry point " + entry);
    std::vector<HostTensor> args;
    for (size_t i = 0; i < arguments.size(); ++i)
      args.push_back(
          toHost(arguments[i], getElementTypeOrSelf(fn.getArgumentTypes()[i])));
    bool withCaches = fn.getNumArguments() > arguments.size();
    if (withCaches)
      args.insert(args.end(), caches_.begin(), caches_.end());
    auto out = interpreter_.run(fn, args);
    if (!out.ok())
      return out.status();
    std::vector<rt::NamedTensor> named;
    std::vector<HostTensor> caches;
    for (unsigned i = 0; i < out->size(); ++i) {
      auto attr = fn.getResultAttrOfType<StringAttr>(i, "kiln.name");
      std::string name = attr ? attr.str() : absl::StrCat("result", i);
      // The kv caches (marked by the graph builder) stay here.
      if (fn.getResultAttr(i, "kiln.role"))
        caches.push_back(std::move((*out)[i]));
      else
        named.push_back({name, fromHost((*out)[i])});
    }
    if (withCaches)
      caches_ = std::move(caches);
    return named;
  }

private:
  const LoadedModel &model_;
  Interpreter &interpreter_;
  std::vector<HostTensor> caches_;
};

/// The simulated ranks of a partitioned module (kiln-partition): each
/// collective is a barrier at which every rank leaves its input and takes
/// the group's result, summed in rank order like the runtime's.
class SimulatedGroup {
public:
  explicit SimulatedGroup(int64_t ranks) : inputs_(ranks) {}

  absl::StatusOr<HostTensor> collective(int64_t rank, Operation *op,
                                        const HostTensor &input) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t round = round_;
    inputs_[rank] = &input;
    if (++arrived_ == static_cast<int64_t>(inputs_.size())) {
      results_ = combine(op);
      arrived_ = 0;
      ++round_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return round_ != round || failed_; });
    }
    if (round_ == round)
      return absl::AbortedError("another simulated rank failed");
    HostTensor result = results_;
    // Every rank takes its copy before the inputs are reused.
    if (++taken_ == static_cast<int64_t>(inputs_.size())) {
      taken_ = 0;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return taken_ == 0 || failed_; });
    }
    return result;
  }

  void fail() {
    std::lock_guard<std::mutex> lock(mutex_);
    failed_ = true;
    changed_.notify_all();
  }

private:
  HostTensor combine(Operation *op) {
    const HostTensor &first = *inputs_[0];
    if (isa<AllReduceOp>(op)) {
      HostTensor sum = first;
      for (size_t r = 1; r < inputs_.size(); ++r)
        for (size_t i = 0; i < sum.values.size(); ++i)
          sum.values[i] += inputs_[r]->values[i];
      return sum;
    }
    const int64_t cols = first.shape.empty() ? 1 : first.shape.back();
    const int64_t rows = cols ? first.numElements() / cols : 0;
    const auto ranks = static_cast<int64_t>(inputs_.size());
    std::vector<int64_t> shape = first.shape;
    shape.back() *= ranks;
    HostTensor out = HostTensor::zeros(shape, first.elementType);
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t r = 0; r < ranks; ++r)
        for (int64_t c = 0; c < cols; ++c)
          out.values[(row * ranks + r) * cols + c] =
              inputs_[r]->values[row * cols + c];
    return out;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<const HostTensor *> inputs_;
  HostTensor results_;
  int64_t arrived_ = 0, taken_ = 0;
  uint64_t round_ = 0;
  bool failed_ = false;
};

/// Every simulated rank of a partitioned module, one thread each per call;
/// rank 0's outputs (every rank holds the same after the last collective).
class SimulatedRanks : public rt::Executor {
public:
  SimulatedRanks(std::vector<std::unique_ptr<InterpreterExecutor>> ranks,
                 SimulatedGroup &group)
      : ranks_(std::move(ranks)), group_(group) {}

  absl::Status resetCaches(int64_t batch, int64_t length) override {
    for (auto &rank : ranks_)
      KILN_RETURN_IF_ERROR(rank->resetCaches(batch, length));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<rt::NamedTensor>>
  run(const std::string &entry,
      const std::vector<rt::Tensor> &arguments) override {
    std::vector<absl::StatusOr<std::vector<rt::NamedTensor>>> results(
        ranks_.size(), absl::UnknownError("not run"));
    std::vector<std::thread> threads;
    for (size_t r = 0; r < ranks_.size(); ++r)
      threads.emplace_back([&, r] {
        results[r] = ranks_[r]->run(entry, arguments);
        if (!results[r].ok())
          group_.fail();
      });
    for (std::thread &t : threads)
      t.join();
    for (auto &result : results)
      if (!result.ok() && !absl::IsAborted(result.status()))
        return result.status();
    return std::move(results[0]);
  }

private:
  std::vector<std::unique_ptr<InterpreterExecutor>> ranks_;
  SimulatedGroup &group_;
};

} // namespace

absl::StatusOr<RunResult> runModel(const LoadedModel &model,
                                   const RunRequest &request) {
  // A partitioned module runs its ranks together, simulated.
  auto tp =
      model.module.get()->getAttrOfType<IntegerAttr>("kiln.tensor_parallel");
  const int64_t ranks = tp ? tp.getInt() : 1;
  std::vector<std::unique_ptr<Interpreter>> interpreters;
  std::vector<std::unique_ptr<InterpreterExecutor>> executors;
  SimulatedGroup group(ranks);
  // Calibration observes every rank's part of the values (one rank at a
  // time).
  std::mutex observing;
  for (int64_t r = 0; r < ranks; ++r) {
    interpreters.push_back(
        std::make_unique<Interpreter>(*model.weights, request.precision));
    Interpreter &interpreter = *interpreters.back();
    if (request.callHandler)
      interpreter.setCallHandler(request.callHandler);
    if (request.observer)
      interpreter.setObserver(
          [&observing, &request,
           r](Operation *op,
              llvm::function_ref<const HostTensor &(Value)> valueOf) {
            std::lock_guard<std::mutex> lock(observing);
            return request.observer(r, op, valueOf);
          });
    if (ranks > 1)
      interpreter.setRank(r,
                          [&group, r](Operation *op, const HostTensor &input) {
                            return group.collective(r, op, input);
                          });
    executors.push_back(
        std::make_unique<InterpreterExecutor>(model, interpreter));
  }
  std::optional<SimulatedRanks> simulated;
  if (ranks > 1)
    simulated.emplace(std::move(executors), group);
  rt::Executor &executor =
      simulated ? static_cast<rt::Executor &>(*simulated) : *executors[0];
  auto response = rt::runModel(modelInfo(model.config), executor, request);
  if (!response.ok())
    return response.status();
  RunResult result;
  Type f32 = Float32Type::get(model.module.get().getContext());
  for (const auto &[name, tensor] : response->outputs)
    result.outputs.push_back(
        {name, toHost(tensor, tensor.dtype == rt::DType::I64
                                  ? IntegerType::get(f32.getContext(), 64)
                                  : f32)});
  result.generated = std::move(response->generated);
  return result;
}

} // namespace kiln

namespace kiln {

/// The calibration request: `ids` (one sequence each, cut to fit
/// `maxSeq`), or two sequences of up to 16 ids spread over the vocabulary;
/// two generated tokens for decoders.
static RunRequest calibrationRequest(const LoadedModel &model, int64_t maxSeq,
                                     std::vector<std::vector<int64_t>> ids) {
  const int64_t vocab = std::max<int64_t>(model.config.vocabSize, 1);
  const int64_t length = std::clamp<int64_t>(maxSeq - 3, 1, 16);
  RunRequest request;
  if (ids.empty())
    for (int64_t b = 0; b < 2; ++b) {
      std::vector<int64_t> sequence;
      for (int64_t i = 0; i < std::max<int64_t>(1, length - 4 * b); ++i)
        sequence.push_back((i * 7919 + b * 104729 + 1) % vocab);
      ids.push_back(std::move(sequence));
    }
  int64_t longest = 0;
  for (std::vector<int64_t> &sequence : ids) {
    if (static_cast<int64_t>(sequence.size()) >
        std::max<int64_t>(1, maxSeq - 2))
      sequence.resize(std::max<int64_t>(1, maxSeq - 2));
    longest = std::max<int64_t>(longest, sequence.size());
  }
  request.inputIds = std::move(ids);
  const ModelInfo info = modelInfo(model.config);
  if (info.isDecoderOnly() || model.config.family == Family::T5)
    request.maxNewTokens = std::clamp<int64_t>(maxSeq - longest, 0, 2);
  request.ignoreEos = true;
  return request;
}

/// Runs a calibration request (its observer records what it measures); an
/// error says what was being calibrated.
static absl::Status calibrate(const LoadedModel &model,
                              const RunRequest &request, const char *what) {
  auto run = runModel(model, request);
  if (run.ok())
    return absl::OkStatus();
  return absl::Status(
      run.status().code(),
      absl::StrCat("calibrating ", what, ": ", run.status().message()));
}

absl::Status recordValueRanges(LoadedModel &model, int64_t maxSeq) {
  RunRequest request = calibrationRequest(model, maxSeq, {});
  llvm::DenseMap<Operation *, std::vector<double>> ranges;
  request.observer = [&](int64_t, Operation *op,
                         llvm::function_ref<const HostTensor &(Value)> valueOf)
      -> absl::Status {
    auto fn = dyn_cast<func::FuncOp>(op->getParentOp());
    if (!fn || fn->hasAttr("kiln.kernel"))
      return absl::OkStatus();
    for (OpResult result : op->getResults()) {
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (!type || !isa<FloatType>(type.getElementType()))
        continue;
      std::vector<double> &r = ranges[op];
      r.resize(op->getNumResults(), 0.0);
      double &largest = r[result.getResultNumber()];
      for (double v : valueOf(result).values)
        largest = std::isfinite(v) ? std::max(largest, std::fabs(v)) : INFINITY;
    }
    return absl::OkStatus();
  };
  KILN_RETURN_IF_ERROR(calibrate(model, request, "value ranges"));
  for (auto &[op, r] : ranges)
    op->setAttr("kiln.max_abs", DenseF64ArrayAttr::get(op->getContext(), r));
  return absl::OkStatus();
}

absl::StatusOr<int64_t>
recordInputNorms(LoadedModel &model, int64_t maxSeq,
                 const std::vector<std::vector<int64_t>> &ids) {
  // Per weight as a linear reads it (name, in_out layout): each input
  // feature's sum of squares.
  std::map<std::pair<std::string, bool>, std::vector<double>> squares;
  int64_t tokens = 0;
  auto keyOf =
      [](LinearOp linear) -> std::optional<std::pair<std::string, bool>> {
    auto param = linear.getWeight().getDefiningOp<ParamOp>();
    if (!param)
      return std::nullopt;
    return std::make_pair(param.getName().str(),
                          linear.getLayout() == WeightLayout::InOut);
  };
  for (const std::vector<int64_t> &sequence : ids) {
    RunRequest request = calibrationRequest(model, maxSeq, {sequence});
    request.maxNewTokens = 0;
    tokens += static_cast<int64_t>(request.inputIds.front().size());
    request.observer =
        [&](int64_t, Operation *op,
            llvm::function_ref<const HostTensor &(Value)> valueOf)
        -> absl::Status {
      auto linear = dyn_cast<LinearOp>(op);
      if (!linear || !isa<func::FuncOp>(op->getParentOp()))
        return absl::OkStatus();
      std::optional<std::pair<std::string, bool>> key = keyOf(linear);
      if (!key)
        return absl::OkStatus();
      const HostTensor &x = valueOf(linear.getInput());
      const int64_t k = x.shape.empty() ? 0 : x.shape.back();
      if (k <= 0)
        return absl::OkStatus();
      std::vector<double> &sum = squares[*key];
      sum.resize(k, 0.0);
      for (int64_t i = 0; i < x.numElements(); ++i)
        sum[i % k] += x.values[i] * x.values[i];
      return absl::OkStatus();
    };
    KILN_RETURN_IF_ERROR(calibrate(model, request, "activation norms"));
  }
  model.module->walk([&](LinearOp linear) {
    std::optional<std::pair<std::string, bool>> key = keyOf(linear);
    auto found = key ? squares.find(*key) : squares.end();
    if (found == squares.end())
      return;
    std::vector<double> norms;
    for (double s : found->second)
      norms.push_back(std::sqrt(s));
    linear->setAttr(kInputNorms,
                    DenseF64ArrayAttr::get(linear.getContext(), norms));
  });
  return tokens;
}

void setSmoothFactors(Operation *linear, llvm::ArrayRef<float> factors) {
  auto type = RankedTensorType::get({static_cast<int64_t>(factors.size())},
                                    Float32Type::get(linear->getContext()));
  linear->setAttr("kiln.smooth", DenseFPElementsAttr::get(type, factors));
}

absl::Status recordQuantErrors(LoadedModel &model, int64_t maxSeq,
                               const QuantCalibration &calibration) {
  const int bits = calibration.bits;
  const bool actQuant = calibration.actBits == 8;
  const bool smoothing = actQuant && calibration.smoothAlpha >= 0;
  RunRequest request = calibrationRequest(model, maxSeq, calibration.ids);
  // Per weight (each entry function reads it through its own linear op):
  // one error over all the calls, so every entry decides alike. With
  // tensor parallelism each rank quantizes its own part (kilnc quantizes
  // each rank's shard): the error is over every rank's part of the output
  // (of a row-parallel linear, the parts before their all_reduce).
  struct Layer {
    /// The weight as stored, in its layout, per rank's tensor.
    std::map<const HostTensor *, std::vector<double>> dequantized;
    double errorSquares = 0, referenceSquares = 0;
    std::vector<Operation *> ops;
    /// W8A8: each input feature's largest |x| and |w| over every rank's
    /// part (the ranks' tensors whose |w| is in), then the factors.
    std::vector<float> activationPeaks, weightPeaks, smooth;
    std::set<const HostTensor *> peaked;
  };
  std::map<std::pair<std::string, bool>, Layer> layers;
  // The linear `op` reads a checkpoint weight not yet quantized: its
  // layer, input, weight, sizes, and the whole weight's input feature each
  // of the rank's `k` is (a row-parallel rank holds a part of them).
  struct Read {
    Layer *layer;
    const HostTensor *x, *w;
    bool inOut;
    int64_t m, n, k, wholeK;
    SmallVector<int64_t> features;
  };
  auto readOf = [&](int64_t rank, Operation *op,
                    llvm::function_ref<const HostTensor &(Value)> valueOf)
      -> std::optional<Read> {
    auto linear = dyn_cast<LinearOp>(op);
    auto param =
        linear ? linear.getWeight().getDefiningOp<ParamOp>() : ParamOp();
    if (!param || param.getQuantAttr() || !isa<func::FuncOp>(op->getParentOp()))
      return std::nullopt;
    const HostTensor &x = valueOf(linear.getInput());
    const HostTensor &w = valueOf(linear.getWeight());
    const bool inOut = linear.getLayout() == WeightLayout::InOut;
    const int64_t k = x.shape.back();
    const int64_t n = inOut ? w.shape[1] : w.shape[0];
    const int64_t m = k ? x.numElements() / k : 0;
    const int64_t inAxis = inOut ? 0 : 1;
    const int64_t wholeK = wholeInputFeatures(param, inAxis);
    SmallVector<int64_t> features = rankInputFeatures(param, inAxis, rank);
    Layer &layer = layers[{param.getName().str(), inOut}];
    if (!llvm::is_contained(layer.ops, op))
      layer.ops.push_back(op);
    return Read{&layer, &x, &w, inOut, m, n, k, wholeK, std::move(features)};
  };
  // An observer calling `onRead` for each such read.
  auto observeReads = [&](auto onRead) {
    return
        [&readOf, onRead](int64_t rank, Operation *op,
                          llvm::function_ref<const HostTensor &(Value)> valueOf)
            -> absl::Status {
          std::optional<Read> read = readOf(rank, op, valueOf);
          return read ? onRead(*read) : absl::OkStatus();
        };
  };
  if (smoothing) {
    // First run: the activation ranges SmoothQuant's factors come from.
    request.observer = observeReads([&](const Read &read) -> absl::Status {
      Layer &layer = *read.layer;
      const int64_t k = read.k, n = read.n;
      // A pad feature (past wholeK) has zero weights: no peak of its own.
      auto peak = [&](std::vector<float> &peaks, int64_t j, double v) {
        const int64_t feature = read.features[j];
        if (feature < read.wholeK)
          peaks[feature] =
              std::max(peaks[feature], static_cast<float>(std::fabs(v)));
      };
      layer.activationPeaks.resize(read.wholeK, 0.0f);
      layer.weightPeaks.resize(read.wholeK, 0.0f);
      if (layer.peaked.insert(read.w).second) {
        const std::vector<double> &w = read.w->values;
        for (int64_t i = 0; i < n * k; ++i)
          // Input feature of element i: its row (in_out) or column.
          peak(layer.weightPeaks, read.inOut ? i / n : i % k, w[i]);
      }
      const std::vector<double> &x = read.x->values;
      for (int64_t i = 0; i < read.m * k; ++i)
        peak(layer.activationPeaks, i % k, x[i]);
      return absl::OkStatus();
    });
    KILN_RETURN_IF_ERROR(calibrate(model, request, "activation ranges"));
    for (auto &[key, layer] : layers) {
      layer.smooth.resize(layer.weightPeaks.size());
      for (size_t j = 0; j < layer.smooth.size(); ++j)
        layer.smooth[j] =
            smoothFactor(layer.activationPeaks[j], layer.weightPeaks[j],
                         calibration.smoothAlpha);
    }
  }
  request.observer = observeReads([&](const Read &read) -> absl::Status {
    Layer &layer = *read.layer;
    const HostTensor &x = *read.x, &w = *read.w;
    const bool inOut = read.inOut;
    const int64_t m = read.m, n = read.n, k = read.k;
    // This rank's part of the factors.
    const std::vector<float> smooth =
        layer.smooth.empty() ? std::vector<float>{}
                             : rankFactors(layer.smooth, read.features);
    const float *factors = smooth.empty() ? nullptr : smooth.data();
    std::vector<double> &dequantized = layer.dequantized[&w];
    if (dequantized.empty()) {
      auto format = makeQuantFormat(
          bits, n, k,
          calibration.group ? calibration.group : defaultQuantGroup(bits));
      if (!format.ok())
        return format.status();
      dequantized = quantizedValues(*format, w.values, inOut ? 1 : 0, factors);
    }
    // The product with the weight (and, for W8A8, the input) as stored and
    // as checkpointed: the error the quantization adds to this layer's
    // output (before bias and activation, which both sides share).
    std::vector<double> quantizedInput;
    if (actQuant)
      quantizedInput = fakeQuantizeActivations(x.values.data(), m, k, factors);
    std::vector<double> reference(m * n), quantized(m * n);
    auto product = [&](const double *input, const double *weight,
                       double *into) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans,
                  inOut ? CblasNoTrans : CblasTrans, m, n, k, 1.0, input, k,
                  weight, inOut ? n : k, 0.0, into, n);
    };
    product(x.values.data(), w.values.data(), reference.data());
    product(actQuant ? quantizedInput.data() : x.values.data(),
            dequantized.data(), quantized.data());
    for (int64_t i = 0; i < m * n; ++i) {
      const double d = quantized[i] - reference[i];
      layer.errorSquares += d * d;
      layer.referenceSquares += reference[i] * reference[i];
    }
    return absl::OkStatus();
  });
  KILN_RETURN_IF_ERROR(calibrate(model, request, "quantization"));
  for (auto &[key, layer] : layers) {
    double error = layer.referenceSquares > 0
                       ? std::sqrt(layer.errorSquares / layer.referenceSquares)
                       : (layer.errorSquares > 0 ? INFINITY : 0.0);
    for (Operation *op : layer.ops) {
      op->setAttr("kiln.quant_error",
                  FloatAttr::get(Float64Type::get(op->getContext()), error));
      if (!layer.smooth.empty())
        setSmoothFactors(op, layer.smooth);
    }
  }
  return absl::OkStatus();
}

} // namespace kiln
