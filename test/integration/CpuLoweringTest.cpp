//===- CpuLoweringTest.cpp - generated CPU code against the interpreter ---===//
//
// For every golden fixture and entry point: lowers the kiln graph through
// --kiln-lower-to-linalg and the CPU pipeline (bufferization, loops, LLVM),
// JIT-compiles it with MLIR's ExecutionEngine, calls it with the same inputs
// and weights as the reference interpreter, and requires every result
// within 1e-4 relative norm error of the interpreter's (fp32). This checks
// the kiln -> linalg lowering numerically; the step list, the arena and the
// shared object are the codegen issue's later steps.
//
//===----------------------------------------------------------------------===//

#include "compiler/ReferenceRun.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "passes/Registration.h"
#include "support/Files.h"
#include "test/support/Golden.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

namespace {

namespace fs = std::filesystem;
using kiln::HostTensor;

/// One argument buffer and its memref descriptor (allocated, aligned,
/// offset, sizes, strides: the layout finalize-memref-to-llvm gives).
struct Buffer {
  std::vector<float> f32;
  std::vector<int64_t> i64;
  std::vector<int64_t> descriptor;
  bool isFloat = true;

  static Buffer from(const HostTensor &t, mlir::Type element) {
    Buffer b;
    b.isFloat = element.isF32();
    if (b.isFloat)
      b.f32.assign(t.values.begin(), t.values.end());
    else
      b.i64.assign(t.values.begin(), t.values.end());
    void *data = b.isFloat ? static_cast<void *>(b.f32.data())
                           : static_cast<void *>(b.i64.data());
    b.descriptor = {reinterpret_cast<int64_t>(data),
                    reinterpret_cast<int64_t>(data), 0};
    for (int64_t d : t.shape)
      b.descriptor.push_back(d);
    int64_t stride = 1;
    std::vector<int64_t> strides(t.shape.size());
    for (int64_t i = static_cast<int64_t>(t.shape.size()) - 1; i >= 0; --i) {
      strides[i] = stride;
      stride *= t.shape[i];
    }
    b.descriptor.insert(b.descriptor.end(), strides.begin(), strides.end());
    return b;
  }
};

double relativeError(const std::vector<float> &got, const HostTensor &ref) {
  bool finite = true;
  double relative = kiln::test::relativeErrorExcludingPadding(
      ref.shape, got, ref.values, /*lengths=*/{}, finite);
  return finite ? relative : INFINITY;
}

class CpuLoweringTest : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    kiln::registerKilnCompilerPasses();
  }

  /// Runs entry `name` through the interpreter and through generated code
  /// and compares; returns the interpreter's results for chaining calls.
  std::vector<HostTensor> check(const kiln::LoadedModel &model,
                                mlir::ModuleOp lowered,
                                const std::vector<std::string> &paramNames,
                                mlir::ExecutionEngine &engine,
                                const std::string &name,
                                const std::vector<HostTensor> &args) {
    auto fn = model.module.get().lookupSymbol<mlir::func::FuncOp>(name);
    kiln::Interpreter interpreter(*model.weights,
                                  kiln::InterpreterPrecision::F32);
    auto expected = interpreter.run(fn, args);
    EXPECT_TRUE(expected.ok()) << expected.status();
    if (!expected.ok())
      return {};

    std::vector<Buffer> buffers;
    for (auto [i, arg] : llvm::enumerate(args))
      buffers.push_back(Buffer::from(
          arg, mlir::getElementTypeOrSelf(fn.getArgumentTypes()[i])));
    for (const std::string &param : paramNames) {
      const kiln::TensorView *view = *model.weights->get(param);
      HostTensor t;
      t.shape = view->shape;
      t.values = view->toDouble();
      buffers.push_back(
          Buffer::from(t, mlir::Float32Type::get(lowered.getContext())));
    }
    size_t firstResult = buffers.size();
    for (auto [i, result] : llvm::enumerate(*expected)) {
      HostTensor zeros = HostTensor::zeros(
          result.shape, mlir::getElementTypeOrSelf(fn.getResultTypes()[i]));
      buffers.push_back(Buffer::from(zeros, zeros.elementType));
    }
    std::vector<void *> descriptorPointers;
    for (Buffer &b : buffers)
      descriptorPointers.push_back(b.descriptor.data());
    llvm::SmallVector<void *> packed;
    for (void *&p : descriptorPointers)
      packed.push_back(&p);
    llvm::Error error = engine.invokePacked("_mlir_ciface_" + name, packed);
    EXPECT_FALSE(static_cast<bool>(error)) << llvm::toString(std::move(error));

    for (size_t i = 0; i < expected->size(); ++i) {
      const Buffer &out = buffers[firstResult + i];
      double relative = out.isFloat
                            ? relativeError(out.f32, (*expected)[i])
                            : relativeError(std::vector<float>(out.i64.begin(),
                                                               out.i64.end()),
                                            (*expected)[i]);
      EXPECT_LE(relative, 1e-4)
          << GetParam() << " @" << name << " result " << i;
      std::cout << "[cpu] " << GetParam() << " @" << name << " result " << i
                << ": relative error " << relative << "\n";
    }
    return *expected;
  }
};

