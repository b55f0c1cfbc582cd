//===- Partition.cpp - tensor parallelism in the Megatron layout ----------===//
//
// See KilnPartition in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

namespace kiln {
#define GEN_PASS_DEF_KILNPARTITION
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

int64_t lastDim(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  return type.getDimSize(type.getRank() - 1);
}

RankedTensorType withLastDim(Type type, int64_t size) {
  auto t = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape(t.getShape());
  shape.back() = size;
  return RankedTensorType::get(shape, t.getElementType());
}

/// Recomputes `op`'s result types from its operands (every op the pass
/// retypes infers its types).
LogicalResult retype(Operation *op) {
  auto infer = dyn_cast<InferTypeOpInterface>(op);
  if (!infer)
    return op->emitError("kiln-partition cannot retype this op");
  SmallVector<Type> types;
  if (failed(infer.inferReturnTypes(
          op->getContext(), op->getLoc(), op->getOperands(),
          op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
          op->getRegions(), types)))
    return failure();
  for (auto [result, type] : llvm::zip(op->getResults(), types))
    result.setType(type);
  return success();
}

bool isElementwise(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, NegOp, AbsOp, ExpOp,
             LogOp, SqrtOp, RsqrtOp, TanhOp, SinOp, CosOp, ReluOp, SiluOp,
             GeluOp, CastOp>(op);
}

/// The zero slices that make `size` a multiple of `ranks`.
int64_t padFor(int64_t size, int64_t ranks) {
  return (ranks - size % ranks) % ranks;
}

/// The checkpoint tensor a weight operand reads, through the f32 cast of a
/// bf16/f16 checkpoint.
ParamOp paramOf(Value v) {
  if (auto widen = v.getDefiningOp<CastOp>())
    v = widen.getInput();
  return v.getDefiningOp<ParamOp>();
}

/// Whether `op` is an LM head: a linear whose result the entry returns.
bool isHead(LinearOp op) {
  return op->hasOneUse() && isa<func::ReturnOp>(*op->getUsers().begin());
}

class Partitioner {
public:
  /// `tied`: the embedding tables; `vocabulary`: those of them split by
  /// vocabulary (every other table is replicated, and so is a head reading
  /// one).
  Partitioner(func::FuncOp fn, int64_t ranks, const llvm::StringSet<> &tied,
              const llvm::StringSet<> &vocabulary)
      : fn_(fn), ranks_(ranks), tied_(tied), vocabulary_(vocabulary) {}

