//===- Passes.td - kiln passes ---------------------------------------------===//
//
// Every kiln pass, reachable from kiln-opt as --<argument>.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnPruneStructured : Pass<"kiln-prune-structured", "::mlir::ModuleOp"> {
  let summary = "Remove the least important FFN neurons and attention "
                "heads: a smaller model";
  let description = [{
    Finds every feed-forward block: an output projection (`kiln.linear`)
    reading either an up projection with an activation (GPT-2, BERT,
    RoBERTa, T5 with ReLU) or the product of a gated projection with an
    activation and a plain one (Llama, gated T5), all weights checkpoint
    tensors. Each block whose output projection carries
    `kiln.neuron_scores` (one f32 per neuron; kilnc records the product of
    the neuron's weight norms, or with calibration data the L2 norm of its
    activation over the calibration tokens times its output weights'
    norm) keeps its
    `d_ff - floor(ffn * d_ff)` best-scoring neurons, rounded up to a
    multiple of 4 so the smaller gemms still take 2:4 pruning: the up and
    gate weights and biases keep those output slices and the output
    projection those input slices (`kiln.param ... keep #kiln.keep<...>`),
    and the values between shrink with them. The IR after the pass is the
    smaller model; it computes what the dense model computes with those
    neurons zeroed, since every activation used here maps 0 to 0.

    With `heads`, every attention block (query, key and value each a
    checkpoint projection or a slice of one merged projection, maybe
    through `kiln.rotary`, and one output projection reading the heads)
    whose attention carries `kiln.head_scores` (one f32 per key/value
    head; kilnc records the product of the Frobenius norms of the group's
    query, key, value and output-projection slices, or with calibration
    data the L2 norm over the group's output-projection input features of
    activation norm times weight norm) keeps its
    `kv - floor(heads * kv)` best key/value head groups (at least one),
    each with all its query heads (grouped-query attention keeps groups
    whole): the projections' output columns, the output projection's input
    rows, the rotary and attention head counts, and the kv caches, whose
    entry arguments and results narrow with them. The result equals the
    dense model with those heads' output-projection rows zeroed. T5's
    self-attention adds a relative-position bias computed once per stack and
    shared by every layer: a block that loses heads gets its own bias op,
    reading its kept heads' columns of the table (`keep <axis = 1>`), and
    the shared op goes once no block reads it. An attention with any other
    bias is left whole, with a remark.

    A block without scores is left as it is, with a remark; the scores are
    removed.
  }];
  let options = [
    Option<"ffn", "ffn", "double", /*default=*/"0",
           "fraction of each FFN's neurons to remove, in [0, 1)">,
    Option<"heads", "heads", "double", /*default=*/"0",
           "fraction of each attention's key/value head groups to remove, "
           "in [0, 1)">
  ];
}

