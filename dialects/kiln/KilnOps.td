//===- KilnOps.td - kiln dialect operations --------------------------------===//
//
// Ops of the kiln dialect. Conventions shared by every op:
//   * Tensors are ranked; batch and sequence dims may be dynamic.
//   * Elementwise ops broadcast NumPy-style: shapes are aligned at the
//     trailing dim, and each pair of dims must be equal or one of them 1.
//   * Hidden states of attention are packed: [batch, seq, heads * head_dim].
//   * Every op states its result type in its assembly; the op verifies it
//     against the type its operands imply (InferTypeOpInterface).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILN_OPS_TD
#define KILN_DIALECT_KILN_OPS_TD

include "dialects/kiln/KilnBase.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, !listconcat([Pure], traits)>;

//===----------------------------------------------------------------------===//
// Leaves: parameters, constants, iota
//===----------------------------------------------------------------------===//

def Kiln_ParamOp : Kiln_Op<"param"> {
  let summary = "a model weight, by its checkpoint name";
  let description = [{
    Refers to a weight by the name it has in the checkpoint and in the
    checkpoint's own layout; the bytes stay in the safetensors file. With
    `parts`, the weight is those checkpoint tensors concatenated along dim
    0 (projections merged by kiln-merge-projections), and `name` is the
    merged weight's own name.

    With `quant` (kiln-quantize-weights), the weight is stored quantized as
    the attribute says and reading it gives the dequantized values, in the
    result's type: the IR keeps the arithmetic of the model it computes,
    and the quantization error is part of the weight's value. Only
    `kiln.linear` weights are quantized, so a quantized read is the weight
    operand of linears only.

    With `shard` (kiln-partition) the type is one tensor-parallel rank's
    part of the weight (see `#kiln.shard`).

    With `keep` (kiln-prune-structured) the weight is only the listed
    slices of the checkpoint tensor along one dim; with `prune`
    (kiln-prune-weights) some of its elements are zero. They apply in that
    order, to each checkpoint tensor, before `quant`.

    ```mlir
    %w = kiln.param "h.0.attn.c_attn.weight" : tensor<768x2304xf32>
    %qkv = kiln.param "layers.0.qkv.weight" parts ["layers.0.q.weight", "layers.0.k.weight", "layers.0.v.weight"] : tensor<1536x768xf32>
    %q = kiln.param "h.0.mlp.c_fc.weight" quant #kiln.quant<bits = 8, group = 768, axis = 1> : tensor<768x3072xf32>
    %s = kiln.param "h.0.mlp.c_proj.weight" prune #kiln.prune<n = 2, m = 4, axis = 0> : tensor<3072x768xf32>
    %k = kiln.param "h.0.mlp.c_fc.bias" keep #kiln.keep<axis = 0, indices = [0, 2, 5]> : tensor<3xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, OptionalAttr<StrArrayAttr>:$parts,
                       OptionalAttr<Kiln_KeepAttr>:$keep,
                       OptionalAttr<Kiln_PruneAttr>:$prune,
                       OptionalAttr<Kiln_QuantAttr>:$quant,
                       OptionalAttr<Kiln_ShardAttr>:$shard);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $name (`parts` $parts^)? (`keep` $keep^)? (`prune` $prune^)?
    (`shard` $shard^)? (`quant` $quant^)? attr-dict `:` type($result)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Type":$type, "::llvm::StringRef":$name), [{
      build($_builder, $_state, type, $_builder.getStringAttr(name),
            ::mlir::ArrayAttr(), KeepAttr(), PruneAttr(), QuantAttr(),
            ShardAttr());
    }]>
  ];
  let hasVerifier = 1;
}

def Kiln_ConstantOp : Kiln_Op<"constant", [ConstantLike,
    AllTypesMatch<["value", "result"]>]> {
  let summary = "a constant tensor";
  let description = [{
    A small constant held in the IR (scales, epsilons, tables computed at
    compile time). Rank-0 constants broadcast against any tensor.

    ```mlir
    %c = kiln.constant dense<0.125> : tensor<f32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

def Kiln_IotaOp : Kiln_Op<"iota"> {
  let summary = "0, 1, ..., n-1 where n is one dim of another tensor";
  let description = [{
    Produces the 1-D sequence `[0, size(source, dim))`, e.g. position ids
    for a dynamic sequence length. Only the shape of `source` is read.

    ```mlir
    %pos = kiln.iota %ids dim 1 : tensor<?x?xi64> -> tensor<?xi64>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$source, I64Attr:$dim);
  let results = (outs RankedTensorOf<[Kiln_NumericElement]>:$result);
  let assemblyFormat =
      "$source `dim` $dim attr-dict `:` type($source) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class Kiln_BinaryOp<string mnemonic, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat([InferTypeOpAdaptor], traits)> {
  let arguments = (ins Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:`
    custom<BroadcastTypes>(type($lhs), type($rhs), type($result))
  }];
  let hasVerifier = 1;
}

def Kiln_AddOp : Kiln_BinaryOp<"add", [Commutative]> {
  let summary = "elementwise addition with broadcasting";
  let description = [{
    ```mlir
    %y = kiln.add %x, %b : tensor<?x?x768xf32>, tensor<768xf32> -> tensor<?x?x768xf32>
    %z = kiln.add %x, %y : tensor<?x?x768xf32>
    ```
    The short type form is used when both operands and the result share one
    type.
  }];
}
def Kiln_SubOp : Kiln_BinaryOp<"sub"> {
  let summary = "elementwise subtraction with broadcasting";
  let hasFolder = 1;
}
def Kiln_MulOp : Kiln_BinaryOp<"mul", [Commutative]> {
  let summary = "elementwise multiplication with broadcasting";
  let hasFolder = 1;
}
def Kiln_DivOp : Kiln_BinaryOp<"div"> {
  let summary = "elementwise division with broadcasting";
  let description = [{
    Integer division truncates toward zero.
  }];
}
def Kiln_MaxOp : Kiln_BinaryOp<"max", [Commutative]> {
  let summary = "elementwise maximum with broadcasting (NaN propagates)";
}
def Kiln_MinOp : Kiln_BinaryOp<"min", [Commutative]> {
  let summary = "elementwise minimum with broadcasting (NaN propagates)";
}

def Kiln_CompareOp : Kiln_Op<"compare", [InferTypeOpAdaptor]> {
  let summary = "elementwise comparison with broadcasting, giving i1";
  let description = [{
    ```mlir
    %small = kiln.compare lt %rel, %c8 : tensor<?x?xi64>, tensor<i64> -> tensor<?x?xi1>
    ```
    Comparisons with NaN are false except `ne`.
  }];
  let arguments = (ins Kiln_ComparePredicate:$predicate,
                       Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs);
  let results = (outs Kiln_BoolTensor:$result);
  let assemblyFormat = [{
    $predicate $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_SelectOp : Kiln_Op<"select", [InferTypeOpAdaptor]> {
  let summary = "elementwise choice by an i1 condition, with broadcasting";
  let description = [{
    `result = condition ? on_true : on_false`, all three broadcast together.
    ```mlir
    %r = kiln.select %c, %a, %b : tensor<?x?xi1>, tensor<?x?xi64>, tensor<?x?xi64> -> tensor<?x?xi64>
    ```
  }];
  let arguments = (ins Kiln_BoolTensor:$condition,
                       Kiln_NumericTensor:$on_true,
                       Kiln_NumericTensor:$on_false);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $condition `,` $on_true `,` $on_false attr-dict `:` type($condition) `,`
    type($on_true) `,` type($on_false) `->` type($result)
  }];
  let hasVerifier = 1;
}

class Kiln_UnaryOp<string mnemonic, Type operandType, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat([SameOperandsAndResultType,
                                     InferTypeOpInterface], traits)> {
  let arguments = (ins operandType:$input);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Kiln_NegOp : Kiln_UnaryOp<"neg", Kiln_NumericTensor> {
  let summary = "elementwise negation";
}
def Kiln_AbsOp : Kiln_UnaryOp<"abs", Kiln_NumericTensor> {
  let summary = "elementwise absolute value";
}
def Kiln_ExpOp : Kiln_UnaryOp<"exp", Kiln_FloatTensor> {
  let summary = "elementwise e^x";
}
def Kiln_LogOp : Kiln_UnaryOp<"log", Kiln_FloatTensor> {
  let summary = "elementwise natural logarithm";
}
def Kiln_SqrtOp : Kiln_UnaryOp<"sqrt", Kiln_FloatTensor> {
  let summary = "elementwise square root";
}
def Kiln_RsqrtOp : Kiln_UnaryOp<"rsqrt", Kiln_FloatTensor> {
  let summary = "elementwise 1 / sqrt(x)";
}
def Kiln_TanhOp : Kiln_UnaryOp<"tanh", Kiln_FloatTensor> {
  let summary = "elementwise hyperbolic tangent";
}
def Kiln_SinOp : Kiln_UnaryOp<"sin", Kiln_FloatTensor> {
  let summary = "elementwise sine";
}
def Kiln_CosOp : Kiln_UnaryOp<"cos", Kiln_FloatTensor> {
  let summary = "elementwise cosine";
}
def Kiln_ReluOp : Kiln_UnaryOp<"relu", Kiln_FloatTensor> {
  let summary = "max(x, 0)";
}
def Kiln_SiluOp : Kiln_UnaryOp<"silu", Kiln_FloatTensor> {
  let summary = "x * sigmoid(x) (Llama's SwiGLU activation)";
}
def Kiln_GeluOp : Kiln_UnaryOp<"gelu", Kiln_FloatTensor> {
  let summary = "Gaussian error linear unit, erf or tanh form";
  let description = [{
    The two forms are different functions and are never interchanged:
    `erf` is `0.5 x (1 + erf(x / sqrt(2)))` (BERT's "gelu"), `tanh` is
    `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (GPT-2's "gelu_new",
    T5's "gelu_new" in the gated variant).

    ```mlir
    %y = kiln.gelu tanh %x : tensor<?x?x3072xf32>
    ```
  }];
  let arguments = (ins Kiln_GeluApproximation:$approximation,
                       Kiln_FloatTensor:$input);
  let assemblyFormat = "$approximation $input attr-dict `:` type($input)";
}

def Kiln_CastOp : Kiln_Op<"cast", [SameOperandsAndResultShape]> {
  let summary = "elementwise conversion of the element type";
  let description = [{
    Float to float rounds to nearest even; float to integer truncates toward
    zero (the result is unspecified for NaN, infinities and values out of
    range); integer to float rounds to nearest; integer to integer
    sign-extends or truncates; i1 converts to 0 or 1.

    ```mlir
    %h = kiln.cast %x : tensor<?x?x768xf32> -> tensor<?x?x768xbf16>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Contractions and normalizations
//===----------------------------------------------------------------------===//

def Kiln_MatmulOp : Kiln_Op<"matmul", [InferTypeOpAdaptor]> {
  let summary = "batched matrix product";
  let description = [{
    Multiplies the last two dims of `lhs` ([..., M, K], or [..., K, M] with
    `transpose_lhs`) by those of `rhs` ([..., K, N], or [..., N, K] with
    `transpose_rhs`). Batch dims of both operands must agree; a rank-2 `rhs`
    is shared by every batch. Accumulates in the element type's precision
    or wider.

    ```mlir
    %s = kiln.matmul %q, %k transpose_rhs : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x?x?xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$lhs, Kiln_FloatTensor:$rhs,
                       UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)?
    (`transpose_rhs` $transpose_rhs^)? attr-dict `:` type($lhs) `,`
    type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_LinearOp : Kiln_Op<"linear", [InferTypeOpAdaptorWithIsCompatible,
    AttrSizedOperandSegments]> {
  let summary = "act(x W + b) + residual, with W used in its stored layout";
  let description = [{
    A fully connected layer and its epilogue. `layout` says how the weight is
    stored so it is used as the checkpoint holds it: `in_out` is [K, N]
    (GPT-2's Conv1D), `out_in` is [N, K] (torch.nn.Linear). `bias` is [N];
    `activation` is applied after the bias; `residual` (the result's type) is
    added last. With a bf16/f16 input and weight the result may be f32: the
    product accumulates in f32 and is stored without rounding to the low
    type (kiln-mixed-precision's f32 outputs, such as logits).

    ```mlir
    %h = kiln.linear %x, %w bias %b layout in_out activation gelu_tanh
        : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>) -> tensor<?x?x3072xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$weight,
                       Optional<Kiln_FloatTensor>:$bias,
                       Optional<Kiln_FloatTensor>:$residual,
                       Kiln_WeightLayout:$layout,
                       DefaultValuedAttr<Kiln_Activation,
                                         "::kiln::Activation::None">:$activation);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? (`residual` $residual^)?
    `layout` $layout (`activation` $activation^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Kiln_SoftmaxOp : Kiln_Op<"softmax", [SameOperandsAndResultType,
    InferTypeOpInterface]> {
  let summary = "softmax along one dim (max-subtracted)";
  let description = [{
    ```mlir
    %p = kiln.softmax %s dim 3 : tensor<?x12x?x?xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, I64Attr:$dim);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input `dim` $dim attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Kiln_LayerNormOp : Kiln_Op<"layer_norm", [InferTypeOpAdaptor]> {
  let summary = "layer normalization over the last dim";
  let description = [{
    `(x - mean) / sqrt(var + epsilon) * scale + bias`, with the biased
    variance, over the last dim; `scale` and `bias` are [H].

    ```mlir
    %y = kiln.layer_norm %x scale %g bias %b epsilon 1.0e-05
        : tensor<?x?x768xf32>, tensor<768xf32>, tensor<768xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$scale,
                       Optional<Kiln_FloatTensor>:$bias, F64Attr:$epsilon);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `scale` $scale (`bias` $bias^)? `epsilon` $epsilon attr-dict `:`
    type($input) `,` type($scale) (`,` type($bias)^)?
  }];
  let hasVerifier = 1;
}

def Kiln_RmsNormOp : Kiln_Op<"rms_norm", [InferTypeOpAdaptor]> {
  let summary = "root-mean-square normalization over the last dim";
  let description = [{
    `x / sqrt(mean(x^2) + epsilon) * scale` over the last dim (T5's layer
    norm, Llama's RMSNorm); `scale` is [H].

    ```mlir
    %y = kiln.rms_norm %x scale %g epsilon 1.0e-06 : tensor<?x?x512xf32>, tensor<512xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$scale,
                       F64Attr:$epsilon);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `scale` $scale `epsilon` $epsilon attr-dict `:` type($input) `,`
    type($scale)
  }];
  let hasVerifier = 1;
}

def Kiln_ReduceOp : Kiln_Op<"reduce", [InferTypeOpAdaptor]> {
  let summary = "sum, mean, max or min over a set of dims";
  let description = [{
    Reduces the listed dims (distinct, in increasing order). With
    `keep_dims` they remain as size 1, otherwise they are removed.

    ```mlir
    %m = kiln.reduce mean %x dims [2] keep_dims : tensor<?x?x768xf32> -> tensor<?x?x1xf32>
    ```
  }];
  let arguments = (ins Kiln_ReduceKind:$kind, Kiln_NumericTensor:$input,
                       DenseI64ArrayAttr:$dims, UnitAttr:$keep_dims);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $kind $input `dims` $dims (`keep_dims` $keep_dims^)? attr-dict `:`
    type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Gather and shape ops
//===----------------------------------------------------------------------===//

def Kiln_EmbeddingOp : Kiln_Op<"embedding", [InferTypeOpAdaptor]> {
  let summary = "rows of a [V, H] table gathered by integer ids";
  let description = [{
    `result[i..., h] = table[indices[i...], h]`. Ids outside [0, V) are an
    error at run time.

    ```mlir
    %e = kiln.embedding %wte[%ids] : tensor<50257x768xf32>, tensor<?x?xi64> -> tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$table, Kiln_IndexTensor:$indices);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $table `[` $indices `]` attr-dict `:` type($table) `,` type($indices)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_ReshapeOp : Kiln_Op<"reshape"> {
  let summary = "same elements, new shape";
  let description = [{
    Row-major reshape. A reshape involving dynamic dims must split or merge
    groups of adjacent dims, each group holding at most one dynamic dim
    (so every dynamic size is determined); a fully static reshape only needs
    equal element counts. Where dynamic dims allow several groupings (e.g.
    [?, 2, 2, ?] -> [?, 2, ?]), the one read left to right is meant: a
    static dim takes the static dims whose product it is, a dynamic dim the
    static dims before the next dynamic one and that one (here [?], [2],
    [2, ?]).

    ```mlir
    %h = kiln.reshape %x : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_TransposeOp : Kiln_Op<"transpose", [InferTypeOpAdaptor]> {
  let summary = "permutation of dims";
  let description = [{
    `result.shape[i] = input.shape[permutation[i]]`.

    ```mlir
    %t = kiln.transpose %x [0, 2, 1, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $input $permutation attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_ConcatOp : Kiln_Op<"concat", [InferTypeOpAdaptor]> {
  let summary = "tensors joined along one dim";
  let description = [{
    ```mlir
    %c = kiln.concat %a, %b dim 3 : tensor<?x?x32x32xf32>, tensor<?x?x32x32xf32> -> tensor<?x?x32x64xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$inputs, I64Attr:$dim);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $inputs `dim` $dim attr-dict `:` type($inputs) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_SliceOp : Kiln_Op<"slice", [InferTypeOpAdaptor]> {
  let summary = "a strided range [start, end) of one dim";
  let description = [{
    Keeps indices `start, start + step, ...` below `end` along `dim`. The
    range is static; the sliced dim may be dynamic, in which case `end` must
    not exceed its size at run time.

    ```mlir
    %q = kiln.slice %qkv dim 2 [0 : 768] : tensor<?x?x2304xf32> -> tensor<?x?x768xf32>
    %e = kiln.slice %x dim 1 [0 : 64 : 2] : tensor<?x64xf32> -> tensor<?x32xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, I64Attr:$dim, I64Attr:$start,
                       I64Attr:$end, DefaultValuedAttr<I64Attr, "1">:$step);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $input `dim` $dim ` ` `[` $start `:` $end (`:` $step^)? `]` attr-dict `:`
    type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Attention building blocks (primitives)
//===----------------------------------------------------------------------===//

def Kiln_CausalMaskOp : Kiln_Op<"causal_mask", [InferTypeOpAdaptor]> {
  let summary = "hide scores of keys after each query";
  let description = [{
    `scores` is [B, ..., Sq, Sk]. Query `i` of batch `b` sees keys
    `j <= i + offset(b)`; every other score becomes the lowest finite value of
    the element type (as Hugging Face does). `offset(b)` is `offsets[b]` when
    given (the cache write position of each sequence) and `Sk - Sq`
    otherwise (queries are the last `Sq` of `Sk` positions).

    ```mlir
    %m = kiln.causal_mask %s : tensor<?x12x1x?x?xf32>
    %m = kiln.causal_mask %s offsets %pos : tensor<?x12x1x?x?xf32>, tensor<?xi64>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$scores,
                       Optional<Kiln_IndexTensor>:$offsets);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $scores (`offsets` $offsets^)? attr-dict `:` type($scores)
    (`,` type($offsets)^)?
  }];
  let hasVerifier = 1;
}

def Kiln_CacheWriteOp : Kiln_Op<"cache_write", [InferTypeOpAdaptor]> {
  let summary = "the cache with new rows written at per-sequence positions";
  let description = [{
    `cache` is [B, S_max, W], `update` is [B, S, W], `positions` is [B]:
    `result[b, positions[b] + s, :] = update[b, s, :]`, other rows as in
    `cache`. Bufferization turns this into an in-place write.

    ```mlir
    %c2 = kiln.cache_write %c[%pos] = %k : tensor<?x1024x768xf32>, tensor<?x?x768xf32>, tensor<?xi64>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$cache, Kiln_IndexTensor:$positions,
                       Kiln_FloatTensor:$update);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $cache `[` $positions `]` `=` $update attr-dict `:` type($cache) `,`
    type($update) `,` type($positions)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Composites (rewritten into primitives by --kiln-decompose)
//===----------------------------------------------------------------------===//

def Kiln_AttentionOp : Kiln_Op<"attention", [InferTypeOpAdaptor,
    AttrSizedOperandSegments]> {
  let summary = "multi-head / grouped-query scaled dot-product attention";
  let description = [{
    `query` is [B, Sq, num_heads * D]; `key` and `value` are
    [B, Sk, num_kv_heads * D]. Query head `h` uses key/value head
    `h / (num_heads / num_kv_heads)` (grouped-query attention; multi-query
    when num_kv_heads = 1). The result is [B, Sq, num_heads * D]:

      softmax(scale * Q K^T + bias + mask) V, per head.

    `scale` defaults to 1/sqrt(D). `bias` (T5's relative-position bias) is
    added to the scaled scores and broadcasts to [B, num_heads, Sq, Sk].
    `mask` selects the masking: `none`, `causal` (bottom-right aligned: query
    i sees keys j <= i + Sk - Sq), `padding` (`key_mask` [B, Sk] holds 1 for
    real tokens and 0 for padding) or `causal_padding`.

    With a cache (`cache(%k_cache, %v_cache, %positions)`), the caches are
    [B, S_max, num_kv_heads * D], `key`/`value` hold the new tokens' keys and
    values, and `positions` [B] is where each sequence writes them. The new
    rows are written first, queries then attend over the cache with
    per-sequence causal masking (`j <= positions[b] + i`), and the op also
    returns the updated caches. A cache requires a causal mask kind; with
    `causal_padding`, `key_mask` is [B, S_max].

    ```mlir
    %o = kiln.attention %q, %k, %v heads 12 kv_heads 12 mask causal
        : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
    %o, %kc2, %vc2 = kiln.attention %q, %k, %v heads 32 kv_heads 8 mask causal
        cache(%kc, %vc, %pos)
        : (tensor<?x1x4096xf32>, tensor<?x1x1024xf32>, tensor<?x1x1024xf32>,
           tensor<?x2048x1024xf32>, tensor<?x2048x1024xf32>, tensor<?xi64>)
        -> (tensor<?x1x4096xf32>, tensor<?x2048x1024xf32>, tensor<?x2048x1024xf32>)
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$query, Kiln_FloatTensor:$key,
                       Kiln_FloatTensor:$value,
                       Optional<Kiln_MaskTensor>:$key_mask,
                       Optional<Kiln_FloatTensor>:$bias,
                       Optional<Kiln_FloatTensor>:$k_cache,
                       Optional<Kiln_FloatTensor>:$v_cache,
                       Optional<Kiln_IndexTensor>:$positions,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       Kiln_MaskKind:$mask,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Kiln_FloatTensor:$result,
                      Variadic<Kiln_FloatTensor>:$updated_caches);
  let assemblyFormat = [{
    $query `,` $key `,` $value `heads` $num_heads `kv_heads` $num_kv_heads
    `mask` $mask (`key_mask` $key_mask^)? (`bias` $bias^)?
    (`cache` `(` $k_cache^ `,` $v_cache `,` $positions `)`)?
    (`scale` $scale^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Size of one head (the last dim of query divided by num_heads).
    int64_t getHeadDim();
    /// The scale applied to Q K^T: `scale` if set, else 1/sqrt(head_dim).
    double getScaleOrDefault();
    bool hasCache() { return getKCache() != nullptr; }
  }];
}

def Kiln_RotaryOp : Kiln_Op<"rotary", [InferTypeOpAdaptor]> {
  let summary = "rotary position embedding (Llama's rotate-half form)";
  let description = [{
    `input` is [B, S, num_heads * D]; `positions` is [B, S] or [S]. Each
    head's vector is rotated by angles `position * inv_freq`, with
    `inv_freq[i] = theta^(-2i/D)` for i < D/2 (optionally rescaled by
    `scaling`), pairing element i with element i + D/2:

      out = x * cos(emb) + rotate_half(x) * sin(emb),  emb = [f, f].

    Angles are computed in f32 and the result cast to the input type, as
    Hugging Face does.

    ```mlir
    %qr = kiln.rotary %q, %pos heads 32 theta 5.0e+05
        llama3_scaling <factor = 8.0, low_freq_factor = 1.0,
                        high_freq_factor = 4.0,
                        original_max_position_embeddings = 8192>
        : tensor<?x?x4096xf32>, tensor<?x?xi64>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_IndexTensor:$positions,
                       I64Attr:$num_heads, F64Attr:$theta,
                       OptionalAttr<Kiln_RopeLlama3ScalingAttr>:$scaling);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions `heads` $num_heads `theta` $theta
    (`llama3_scaling` $scaling^)? attr-dict `:` type($input) `,`
    type($positions)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The rotary inverse frequencies (D/2 values, f32 as Hugging Face
    /// computes them), with `scaling` applied.
    ::llvm::SmallVector<float> computeInverseFrequencies();
  }];
}

def Kiln_RelativePositionBiasOp : Kiln_Op<"relative_position_bias",
    [InferTypeOpAdaptor]> {
  let summary = "T5's bucketed relative-position attention bias";
  let description = [{
    `table` is [num_buckets, H] (T5's `relative_attention_bias.weight`);
    `query_positions` [Sq] and `key_positions` [Sk] are absolute positions.
    The result [1, H, Sq, Sk] is `table[bucket(key - query), h]` with T5's
    bucketing: half the buckets (a quarter when `bidirectional`, the other
    half then being for keys after the query) are exact distances, the rest
    logarithmically spaced up to `max_distance`.

    ```mlir
    %b = kiln.relative_position_bias %t, %qp, %kp bidirectional buckets 32 max_distance 128
        : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$table,
                       Kiln_IndexTensor:$query_positions,
                       Kiln_IndexTensor:$key_positions,
                       UnitAttr:$bidirectional, I64Attr:$num_buckets,
                       I64Attr:$max_distance);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $table `,` $query_positions `,` $key_positions
    (`bidirectional` $bidirectional^)? `buckets` $num_buckets
    `max_distance` $max_distance attr-dict `:` type($table) `,`
    type($query_positions) `,` type($key_positions) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Collectives (kiln-partition)
//===----------------------------------------------------------------------===//

def Kiln_AllReduceOp : Kiln_Op<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "the sum of a value over the ranks of a tensor-parallel group";
  let description = [{
    Every rank of the group passes its partial `input` and receives the
    elementwise sum over the ranks, added in rank order so every rank holds
    the same bits. Placed by kiln-partition after a row-parallel linear.
    It is a `collective` step for the runtime, which picks the transport
    (shared memory between ranks of one process, MPI between processes,
    NCCL between GPUs); it is never lowered to a library call in the IR.
    `ranks` is the group's size.

    ```mlir
    %s = kiln.all_reduce %p ranks 2 : tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, I64Attr:$ranks);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input `ranks` $ranks attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Kiln_AllGatherOp : Kiln_Op<"all_gather", [InferTypeOpAdaptor]> {
  let summary = "the ranks' parts of a value concatenated along its last dim";
  let description = [{
    Every rank passes its part [..., n] and receives [..., ranks * n]: rank
    r's part at columns [r * n, (r + 1) * n). Placed by kiln-partition after
    a vocabulary-parallel LM head; a `collective` step for the runtime.

    ```mlir
    %l = kiln.all_gather %p ranks 2 : tensor<?x?x512xf32> -> tensor<?x?x1024xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, I64Attr:$ranks);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `ranks` $ranks attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_SendRecvOp : Kiln_Op<"send_recv", [SameOperandsAndResultType]> {
  let summary = "a value passed from one pipeline stage to a later one";
  let description = [{
    Placed by kiln-pipeline where a value computed on pipeline stage `from`
    is read on stage `to` (> `from`): the ranks of stage `from` send
    `input`, those of stage `to` receive it as the result (ranks with the
    same replica and tensor-parallel rank pair up). Every rank holds the
    whole program; a rank runs the steps of its stage. A `collective` step
    for the runtime, which picks the transport.

    ```mlir
    %h = kiln.send_recv %x from 0 to 1 : tensor<?x?x768xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, I64Attr:$from, I64Attr:$to);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat =
      "$input `from` $from `to` $to attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

def Kiln_FusedOp : Kiln_Op<"fused", [IsolatedFromAbove]> {
  let summary = "ops that run as one kernel";
  let description = [{
    A region of elementwise and index-map ops (broadcasts, casts, slices,
    concats, transposes, reshapes, iota, constants, embedding lookups) that
    `kiln-fuse` grouped so one kernel computes them: it reads each input
    once and writes its results, with no intermediate tensor. The body
    takes the inputs as block arguments (it sees nothing else) and yields
    the results; its ops keep their own semantics, so the interpreter runs
    the body as it would the ops unfused. Several results (sibling chains
    that read the same inputs, such as the q, k and v slices of one
    projection) all have the same shape: one kernel computes them over one
    index space.

    ```mlir
    %y = kiln.fused (%x, %g) : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
    ^bb0(%a: tensor<?x?x64xf32>, %b: tensor<?x?x64xf32>):
      %s = kiln.silu %a : tensor<?x?x64xf32> -> tensor<?x?x64xf32>
      %m = kiln.mul %s, %b : tensor<?x?x64xf32>, tensor<?x?x64xf32> -> tensor<?x?x64xf32>
      kiln.yield %m : tensor<?x?x64xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$inputs);
  let results = (outs Variadic<Kiln_Tensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasVerifier = 1;
}

def Kiln_YieldOp : Kiln_Op<"yield", [Terminator, HasParent<"FusedOp">]> {
  let summary = "the results of a kiln.fused body";
  let arguments = (ins Variadic<Kiln_Tensor>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
}

#endif // KILN_DIALECT_KILN_OPS_TD