  LogicalResult run() {
    SmallVector<AttentionOp> attentions;
    fn_.walk([&](AttentionOp op) { attentions.push_back(op); });
    for (AttentionOp op : attentions)
      if (failed(splitAttention(op)))
        return failure();
    SmallVector<LinearOp> linears;
    fn_.walk([&](LinearOp op) { linears.push_back(op); });
    for (LinearOp op : linears)
      if (!done_.contains(op) && failed(splitMlp(op)))
        return failure();
    for (LinearOp op : linears)
      if (!done_.contains(op) && failed(splitHead(op)))
        return failure();
    SmallVector<EmbeddingOp> embeddings;
    fn_.walk([&](EmbeddingOp op) { embeddings.push_back(op); });
    for (EmbeddingOp op : embeddings) {
      ParamOp table = paramOf(op.getTable());
      if (table && vocabulary_.contains(table.getName()) &&
          failed(splitEmbedding(op)))
        return failure();
    }
    // Caches and results changed type: the function's type follows.
    auto ret = cast<func::ReturnOp>(fn_.getBody().front().getTerminator());
    fn_.setType(FunctionType::get(fn_.getContext(),
                                  fn_.getBody().front().getArgumentTypes(),
                                  ret.getOperandTypes()));
    return success();
  }

private:
  /// `operand` (a param's use) read as this rank's part: a new param with
  /// the shard attribute and the part's type.
  LogicalResult shardOperand(OpOperand &operand, int64_t axis, int64_t sections,
                             int64_t parts, int64_t replicas, int64_t pad = 0) {
    // A weight stored in bf16/f16 is read through a cast to f32: the cast
    // takes the part's shape too.
    auto widen = operand.get().getDefiningOp<CastOp>();
    if (widen && !widen->hasOneUse()) {
      // Shared with another reader: this reader gets a cast of its own.
      OpBuilder b(operand.getOwner());
      auto own =
          CastOp::create(b, widen.getLoc(), widen.getType(), widen.getInput());
      operand.set(own.getResult());
      widen = own;
    }
    OpOperand &read = widen ? widen.getInputMutable() : operand;
    auto param = read.get().getDefiningOp<ParamOp>();
    if (!param)
      return operand.getOwner()->emitError(
          "kiln-partition: a weight to shard is not a kiln.param");
    if (param.getShardAttr())
      return param.emitError("kiln-partition: weight '")
             << param.getName() << "' is sharded twice";
    auto type = cast<RankedTensorType>(param.getType());
    const int64_t whole = type.getDimSize(axis);
    if ((whole + pad) % (sections * parts) != 0)
      return operand.getOwner()->emitError("kiln-partition: ")
             << parts << " parts of " << sections
             << " section(s) do not divide dim " << axis << " (" << whole
             << ") of weight '" << param.getName() << "'";
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = (whole + pad) / parts;
    OpBuilder b(param);
    auto sharded = ParamOp::create(
        b, param.getLoc(), RankedTensorType::get(shape, type.getElementType()),
        param.getNameAttr(), param.getPartsAttr(), param.getKeepAttr(),
        param.getPruneAttr(), param.getQuantAttr(),
        ShardAttr::get(param.getContext(), axis, sections, parts, replicas,
                       pad));
    read.set(sharded.getResult());
    if (param->use_empty())
      param.erase();
    if (widen)
      widen.getResult().setType(
          RankedTensorType::get(shape, getElementTypeOrSelf(widen.getType())));
    return success();
  }

  /// A column-parallel linear: each rank computes `parts` of its output
  /// features (per section).
  LogicalResult splitColumns(LinearOp op, int64_t sections, int64_t parts,
                             int64_t replicas, int64_t pad = 0) {
    if (op.getResidual())
      return op.emitError("kiln-partition: a column-parallel linear with a "
                          "residual");
    const int64_t outAxis = op.getLayout() == WeightLayout::InOut ? 1 : 0;
    if (failed(shardOperand(op.getWeightMutable(), outAxis, sections, parts,
                            replicas, pad)))
      return failure();
    if (op.getBias() && failed(shardOperand(op.getBiasMutable()[0], 0, sections,
                                            parts, replicas, pad)))
      return failure();
    done_.insert(op);
    return retype(op);
  }

  /// A row-parallel linear: each rank multiplies its part of the input
  /// features; the partial products are summed by an all_reduce, then the
  /// bias and residual are added once.
  LogicalResult splitRows(LinearOp op) {
    if (op.getActivation() != Activation::None)
      return op.emitError("kiln-partition: a row-parallel linear with an "
                          "activation");
    const int64_t inAxis = op.getLayout() == WeightLayout::InOut ? 0 : 1;
    if (failed(shardOperand(op.getWeightMutable(), inAxis, 1, ranks_, 1)))
      return failure();
    done_.insert(op);
    OpBuilder b(op);
    Location loc = op.getLoc();
    auto partial = LinearOp::create(b, loc, op.getInput(), op.getWeight(),
                                    /*bias=*/nullptr, /*residual=*/nullptr,
                                    op.getLayout(), Activation::None);
    done_.insert(partial);
    Value sum = AllReduceOp::create(b, loc, partial.getResult(), ranks_);
    if (Value bias = op.getBias())
      sum = AddOp::create(b, loc, sum, bias);
    if (Value residual = op.getResidual())
      sum = AddOp::create(b, loc, sum, residual);
    op.getResult().replaceAllUsesWith(sum);
    op.erase();
    return success();
  }