def KilnPruneWeights : Pass<"kiln-prune-weights", "::mlir::ModuleOp"> {
  let summary = "Prune kiln.linear weights: n:m semi-structured or by "
                "magnitude";
  let description = [{
    Marks the weight of every `kiln.linear` as pruned
    (`kiln.param ... prune #kiln.prune<...>`): reading it gives the
    checkpoint tensor with the pruned elements zero, so the interpreter,
    kiln-bisect and every later pass see the pruned model. With `n`:`m`
    (2:4 is what sparse tensor cores and the CPU's compressed kernel run),
    every `m` consecutive input features keep their `n` largest
    magnitudes; else the `fraction` smallest magnitudes of each weight
    become zero (per-layer scope), or, with `threshold` > 0, every
    magnitude below it (the global scope: kilnc computes the bound that
    prunes `fraction` of all prunable weights together). The exporter
    stores a 2:4 f32 gemm weight compressed (values + 2-bit indices) and
    the others dense with their zeros.

    A linear carrying `kiln.input_norms` (the L2 norm of each input
    feature over a calibration run, kilnc --calibration) is pruned by
    Wanda's score instead of the magnitude: `|w| * norm[j]` for the
    element of input feature j, the norms becoming the attribute's
    `scale`. The pass removes every `kiln.input_norms` it finds.

    Only the transformer blocks' weights are pruned: those whose
    checkpoint name has a layer index (`h.3.`, `layers.3.`, `layer.3.`,
    `block.3.`). Never pruned: the LM head and classifier heads, BERT's
    pooler and MLM transform (outside the blocks; their errors reach the
    outputs undamped), a weight any other op also reads (a tied embedding
    table), weights whose input width `m` does not divide (n:m), and
    `exclude`. Norms, biases and embeddings are not linear weights.
    Running the pass twice changes nothing more.
  }];
  let options = [
    Option<"n", "n", "int64_t", /*default=*/"0",
           "n:m pruning: weights kept of every m (0: magnitude pruning)">,
    Option<"m", "m", "int64_t", /*default=*/"0", "n:m pruning: group size">,
    Option<"fraction", "fraction", "double", /*default=*/"0",
           "magnitude pruning: fraction of each weight set to zero">,
    Option<"threshold", "threshold", "double", /*default=*/"0",
           "magnitude pruning: zero every magnitude below this instead "
           "(one bound for the whole model)">,
    ListOption<"exclude", "exclude", "std::string",
               "checkpoint names of weights kept dense">
  ];
}

def KilnPartition : Pass<"kiln-partition", "::mlir::ModuleOp"> {
  let summary = "Tensor parallelism in the Megatron layout: every entry as "
                "the program each of `tp` ranks runs on its part of the "
                "weights";
  let description = [{
    Runs on the kiln graph after pruning and before decomposition, while
    attention, rotary and linear are whole ops. Every rank runs the same
    program (SPMD); sharded weights become `kiln.param ... shard
    #kiln.shard<...>` of one rank's shape, and the runtime or kilnc cuts
    each rank's part.

    - Attention: heads split over the ranks. The q, k and v projections
      are column-parallel (GPT-2's fused c_attn by sections, its slices
      moved to the part's offsets), rotary and the kv caches (entry
      arguments) take the part's heads, T5's relative-position table is
      split by heads, and the output projection is row-parallel: a
      `kiln.linear` without epilogue, `kiln.all_reduce`, then the bias and
      the residual added once. With fewer key/value heads than ranks, each
      rank reads the one kv head its query heads share (`kiln.kv_heads =
      "replicated"` on the attention; `"split"` otherwise).
    - MLP: linears that feed another linear through elementwise ops only
      (fc1 and its activation; SwiGLU's gate and up) are column-parallel,
      the second row-parallel with its all_reduce.
    - Vocabulary: the embedding tables with the most rows (the token
      embeddings) are cut into parts of rows (padded with zero rows,
      `pad`, when the ranks do not divide them) when every reader is an
      embedding or a returned LM head. Each rank looks up row id % n of
      its part, `kiln.all_gather` joins the parts' rows, and a select and
      a sum keep the row of part id / n: no rank constant in the program.
      An id past the vocabulary is looked up as itself, past the part, so
      the lookup still reports it.
    - LM head: a linear an entry returns is vocabulary-parallel, its
      logits joined by `kiln.all_gather` (the padding's columns sliced
      off), unless its weight is a table that stays replicated.
    - Replicated: smaller embedding tables (positions, token types),
      norms, everything else.

    A plan that cannot work is an error at the op: ranks not dividing the
    attention heads or the FFN width, kv heads that are neither a multiple
    nor a divisor of the ranks, an attention whose operands do not come
    from projections.

    Upstream's `shard` dialect was considered: its sharding annotations and
    propagation work on tensor ops with known sharding rules, but not on
    Kiln's composites (attention's head grouping, rotary, the fused c_attn's
    sections, T5's bias table), where the decisions are; the pass writes
    the result directly as per-rank shapes, shard attributes and collective
    ops, which is also what the runtime consumes.
  }];
  let options = [
    Option<"tp", "tp", "int64_t", /*default=*/"1",
           "ranks of the tensor-parallel group">
  ];
}

def KilnPipeline : Pass<"kiln-pipeline", "::mlir::ModuleOp"> {
  let summary = "Pipeline parallelism: the layers placed on `pp` stages, "
                "values that cross a stage boundary passed by send_recv";
  let description = [{
    Runs after kiln-partition, on whole ops. The layers (named by their
    weights, "model.layers.3", "encoder.block.1", in program order) are
    split into `pp` contiguous stages by a cost model: a layer costs its
    weight bytes (a decode step reads each weight once; prefill FLOPs are
    proportional to them), the embeddings count with the first layer, the
    final norm and head with the last; the split minimizes the largest
    stage (the linear partition problem, solved exactly).

    Every rank keeps the whole program (as with kiln-partition) and runs
    the ops of its stage: an op of a layer runs on the layer's stage;
    another op runs on the latest stage among its operands'; an op of
    arguments and weights only (masks, positions, embedding lookups) runs
    on each stage that reads it, which the step list decides after fusion.
    A value read on a later stage than the one computing it goes through
    one `kiln.send_recv` per receiving stage; outputs go to the last stage,
    updated kv caches stay on their layer's stage. The module gets
    `kiln.pipeline_parallel` and `kiln.pipeline_stages` (each stage's
    first layer).

    More stages than layers is an error. Upstream's `shard` dialect has no
    notion of pipeline stages, hence the kiln op.
  }];
  let options = [
    Option<"pp", "pp", "int64_t", /*default=*/"1", "pipeline stages">
  ];
}

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

    With `keep-attention`, kiln.attention stays (code generation turns it
    into an attention step). With `keep-linear`, kiln.linear stays for a
    gemm step with an epilogue (passes/Transforms/GemmEpilogue.h): a linear whose
    activation or residual the epilogue cannot hold keeps its bias (and
    activation) and the rest follows as primitives.
  }];
  let options = [
    Option<"keepAttention", "keep-attention", "bool", /*default=*/"false",
           "leave kiln.attention for the attention step">,
    Option<"keepLinear", "keep-linear", "bool", /*default=*/"false",
           "leave kiln.linear (with what a gemm epilogue holds) for the "
           "gemm step">
  ];
}

