//===- Plan.cpp - a partitioning plan from a config alone (kilnc --plan) --===//

#include "compiler/Plan.h"

#include "compiler/ModelLoader.h"

#include "dialects/kiln/KilnOps.h"
#include "frontend/HfConfig.h"
#include "models/Models.h"
#include "passes/Passes.h"
#include "passes/Registration.h"
#include "support/SafeTensors.h"
#include "support/Stages.h"
#include "support/Status.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <fstream>

using namespace mlir;

namespace kiln {

namespace {

/// The checkpoint dtype config.json names (torch_dtype, or dtype in newer
/// transformers); f32 when it names none.
Type configDtype(MLIRContext &context, const std::string &dir) {
  std::ifstream in(dir + "/config.json");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  auto json = llvm::json::parse(text);
  if (json)
    if (auto *object = json->getAsObject())
      for (const char *key : {"torch_dtype", "dtype"})
        if (auto name = object->getString(key)) {
          if (*name == "bfloat16")
            return BFloat16Type::get(&context);
          if (*name == "float16")
            return Float16Type::get(&context);
        }
  return Float32Type::get(&context);
}

int64_t elements(Type type, int64_t dynamic) {
  auto ranked = cast<RankedTensorType>(type);
  int64_t n = 1;
  for (int64_t d : ranked.getShape())
    n *= ShapedType::isDynamic(d) ? dynamic : d;
  return n;
}

std::string mib(int64_t bytes) {
  return llvm::formatv("{0:f1} MiB", bytes / 1048576.0).str();
}

} // namespace

absl::StatusOr<std::string> planModel(const PlanOptions &o) {
  if (o.tp < 1 || o.pp < 1 || o.dp < 1 || o.tp * o.pp * o.dp > 1 << 20)
    return absl::InvalidArgumentError("--tp, --pp and --dp must each be >= 1");
  auto config = loadModelConfig(o.modelDir);
  if (!config.ok())
    return config.status();
  DialectRegistry registry;
  registerKilnCompilerDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  Type dtype = configDtype(context, o.modelDir);
  auto weights = WeightStore::none(o.modelDir + " (--plan reads no weights)");
  auto module = buildModel(context, *config, *weights, dtype);
  if (!module.ok())
    return module.status();
  // kiln-partition for the tensor-parallel group: its errors are the
  // plan's (an impossible --tp).
  KILN_RETURN_IF_ERROR(partitionModule(**module, o.tp));

  // The layers in program order (encoder before decoder), with what each
  // rank holds of each: weight bytes; and, in the decode entry, the bytes
  // of its collectives and its kv cache per token.
  struct Group {
    std::string name;
    int64_t weightBytes = 0, collectiveBytes = 0, cacheBytesPerToken = 0;
  };
  std::vector<Group> groups;
  llvm::StringMap<size_t> index;
  auto groupOf = [&](const std::string &layer) -> Group & {
    auto [it, added] = index.try_emplace(layer, groups.size());
    if (added)
      groups.push_back({layer});
    return groups[it->second];
  };
  Group pre{"(embeddings)"}, post{"(final norm, head)"};
  // A weight read in several places counts in each (a tied embedding
  // table is held by the first stage and the last), once in the total.
  llvm::StringSet<> counted;
  int64_t unshardedWeightBytes = 0;
  const int64_t elementBytes = dtype.getIntOrFloatBitWidth() / 8;
  forEachPlacedWeight(
      **module, [&](ParamOp param, const std::string &layer, bool afterLayers) {
        const int64_t bytes = elements(param.getType(), 1) * elementBytes;
        int64_t whole = bytes;
        if (ShardAttr shard = param.getShardAttr()) {
          // The parts together, less a padded shard's zero slices.
          const int64_t part = param.getType().getDimSize(shard.getAxis());
          whole = bytes / part * (part * shard.getParts() - shard.getPad());
        }
        if (counted.insert(storedWeightKey(param)).second)
          unshardedWeightBytes += whole;
        if (layer.empty())
          (afterLayers ? post : pre).weightBytes += bytes;
        else
          groupOf(layer).weightBytes += bytes;
      });
  // Decode: the entry a generating request runs once per token.
  auto decode = (*module)->lookupSymbol<func::FuncOp>("decode");
  if (decode) {
    // Collectives, attributed to the layer of their location (a
    // vocabulary-parallel embedding's gather to the first stage, which
    // looks the ids up); a ring all-reduce sends (and receives) 2 (T - 1) /
    // T of the buffer per rank, an all-gather (T - 1) / T of its result.
    decode.walk([&](Operation *op) {
      if (!isa<AllReduceOp, AllGatherOp>(op))
        return;
      const int64_t bytes =
          elements(op->getResult(0).getType(), 1) * o.activationBytes;
      const double share = isa<AllReduceOp>(op)
                               ? 2.0 * (o.tp - 1) / o.tp
                               : static_cast<double>(o.tp - 1) / o.tp;
      std::string where;
      llvm::raw_string_ostream os(where);
      op->getLoc()->print(os);
      std::string layer = layerOf(where.substr(where.find('"') + 1) + ".");
      Group &g = op->getOperand(0).getDefiningOp<EmbeddingOp>() ? pre
                 : layer.empty() || !index.count(layer) ? post
                                                        : groupOf(layer);
      g.collectiveBytes += static_cast<int64_t>(share * bytes);
    });
    // Caches: argument k_cache.l / v_cache.l is layer l of the decoder.
    std::vector<size_t> decoderLayers;
    for (size_t i = 0; i < groups.size(); ++i)
      if (groups[i].name.find("encoder.") != 0)
        decoderLayers.push_back(i);
    for (unsigned a = 0; a < decode.getNumArguments(); ++a) {
      if (!decode.getArgAttr(a, "kiln.role"))
        continue;
      auto name = decode.getArgAttrOfType<StringAttr>(a, "kiln.name");
      size_t l =
          name ? std::stoul(name.str().substr(name.str().find('.') + 1)) : 0;
      const int64_t bytes = cast<RankedTensorType>(decode.getArgumentTypes()[a])
                                .getShape()
                                .back() *
                            o.activationBytes;
      if (l < decoderLayers.size())
        groups[decoderLayers[l]].cacheBytesPerToken += bytes;
    }
  }
  if (o.pp > static_cast<int64_t>(groups.size()))
    return absl::InvalidArgumentError(
        llvm::formatv("--pp {0} is more than the model's {1} layers", o.pp,
                      groups.size())
            .str());

  // The cost model: a layer costs its weight bytes (a decode step reads
  // each once; prefill FLOPs are proportional to them too), the first
  // stage also holds the embeddings, the last the final norm and head.
  std::vector<double> costs;
  for (const Group &g : groups)
    costs.push_back(static_cast<double>(g.weightBytes));
  costs.front() += static_cast<double>(pre.weightBytes);
  costs.back() += static_cast<double>(post.weightBytes);
  std::vector<size_t> starts = splitStages(costs, o.pp);
  int64_t hidden = config->hiddenSize;
  llvm::json::Array stages;
  llvm::raw_ostream &out = o.progress ? *o.progress : llvm::nulls();
  out << llvm::formatv("kilnc: plan for {0}: tensor parallel {1} x pipeline "
                       "{2} x data parallel {3} = {4} ranks ({5} weights)\n",
                       o.modelDir, o.tp, o.pp, o.dp, o.tp * o.pp * o.dp,
                       dtype.isBF16()  ? "bf16"
                       : dtype.isF16() ? "f16"
                                       : "f32");
  out << llvm::formatv("{0,-7} {1,-9} {2,16} {3,20} {4,22} {5,18}\n", "stage",
                       "layers", "weights/rank", "kv cache/token/rank",
                       "collectives/step/rank", "send/recv/step");
  int64_t largest = 0;
  for (int64_t s = 0; s < o.pp; ++s) {
    const size_t begin = starts[s],
                 end = s + 1 < o.pp ? starts[s + 1] : groups.size();
    int64_t weightBytes = 0, cacheBytes = 0, collectiveBytes = 0;
    for (size_t i = begin; i < end; ++i) {
      weightBytes += groups[i].weightBytes;
      cacheBytes += groups[i].cacheBytesPerToken;
      collectiveBytes += groups[i].collectiveBytes;
    }
    if (s == 0) {
      weightBytes += pre.weightBytes;
      collectiveBytes += pre.collectiveBytes;
    }
    if (s + 1 == o.pp) {
      weightBytes += post.weightBytes;
      collectiveBytes += post.collectiveBytes;
    }
    // A stage boundary passes one token's hidden state per decode step.
    const int64_t sendRecv = s + 1 < o.pp ? hidden * o.activationBytes : 0;
    largest = std::max(largest, weightBytes);
    out << llvm::formatv(
        "{0,-7} {1,-9} {2,16} {3,20} {4,22} {5,18}\n", s,
        llvm::formatv("{0}-{1}", begin, end - 1).str(), mib(weightBytes),
        llvm::formatv("{0} KiB", cacheBytes / 1024.0).str(),
        llvm::formatv("{0} KiB", collectiveBytes / 1024.0).str(),
        llvm::formatv("{0} B", sendRecv).str());
    stages.push_back(llvm::json::Object{
        {"stage", s},
        {"first_layer", static_cast<int64_t>(begin)},
        {"last_layer", static_cast<int64_t>(end) - 1},
        {"weight_bytes_per_rank", weightBytes},
        {"kv_cache_bytes_per_token_per_rank", cacheBytes},
        {"collective_bytes_per_decode_step_per_rank", collectiveBytes},
        {"send_recv_bytes_per_decode_step", sendRecv}});
  }
  out << "kilnc: unsharded weights " << mib(unshardedWeightBytes)
      << "; the largest rank holds " << mib(largest) << "\n";
  llvm::json::Object report{{"model", o.modelDir},
                            {"plan_only", true},
                            {"tensor_parallel", o.tp},
                            {"pipeline_parallel", o.pp},
                            {"data_parallel", o.dp},
                            {"ranks", o.tp * o.pp * o.dp},
                            {"weight_dtype", dtype.isBF16()  ? "bf16"
                                             : dtype.isF16() ? "f16"
                                                             : "f32"},
                            {"activation_bytes", o.activationBytes},
                            {"layers", static_cast<int64_t>(groups.size())},
                            {"unsharded_weight_bytes", unshardedWeightBytes},
                            {"max_weight_bytes_per_rank", largest},
                            {"stages", std::move(stages)}};
  std::string json;
  llvm::raw_string_ostream os(json);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(report)));
  return json;
}

} // namespace kiln