  /// The ops from a projection to an attention operand (slices of a fused
  /// projection, rotary), the projection last; failure with a message when
  /// the path holds anything else.
  FailureOr<SmallVector<Operation *>> pathToProjection(AttentionOp attention,
                                                       Value v) {
    SmallVector<Operation *> path;
    while (true) {
      Operation *op = v.getDefiningOp();
      if (auto linear = dyn_cast_or_null<LinearOp>(op)) {
        path.push_back(op);
        return path;
      }
      if (isa_and_nonnull<RotaryOp, SliceOp>(op) && op->hasOneUse()) {
        if (auto slice = dyn_cast<SliceOp>(op);
            slice && (slice.getDim() !=
                          cast<RankedTensorType>(v.getType()).getRank() - 1 ||
                      slice.getStep() != 1))
          break;
        path.push_back(op);
        v = op->getOperand(0);
        continue;
      }
      break;
    }
    return attention.emitError("kiln-partition: an attention operand does not "
                               "come from a projection (through slices and "
                               "rotary only), so its heads cannot be split");
  }

  LogicalResult splitAttention(AttentionOp op) {
    const int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
    const int64_t headDim = op.getHeadDim();
    if (heads % ranks_ != 0)
      return op.emitError("kiln-partition: --tp ")
             << ranks_ << " does not divide the " << heads
             << " attention heads";
    // Key/value heads: split when the ranks divide them; else each rank
    // reads the one head its query heads share (grouped-query attention
    // with fewer kv heads than ranks), replicated over ranks / kv_heads.
    int64_t kvParts = ranks_, kvReplicas = 1;
    if (kvHeads % ranks_ != 0) {
      if (ranks_ % kvHeads != 0 || (heads / kvHeads) % (ranks_ / kvHeads))
        return op.emitError("kiln-partition: --tp ")
               << ranks_ << " neither divides nor is a multiple of the "
               << kvHeads << " key/value heads";
      kvParts = kvHeads;
      kvReplicas = ranks_ / kvHeads;
    }
    const int64_t localKv = kvHeads / kvParts;
    struct Operand {
      Value value;
      int64_t parts, replicas, heads;
    };
    Operand operands[] = {{op.getQuery(), ranks_, 1, heads / ranks_},
                          {op.getKey(), kvParts, kvReplicas, localKv},
                          {op.getValue(), kvParts, kvReplicas, localKv}};
    for (const Operand &o : operands) {
      auto path = pathToProjection(op, o.value);
      if (failed(path))
        return failure();
      auto linear = cast<LinearOp>(path->back());
      if (done_.contains(linear)) {
        if (!sectioned_.contains(linear))
          return linear.emitError("kiln-partition: a projection read by two "
                                  "attention operands without slices");
      } else {
        // A fused projection (GPT-2's c_attn) is read through slices of
        // equal width, one section each.
        int64_t sections = 1;
        if (path->size() >= 2 && isa<SliceOp>((*path)[path->size() - 2])) {
          auto slice = cast<SliceOp>((*path)[path->size() - 2]);
          const int64_t width = slice.getEnd() - slice.getStart();
          sections = lastDim(linear.getResult()) / width;
          for (Operation *user : linear->getUsers()) {
            auto s = dyn_cast<SliceOp>(user);
            if (!s || s.getEnd() - s.getStart() != width ||
                s.getStart() % width != 0 || s.getStep() != 1)
              return linear.emitError("kiln-partition: a fused projection "
                                      "read other than as equal sections");
          }
          if (o.parts != ranks_)
            return linear.emitError("kiln-partition: a fused projection "
                                    "whose key/value heads are replicated");
          sectioned_.insert(linear);
          for (Operation *user : linear->getUsers()) {
            auto s = cast<SliceOp>(user);
            s.setStart(s.getStart() / o.parts);
            s.setEnd(s.getEnd() / o.parts);
          }
        }
        if (failed(splitColumns(linear, sections, o.parts, o.replicas)))
          return failure();
        for (Operation *user : linear->getUsers())
          if (isa<SliceOp>(user) && failed(retype(user)))
            return failure();
      }
      for (auto it = path->rbegin() + 1; it != path->rend(); ++it) {
        if (auto rotary = dyn_cast<RotaryOp>(*it))
          rotary.setNumHeads(lastDim(rotary.getInput()) / headDim);
        if (!isa<SliceOp>(*it) && failed(retype(*it)))
          return failure();
      }
    }
    // The caches are the entry's arguments: this rank's heads only.
    for (Value cache : {op.getKCache(), op.getVCache()}) {
      if (!cache)
        continue;
      auto arg = dyn_cast<BlockArgument>(cache);
      if (!arg)
        return op.emitError("kiln-partition: a kv cache that is not an "
                            "argument of the entry");
      arg.setType(withLastDim(arg.getType(), localKv * headDim));
    }
    // T5's relative-position bias: this rank's heads of the table.
    if (Value bias = op.getBias()) {
      auto rpb = bias.getDefiningOp<RelativePositionBiasOp>();
      if (!rpb)
        return op.emitError("kiln-partition: an attention bias that is not a "
                            "kiln.relative_position_bias");
      if (!biases_.contains(rpb)) {
        if (failed(shardOperand(rpb.getTableMutable(), 1, 1, ranks_, 1)) ||
            failed(retype(rpb)))
          return failure();
        biases_.insert(rpb);
      }
    }
    op.setNumHeads(heads / ranks_);
    op.setNumKvHeads(localKv);
    op->setAttr("kiln.kv_heads",
                StringAttr::get(op.getContext(),
                                kvReplicas > 1 ? "replicated" : "split"));
    if (failed(retype(op)))
      return failure();
    // The output projection reads this rank's heads: row-parallel.
    Value out = op.getResult();
    if (!out.hasOneUse())
      return op.emitError("kiln-partition: the attention output is read by "
                          "more than its output projection");
    auto proj = dyn_cast<LinearOp>(*out.getUsers().begin());
    if (!proj || proj.getInput() != out)
      return op.emitError("kiln-partition: the attention output is not read "
                          "by a linear");
    return splitRows(proj);
  }