TEST_P(CpuLoweringTest, MatchesInterpreter) {
  fs::path dir = fs::path(KILN_GOLDEN_DIR) / GetParam();
  auto goldenJson = kiln::readJsonObject((dir / "golden.json").string());
  ASSERT_TRUE(goldenJson.ok()) << goldenJson.status();
  nlohmann::json &golden = *goldenJson;

  mlir::DialectRegistry registry;
  kiln::registerKilnCompilerDialects(registry);
  mlir::MLIRContext context(registry);
  auto model = kiln::loadModel(context, dir.string());
  ASSERT_TRUE(model.ok()) << model.status();

  // Lower a copy: to linalg with weights bound as arguments, then to LLVM.
  mlir::OwningOpRef<mlir::ModuleOp> lowered = model->module->clone();
  lowered->walk([&](mlir::func::FuncOp fn) {
    fn->setAttr("llvm.emit_c_interface", mlir::UnitAttr::get(&context));
  });
  mlir::PassManager toLinalg(&context);
  kiln::buildKilnToLinalgPipeline(toLinalg);
  toLinalg.addPass(kiln::createKilnBindParams());
  ASSERT_TRUE(mlir::succeeded(toLinalg.run(*lowered)));
  std::map<std::string, std::vector<std::string>> params;
  lowered->walk([&](mlir::func::FuncOp fn) {
    for (unsigned i = 0; i < fn.getNumArguments(); ++i)
      if (auto name = fn.getArgAttrOfType<mlir::StringAttr>(i, "kiln.param"))
        params[fn.getName().str()].push_back(name.str());
  });
  mlir::PassManager toLLVM(&context);
  ASSERT_TRUE(mlir::succeeded(kiln::buildKilnCpuLoweringPipeline(toLLVM)));
  ASSERT_TRUE(mlir::succeeded(toLLVM.run(*lowered)));
  mlir::ExecutionEngineOptions options;
  auto engine = mlir::ExecutionEngine::create(*lowered, options);
  ASSERT_TRUE(static_cast<bool>(engine)) << llvm::toString(engine.takeError());

  // The fixture's padded batch.
  auto padded = golden["input_ids"].get<std::vector<std::vector<int64_t>>>();
  auto lengths = golden["lengths"].get<std::vector<int64_t>>();
  int64_t batch = padded.size(), seq = padded.front().size();
  mlir::Type i64 = mlir::IntegerType::get(&context, 64);
  mlir::Type f32 = mlir::Float32Type::get(&context);
  HostTensor ids = HostTensor::zeros({batch, seq}, i64);
  HostTensor mask = HostTensor::zeros({batch, seq}, i64);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s) {
      ids.values[b * seq + s] = padded[b][s];
      mask.values[b * seq + s] = s < lengths[b] ? 1 : 0;
    }
  const kiln::ModelConfig &c = model->config;
  auto caches = [&](int64_t layers, int64_t maxSeq) {
    std::vector<HostTensor> out;
    for (int64_t i = 0; i < 2 * layers; ++i)
      out.push_back(
          HostTensor::zeros({batch, maxSeq, c.numKvHeads * c.headDim}, f32));
    return out;
  };
  auto column = [&](std::vector<int64_t> values, std::vector<int64_t> shape) {
    HostTensor t = HostTensor::zeros(shape, i64);
    t.values.assign(values.begin(), values.end());
    return t;
  };

  switch (c.family) {
  case kiln::Family::Gpt2:
  case kiln::Family::Llama: {
    std::vector<HostTensor> args = {
        ids, column(std::vector<int64_t>(batch, 0), {batch})};
    for (HostTensor &cache : caches(c.numLayers, seq + 2))
      args.push_back(cache);
    auto prefill =
        check(*model, *lowered, params["prefill"], **engine, "prefill", args);
    ASSERT_FALSE(prefill.empty());
    // One decode step per sequence at its own length, on the prefill
    // caches.
    std::vector<HostTensor> step = {column({5, 7}, {batch, 1}),
                                    column(lengths, {batch})};
    step.insert(step.end(), prefill.begin() + 1, prefill.end());
    check(*model, *lowered, params["decode"], **engine, "decode", step);
    break;
  }
  case kiln::Family::Bert:
  case kiln::Family::Roberta: {
    HostTensor types = HostTensor::zeros({batch, seq}, i64);
    if (golden.contains("token_type_ids")) {
      auto tt =
          golden["token_type_ids"].get<std::vector<std::vector<int64_t>>>();
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t s = 0; s < seq; ++s)
          types.values[b * seq + s] = tt[b][s];
    }
    check(*model, *lowered, params["forward"], **engine, "forward",
          {ids, types, mask});
    break;
  }
  case kiln::Family::T5: {
    auto encoded = check(*model, *lowered, params["encode"], **engine, "encode",
                         {ids, mask});
    ASSERT_FALSE(encoded.empty());
    std::vector<HostTensor> args = {
        column(std::vector<int64_t>(batch, *c.decoderStartId), {batch, 1}),
        encoded[0], mask, column(std::vector<int64_t>(batch, 0), {batch})};
    for (HostTensor &cache : caches(c.numDecoderLayers, 3))
      args.push_back(cache);
    check(*model, *lowered, params["decode"], **engine, "decode", args);
    break;
  }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, CpuLoweringTest,
    ::testing::ValuesIn(kiln::test::goldenFixtureNames(KILN_GOLDEN_DIR)),
    [](const ::testing::TestParamInfo<std::string> &i) { return i.param; });

} // namespace
