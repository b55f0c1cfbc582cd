//===- GoldenTest.cpp - the interpreter against Hugging Face outputs ------===//
//
// For every fixture under test/golden/fixtures (tiny random-weight models
// and the outputs transformers computed for them, made by
// test/golden/make_fixtures.py), runs the model folder through the
// interpreter, as built and after --kiln-decompose, and checks:
//   * every named output within 1e-4 relative norm error of HF's (padded
//     positions excluded; NaN never passes);
//   * greedy ids equal to HF's up to the first step whose recorded top-2
//     logit gap is below 1e-3 (where a near-tie may legitimately flip).
// A decomposed-and-rematched mode runs the graph after --kiln-decompose
// then --kiln-match-attention: every kiln.attention (with its kv cache,
// masks and bias) must come back, and the result must still match.
// Another mode runs the step list code generation makes: every kernel step
// is generated x86-64 code (kilnc's CPU path, linked into a shared object
// and called through the kernel ABI in two work ranges), gemm steps are
// BLAS and attention steps the reference attention. Each kernel's result
// is also checked against the interpreter on the same inputs. Step results
// live in one arena at the planned offsets (kernels read their inputs from
// it), and every step's shape is checked against its planned dims.
//
//===----------------------------------------------------------------------===//

#include "test/support/Golden.h"
#include "compiler/ReferenceRun.h"
#include "passes/Codegen/CpuKernels.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "passes/Registration.h"
#include "support/Files.h"
#include "support/Npy.h"

#include "dialects/kiln/KilnOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/TargetSelect.h"

#include <dlfcn.h>
#include <unistd.h>

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

enum class Mode { Interpreted, Decomposed, Rematched, CompiledKernels };

struct Case {
  std::string fixture;
  Mode mode;
};

const char *modeName(Mode mode) {
  switch (mode) {
  case Mode::Interpreted:
    return "";
  case Mode::Decomposed:
    return "_decomposed";
  case Mode::Rematched:
    return "_rematched";
  case Mode::CompiledKernels:
    return "_compiled_kernels";
  }
  return "";
}

void PrintTo(const Case &c, std::ostream *os) {
  *os << c.fixture << modeName(c.mode);
}

/// Generated kernels loaded from a shared object, run for func.call steps.
class CompiledKernels {
public:
  ~CompiledKernels() {
    if (handle_)
      dlclose(handle_);
  }

