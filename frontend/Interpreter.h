//===- Interpreter.h - the reference interpreter of kiln IR ---------------===//
//
// Runs a kiln entry function on the CPU op by op: the numerical oracle of
// every pass and backend. It favours obvious correctness over speed: each op
// is computed in double precision and its result rounded to the result's
// element type (f32 results to float unless the interpreter runs in f64,
// bf16/f16 always to their precision), which is what an fp32 program
// computes with correctly rounded ops. Matrix products use BLAS (dgemm).
//
// Composites are executed directly (not through --kiln-decompose), so that
// running a decomposed module against the original checks the
// decomposition.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_INTERPRETER_H
#define KILN_FRONTEND_INTERPRETER_H

#include "support/SafeTensors.h"

#include "absl/status/statusor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace kiln {

/// A concrete tensor: row-major values held as double, with the element
/// type they represent (integers and i1 are exact in double).
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<double> values;
  mlir::Type elementType;

  int64_t numElements() const;
  static HostTensor zeros(std::vector<int64_t> shape, mlir::Type elementType);
};

enum class InterpreterPrecision { F32, F64 };

/// Runs a func.call (a kernel step): returns its results for `args`.
using CallHandler = std::function<absl::StatusOr<std::vector<HostTensor>>(
    mlir::func::CallOp call, const std::vector<HostTensor> &args)>;

/// Called after each op of every function the interpreter runs (the one
/// it was asked to run and, through func.call, its callees: an observer
/// that wants one function's ops checks op->getParentOp()); `valueOf` reads
/// any value of that op's function computed so far. An error stops the run.
using OpObserver = std::function<absl::Status(
    mlir::Operation *op,
    llvm::function_ref<const HostTensor &(mlir::Value)> valueOf)>;

/// Runs a collective op (kiln.all_reduce, kiln.all_gather) among simulated
/// ranks: its result on this rank for this rank's `input`.
using CollectiveHandler = std::function<absl::StatusOr<HostTensor>(
    mlir::Operation *op, const HostTensor &input)>;

class Interpreter {
public:
  Interpreter(const WeightStore &weights, InterpreterPrecision precision);

  /// func.call runs the callee's body unless a handler is set (a test
  /// harness runs compiled kernels in its place).
  void setCallHandler(CallHandler handler) {
    callHandler_ = std::move(handler);
  }
  void setObserver(OpObserver observer) { observer_ = std::move(observer); }
  /// A partitioned module (kilnc --tp): this interpreter is tensor-parallel
  /// rank `rank` (its parts of the sharded weights), its collectives run
  /// by `handler` (without one they are an error).
  void setRank(int64_t rank, CollectiveHandler handler) {
    rank_ = rank;
    collectiveHandler_ = std::move(handler);
  }

  /// Runs `function` on `args` (one per argument, with concrete shapes that
  /// fit the argument types). Run-time errors (an id outside a table, a
  /// cache write past its end, shapes that do not broadcast) name the op.
  absl::StatusOr<std::vector<HostTensor>>
  run(mlir::func::FuncOp function, const std::vector<HostTensor> &args);

private:
  const WeightStore &weights_;
  InterpreterPrecision precision_;
  std::map<std::string, std::shared_ptr<const HostTensor>> params_;
  CallHandler callHandler_;
  OpObserver observer_;
  int64_t rank_ = 0;
  CollectiveHandler collectiveHandler_;
  friend class OpEvaluator;
};

} // namespace kiln

#endif // KILN_FRONTEND_INTERPRETER_H
