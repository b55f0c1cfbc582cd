//===- Bisect.cpp - the first step of an artifact that went wrong ---------===//

#include "compiler/Bisect.h"

#include "compiler/Compile.h"
#include "compiler/ModelLoader.h"
#include "compiler/Pruning.h"
#include "compiler/ReferenceRun.h"
#include "dialects/kiln/KilnOps.h"
#include "frontend/Interpreter.h"
#include "passes/Pipelines.h"
#include "passes/Registration.h"
#include "runtime/StepProfile.h"
#include "support/Half.h"
#include "support/Status.h"
#include "tools/common/IdLists.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace mlir;

namespace kiln {
namespace {

using artifact::StepKind;

/// The ops of an entry function that are steps, in order (what the
/// exporter writes: everything but weights and the return).
std::vector<Operation *> stepOps(func::FuncOp fn) {
  std::vector<Operation *> ops;
  for (Operation &op : fn.getBody().front())
    if (!isa<ParamOp, func::ReturnOp>(op))
      ops.push_back(&op);
  return ops;
}

StepKind kindOf(Operation *op) {
  if (isa<func::CallOp>(op))
    return StepKind::Kernel;
  if (isa<MatmulOp, LinearOp>(op))
    return StepKind::Gemm;
  if (isa<AttentionOp>(op))
    return StepKind::Attention;
  return StepKind::Norm;
}

/// Whether `module`'s entries have the artifact's step lists.
bool matches(ModuleOp module, const artifact::ManifestT &m) {
  for (const auto &entry : m.entries) {
    auto fn = module.lookupSymbol<func::FuncOp>(entry->name);
    if (!fn)
      return false;
    std::vector<Operation *> ops = stepOps(fn);
    if (ops.size() != entry->steps.size())
      return false;
    for (size_t i = 0; i < ops.size(); ++i)
      if (kindOf(ops[i]) != entry->steps[i]->kind)
        return false;
  }
  return true;
}

/// The graph ops a step computes: a kernel's body (a fused region's ops
/// inside), or the op itself.
std::string opsOf(Operation *op) {
  auto call = dyn_cast<func::CallOp>(op);
  if (!call)
    return op->getName().stripDialect().str();
  auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
  // Each op name once, in order of first appearance, with its count.
  std::vector<std::pair<std::string, int>> names;
  callee.walk<WalkOrder::PreOrder>([&](Operation *inner) {
    if (isa<func::FuncOp, func::ReturnOp, FusedOp, YieldOp>(inner))
      return;
    std::string name = inner->getName().stripDialect().str();
    auto it = llvm::find_if(names, [&](auto &n) { return n.first == name; });
    if (it == names.end())
      names.push_back({name, 1});
    else
      ++it->second;
  });
  return absl::StrJoin(names, " ", [](std::string *out, const auto &n) {
    absl::StrAppend(out, n.first,
                    n.second > 1 ? absl::StrCat("x", n.second) : "");
  });
}

/// A step buffer read as doubles.
std::vector<double> valuesOf(const rt::StepBuffer &b) {
  int64_t n = 1;
  for (int64_t d : b.dims)
    n *= d;
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) {
    switch (b.dtype) {
    case rt::DType::F32:
      out[i] = static_cast<const float *>(b.data)[i];
      break;
    case rt::DType::I64:
      out[i] = static_cast<double>(static_cast<const int64_t *>(b.data)[i]);
      break;
    case rt::DType::F64:
      out[i] = static_cast<const double *>(b.data)[i];
      break;
    case rt::DType::BF16:
      out[i] = bf16ToFloat(static_cast<const uint16_t *>(b.data)[i]);
      break;
    case rt::DType::F16:
      out[i] = halfToFloat(static_cast<const uint16_t *>(b.data)[i]);
      break;
    default:
      out[i] = NAN; // not compared yet: reported as not finite
    }
  }
  return out;
}

/// Wraps the CPU executor: remembers the first call's entry and arguments,
/// and the cache sizes it was reset to.
class FirstCall : public rt::Executor {
public:
  explicit FirstCall(rt::Executor &inner) : inner_(inner) {}
  absl::Status resetCaches(int64_t batch, int64_t length) override {
    batch_ = batch;
    length_ = length;
    return inner_.resetCaches(batch, length);
  }
  absl::StatusOr<std::vector<rt::NamedTensor>>
  run(const std::string &entry, const std::vector<rt::Tensor> &args) override {
    if (++calls_ == 1) {
      entry_ = entry;
      args_ = args;
    }
    return inner_.run(entry, args);
  }
  bool first() const { return calls_ <= 1; }
  int64_t calls_ = 0, batch_ = 0, length_ = 0;
  std::string entry_;
  std::vector<rt::Tensor> args_;

private:
  rt::Executor &inner_;
};

/// Puts each W8A8 weight's SmoothQuant factors, as the artifact stores
/// them, on the linears reading it (`kiln.smooth`, which
/// kiln-quantize-weights takes), as kilnc's calibration did.
void attachSmoothFactors(const Artifact &artifact, ModuleOp module) {
  const artifact::ManifestT &m = artifact.manifest();
  llvm::StringMap<std::vector<float>> factors;
  for (const auto &w : m.weights)
    if (w->smooth_blob >= 0 &&
        static_cast<size_t>(w->smooth_blob) < m.blobs.size()) {
      const auto *data =
          reinterpret_cast<const float *>(artifact.blobData(w->smooth_blob));
      // The slot's name is the weight's storage key: the checkpoint (or
      // merged) name, then '#' and how it is stored.
      const std::string name = w->name.substr(0, w->name.find('#'));
      factors[name].assign(data, data + artifact.blobSize(w->smooth_blob) /
                                            sizeof(float));
    }
  module.walk([&](LinearOp linear) {
    auto param = linear.getWeight().getDefiningOp<ParamOp>();
    auto it = param ? factors.find(param.getName()) : factors.end();
    if (it != factors.end())
      setSmoothFactors(linear, it->second);
  });
}

} // namespace

