//===- KilnBase.td - kiln dialect, enums, attributes, type constraints ----===//
//
// The `kiln` dialect describes Transformer graphs on ranked tensors. Batch and
// sequence dims are dynamic (`?`) so one compiled program serves every shape
// up to its declared maximum. Weights are referred to by checkpoint name
// (`kiln.param`), never embedded in the IR.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILN_BASE_TD
#define KILN_DIALECT_KILN_BASE_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::kiln";
  let summary = "Transformer graphs for ahead-of-time compilation";
  let description = [{
    Ops on ranked tensors that describe GPT-2, BERT/RoBERTa, T5 and
    Llama-style models. Primitives (matmul, elementwise arithmetic,
    activations, softmax, norms, gather, shape ops, reductions) are what the
    reference interpreter and code generation understand; composites
    (`kiln.linear`, `kiln.attention`, `kiln.rotary`,
    `kiln.relative_position_bias`) keep the structure that fusion and library
    calls exploit, and `--kiln-decompose` rewrites them into primitives.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Kiln_GeluApproximation : I32EnumAttr<"GeluApproximation",
    "how GELU is computed", [
      I32EnumAttrCase<"Erf", 0, "erf">,
      I32EnumAttrCase<"Tanh", 1, "tanh">
    ]> {
  let cppNamespace = "::kiln";
}

def Kiln_Activation : I32EnumAttr<"Activation",
    "activation applied in a linear epilogue", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"Relu", 1, "relu">,
      I32EnumAttrCase<"GeluErf", 2, "gelu_erf">,
      I32EnumAttrCase<"GeluTanh", 3, "gelu_tanh">,
      I32EnumAttrCase<"Silu", 4, "silu">
    ]> {
  let cppNamespace = "::kiln";
}

def Kiln_WeightLayout : I32EnumAttr<"WeightLayout",
    "how a linear weight is stored", [
      // [in_features, out_features]: GPT-2's Conv1D.
      I32EnumAttrCase<"InOut", 0, "in_out">,
      // [out_features, in_features]: torch.nn.Linear (BERT, T5, Llama).
      I32EnumAttrCase<"OutIn", 1, "out_in">
    ]> {
  let cppNamespace = "::kiln";
}

def Kiln_MaskKind : I32EnumAttr<"MaskKind", "which keys a query may see", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"Causal", 1, "causal">,
      I32EnumAttrCase<"Padding", 2, "padding">,
      I32EnumAttrCase<"CausalPadding", 3, "causal_padding">
    ]> {
  let cppNamespace = "::kiln";
}

def Kiln_ReduceKind : I32EnumAttr<"ReduceKind", "reduction combiner", [
      I32EnumAttrCase<"Sum", 0, "sum">,
      I32EnumAttrCase<"Mean", 1, "mean">,
      I32EnumAttrCase<"Max", 2, "max">,
      I32EnumAttrCase<"Min", 3, "min">
    ]> {
  let cppNamespace = "::kiln";
}

