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

#endif // KILN_PASSES_TD
