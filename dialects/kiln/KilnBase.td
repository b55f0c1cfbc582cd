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
  }];
  let parameters = (ins "int64_t":$bits, "int64_t":$group, "int64_t":$axis);
  let assemblyFormat = "`<` struct(params) `>`";
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