def KilnMatchAttention : Pass<"kiln-match-attention"> {
  let summary = "Attention written out as ops back into kiln.attention";
  let description = [{
    Finds softmax(scale * Q K^T [+ bias] [+ padding mask] [causal mask]) V
    with the heads split out of [B, S, H*D] (reshape, transpose [0, 2, 1,
    3], the grouping reshapes of grouped-query attention) and packed back,
    as kiln-decompose writes it, and replaces it with one `kiln.attention` (num_heads and num_kv_heads
    from the shapes, the scale from the constant, the mask kind from the
    masks found), so it runs as the attention step instead of a dozen
    kernels and two batched matmuls. Matched: multi-head and grouped-query,
    no mask, causal, padding (BERT's (1 - mask) * lowest) and their
    combination, an additive bias (T5), and attention over a kv cache: keys
    and values that are `kiln.cache_write`s at the causal mask's offsets
    become the attention's new rows and cache operands, and its updated
    caches replace the writes' other uses (the entry's cache results).
  }];
}

def KilnMergeProjections : Pass<"kiln-merge-projections"> {
  let summary = "Sibling projections of one input into one gemm";
  let description = [{
    `kiln.linear` ops that read the same input with `out_in` weights
    straight from the checkpoint, no residual and no activation (a layer's
    q, k and v projections; gate and up of a SwiGLU MLP; T5's
    cross-attention k and v) become one gemm over their weights
    concatenated along the output dim (a `kiln.param` with `parts`, which
    the exporter concatenates once, or the runtime at load with external
    weights), each original result a slice of its output. Fewer, larger
    gemms: at batch 1 every gemm is a latency-bound GEMV, so three launches
    become one. kiln-fuse then folds the slices into the kernels that read
    them.
  }];
}