  /// Forms the step list (with its arena plan for `maxBatch` x `maxSeq`)
  /// in `model`'s module and compiles its kernels.
  bool compile(kiln::LoadedModel &model, int64_t maxBatch, int64_t maxSeq,
               std::string &error) {
    mlir::PassManager pm(model.module->getContext());
    kiln::KilnStepListOptions steps;
    steps.maxBatch = maxBatch;
    steps.maxSeq = maxSeq;
    kiln::buildKilnStepListPipeline(pm, steps);
    if (mlir::failed(pm.run(*model.module))) {
      error = "forming the step list failed";
      return false;
    }
    int64_t arenaBytes = 0;
    model.module->walk([&](mlir::func::FuncOp fn) {
      if (auto bytes = fn->getAttrOfType<mlir::IntegerAttr>("kiln.arena_bytes"))
        arenaBytes = std::max<int64_t>(arenaBytes, bytes.getInt());
    });
    arena_.assign(arenaBytes, 0);
    std::string base = ::testing::TempDir() + "kiln-kernels-" +
                       std::to_string(::getpid()) + "-" +
                       std::to_string(counter_++);
    kernels_ = kiln::collectKernels(*model.module);
    if (mlir::failed(
            kiln::compileCpuKernels(*model.module, {{.path = base + ".o"}})) ||
        mlir::failed(kiln::linkSharedObject(model.module->getLoc(),
                                            {base + ".o"}, base + ".so"))) {
      error = "compiling the kernels failed (see the diagnostics above)";
      return false;
    }
    handle_ = dlopen((base + ".so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
      error = dlerror();
      return false;
    }
    return true;
  }

  /// Runs a kernel step: the interpreter's result gives the shape and the
  /// reference; the generated kernel computes it in two work ranges.
  kiln::CallHandler handler(kiln::Interpreter &reference,
                            const std::string &fixture) {
    return [this, &reference,
            fixture](mlir::func::CallOp call,
                     const std::vector<kiln::HostTensor> &args)
               -> absl::StatusOr<std::vector<kiln::HostTensor>> {
      auto callee =
          mlir::SymbolTable::lookupNearestSymbolFrom<mlir::func::FuncOp>(
              call, call.getCalleeAttr());
      auto expected = reference.run(callee, args);
      if (!expected.ok())
        return expected.status();
      const kiln::CompiledKernel *kernel = nullptr;
      for (const kiln::CompiledKernel &k : kernels_)
        if (k.name == callee.getName())
          kernel = &k;
      using Fn = void (*)(void **, const int64_t *, int64_t, int64_t);
      auto fn = reinterpret_cast<Fn>(dlsym(handle_, kernel->symbol.c_str()));
      if (!fn)
        return absl::NotFoundError("no symbol " + kernel->symbol);

      // Operands the plan places in the arena are read from there: a plan
      // that let a live buffer be overwritten gives wrong inputs here.
      std::vector<kiln::HostTensor> tensors = args;
      for (auto [i, operand] : llvm::enumerate(call.getOperands())) {
        int64_t offset = arenaOffset(operand);
        if (offset < 0)
          continue;
        std::vector<char> bytes = pack(tensors[i]);
        std::memcpy(bytes.data(), arena_.data() + offset, bytes.size());
        unpack(bytes, tensors[i]);
      }
      // Every result (a multi-result fused kernel has several, of one
      // shape), zeroed, after the operands.
      const size_t operands = tensors.size();
      std::vector<kiln::HostTensor> results = *expected;
      for (kiln::HostTensor &r : results) {
        std::fill(r.values.begin(), r.values.end(), 0.0);
        tensors.push_back(r);
      }
      std::vector<std::vector<char>> storage;
      std::vector<void *> pointers;
      std::vector<int64_t> shapes;
      for (const kiln::HostTensor &t : tensors) {
        storage.push_back(pack(t));
        pointers.push_back(storage.back().data());
        shapes.insert(shapes.end(), t.shape.begin(), t.shape.end());
      }
      int64_t rows = results[0].shape.empty() ? 1 : results[0].shape[0];
      if (kernel->splittable && rows > 1) {
        fn(pointers.data(), shapes.data(), 0, rows / 2);
        fn(pointers.data(), shapes.data(), rows / 2, rows);
      } else {
        fn(pointers.data(), shapes.data(), 0, 1);
      }
      for (size_t r = 0; r < results.size(); ++r) {
        unpack(storage[operands + r], results[r]);
        // Non-finite reference values are compared for equality only: they
        // stand for unspecified results (a float -> int cast of -inf, as
        // T5's bucket computes for distance 0 and then discards).
        bool finite = true;
        double relative = kiln::test::relativeErrorExcludingPadding(
            {static_cast<int64_t>(results[r].values.size())}, results[r].values,
            (*expected)[r].values, /*lengths=*/{}, finite,
            /*skipNonFiniteExpected=*/true);
        EXPECT_TRUE(finite)
            << fixture << ": kernel " << kernel->name << " result " << r;
        EXPECT_LE(relative, 1e-5)
            << fixture << ": kernel " << kernel->name << " result " << r;
      }
      return results;
    };
  }

  /// Writes every planned step result into the arena at its offset,
  /// after checking its dims against the plan's expressions evaluated with
  /// the call's actual symbols.
  kiln::OpObserver observer() {
    return [this](mlir::Operation *op,
                  llvm::function_ref<const kiln::HostTensor &(mlir::Value)>
                      valueOf) -> absl::Status {
      auto offsets = op->getAttrOfType<mlir::DenseI64ArrayAttr>("kiln.arena");
      auto dims = op->getAttrOfType<mlir::ArrayAttr>("kiln.dims");
      if (!offsets || !dims)
        return absl::OkStatus();
      auto fn = op->getParentOfType<mlir::func::FuncOp>();
      llvm::SmallVector<mlir::AffineExpr> symbols;
      for (mlir::BlockArgument arg : fn.getArguments()) {
        auto type = mlir::cast<mlir::RankedTensorType>(arg.getType());
        for (int64_t d = 0; d < type.getRank(); ++d)
          if (type.isDynamicDim(d))
            symbols.push_back(mlir::getAffineConstantExpr(valueOf(arg).shape[d],
                                                          op->getContext()));
      }
      for (auto [i, result] : llvm::enumerate(op->getResults())) {
        const kiln::HostTensor &value = valueOf(result);
        auto map = mlir::cast<mlir::AffineMapAttr>(dims[i]).getValue();
        std::vector<int64_t> planned;
        for (mlir::AffineExpr e : map.getResults())
          planned.push_back(
              mlir::cast<mlir::AffineConstantExpr>(
                  mlir::simplifyAffineExpr(e.replaceSymbols(symbols), 0,
                                           symbols.size()))
                  .getValue());
        if (planned != value.shape)
          return absl::InternalError("kiln.dims of a step disagree with its "
                                     "result's shape");
        int64_t offset = offsets[i];
        if (offset < 0)
          continue;
        std::vector<char> bytes = pack(value);
        if (offset + static_cast<int64_t>(bytes.size()) >
            static_cast<int64_t>(arena_.size()))
          return absl::InternalError("a step result overflows the arena");
        std::memcpy(arena_.data() + offset, bytes.data(), bytes.size());
      }
      return absl::OkStatus();
    };
  }

private:
  static int64_t arenaOffset(mlir::Value value) {
    auto result = mlir::dyn_cast<mlir::OpResult>(value);
    if (!result)
      return -1;
    auto offsets =
        result.getOwner()->getAttrOfType<mlir::DenseI64ArrayAttr>("kiln.arena");
    return offsets ? offsets[result.getResultNumber()] : -1;
  }

  static std::vector<char> pack(const kiln::HostTensor &t) {
    mlir::Type e = t.elementType;
    size_t width = e.isF32() ? 4 : e.isInteger(64) ? 8 : 1;
    std::vector<char> bytes(t.values.size() * width);
    for (size_t i = 0; i < t.values.size(); ++i) {
      if (e.isF32()) {
        float v = static_cast<float>(t.values[i]);
        std::memcpy(&bytes[i * 4], &v, 4);
      } else if (e.isInteger(64)) {
        // Non-finite stands for an unspecified integer (see the comparison
        // below); any value will do, but converting it is undefined.
        double d = t.values[i];
        int64_t v = std::isfinite(d) ? static_cast<int64_t>(d) : 0;
        std::memcpy(&bytes[i * 8], &v, 8);
      } else {
        bytes[i] = t.values[i] != 0;
      }
    }
    return bytes;
  }
  static void unpack(const std::vector<char> &bytes, kiln::HostTensor &t) {
    mlir::Type e = t.elementType;
    for (size_t i = 0; i < t.values.size(); ++i) {
      if (e.isF32()) {
        float v;
        std::memcpy(&v, &bytes[i * 4], 4);
        t.values[i] = v;
      } else if (e.isInteger(64)) {
        int64_t v;
        std::memcpy(&v, &bytes[i * 8], 8);
        t.values[i] = static_cast<double>(v);
      } else {
        t.values[i] = bytes[i] != 0;
      }
    }
  }

  void *handle_ = nullptr;
  std::vector<kiln::CompiledKernel> kernels_;
  std::vector<char> arena_;
  static inline int counter_ = 0;
};

class GoldenTest : public ::testing::TestWithParam<Case> {};

TEST_P(GoldenTest, MatchesTransformers) {
  const Case &param = GetParam();
  fs::path dir = fs::path(KILN_GOLDEN_DIR) / param.fixture;
  auto goldenJson = kiln::readJsonObject((dir / "golden.json").string());
  ASSERT_TRUE(goldenJson.ok()) << goldenJson.status();
  Json &golden = *goldenJson;

  mlir::DialectRegistry registry;
  kiln::registerKilnCompilerDialects(registry);
  kiln::registerKilnCompilerPasses();
  mlir::MLIRContext context(registry);
  auto model = kiln::loadModel(context, dir.string(),
                               param.mode == Mode::Decomposed ||
                                   param.mode == Mode::Rematched);
  ASSERT_TRUE(model.ok()) << model.status();
  if (param.mode == Mode::Rematched) {
    auto attentionOps = [](mlir::ModuleOp module) {
      int64_t n = 0;
      module->walk([&](kiln::AttentionOp) { ++n; });
      return n;
    };
    auto built = kiln::loadModel(context, dir.string());
    ASSERT_TRUE(built.ok()) << built.status();
    mlir::PassManager pm(&context);
    pm.addPass(kiln::createKilnMatchAttention());
    pm.addPass(mlir::createCanonicalizerPass());
    ASSERT_TRUE(mlir::succeeded(pm.run(*model->module)));
    EXPECT_EQ(attentionOps(*model->module), attentionOps(*built->module));
    int64_t leftovers = 0;
    model->module->walk([&](mlir::Operation *op) {
      leftovers +=
          mlir::isa<kiln::CacheWriteOp, kiln::CausalMaskOp, kiln::SoftmaxOp>(
              op);
    });
    EXPECT_EQ(leftovers, 0) << "attention ops left unmatched";
  }
  CompiledKernels compiled;
  kiln::Interpreter reference(*model->weights, kiln::InterpreterPrecision::F32);

  kiln::RunRequest request;
  std::vector<int64_t> lengths = golden["lengths"].get<std::vector<int64_t>>();
  auto padded = golden["input_ids"].get<std::vector<std::vector<int64_t>>>();
  for (size_t b = 0; b < padded.size(); ++b)
    request.inputIds.emplace_back(padded[b].begin(),
                                  padded[b].begin() + lengths[b]);
  if (golden.contains("token_type_ids")) {
    auto types =
        golden["token_type_ids"].get<std::vector<std::vector<int64_t>>>();
    for (size_t b = 0; b < types.size(); ++b)
      request.tokenTypeIds.emplace_back(types[b].begin(),
                                        types[b].begin() + lengths[b]);
  }
  if (golden.contains("generate")) {
    request.maxNewTokens = golden["generate"]["max_new_tokens"].get<int64_t>();
    request.ignoreEos = true;
  }
  if (param.mode == Mode::CompiledKernels) {
    // The arena is planned for this batch and the longest sequence the run
    // makes (prompt + new tokens; T5's cache holds the new tokens).
    int64_t maxSeq = padded.front().size() + request.maxNewTokens + 1;
    std::string error;
    ASSERT_TRUE(compiled.compile(*model, padded.size(), maxSeq, error))
        << error;
    request.callHandler = compiled.handler(reference, param.fixture);
    request.observer =
        [observer = compiled.observer()](
            int64_t, mlir::Operation *op,
            llvm::function_ref<const kiln::HostTensor &(mlir::Value)> valueOf) {
          return observer(op, valueOf);
        };
  }
  auto result = kiln::runModel(*model, request);
  ASSERT_TRUE(result.ok()) << result.status();

  for (auto it = golden["outputs"].begin(); it != golden["outputs"].end();
       ++it) {
    auto expected =
        kiln::readNpy((dir / it.value().get<std::string>()).string());
    ASSERT_TRUE(expected.ok()) << expected.status();
    const kiln::HostTensor *ours = nullptr;
    for (const auto &[name, tensor] : result->outputs)
      if (name == it.key())
        ours = &tensor;
    ASSERT_NE(ours, nullptr) << "no output named " << it.key();
    ASSERT_EQ(ours->shape, expected->shape) << it.key();

    bool finite = true;
    double relative = kiln::test::relativeErrorExcludingPadding(
        expected->shape, ours->values, expected->values, lengths, finite);
    EXPECT_TRUE(finite) << it.key() << " holds NaN or infinity";
    EXPECT_LE(relative, 1e-4) << param.fixture << " " << it.key();
    std::cout << "[golden] " << param.fixture << modeName(param.mode) << " "
              << it.key() << ": relative error " << relative << "\n";
  }

  if (!golden.contains("generate"))
    return;
  auto ids = golden["generate"]["ids"].get<std::vector<std::vector<int64_t>>>();
  auto gaps =
      golden["generate"]["top2_gaps"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(result->generated.size(), ids.size());
  for (size_t b = 0; b < ids.size(); ++b) {
    ASSERT_EQ(result->generated[b].size(), ids[b].size()) << "sequence " << b;
    for (size_t t = 0; t < ids[b].size(); ++t) {
      if (gaps[b][t] < 1e-3)
        break; // a near-tie: later tokens may legitimately differ
      EXPECT_EQ(result->generated[b][t], ids[b][t])
          << "sequence " << b << " step " << t;
    }
  }
}

std::vector<Case> allCases() {
  std::vector<Case> cases;
  for (const std::string &name :
       kiln::test::goldenFixtureNames(KILN_GOLDEN_DIR))
    for (Mode mode : {Mode::Interpreted, Mode::Decomposed, Mode::Rematched,
                      Mode::CompiledKernels})
      cases.push_back({name, mode});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::ValuesIn(allCases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return info.param.fixture +
                                  modeName(info.param.mode);
                         });

} // namespace