absl::StatusOr<BisectReport> bisect(const BisectOptions &o) {
  KILN_ASSIGN_OR_RETURN(auto artifact, Artifact::open(o.artifact));
  const artifact::ManifestT &m = artifact->manifest();
  if (m.target != "cpu")
    return absl::InvalidArgumentError(
        absl::StrCat(o.artifact, ": compiled for ", m.target,
                     "; bisection runs CPU artifacts (the same model "
                     "compiled for the cpu target)"));
  // A partitioned artifact's steps hold one rank's part of each value;
  // the interpreter's reference is the whole one.
  if (m.tensor_parallel > 1 || m.pipeline_parallel > 1 || m.data_parallel > 1)
    return absl::InvalidArgumentError(absl::StrCat(
        o.artifact, ": compiled for ",
        std::max<int64_t>(1, m.tensor_parallel) *
            std::max<int64_t>(1, m.pipeline_parallel) *
            std::max<int64_t>(1, m.data_parallel),
        " ranks (--tp/--pp/--dp); bisection runs single-rank artifacts: "
        "compile one with the same options but those"));
  DialectRegistry registry;
  registerKilnCompilerDialects(registry);
  registerKilnCompilerPasses();
  MLIRContext context(registry);
  KILN_ASSIGN_OR_RETURN(LoadedModel model, loadModel(context, o.modelDir));

  // The step list as kilnc built it: fused or not, whichever matches.
  OwningOpRef<ModuleOp> steps;
  for (bool fuse : {true, false}) {
    OwningOpRef<ModuleOp> copy = cast<ModuleOp>((*model.module)->clone());
    PassManager pm(&context);
    KilnStepListOptions options;
    options.maxBatch = m.max_batch;
    options.maxSeq = m.max_seq;
    options.fuse = fuse;
    options.precision = m.precision.empty() ? "fp32" : m.precision;
    options.keepF32 = m.keep_f32;
    options.rangeLimit = m.range_limit;
    if (!m.quantize.empty() && m.quantize != "none") {
      // The guardrail's decisions as kilnc recorded them.
      options.quantBits = quantSchemeBits(m.quantize);
      options.quantGroup = m.quant_group;
      options.quantExclude = m.quant_float;
      options.quantActBits = m.quantize == "w8a8" ? 8 : 0;
    }
    if (!m.prune.empty() && m.prune != "none") {
      // The pruning as kilnc did it: the same request, bound and scores.
      KILN_ASSIGN_OR_RETURN(PruneRequest request, parsePruneRequest(m.prune));
      setPruneOptions(request, m.prune_threshold, options);
      if (!m.prune_calibration.empty()) {
        // Activation-aware scores: the norms kilnc measured, measured
        // again on the same ids (the calibration runs a LoadedModel: the
        // copy borrows the model's place).
        KILN_ASSIGN_OR_RETURN(
            auto ids, parseIdLists(m.prune_calibration, "prune_calibration"));
        std::swap(copy, model.module);
        auto tokens = recordInputNorms(model, m.max_seq, ids);
        std::swap(copy, model.module);
        KILN_RETURN_IF_ERROR(tokens.status());
      }
      if (request.structured()) {
        KILN_RETURN_IF_ERROR(
            recordNeuronScores(*copy, *model.weights).status());
        KILN_RETURN_IF_ERROR(recordHeadScores(*copy, *model.weights).status());
      }
    }
    bool built;
    if (m.range_limit > 0 || options.quantActBits) {
      // The fp16 range guard: calibrated between the graph passes and the
      // rest, as kilnc did (the calibration runs a LoadedModel: the copy
      // borrows the model's place and weights). W8A8: the SmoothQuant
      // factors kilnc calibrated, as the artifact stores them.
      buildKilnGraphPipeline(pm, options);
      built = succeeded(pm.run(*copy));
      if (built) {
        absl::Status ranges = absl::OkStatus();
        if (m.range_limit > 0) {
          std::swap(copy, model.module);
          ranges = recordValueRanges(model, m.max_seq);
          std::swap(copy, model.module);
        }
        if (options.quantActBits)
          attachSmoothFactors(*artifact, *copy);
        PassManager tail(&context);
        buildKilnStepListTail(tail, options);
        built = ranges.ok() && succeeded(tail.run(*copy));
      }
    } else {
      buildKilnStepListPipeline(pm, options);
      built = succeeded(pm.run(*copy));
    }
    if (built && matches(*copy, m)) {
      steps = std::move(copy);
      break;
    }
  }
  if (!steps)
    return absl::InvalidArgumentError(absl::StrCat(
        "the step list rebuilt from ", o.modelDir, " does not match ",
        o.artifact, "'s (another model, or other compile options)"));

  // The artifact, its first call's steps recorded.
  std::vector<std::vector<std::vector<double>>> got;
  std::vector<std::vector<std::vector<int64_t>>> gotShapes;
  FirstCall *recorder = nullptr;
  rt::CpuOptions cpu;
  cpu.weightsDir = o.weightsDir.empty() ? o.modelDir : o.weightsDir;
  cpu.threads = 1;
  cpu.stepHook = [&](const std::string &entry, size_t index,
                     const std::vector<rt::StepBuffer> &results) {
    if (o.plant)
      o.plant(entry, index, results);
    if (!recorder || !recorder->first())
      return;
    std::vector<std::vector<double>> values;
    std::vector<std::vector<int64_t>> shapes;
    for (const rt::StepBuffer &b : results) {
      values.push_back(valuesOf(b));
      shapes.push_back(b.dims);
    }
    got.push_back(std::move(values));
    gotShapes.push_back(std::move(shapes));
  };
  KILN_ASSIGN_OR_RETURN(auto executor, rt::CpuExecutor::create(*artifact, cpu));
  KILN_ASSIGN_OR_RETURN(ModelInfo info, fromArtifact(m.model.get()));
  FirstCall first(*executor);
  recorder = &first;
  rt::Request request = o.request;
  request.maxNewTokens = 0; // the first call is what is compared
  KILN_RETURN_IF_ERROR(rt::runModel(info, first, request).status());

  // The reference: the same entry of the rebuilt step list on the same
  // arguments (caches zero, as the executor's after a reset).
  auto fn = steps->lookupSymbol<func::FuncOp>(first.entry_);
  std::vector<HostTensor> args;
  for (size_t i = 0; i < fn.getNumArguments(); ++i) {
    Type element = getElementTypeOrSelf(fn.getArgumentTypes()[i]);
    if (i < first.args_.size()) {
      args.push_back(toHost(first.args_[i], element));
      continue;
    }
    auto type = cast<RankedTensorType>(fn.getArgumentTypes()[i]);
    args.push_back(HostTensor::zeros(
        {first.batch_, first.length_, type.getShape().back()}, element));
  }
  std::vector<Operation *> ops = stepOps(fn);
  std::vector<std::vector<HostTensor>> want;
  Interpreter interpreter(*model.weights, InterpreterPrecision::F32);
  interpreter.setObserver(
      [&](Operation *op,
          llvm::function_ref<const HostTensor &(Value)> valueOf) {
        // The entry's own steps, not the ops of the kernels it calls.
        if (isa<ParamOp>(op) || op->getParentOp() != fn.getOperation())
          return absl::OkStatus();
        std::vector<HostTensor> results;
        for (Value v : op->getResults())
          results.push_back(valueOf(v));
        want.push_back(std::move(results));
        return absl::OkStatus();
      });
  KILN_RETURN_IF_ERROR(interpreter.run(fn, args).status());

  const artifact::EntryT *entry = nullptr;
  for (const auto &e : m.entries)
    if (e->name == first.entry_)
      entry = e.get();
  BisectReport report;
  report.entry = first.entry_;
  for (size_t i = 0; i < ops.size() && i < got.size() && i < want.size(); ++i) {
    const artifact::StepT &step = *entry->steps[i];
    StepError e;
    e.index = i;
    e.kind = rt::stepName(m, step);
    e.ops = opsOf(ops[i]);
    e.location = step.location;
    for (size_t r = 0; r < got[i].size() && r < want[i].size(); ++r) {
      const std::vector<double> &g = got[i][r];
      const std::vector<double> &w = want[i][r].values;
      if (g.size() != w.size() || gotShapes[i][r] != want[i][r].shape) {
        e.relative = INFINITY;
        continue;
      }
      double diff = 0, norm = 0;
      for (size_t k = 0; k < g.size(); ++k) {
        e.finite = e.finite && std::isfinite(g[k]);
        diff += (g[k] - w[k]) * (g[k] - w[k]);
        norm += w[k] * w[k];
        e.maxAbs = std::max(e.maxAbs, std::fabs(g[k] - w[k]));
      }
      e.relative = std::max(e.relative, norm > 0 ? std::sqrt(diff / norm)
                                                 : std::sqrt(diff));
    }
    if (report.firstWrong < 0 && (!e.finite || !(e.relative <= o.tolerance)))
      report.firstWrong = static_cast<int64_t>(i);
    report.steps.push_back(std::move(e));
  }
  return report;
}

} // namespace kiln