def KilnFuse : Pass<"kiln-fuse"> {
  let summary = "Group elementwise and index-map chains into kiln.fused "
                "regions, each one kernel";
  let description = [{
    Regions are chosen on the kiln graph, before kernels are outlined, as
    `kiln.fused` ops (IREE's dispatch regions are the model): a root is a
    fusible op (elementwise, cast, constant, iota, slice, concat,
    transpose, regrouping reshape, embedding; see
    passes/Transforms/FusionRules.h) whose result is not read by exactly
    one fusible op, and its region is every fusible op feeding it through
    single-use results. A fusible op read by several fusible ops is first
    cloned for each reader when what it reads is small (`max-duplicated`
    ops), so position ids and rotary's cos/sin tables are recomputed inside
    each kernel instead of written and read back. Matmuls, norms, softmax,
    reductions and attention are not fused: they are library steps or need
    their own loops.

    Choosing regions on the graph, rather than fusing linalg after
    lowering, keeps them visible in the IR a user reads, lets
    kiln-outline-kernels deduplicate a layer's regions across layers by
    their printed body, and lets the lowering compute each result element
    from single elements of the inputs (slices, concats and reshapes
    become index arithmetic), which linalg's producer-consumer fusion
    cannot do for concats. The fused op carries the FusedLoc of its ops.
  }];
  let options = [
    Option<"maxOps", "max-ops", "int64_t", /*default=*/"64",
           "most ops one region holds">,
    Option<"maxDuplicated", "max-duplicated", "int64_t", /*default=*/"16",
           "largest chain a shared producer may have to be cloned into "
           "each reader">
  ];
}

def KilnMixedPrecision : Pass<"kiln-mixed-precision", "::mlir::ModuleOp"> {
  let summary = "Store activations, caches and gemm weights in bf16 or f16 "
                "under an f32 compute policy";
  let description = [{
    The policy, applied to every entry function:

    - Library ops (`kiln.linear`, `kiln.matmul`, `kiln.attention`,
      `kiln.layer_norm`, `kiln.rms_norm`) read and write the low type; their
      steps accumulate in f32 (gemms, attention's scores, softmax and
      weighted sum, the norms' mean and variance) and round once when they
      store. `keep-f32` lists kinds that stay f32 instead.
    - The residual stream is what those ops read and write, so it is in the
      low type too, as Hugging Face runs a model loaded in bf16/f16.
    - Everything else (elementwise arithmetic, activations, softmax and
      reductions outside attention, rotary) computes in f32: a low operand
      is widened by a `kiln.cast` and a result a library op reads is
      narrowed by one. The pass runs before kiln-fuse, so the casts join the
      kernels around them: a fused kernel loads the low type, computes in
      f32 and stores the low type, and no cast is a step of its own.
    - Ops that only move elements (reshape, transpose, slice, concat,
      embedding) keep the low type when all they move is low.
    - Weights whose every use is a low library op or an embedding table are
      stored in the low type (converted once, at compile time); the others
      stay f32. The kv cache arguments become the low type.
    - Entry results other than caches (logits, hidden states) are f32: a
      `kiln.linear` read only by the entry's results (the LM head) stores
      its f32 accumulation directly, with no rounding and no cast step;
      other results are widened by a cast.

    - The range limit (kilnc sets it for fp16, whose largest finite value
      is 65504): ops may carry `kiln.max_abs`, one f64 per result, the
      largest magnitude a calibration run of the f32 graph saw (kilnc
      records it). A library op that reads or writes a value above
      `range-limit` stays f32, and so does every weight only such ops
      read; with the value itself stored in f32, it cannot overflow. A
      planted layer with activations past fp16's range thus runs in f32
      while the rest of the model runs in fp16. The attributes are removed.

    One cast per value and direction; chains of exact casts fold away in
    canonicalization. Running the pass twice changes nothing more.
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"bf16\"",
           "the low type: bf16 or f16">,
    ListOption<"keepF32", "keep-f32", "std::string",
               "library op kinds kept in f32 (linear, matmul, attention, "
               "layer_norm, rms_norm)">,
    Option<"rangeLimit", "range-limit", "double", /*default=*/"0",
           "keep in f32 every library op that reads or writes a value whose "
           "recorded kiln.max_abs exceeds this (0: no limit)">
  ];
}

def KilnQuantizeWeights : Pass<"kiln-quantize-weights", "::mlir::ModuleOp"> {
  let summary = "Store kiln.linear weights as 8- or 4-bit integers with "
                "per-channel or per-group scales";
  let description = [{
    Marks the weight of every `kiln.linear` whose weight is a checkpoint
    tensor as stored quantized (`kiln.param ... quant #kiln.quant<...>`):
    symmetric signed integers, one f32 scale per output channel (8 bits,
    `group` 0) or per output channel and `group` input features (4 bits,
    default 128, or all of K when K is smaller). The exporter quantizes the
    checkpoint tensor once, at compile time, and stores the integers (4-bit
    ones packed two per byte) with their scales; the gemm step reads them
    and dequantizes on the fly. The reference interpreter reads a quantized
    weight as its dequantized values, so the IR stays runnable and
    `kiln-bisect` compares quantized builds step by step.

    Why not the upstream `quant` dialect's types: a per-axis
    `!quant.uniform` holds its scales in the type, one per output channel
    (thousands of data-dependent floats per weight in every printed type),
    and its sub-channel form likewise; the scales here are computed from the
    checkpoint by the exporter, not by the pass, and live beside the
    integers in the artifact. The element type of the value stays the
    dequantized float type, which is what every op reading it computes in.

    A weight read by anything other than linears (a tied embedding table)
    keeps its float form for those reads and gets a second, quantized form
    for the linears. Each quantized linear's first weight read moves past
    `exclude` (checkpoint names kept in float) and, with `tolerance` > 0,
    past the guardrail: a linear carrying `kiln.quant_error` (the relative
    error of its output on calibration inputs under this scheme, which
    kilnc records) above `tolerance` stays in float and the pass says so
    in a remark. The attributes are removed. Running the pass twice
    changes nothing more.

    W8A8 (`act-bits=8`, with 8-bit weights): each quantized linear also
    quantizes its input per row (per token, dynamically), and a linear
    carrying `kiln.smooth` (SmoothQuant's per-input-feature factors, which
    kilnc's calibration records from the activation ranges it observes)
    gets them as the weight's `smooth`: the weight is quantized as W * s
    and the input as x / s. Why the factors stay with the weight instead
    of being folded into the preceding norm as the SmoothQuant paper does:
    the gemm step quantizes its input rows anyway, so dividing by s there
    costs one multiply per element it already reads, and every linear can
    be smoothed, not only those that follow a norm (the attention output
    projection and the MLP's down projection follow no norm).
  }];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"8",
           "bits per weight: 8 or 4">,
    Option<"group", "group", "int64_t", /*default=*/"0",
           "input features per scale (0: all of K for 8 bits, 128 for 4 "
           "bits; else a multiple of 32)">,
    Option<"tolerance", "tolerance", "double", /*default=*/"0",
           "keep in float every linear whose recorded kiln.quant_error "
           "exceeds this (0: no guardrail)">,
    ListOption<"exclude", "exclude", "std::string",
               "checkpoint names of weights kept in float">,
    Option<"actBits", "act-bits", "int64_t", /*default=*/"0",
           "8: W8A8, the linears quantize their input rows to int8 too "
           "(with their recorded kiln.smooth factors); 0: weights only">
  ];
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

def KilnApproximateMath : Pass<"kiln-approximate-math"> {
  let summary = "f32 tanh, erf and exp as polynomials (upstream's patterns)";
  let description = [{
    Applies MLIR's polynomial approximations of `math.tanh`, `math.erf` and
    `math.exp` on f32, so GELU and softmax loops hold only arithmetic that
    LLVM vectorizes instead of one libm call per element. Their error is a
    few ulp, far inside the 1e-4 Kiln is held to; other math ops and other
    types are left for libm.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def KilnTileKernels : Pass<"kiln-tile-kernels", "::mlir::ModuleOp"> {
  let summary = "Tile each kernel's result op into an scf.forall and fuse "
                "its producers";
  let description = [{
    For every function marked `kiln.kernel`, tiles the linalg op whose
    result the function returns into an `scf.forall` (upstream
    tile-and-fuse): tile size 1 on every parallel dim, reductions whole,
    and the producers it reads (a norm's mean and variance, a softmax's
    max and sum) fused into the loop body. When any producer reduces, the
    innermost parallel dim is kept whole too, so a row's reduction is
    computed once per row, not once per element. Every iteration of the
    forall is then independent work a GPU thread can take; kernels whose
    result is not made by a linalg op (slices, reshapes, concats) are left
    alone.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect"];
}

def KilnForwardOutParams : Pass<"kiln-forward-out-params", "::mlir::ModuleOp"> {
  let summary = "Compute kernel results in their out-params, not in a copy";
  let description = [{
    After bufferization and buffer-results-to-out-params, a kernel computes
    each result into a fresh `memref.alloc` and copies it into its
    out-param (its trailing arguments, one per result). When the alloc has
    the out-param's type, its uses
    are redirected to the out-param and the copy and alloc are erased: no
    heap allocation per call (none is possible in a GPU kernel) and one
    pass over the result instead of two.
  }];
}

def KilnMapToGpuThreads : Pass<"kiln-map-to-gpu-threads", "::mlir::ModuleOp"> {
  let summary = "Distribute each kernel's parallel loops over GPU threads";
  let description = [{
    For every function marked `kiln.kernel` (bufferized): top-level linalg
    ops become `scf.parallel` loops, and every top-level `scf.forall` or
    `scf.parallel` becomes a grid-stride loop over its flattened iteration
    space (thread `blockIdx.x * blockDim.x + threadIdx.x`, stride
    `gridDim.x * blockDim.x`, innermost dim fastest so neighbouring threads
    touch neighbouring elements). Any launch size computes the whole
    result, so the runtime picks the grid from the element count. A loop
    that reads what an earlier loop of the same kernel wrote would need a
    grid-wide barrier: that is an error naming the kernel.
  }];
  let options = [
    Option<"emulateThreads", "emulate-threads", "int64_t", /*default=*/"0",
           "instead of NVVM registers, run the grid-stride loops for this "
           "many virtual threads one after another (CPU check of the "
           "distribution; 0: real GPU threads)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

def KilnOutlineKernels : Pass<"kiln-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Form the step list: outline every kernel op into a function";
  let description = [{
    In each public function, every op that is not a library step
    (kiln.matmul -> gemm, kiln.attention -> attention) or a weight
    (kiln.param) is replaced by a call to a private kernel function holding
    that op alone. Kernels are keyed by op name, attributes and types, so
    the identical ops of every layer share one kernel. The calls, gemms and
    attentions left in the entry function, in order, are its step list.

    Each kernel function carries `kiln.kernel`, `kiln.buffers` (the tensor
    types of its arguments then results, which survive lowering to LLVM) and
    `kiln.split`, one bool per buffer: whether that buffer is cut along dim
    0 when the kernel runs a work range [begin, end) of its result's dim 0.
    A kernel that cannot be split that way has all false (its range is
    [0, 1)).
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def KilnPlanMemory : Pass<"kiln-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Place every intermediate of each step list in one arena";
  let description = [{
    For each entry function (a step list: kernel calls, gemms, attentions),
    sizes every step result for the maximum shapes (dim 0 of each argument
    is the batch, at most `max-batch`; every other dynamic argument dim is a
    sequence length, at most `max-seq`), finds its live range over the
    steps, and assigns arena offsets greedily by size: largest buffers
    first, each at the lowest 64-byte-aligned offset that overlaps no
    already placed buffer whose live range intersects its own.

    Results: on each step, `kiln.dims` (per result, an affine map from the
    entry's symbols to its dims: every dim is an expression over the
    symbols, which are the arguments' dynamic dims listed in the function's
    `kiln.symbols`) and `kiln.arena = array<i64: offset...>` (-1 for an
    attention's updated caches, which are the cache arguments updated in
    place); on the function `kiln.arena_bytes`, `kiln.cache_bytes` (the kv
    cache arguments) and `kiln.weight_bytes`.
  }];
  let options = [
    Option<"maxBatch", "max-batch", "int64_t", /*default=*/"1",
           "largest batch the plan serves">,
    Option<"maxSeq", "max-seq", "int64_t", /*default=*/"128",
           "largest sequence (and cache) length the plan serves">
  ];
}

def KilnKernelAbi : Pass<"kiln-kernel-abi", "::mlir::ModuleOp"> {
  let summary = "Give every lowered kernel the flat work-range ABI";
  let description = [{
    For each LLVM-dialect function marked `kiln.kernel` (lowered from a
    kernel function, its memrefs unpacked), adds the exported wrapper

      void kiln_<kernel>(void **buffers, const int64_t *shapes,
                         int64_t begin, int64_t end)

    which reads one pointer per buffer and every buffer's dims in order,
    computes row-major strides, and for the buffers `kiln.split` marks
    advances the pointer by `begin` rows and sets dim 0 to `end - begin`:
    the kernel then computes rows [begin, end) of its result. This is how a
    thread pool splits a kernel without the kernel knowing.
  }];
  let options = [
    Option<"gpu", "gpu", "bool", /*default=*/"false",
           "mark the wrappers as NVVM kernels (entry points of a cubin)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def KilnExtractKernels : Pass<"kiln-extract-kernels", "::mlir::ModuleOp"> {
  let summary = "Keep only a step list's kernel functions";
  let description = [{
    Erases everything in a step list (after kiln-outline-kernels) but the
    functions marked `kiln.kernel`: the entry points run on the host as a
    step list, and what is left is the module of kernels the CPU or CUDA
    kernel pipelines compile. The first pass of `kiln-cpu-kernels` and
    `kiln-cuda-kernels`.
  }];
}

def KilnUseLibdevice : Pass<"kiln-use-libdevice", "::mlir::ModuleOp"> {
  let summary = "Call libdevice for the libm functions GPU kernels use";
  let description = [{
    After the lowering to the LLVM dialect, renames the external libm
    declarations a kernel calls (`expf`, `erff`, `powf`, ...) to their
    libdevice names (`__nv_expf`, ...), which gpu-module-to-binary links.
    Any other external function (a heap allocation, a runtime helper) is an
    error naming it: device code cannot call it.
  }];
}

def KilnWrapGpuModule : Pass<"kiln-wrap-gpu-module", "::mlir::ModuleOp"> {
  let summary = "Move the lowered kernels into one gpu.module for an NVVM "
                "target";
  let description = [{
    Moves everything in the module into one `gpu.module @kiln_kernels`
    with an `#nvvm.target` attribute, and marks the module
    `gpu.container_module`: the form gpu-module-to-binary assembles into a
    fatbin (what `kilnc --stage gpu` prints).
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "the target GPU">,
    Option<"features", "features", "std::string", /*default=*/"\"+ptx80\"",
           "PTX features (CUDA 13's ptxas needs PTX 8.0 for sm_90)">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

#endif // KILN_PASSES_TD