def Kiln_ComparePredicate : I32EnumAttr<"ComparePredicate",
    "elementwise comparison", [
      I32EnumAttrCase<"EQ", 0, "eq">,
      I32EnumAttrCase<"NE", 1, "ne">,
      I32EnumAttrCase<"LT", 2, "lt">,
      I32EnumAttrCase<"LE", 3, "le">,
      I32EnumAttrCase<"GT", 4, "gt">,
      I32EnumAttrCase<"GE", 5, "ge">
    ]> {
  let cppNamespace = "::kiln";
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

class Kiln_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Kiln_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Kiln_RopeLlama3ScalingAttr : Kiln_Attr<"RopeLlama3Scaling", "rope_llama3"> {
  let summary = "Llama 3.x `rope_scaling` (rope_type = \"llama3\")";
  let description = [{
    Rescales rotary inverse frequencies as Llama 3.1+ does: wavelengths
    longer than `original_max_position_embeddings / low_freq_factor` are
    divided by `factor`, shorter than `.../ high_freq_factor` are kept, and
    the band in between is interpolated smoothly.

    `#kiln.rope_llama3<factor = 8.0, low_freq_factor = 1.0,
    high_freq_factor = 4.0, original_max_position_embeddings = 8192>`
  }];
  let parameters = (ins APFloatParameter<"">:$factor,
                        APFloatParameter<"">:$lowFreqFactor,
                        APFloatParameter<"">:$highFreqFactor,
                        "int64_t":$originalMaxPositionEmbeddings);
  let builders = [
    AttrBuilder<(ins "double":$factor, "double":$lowFreqFactor,
                     "double":$highFreqFactor,
                     "int64_t":$originalMaxPositionEmbeddings), [{
      return $_get($_ctxt, ::llvm::APFloat(factor),
                   ::llvm::APFloat(lowFreqFactor),
                   ::llvm::APFloat(highFreqFactor),
                   originalMaxPositionEmbeddings);
    }]>
  ];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Kiln_QuantAttr : Kiln_Attr<"Quant", "quant"> {
  let summary = "how a weight is stored quantized (kiln-quantize-weights)";
  let description = [{
    A weight stored as symmetric signed integers of `bits` bits (8 or 4)
    with one f32 scale per output channel and per `group` consecutive input
    features: w = q * scale, q in [-(2^(bits-1) - 1), 2^(bits-1) - 1] and
    scale = max |w| of the group / that bound. `axis` is the dim of the
    stored weight that indexes output channels (1 for an `in_out` weight,
    0 for `out_in`); groups run along the other dim, the last one shorter
    when `group` does not divide it.

    `#kiln.quant<bits = 8, group = 768, axis = 1>`

    W8A8 (`act_bits = 8`, kilnc --quantize w8a8): the linear reading the
    weight also quantizes its input, per row (per token) and dynamically:
    symmetric int8 with scale max |row| / 127, so the product is an int8 x
    int8 gemm with int32 accumulation and one f32 scale per row times one
    per output channel. `smooth` (optional, one positive factor per input
    feature: SmoothQuant's s) moves quantization difficulty from the
    activations to the weight: the weight is quantized as W * s (each input
    feature's column scaled by its s) and the input as x / s, the two
    factors cancelling in the product. Values in the IR stay the
    dequantized ones: reading the weight gives Q(W * s) / s, and the linear
    computes with Q(x / s) * s, so the product is exactly the int8 one.
    The factors are the whole weight's: where a #kiln.shard cuts the input
    features (a row-parallel linear under --tp), each rank uses its part
    of them, as it reads its part of the weight.

    `#kiln.quant<bits = 8, group = 768, axis = 1, act_bits = 8, smooth = dense<...> : tensor<768xf32>>`
  }];
  let parameters = (ins "int64_t":$bits, "int64_t":$group, "int64_t":$axis,
                    DefaultValuedParameter<"int64_t", "0">:$act_bits,
                    OptionalParameter<"::mlir::DenseFPElementsAttr">:$smooth);
  let builders = [
    AttrBuilder<(ins "int64_t":$bits, "int64_t":$group, "int64_t":$axis), [{
      return $_get($_ctxt, bits, group, axis, 0, ::mlir::DenseFPElementsAttr());
    }]>
  ];
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Kiln_PruneAttr : Kiln_Attr<"Prune", "prune"> {
  let summary = "which elements of a weight are pruned to zero (kiln-prune-weights)";
  let description = [{
    Reading a pruned weight gives the checkpoint tensor with these elements
    set to zero, so the IR computes exactly what the pruned model computes.
    The mask is a function of the tensor's own values, applied to each
    checkpoint tensor on its own (each part of a merged weight):

    - `#kiln.prune<n = 2, m = 4, axis = 0>`: semi-structured. Along dim
      `axis` (the weight's input features), every run of `m` consecutive
      elements keeps its `n` largest magnitudes (the lower index wins a
      tie); `m` divides that dim.
    - `#kiln.prune<fraction = 0.5>`: unstructured, per tensor: the
      floor(fraction * size) smallest magnitudes become zero (ties broken
      by position, lower first).
    - `#kiln.prune<threshold = 1.5e-02>`: unstructured, one bound for the
      whole model (global scope): every magnitude below it becomes zero.

    Activation-aware (kilnc --calibration, Wanda's score): `scale` holds
    one factor per input feature (the L2 norm of that feature's input over
    the calibration run), and every rule above ranks `|w| * scale[j]`
    instead of `|w|`, j the element's index along `axis`, the input-feature
    dim (which unstructured pruning then names too):
    `#kiln.prune<n = 2, m = 4, axis = 0, scale = array<f32: 0.5, ...>>`,
    `#kiln.prune<fraction = 0.5, axis = 1, scale = array<f32: ...>>`.
  }];
  let parameters = (ins "int64_t":$n, "int64_t":$m, "int64_t":$axis,
                        APFloatParameter<"">:$fraction,
                        APFloatParameter<"">:$threshold,
                        OptionalParameter<"::mlir::DenseF32ArrayAttr">:$scale);
  let builders = [
    AttrBuilder<(ins "int64_t":$n, "int64_t":$m, "int64_t":$axis,
                     "double":$fraction, "double":$threshold,
                     CArg<"::mlir::DenseF32ArrayAttr", "{}">:$scale), [{
      return $_get($_ctxt, n, m, axis, ::llvm::APFloat(fraction),
                   ::llvm::APFloat(threshold), scale);
    }]>
  ];
  let extraClassDeclaration = [{
    /// n:m semi-structured (as opposed to magnitude pruning).
    bool isSemiStructured() const { return getM() > 0; }
  }];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Kiln_ShardAttr : Kiln_Attr<"Shard", "shard"> {
  let summary = "the part of a weight one tensor-parallel rank holds (kiln-partition)";
  let description = [{
    Under `kilnc --tp T` every rank runs the same program on its own part of
    the sharded weights (SPMD), so the rank never appears in the IR: the
    param's type is one rank's shape, and this attribute says how the
    runtime (or kilnc, for embedded weights) cuts each rank's part from the
    checkpoint tensor. Dim `axis` of the whole tensor is viewed as
    [sections, parts, n / (sections * parts)]; tensor-parallel rank r reads
    part `(r / replicas)` of every section, in section order. `sections` is
    3 for GPT-2's fused c_attn (q, k and v each split by heads); `replicas`
    is more than 1 for key/value heads fewer than the ranks (each head is
    read by `replicas` consecutive ranks, grouped-query attention's
    replication). `pad` (one section only, fewer than `parts`) views the
    dim as that many zero slices longer, for a vocabulary the ranks do not
    divide (GPT-2's 50257 tokens): the last rank's part ends in zero rows.
    Applied after `keep` and `prune`, before `quant`.

    `#kiln.shard<axis = 1, sections = 3, parts = 2, replicas = 1>`
  }];
  let parameters = (ins "int64_t":$axis, "int64_t":$sections,
                        "int64_t":$parts, "int64_t":$replicas,
                        DefaultValuedParameter<"int64_t", "0">:$pad);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The ranks of the tensor-parallel group (parts * replicas).
    int64_t getRanks() const { return getParts() * getReplicas(); }
    /// The indices along `axis` of the whole tensor (of `wholeSize`) that
    /// tensor-parallel rank `rank` reads, ascending; those from
    /// `wholeSize` on are `pad`'s zero slices.
    ::llvm::SmallVector<int64_t> indicesFor(int64_t rank,
                                            int64_t wholeSize) const;
  }];
}

def Kiln_KeepAttr : Kiln_Attr<"Keep", "keep"> {
  let summary = "the slices of a weight a structured pruning keeps";
  let description = [{
    Reading the weight gives the checkpoint tensor's slices `indices`
    (ascending) along dim `axis`, in that order: the weight of a model whose
    pruned heads or neurons are gone (kiln-prune-structured).

    `#kiln.keep<axis = 1, indices = [0, 2, 3]>`
  }];
  let parameters = (ins "int64_t":$axis, ArrayRefParameter<"int64_t">:$indices);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Kiln_FloatElement : AnyTypeOf<[F16, BF16, F32, F64], "floating-point">;
def Kiln_IndexElement : AnyTypeOf<[I32, I64], "32/64-bit integer">;
def Kiln_NumericElement : AnyTypeOf<[F16, BF16, F32, F64, I32, I64],
                                   "floating-point or 32/64-bit integer">;

def Kiln_Tensor : RankedTensorOf<[Kiln_NumericElement, I1]>;
def Kiln_NumericTensor : RankedTensorOf<[Kiln_NumericElement]>;
def Kiln_FloatTensor : RankedTensorOf<[Kiln_FloatElement]>;
def Kiln_IndexTensor : RankedTensorOf<[Kiln_IndexElement]>;
def Kiln_BoolTensor : RankedTensorOf<[I1]>;
def Kiln_MaskTensor : RankedTensorOf<[I1, Kiln_IndexElement, Kiln_FloatElement]>;

#endif // KILN_DIALECT_KILN_BASE_TD