  /// An MLP: `op` reads, through elementwise ops only, linears of one input
  /// (fc1; gate and up); they become column-parallel and `op`
  /// row-parallel. Linears that are no MLP's second half are left alone.
  LogicalResult splitMlp(LinearOp op) {
    llvm::SetVector<Operation *> inner;
    SmallVector<LinearOp> firsts;
    SmallVector<Value> work = {op.getInput()};
    while (!work.empty()) {
      Value v = work.pop_back_val();
      Operation *def = v.getDefiningOp();
      if (auto linear = dyn_cast_or_null<LinearOp>(def)) {
        if (!llvm::is_contained(firsts, linear))
          firsts.push_back(linear);
        continue;
      }
      if (!def || !isElementwise(def))
        return success();
      if (inner.insert(def))
        for (Value operand : def->getOperands())
          // Scalars and other broadcast constants stay as they are.
          if (!isa_and_nonnull<ConstantOp>(operand.getDefiningOp()))
            work.push_back(operand);
    }
    const int64_t width = lastDim(op.getInput());
    for (LinearOp first : firsts)
      if (done_.contains(first) || first.getResidual() ||
          first.getInput() != firsts.front().getInput() ||
          lastDim(first.getResult()) != width)
        return success();
    // Everything between is read only inside the MLP.
    auto inside = [&](Operation *user) {
      return user == op.getOperation() || inner.contains(user);
    };
    for (Operation *o : inner)
      if (!llvm::all_of(o->getUsers(), inside))
        return success();
    for (LinearOp first : firsts)
      if (!llvm::all_of(first->getUsers(), inside))
        return success();
    if (width % ranks_ != 0)
      return op.emitError("kiln-partition: --tp ")
             << ranks_ << " does not divide the FFN width " << width;
    for (LinearOp first : firsts)
      if (failed(splitColumns(first, 1, ranks_, 1)))
        return failure();
    // In block order, so every op's operands are retyped before it.
    SmallVector<Operation *> ordered(inner.begin(), inner.end());
    llvm::sort(ordered, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    for (Operation *o : ordered)
      if (failed(retype(o)))
        return failure();
    return splitRows(op);
  }

  /// The LM head (a linear the entry returns): vocabulary-parallel, its
  /// logits gathered. A vocabulary the ranks do not divide is padded with
  /// zero rows (`pad` of the shard), whose logits are sliced off after the
  /// gather. A head tied to an embedding table follows the table: split
  /// with it, or replicated with it.
  LogicalResult splitHead(LinearOp op) {
    if (!isHead(op))
      return success();
    ParamOp weight = paramOf(op.getWeight());
    const int64_t vocab = lastDim(op.getResult());
    if (!weight || (tied_.contains(weight.getName()) &&
                    !vocabulary_.contains(weight.getName())))
      return success();
    const int64_t pad = padFor(vocab, ranks_);
    OpBuilder b(op);
    b.setInsertionPointAfter(op);
    if (failed(splitColumns(op, 1, ranks_, 1, pad)))
      return failure();
    auto gathered = AllGatherOp::create(b, op.getLoc(), op.getResult(), ranks_);
    Value logits = gathered.getResult();
    if (pad > 0)
      logits = SliceOp::create(
          b, op.getLoc(), logits,
          cast<RankedTensorType>(logits.getType()).getRank() - 1, 0, vocab, 1);
    op.getResult().replaceAllUsesExcept(logits, gathered);
    return success();
  }

  /// A vocabulary-parallel embedding (Megatron's layout, so a tied LM head
  /// and its table are one part per rank): each rank holds rows
  /// [r * n, (r + 1) * n) of the (padded) table. A rank does not know r (the
  /// program is the same on every rank), so each looks up row id % n of its
  /// part, the parts' rows are gathered, and every rank keeps the one of
  /// part id / n. The gather moves ranks times the rows an all_reduce of
  /// masked rows would, once per call, for a program without rank
  /// constants. An id outside the vocabulary is looked up as itself, past
  /// the part, so the lookup still reports it.
  LogicalResult splitEmbedding(EmbeddingOp op) {
    auto tableType = cast<RankedTensorType>(op.getTable().getType());
    const int64_t vocab = tableType.getDimSize(0);
    const int64_t width = tableType.getDimSize(1);
    const int64_t pad = padFor(vocab, ranks_);
    const int64_t rows = (vocab + pad) / ranks_;
    if (failed(shardOperand(op.getTableMutable(), 0, 1, ranks_, 1, pad)))
      return failure();
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value ids = op.getIndices();
    auto idsType = cast<RankedTensorType>(ids.getType());
    Type idType = idsType.getElementType();
    auto constant = [&](ArrayRef<int64_t> values, ArrayRef<int64_t> shape) {
      SmallVector<APInt> bits;
      for (int64_t v : values)
        bits.push_back(APInt(idType.getIntOrFloatBitWidth(), v, true));
      return ConstantOp::create(
          b, loc,
          DenseElementsAttr::get(RankedTensorType::get(shape, idType), bits));
    };
    Value partRows = constant({rows}, {});
    Value part = DivOp::create(b, loc, ids, partRows);
    Value local =
        SubOp::create(b, loc, ids, MulOp::create(b, loc, part, partRows));
    Value known = CompareOp::create(b, loc, ComparePredicate::LT, ids,
                                    constant({vocab}, {}));
    local = SelectOp::create(b, loc, known, local, ids);
    op.getIndicesMutable().assign(local);
    if (failed(retype(op)))
      return failure();
    b.setInsertionPointAfter(op);
    auto gathered = AllGatherOp::create(b, loc, op.getResult(), ranks_);
    Type element = getElementTypeOrSelf(op.getType());
    SmallVector<int64_t> shape(idsType.getShape());
    shape.append({ranks_, width});
    Value candidates = ReshapeOp::create(
        b, loc, RankedTensorType::get(shape, element), gathered);
    SmallVector<int64_t> column(idsType.getShape());
    column.push_back(1);
    SmallVector<int64_t> partIds;
    for (int64_t r = 0; r < ranks_; ++r)
      partIds.push_back(r);
    Value hit = CompareOp::create(
        b, loc, ComparePredicate::EQ,
        ReshapeOp::create(b, loc, RankedTensorType::get(column, idType), part),
        constant(partIds, {ranks_}));
    SmallVector<int64_t> hitShape(idsType.getShape());
    hitShape.append({ranks_, 1});
    hit = ReshapeOp::create(
        b, loc, RankedTensorType::get(hitShape, b.getI1Type()), hit);
    Value zero = ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(RankedTensorType::get({}, element),
                               b.getFloatAttr(element, 0.0)));
    Value picked = SelectOp::create(b, loc, hit, candidates, zero);
    Value embedded = ReduceOp::create(b, loc, ReduceKind::Sum, picked,
                                      ArrayRef<int64_t>{idsType.getRank()},
                                      /*keep_dims=*/false);
    op.getResult().replaceAllUsesExcept(embedded, gathered);
    return success();
  }

