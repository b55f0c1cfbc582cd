//===- Passes.td - kiln passes ---------------------------------------------===//
//
// Every kiln pass, reachable from kiln-opt as --<argument>.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnDecompose : Pass<"kiln-decompose"> {
  let summary = "Rewrite kiln composites into kiln primitives";
  let description = [{
    Rewrites `kiln.linear`, `kiln.attention` (with and without a kv cache),
    `kiln.rotary` and `kiln.relative_position_bias` into primitive kiln ops
    (matmul, elementwise arithmetic, activations, softmax, shape ops,
    `kiln.causal_mask`, `kiln.cache_write`), exactly as Hugging Face
    computes them. The reference interpreter runs the result, and fusion
    tests check that the patterns are formed again.

    Attention keeps grouped-query heads grouped instead of repeating keys:
    queries are viewed as [B, kv_heads, group, Sq, D] so one batched matmul
    per kv head serves its whole group.
  }];
}

def KilnToLinalg : Pass<"kiln-to-linalg"> {
  let summary = "Lower kiln primitives to linalg, tensor, arith and math";
  let description = [{
    Rewrites every kiln primitive into upstream ops on tensors, keeping
    dynamic dims dynamic: elementwise ops become broadcasting
    `linalg.generic`s, matmul a contraction `linalg.generic`, softmax
    `linalg.softmax`, norms row reductions plus an elementwise generic,
    reduce `linalg.reduce`, embedding a gathering generic, shape ops
    `tensor` reshapes/slices/concat and `linalg.transpose`, causal_mask a
    generic on `linalg.index`, cache_write an `scf.for` of
    `tensor.insert_slice` (in place after bufferization). `kiln.param`
    stays. Composites must be decomposed first.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def KilnBindParams : Pass<"kiln-bind-params"> {
  let summary = "Turn kiln.param ops into function arguments";
  let description = [{
    Each distinct weight a function reads becomes a trailing argument with
    the arg attribute `kiln.param = "checkpoint.name"`, and its reads use
    the argument: generated code receives weights as caller-bound buffers.
  }];
}

def KilnDecomposeAggregates : Pass<"kiln-decompose-aggregates"> {
  let summary = "Decompose linalg aggregate ops (softmax) into generics";
  let description = [{
    Applies AggregatedOpInterface::decomposeOperation to every aggregate
    linalg op (linalg.softmax: max, exp(x - max), sum, divide), for the
    loop-based CPU path.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def KilnCopiesToLinalg : Pass<"kiln-copies-to-linalg"> {
  let summary = "Rewrite memref.copy as linalg.copy";
  let description = [{
    So that strided copies (slices of the kv cache) lower to loops instead
    of calls into MLIR's C runner utils, which generated code must not need.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // KILN_PASSES_TD