  func::FuncOp fn_;
  int64_t ranks_;
  const llvm::StringSet<> &tied_, &vocabulary_;
  llvm::DenseSet<Operation *> done_, sectioned_, biases_;
};

struct KilnPartitionPass : public impl::KilnPartitionBase<KilnPartitionPass> {
  using KilnPartitionBase::KilnPartitionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (tp < 1) {
      module.emitError("kiln-partition: tp must be >= 1, got ") << tp;
      return signalPassFailure();
    }
    if (tp == 1)
      return;
    if (module->hasAttr("kiln.tensor_parallel")) {
      module.emitError("kiln-partition: the module is partitioned already");
      return signalPassFailure();
    }
    // Embedding tables. The vocabulary's (those with the most rows) are
    // split by rows when every reader can follow: embeddings, and LM heads
    // tied to them. Others (positions, token types) are small and
    // replicated, and so is a head tied to one.
    llvm::StringSet<> tied, vocabulary;
    int64_t vocabRows = 0;
    module.walk([&](EmbeddingOp op) {
      if (ParamOp param = paramOf(op.getTable())) {
        tied.insert(param.getName());
        vocabRows = std::max(vocabRows, param.getType().getDimSize(0));
      }
    });
    module.walk([&](EmbeddingOp op) {
      if (ParamOp param = paramOf(op.getTable());
          param && param.getType().getDimSize(0) == vocabRows)
        vocabulary.insert(param.getName());
    });
    module.walk([&](ParamOp param) {
      if (!vocabulary.contains(param.getName()))
        return;
      auto follows = [&](OpOperand &use) {
        Operation *user = use.getOwner();
        if (auto embedding = dyn_cast<EmbeddingOp>(user))
          return use.get() == embedding.getTable();
        auto linear = dyn_cast<LinearOp>(user);
        return linear && use.get() == linear.getWeight() && isHead(linear);
      };
      for (OpOperand &use : param->getUses()) {
        auto widen = dyn_cast<CastOp>(use.getOwner());
        bool ok =
            widen ? llvm::all_of(widen->getUses(), follows) : follows(use);
        if (!ok) {
          vocabulary.erase(param.getName());
          return;
        }
      }
    });
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal() &&
          failed(Partitioner(fn, tp, tied, vocabulary).run()))
        return signalPassFailure();
    module->setAttr("kiln.tensor_parallel",
                    IntegerAttr::get(IntegerType::get(&getContext(), 64), tp));
  }
};

} // namespace
} // namespace kiln
